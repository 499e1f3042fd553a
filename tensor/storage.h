// A reference-counted block of bytes on a device. Tensors and their views share one Storage;
// `set_data` on a parameter swaps the Storage while the tensor object stays the same.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>

#include "twig/tensor/device.h"

namespace twig {

class StorageImpl {
 public:
  using Deleter = std::function<void(void*)>;
  // Allocates nbytes on device (through its backend); zero bytes allocate nothing.
  StorageImpl(size_t nbytes, Device device);
  // Wraps memory owned elsewhere (a memory-mapped file, a user buffer); deleter runs on release.
  StorageImpl(void* data, size_t nbytes, Device device, Deleter deleter);
  ~StorageImpl();
  StorageImpl(const StorageImpl&) = delete;
  StorageImpl& operator=(const StorageImpl&) = delete;

  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }

 private:
  void* data_ = nullptr;
  size_t nbytes_ = 0;
  Device device_;
  Deleter deleter_;
};

using Storage = std::shared_ptr<StorageImpl>;

}  // namespace twig
