// Spatial arguments of conv and pooling layers: kernel_size=3 or kernel_size=(3, 5). The value is
// kept as given (one value or one per dim), because pooling layers print it back that way.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace twig::nn {

struct SpatialInts {
  SpatialInts(int v) : values{v} {}
  SpatialInts(int64_t v) : values{v} {}
  SpatialInts(std::initializer_list<int64_t> v) : values(v) {}
  SpatialInts(std::vector<int64_t> v) : values(std::move(v)) {}
  // The values for `dims` spatial dims: the single value repeated, or the list itself.
  std::vector<int64_t> expand(size_t dims) const {
    return values.size() == 1 ? std::vector<int64_t>(dims, values[0]) : values;
  }
  bool operator==(const SpatialInts&) const = default;
  std::vector<int64_t> values;
};

// Python's repr of an int or a tuple: "3", "(3, 5)", "(3,)".
inline std::string python_repr(const std::vector<int64_t>& v, bool as_tuple) {
  if (!as_tuple && v.size() == 1) return std::to_string(v[0]);
  std::string s = "(";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + (v.size() == 1 ? ",)" : ")");
}

}  // namespace twig::nn
