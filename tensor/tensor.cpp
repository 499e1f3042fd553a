// Tensor metadata, element access, and the small types declared beside Tensor.
#include "twig/tensor/tensor.h"

#include <cmath>
#include <cstring>
#include <sstream>

#include "twig/tensor/raw.h"

namespace twig {

uint64_t next_hook_id() {
  static std::atomic<uint64_t> counter{0};
  return ++counter;
}

TensorImpl::TensorImpl() = default;
TensorImpl::~TensorImpl() = default;

int64_t TensorImpl::numel() const {
  int64_t n = 1;
  for (int64_t s : sizes) n *= s;
  return n;
}

bool TensorImpl::is_contiguous() const {
  int64_t expected = 1;
  for (size_t i = sizes.size(); i-- > 0;) {
    if (sizes[i] == 1) continue;
    if (sizes[i] == 0) return true;
    if (strides[i] != expected) return false;
    expected *= sizes[i];
  }
  return true;
}

namespace {
const TensorImpl& checked(const std::shared_ptr<TensorImpl>& impl) {
  TWIG_CHECK(impl != nullptr, RuntimeError, "use of an undefined tensor (a default-constructed twig::Tensor)");
  return *impl;
}

// A sparse tensor has no storage, strides or data pointer: the paths that would read them throw
// instead (PyTorch's errors), so no op can reach memory that is not there.
const TensorImpl& strided(const std::shared_ptr<TensorImpl>& impl, const char* what) {
  const TensorImpl& t = checked(impl);
  if (t.layout != Layout::Strided) [[unlikely]]
    TWIG_THROW(RuntimeError, what, ": a tensor with layout ", layout_name(t.layout), " has no ", what,
               " (call to_dense() first)");
  return t;
}
}  // namespace

int64_t Tensor::dim() const { return static_cast<int64_t>(checked(impl_).sizes.size()); }
const Shape& Tensor::sizes() const { return checked(impl_).sizes; }
const Shape& Tensor::strides() const { return strided(impl_, "strides").strides; }
int64_t Tensor::size(int64_t d) const { return sizes()[wrap_dim(d, dim())]; }
int64_t Tensor::stride(int64_t d) const { return strides()[wrap_dim(d, dim())]; }
int64_t Tensor::numel() const { return checked(impl_).numel(); }
Dtype Tensor::dtype() const { return checked(impl_).dtype; }
Layout Tensor::layout() const { return checked(impl_).layout; }
Device Tensor::device() const {
  const TensorImpl& t = checked(impl_);
  return t.layout == Layout::SparseCoo ? t.coo_values->storage->device() : t.storage->device();
}
TensorOptions Tensor::options() const { return TensorOptions(dtype()).device(device()); }
int64_t Tensor::storage_offset() const { return strided(impl_, "storage_offset").offset; }
const Storage& Tensor::storage() const { return strided(impl_, "storage").storage; }
bool Tensor::is_contiguous() const { return strided(impl_, "is_contiguous").is_contiguous(); }
uint32_t Tensor::version() const { return checked(impl_).version->value.load(); }
void Tensor::bump_version() const { checked(impl_).version->value++; }

void* Tensor::raw_data_ptr() const {
  const TensorImpl& t = strided(impl_, "data pointer");
  return static_cast<char*>(t.storage->data()) + t.offset * static_cast<int64_t>(itemsize(t.dtype));
}

template <typename T>
T* Tensor::data_ptr() const {
  TWIG_CHECK(dtype() == dtype_of<T>::value, TypeError, "data_ptr: expected dtype ", dtype_name(dtype_of<T>::value),
             " but the tensor is ", dtype_name(dtype()));
  TWIG_CHECK(device().is_cpu(), RuntimeError, "data_ptr: tensor is on ", device(), "; call .cpu() first");
  return static_cast<T*>(raw_data_ptr());
}

Scalar Tensor::item() const {
  detail::check_defined(*this, "item");
  TWIG_CHECK(numel() == 1, RuntimeError, "a Tensor with ", numel(),
             " elements cannot be converted to Scalar (item() needs exactly one)");
  Tensor c = device().is_cpu() ? *this : detail::copy_raw(*this, dtype(), Device::cpu());
  return TWIG_DISPATCH_ALL(dtype(), "item",
                           [&]() -> Scalar { return Scalar(*static_cast<scalar_t*>(c.raw_data_ptr())); });
}

template <typename T>
std::vector<T> Tensor::to_vector() const {
  detail::check_defined(*this, "to_vector");
  const bool direct = device().is_cpu() && dtype() == dtype_of<T>::value && is_contiguous();
  Tensor c = direct ? *this : detail::copy_raw(*this, dtype_of<T>::value, Device::cpu());
  const T* p = static_cast<const T*>(c.raw_data_ptr());
  return std::vector<T>(p, p + c.numel());
}

#define TWIG_INSTANTIATE(T)                \
  template T* Tensor::data_ptr<T>() const; \
  template std::vector<T> Tensor::to_vector<T>() const;
TWIG_INSTANTIATE(bool)
TWIG_INSTANTIATE(uint8_t)
TWIG_INSTANTIATE(int32_t)
TWIG_INSTANTIATE(int64_t)
TWIG_INSTANTIATE(float)
TWIG_INSTANTIATE(double)
#undef TWIG_INSTANTIATE

TensorIndex::TensorIndex(const Tensor& t) : v_(std::make_shared<Tensor>(t)) {
  TWIG_CHECK(t.defined(), IndexError, "an undefined tensor cannot be used as an index");
}

NormP::NormP(const char* s) {
  std::string name = s ? s : "";
  if (name == "fro") {
    p = 2.0;
    fro = true;
  } else if (name == "inf") {
    p = INFINITY;
  } else if (name == "-inf") {
    p = -INFINITY;
  } else {
    TWIG_THROW(ValueError, "norm: unsupported p='", name, "' (expected a number, 'fro', 'inf' or '-inf')");
  }
}

std::string NormP::str() const {
  if (fro) return "fro";
  std::ostringstream os;
  os << p;
  return os.str();
}

}  // namespace twig
