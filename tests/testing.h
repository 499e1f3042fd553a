// Shared test helpers.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <type_traits>
#include <vector>

#include "twig/core.h"

namespace twig::testing {

// A float64 leaf that requires grad, filled from a seeded normal distribution.
inline Tensor leaf(const Shape& shape, uint64_t seed = 0, double scale = 1.0) {
  Generator g(seed);
  return (randn(shape, kFloat64, &g) * scale).detach().requires_grad_();
}

// A non-contiguous float64 leaf-backed view with the given logical shape (a transposed buffer).
// Returns {view, leaf}; gradients accumulate in leaf.
inline std::pair<Tensor, Tensor> noncontiguous(const Shape& shape, uint64_t seed = 0) {
  Shape rev(shape.rbegin(), shape.rend());
  Tensor base = leaf(rev, seed);
  Dims order;
  for (int64_t i = static_cast<int64_t>(shape.size()) - 1; i >= 0; --i) order.push_back(i);
  return {base.permute(order), base};
}

// Runs gradcheck and reports the mismatch message on failure.
#define EXPECT_GRADCHECK(fn, inputs)                   \
  do {                                                 \
    auto _r = ::twig::autograd::gradcheck(fn, inputs); \
    EXPECT_TRUE(_r.ok) << _r.message;                  \
  } while (0)

// Runs f and expects an exception of type E whose what() contains every needle.
template <typename E>
void expect_error(const std::function<void()>& f, const std::vector<std::string>& needles) {
  try {
    f();
    ADD_FAILURE() << "no exception thrown; expected one mentioning '" << (needles.empty() ? "" : needles.front())
                  << "'";
  } catch (const E& e) {
    const std::string what = e.what();
    for (const auto& n : needles) EXPECT_NE(what.find(n), std::string::npos) << "'" << n << "' not in: " << what;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong exception type: " << e.what();
  }
}
// One needle (a string, not a braced list, so {"a", "b"} picks the overload above).
template <typename E, typename S, typename = std::enable_if_t<std::is_convertible_v<const S&, std::string>>>
void expect_error(const std::function<void()>& f, const S& needle) {
  expect_error<E>(f, std::vector<std::string>{std::string(needle)});
}

// The whole message of the E that fn throws (for exact-message checks), or "<no exception>".
template <typename E = RuntimeError, typename Fn>
std::string error_of(Fn fn) {
  try {
    fn();
  } catch (const E& e) {
    return e.what();
  }
  return "<no exception>";
}

// EXPECT_ERROR(expr, ErrorType, "needle"): expr throws ErrorType naming the needle.
#define EXPECT_ERROR(stmt, ErrorType, needle) \
  ::twig::testing::expect_error<ErrorType>([&] { (void)(stmt); }, std::string(needle))

// Gradchecks fn on a contiguous float64 leaf of `shape` and on a non-contiguous view of one.
inline void gradcheck_both(const std::function<TensorList(const TensorList&)>& fn, const Shape& shape,
                           uint64_t seed = 1) {
  EXPECT_GRADCHECK(fn, (TensorList{leaf(shape, seed)}));
  auto [view, base] = noncontiguous(shape, seed + 100);
  if (shape.size() >= 2) {
    EXPECT_FALSE(view.is_contiguous());
  }
  EXPECT_GRADCHECK(fn, (TensorList{view}));
}

inline std::string str(const Tensor& t) {
  std::ostringstream os;
  os << t;
  return os.str();
}

inline std::string shape_str(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

// Python's assertEqual(a, b) with exact_dtype=True: same dtype, same shape (no broadcasting), then the
// values; rtol = atol = 0 means exact equality (twig::equal), else allclose. NaN never equals NaN.
inline ::testing::AssertionResult tensors_match(const char* a_expr, const char* b_expr, const Tensor& a,
                                                const Tensor& b, bool check_dtype, double rtol, double atol) {
  if (!a.defined() || !b.defined()) {
    return ::testing::AssertionFailure() << a_expr << " or " << b_expr << " is an undefined tensor";
  }
  if (check_dtype && a.dtype() != b.dtype()) {
    return ::testing::AssertionFailure() << "dtypes differ: " << a_expr << " is " << dtype_name(a.dtype()) << ", "
                                         << b_expr << " is " << dtype_name(b.dtype());
  }
  if (a.sizes() != b.sizes()) {
    return ::testing::AssertionFailure() << "shapes differ: " << a_expr << " is " << shape_str(a.sizes()) << ", "
                                         << b_expr << " is " << shape_str(b.sizes());
  }
  bool same = false;
  if (rtol == 0 && atol == 0) {
    same = ::twig::equal(a, b);
  } else {
    // Value-only comparisons promote to a common dtype first (allclose refuses mixed dtypes).
    const Dtype common = promote_types(a.dtype(), b.dtype());
    same = ::twig::allclose(a.to(common), b.to(common), rtol, atol);
  }
  if (same) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << a_expr << " and " << b_expr << " differ"
                                       << (rtol == 0 && atol == 0 ? "" : " beyond rtol/atol") << ":\n"
                                       << str(a) << "\nvs\n"
                                       << str(b);
}

// Dtype, shape and values exactly equal (Python's assertEqual with exact_dtype=True).
#define EXPECT_TENSOR_EQ(a, b)                                                               \
  EXPECT_PRED_FORMAT2(                                                                       \
      [](const char* ea, const char* eb, const ::twig::Tensor& x, const ::twig::Tensor& y) { \
        return ::twig::testing::tensors_match(ea, eb, x, y, /*check_dtype=*/true, 0.0, 0.0); \
      },                                                                                     \
      a, b)
// Dtype and shape equal, values within rtol/atol (assertEqual(a, b, rtol=, atol=)).
#define EXPECT_TENSOR_CLOSE(a, b, rtol, atol)                                                      \
  EXPECT_PRED_FORMAT2(                                                                             \
      [&](const char* ea, const char* eb, const ::twig::Tensor& x, const ::twig::Tensor& y) {      \
        return ::twig::testing::tensors_match(ea, eb, x, y, /*check_dtype=*/true, (rtol), (atol)); \
      },                                                                                           \
      a, b)
// Value-only: shape and values equal, the dtypes may differ (assertEqual(..., exact_dtype=False)).
// Only for a test that means it; say why beside each use.
#define EXPECT_TENSOR_VALUES_EQ(a, b)                                                         \
  EXPECT_PRED_FORMAT2(                                                                        \
      [](const char* ea, const char* eb, const ::twig::Tensor& x, const ::twig::Tensor& y) {  \
        return ::twig::testing::tensors_match(ea, eb, x, y, /*check_dtype=*/false, 0.0, 0.0); \
      },                                                                                      \
      a, b)

}  // namespace twig::testing
