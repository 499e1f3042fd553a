#include "twig/tensor/storage.h"

#include "twig/tensor/backend.h"
#include "twig/tensor/tensor_impl.h"

namespace twig {

StorageImpl::StorageImpl(size_t nbytes, Device device) : nbytes_(nbytes), device_(device) {
  if (nbytes > 0) {
    Backend& b = backend_for(device);
    data_ = b.allocate(nbytes);
    deleter_ = [&b](void* p) { b.deallocate(p); };
  }
}

StorageImpl::StorageImpl(void* data, size_t nbytes, Device device, Deleter deleter)
    : data_(data), nbytes_(nbytes), device_(device), deleter_(std::move(deleter)) {}

StorageImpl::~StorageImpl() {
  if (deleter_ && data_) deleter_(data_);
}

}  // namespace twig
