// Python's repr of numbers and tuples, for extra_repr strings that must read exactly like
// PyTorch's (`eps=1e-05`, `lower=0.3333333333333333`, `(8,)`).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace twig::nn::pyfmt {

// repr(float(v)): the shortest string that round-trips, fixed notation for 1e-4 <= |v| < 1e16,
// otherwise scientific with at least two exponent digits; integral values keep a ".0".
inline std::string py_float(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  if (v == 0) return std::signbit(v) ? "-0.0" : "0.0";
  char buf[64];
  int digits = 1;
  for (; digits <= 17; ++digits) {
    std::snprintf(buf, sizeof buf, "%.*e", digits - 1, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  // buf is d.ddde±XX: split mantissa digits and exponent.
  std::string s(buf);
  size_t e_pos = s.find('e');
  int exponent = std::atoi(s.c_str() + e_pos + 1);
  std::string mant = s.substr(0, e_pos);
  bool neg = mant[0] == '-';
  if (neg) mant.erase(0, 1);
  std::string ds;
  for (char c : mant)
    if (c != '.') ds += c;
  std::string out;
  if (exponent < -4 || exponent >= 16) {
    out = ds.substr(0, 1);
    if (ds.size() > 1) {
      out += '.';
      out.append(ds, 1, std::string::npos);
    }
    char eb[16];
    std::snprintf(eb, sizeof eb, "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
    out += eb;
  } else if (exponent < 0) {
    out = "0.";
    out.append(static_cast<size_t>(-exponent - 1), '0');
    out += ds;
  } else {
    size_t int_len = static_cast<size_t>(exponent) + 1;
    if (ds.size() <= int_len) {
      out = ds;
      out.append(int_len - ds.size(), '0');
      out += ".0";
    } else {
      out = ds.substr(0, int_len);
      out += '.';
      out.append(ds, int_len, std::string::npos);
    }
  }
  if (neg) out.insert(out.begin(), '-');
  return out;
}

// A Python number that was given as an int when integral (Softplus's beta=1, threshold=20).
inline std::string py_number(double v) {
  if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 1e15) return std::to_string(static_cast<int64_t>(v));
  return py_float(v);
}

inline const char* py_bool(bool b) { return b ? "True" : "False"; }

// repr(tuple(dims)): "(8,)", "(4, 8)", "()".
inline std::string py_tuple(const std::vector<int64_t>& dims) {
  std::string s = "(";
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(dims[i]);
  }
  if (dims.size() == 1) s += ",";
  return s + ")";
}

}  // namespace twig::nn::pyfmt
