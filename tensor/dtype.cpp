#include "twig/tensor/dtype.h"

#include <atomic>

#include "twig/tensor/device.h"
#include "twig/tensor/scalar.h"

namespace twig {

size_t itemsize(Dtype t) {
  switch (t) {
    case kBool:
    case kUInt8:
      return 1;
    case kInt32:
    case kFloat32:
      return 4;
    case kInt64:
    case kFloat64:
      return 8;
  }
  TWIG_THROW(TypeError, "unknown dtype code ", static_cast<int>(t));
}

const char* dtype_name(Dtype t) {
  switch (t) {
    case kBool:
      return "bool";
    case kUInt8:
      return "uint8";
    case kInt32:
      return "int32";
    case kInt64:
      return "int64";
    case kFloat32:
      return "float32";
    case kFloat64:
      return "float64";
  }
  return "unknown";
}

const char* dtype_tensor_name(Dtype t) {
  switch (t) {
    case kBool:
      return "Bool";
    case kUInt8:
      return "Byte";
    case kInt32:
      return "Int";
    case kInt64:
      return "Long";
    case kFloat32:
      return "Float";
    case kFloat64:
      return "Double";
  }
  return "Unknown";
}

Dtype dtype_from_name(const std::string& name) {
  for (int i = 0; i < kNumDtypes; ++i) {
    auto t = static_cast<Dtype>(i);
    if (name == dtype_name(t)) return t;
  }
  TWIG_THROW(ValueError, "unknown dtype name '", name, "'");
}

Dtype promote_types(Dtype a, Dtype b) {
  // The enum is ordered bool < uint8 < int32 < int64 < float32 < float64, and for these six types
  // PyTorch's promotion table is exactly "the higher of the two".
  return static_cast<int>(a) >= static_cast<int>(b) ? a : b;
}

namespace {
std::atomic<Dtype> g_default_dtype{kFloat32};
}  // namespace

Dtype default_dtype() { return g_default_dtype.load(std::memory_order_relaxed); }

void set_default_dtype(Dtype dtype) {
  TWIG_CHECK(is_floating(dtype), TypeError,
             "set_default_dtype(): only floating-point types are supported as the default type, got ", dtype);
  g_default_dtype.store(dtype, std::memory_order_relaxed);
}

std::ostream& operator<<(std::ostream& os, Dtype t) { return os << "torch." << dtype_name(t); }

std::ostream& operator<<(std::ostream& os, const Scalar& s) {
  switch (s.kind()) {
    case Scalar::Kind::Bool:
      return os << (s.to_bool() ? "True" : "False");
    case Scalar::Kind::Int:
      return os << s.to_int();
    case Scalar::Kind::Float:
      return os << s.to_double();
  }
  return os;
}

Device::Device(const std::string& spec) {
  if (spec == "cpu") {
    type_ = DeviceType::CPU;
    index_ = 0;
    return;
  }
  for (auto [name, type] : {std::pair<std::string, DeviceType>{"cuda", DeviceType::CUDA},
                            std::pair<std::string, DeviceType>{"privateuseone", DeviceType::PrivateUse1}}) {
    if (spec.rfind(name, 0) != 0) continue;
    type_ = type;
    index_ = 0;
    const size_t n = name.size();
    if (spec.size() == n) return;
    if (spec[n] == ':' && spec.size() > n + 1) {
      size_t used = 0;
      int idx = -1;
      try {
        idx = std::stoi(spec.substr(n + 1), &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used == spec.size() - n - 1 && idx >= 0) {
        index_ = idx;
        return;
      }
    }
    break;
  }
  TWIG_THROW(ValueError, "invalid device string '", spec,
             "' (expected 'cpu', 'cuda', 'cuda:N' or 'privateuseone:N')");
}

std::string Device::str() const {
  switch (type_) {
    case DeviceType::CPU:
      return "cpu";
    case DeviceType::CUDA:
      return "cuda:" + std::to_string(index_);
    case DeviceType::PrivateUse1:
      return "privateuseone:" + std::to_string(index_);
  }
  return "unknown:" + std::to_string(index_);
}

std::ostream& operator<<(std::ostream& os, const Device& d) { return os << d.str(); }

}  // namespace twig
