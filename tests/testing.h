// Shared test helpers.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <type_traits>
#include <vector>

#include "core.h"

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
#define EXPECT_GRADCHECK(fn, inputs)                                          \
  do {                                                                         \
    auto _r = ::twig::autograd::gradcheck(fn, inputs);                         \
    EXPECT_TRUE(_r.ok) << _r.message;                                          \
  } while (0)

// Runs f and expects an exception of type E whose what() contains every needle.
template <typename E>
void expect_error(const std::function<void()>& f, const std::vector<std::string>& needles) {
  try {
    f();
    ADD_FAILURE() << "no exception thrown; expected one mentioning '" << (needles.empty() ? "" : needles.front()) << "'";
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

#define EXPECT_TENSOR_EQ(a, b) EXPECT_TRUE(::twig::equal((a), (b))) << ::twig::testing::str(a) << "\nvs\n" << ::twig::testing::str(b)
#define EXPECT_TENSOR_CLOSE(a, b, rtol, atol)                                                   \
  EXPECT_TRUE(::twig::allclose((a), (b), (rtol), (atol))) << ::twig::testing::str(a) << "\nvs\n" \
                                                          << ::twig::testing::str(b)

}  // namespace twig::testing
