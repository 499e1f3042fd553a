// Element types, their sizes and names, type promotion, and the dispatch macro that turns a runtime
// Dtype into a C++ type for a kernel.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string>
#include <type_traits>

#include "twig/tensor/error.h"

namespace twig {

// Ordered by promotion rank: a higher value wins in promote_types (within a category).
enum class Dtype : int8_t { Bool = 0, UInt8, Int32, Int64, Float32, Float64 };

constexpr Dtype kBool = Dtype::Bool;
constexpr Dtype kUInt8 = Dtype::UInt8;
constexpr Dtype kInt32 = Dtype::Int32;
constexpr Dtype kInt64 = Dtype::Int64;
constexpr Dtype kFloat32 = Dtype::Float32;
constexpr Dtype kFloat64 = Dtype::Float64;
// PyTorch's C++ aliases.
constexpr Dtype kInt = kInt32;
constexpr Dtype kLong = kInt64;
constexpr Dtype kFloat = kFloat32;
constexpr Dtype kDouble = kFloat64;

constexpr int kNumDtypes = 6;

size_t itemsize(Dtype t);
// "float32", "int64", ... as torch prints them.
const char* dtype_name(Dtype t);
// "Float", "Long", ... as in "FloatTensor".
const char* dtype_tensor_name(Dtype t);
// Inverse of dtype_name; ValueError for an unknown name.
Dtype dtype_from_name(const std::string& name);

inline bool is_floating(Dtype t) { return t == kFloat32 || t == kFloat64; }
inline bool is_integral(Dtype t, bool include_bool = false) {
  return t == kUInt8 || t == kInt32 || t == kInt64 || (include_bool && t == kBool);
}

// PyTorch's promote_types: the smallest type that holds both.
Dtype promote_types(Dtype a, Dtype b);

// The default floating dtype, torch.get_default_dtype(): float32 unless set_default_dtype
// changed it. Factories without a dtype (empty, zeros, ones, rand*, tensor({1.5}), arange with a
// floating bound, ...) and hence the parameters layers create use it; so do integers meeting a
// floating Python scalar. One setting for the whole program, as in PyTorch.
Dtype default_dtype();
inline Dtype get_default_dtype() { return default_dtype(); }
// torch.set_default_dtype: only float32 and float64 (TypeError naming any other dtype).
void set_default_dtype(Dtype dtype);

// Sets the default dtype for a scope and restores the previous one on exit.
class DefaultDtypeGuard {
 public:
  explicit DefaultDtypeGuard(Dtype dtype) : previous_(default_dtype()) { set_default_dtype(dtype); }
  ~DefaultDtypeGuard() { set_default_dtype(previous_); }
  DefaultDtypeGuard(const DefaultDtypeGuard&) = delete;
  DefaultDtypeGuard& operator=(const DefaultDtypeGuard&) = delete;

 private:
  Dtype previous_;
};

std::ostream& operator<<(std::ostream& os, Dtype t);

template <typename T>
struct dtype_of;
template <>
struct dtype_of<bool> {
  static constexpr Dtype value = kBool;
};
template <>
struct dtype_of<uint8_t> {
  static constexpr Dtype value = kUInt8;
};
template <>
struct dtype_of<int32_t> {
  static constexpr Dtype value = kInt32;
};
template <>
struct dtype_of<int64_t> {
  static constexpr Dtype value = kInt64;
};
template <>
struct dtype_of<float> {
  static constexpr Dtype value = kFloat32;
};
template <>
struct dtype_of<double> {
  static constexpr Dtype value = kFloat64;
};

// Accumulation type for reductions: double for floating, int64 for integers.
template <typename T>
using acc_type = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;

}  // namespace twig

// TWIG_DISPATCH(dtype, "op name", [&] { using scalar_t = ...; body });
// The lambda body sees `scalar_t`. Variants restrict the accepted set.
#define TWIG_DISPATCH_CASE(enum_value, type, ...) \
  case enum_value: {                              \
    using scalar_t = type;                        \
    return __VA_ARGS__();                         \
  }

#define TWIG_DISPATCH_ALL(dtype, name, ...)                                         \
  [&] {                                                                             \
    switch (dtype) {                                                                \
      TWIG_DISPATCH_CASE(::twig::Dtype::Bool, bool, __VA_ARGS__)                    \
      TWIG_DISPATCH_CASE(::twig::Dtype::UInt8, uint8_t, __VA_ARGS__)                \
      TWIG_DISPATCH_CASE(::twig::Dtype::Int32, int32_t, __VA_ARGS__)                \
      TWIG_DISPATCH_CASE(::twig::Dtype::Int64, int64_t, __VA_ARGS__)                \
      TWIG_DISPATCH_CASE(::twig::Dtype::Float32, float, __VA_ARGS__)                \
      TWIG_DISPATCH_CASE(::twig::Dtype::Float64, double, __VA_ARGS__)               \
    }                                                                               \
    TWIG_THROW(TypeError, name, ": unsupported dtype ", ::twig::dtype_name(dtype)); \
  }()

#define TWIG_DISPATCH_NUMERIC(dtype, name, ...)                                             \
  [&] {                                                                                     \
    switch (dtype) {                                                                        \
      TWIG_DISPATCH_CASE(::twig::Dtype::UInt8, uint8_t, __VA_ARGS__)                        \
      TWIG_DISPATCH_CASE(::twig::Dtype::Int32, int32_t, __VA_ARGS__)                        \
      TWIG_DISPATCH_CASE(::twig::Dtype::Int64, int64_t, __VA_ARGS__)                        \
      TWIG_DISPATCH_CASE(::twig::Dtype::Float32, float, __VA_ARGS__)                        \
      TWIG_DISPATCH_CASE(::twig::Dtype::Float64, double, __VA_ARGS__)                       \
      default:                                                                              \
        break;                                                                              \
    }                                                                                       \
    TWIG_THROW(TypeError, name, ": not implemented for dtype ", ::twig::dtype_name(dtype)); \
  }()

#define TWIG_DISPATCH_FLOATING(dtype, name, ...)                                                 \
  [&] {                                                                                          \
    switch (dtype) {                                                                             \
      TWIG_DISPATCH_CASE(::twig::Dtype::Float32, float, __VA_ARGS__)                             \
      TWIG_DISPATCH_CASE(::twig::Dtype::Float64, double, __VA_ARGS__)                            \
      default:                                                                                   \
        break;                                                                                   \
    }                                                                                            \
    TWIG_THROW(TypeError, name, ": expected a floating dtype, got ", ::twig::dtype_name(dtype)); \
  }()
