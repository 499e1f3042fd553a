#include "twig/tensor/trace.h"

#include <charconv>

namespace twig::trace {

namespace detail {
constinit thread_local State t_state;
}  // namespace detail

std::string repr(int64_t v) { return std::to_string(v); }

std::string repr(double v) {
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), v);  // the shortest form that reads back, like Python
  std::string s(buf, res.ptr);
  // Python prints a float with a point: 1.0, not 1.
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
  return s;
}

std::string repr(bool v) { return v ? "True" : "False"; }

std::string repr(const Scalar& v) {
  if (v.is_bool()) return repr(v.to_bool());
  if (v.is_integral()) return repr(v.to_int());
  return repr(v.to_double());
}

std::string repr(const std::string& v) { return "'" + v + "'"; }
std::string repr(const char* v) { return repr(std::string(v)); }

std::string repr(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

}  // namespace twig::trace
