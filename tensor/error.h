// Typed errors mirroring Python's exception classes, and the two tiers of checks:
// TWIG_CHECK for user mistakes (throws a typed exception naming the offending values) and
// TWIG_INTERNAL_ASSERT for broken invariants. The library never aborts or exits.
#pragma once

#include <iosfwd>
#include <memory>
#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

namespace twig {

// Base of every twig exception (Python's Exception). python_name() is the Python class a
// binding would raise ("ValueError", "KeyError", ...); each class below overrides it.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
  virtual const char* python_name() const noexcept { return "Exception"; }
};

#define TWIG_PY_NAME(Name) \
  const char* python_name() const noexcept override { return #Name; }

class TypeError : public Error {
 public:
  using Error::Error;
  TWIG_PY_NAME(TypeError)
};
class ValueError : public Error {
 public:
  using Error::Error;
  TWIG_PY_NAME(ValueError)
};
// Python: IndexError and KeyError are both LookupErrors.
class LookupError : public Error {
 public:
  using Error::Error;
  TWIG_PY_NAME(LookupError)
};
class IndexError : public LookupError {
 public:
  using LookupError::LookupError;
  TWIG_PY_NAME(IndexError)
};
class KeyError : public LookupError {
 public:
  using LookupError::LookupError;
  TWIG_PY_NAME(KeyError)
};
class RuntimeError : public Error {
 public:
  using Error::Error;
  TWIG_PY_NAME(RuntimeError)
};
// Python: NotImplementedError derives from RuntimeError.
class NotImplementedError : public RuntimeError {
 public:
  using RuntimeError::RuntimeError;
  TWIG_PY_NAME(NotImplementedError)
};
class AssertionError : public Error {
 public:
  using Error::Error;
  TWIG_PY_NAME(AssertionError)
};
// Python: a missing attribute (module.get("weight") on a module without one).
class AttributeError : public Error {
 public:
  using Error::Error;
  TWIG_PY_NAME(AttributeError)
};

#undef TWIG_PY_NAME

namespace detail {

// Builds an error message through an std::ostringstream that lives in error.cpp, so the
// messages format exactly as `os << v` does, without <sstream> in every translation unit.
// (<ostream> costs nothing extra: <memory> includes it in C++20.)
class MessageBuilder {
 public:
  MessageBuilder();
  ~MessageBuilder();
  MessageBuilder(const MessageBuilder&) = delete;
  MessageBuilder& operator=(const MessageBuilder&) = delete;
  std::ostream& stream();
  std::string str() const;

 private:
  std::unique_ptr<std::ostringstream> os_;
};

template <typename T>
void append_one(std::ostream& os, const T& v) {
  os << v;
}

// Shapes and index lists print as [2, 3], like torch.Size.
template <typename T>
void append_one(std::ostream& os, const std::vector<T>& v) {
  os << '[';
  for (size_t i = 0; i < v.size(); ++i) os << (i ? ", " : "") << v[i];
  os << ']';
}

inline void append(std::ostream&) {}

template <typename T, typename... Rest>
void append(std::ostream& os, const T& first, const Rest&... rest) {
  append_one(os, first);
  append(os, rest...);
}

template <typename... Args>
std::string str_cat(const Args&... args) {
  MessageBuilder builder;
  append(builder.stream(), args...);
  return builder.str();
}

}  // namespace detail

}  // namespace twig

// TWIG_CHECK(cond, ValueError, "amount=", amount, " is negative");
#define TWIG_CHECK(cond, ErrorType, ...)                             \
  do {                                                               \
    if (!(cond)) {                                                   \
      throw ::twig::ErrorType(::twig::detail::str_cat(__VA_ARGS__)); \
    }                                                                \
  } while (0)

#define TWIG_THROW(ErrorType, ...) throw ::twig::ErrorType(::twig::detail::str_cat(__VA_ARGS__))

// An invariant of twig itself; a failure is a twig bug, reported as RuntimeError.
#define TWIG_INTERNAL_ASSERT(cond, ...)                                                                             \
  do {                                                                                                              \
    if (!(cond)) {                                                                                                  \
      throw ::twig::RuntimeError(::twig::detail::str_cat("internal assert failed at " __FILE__ ":", __LINE__,       \
                                                         ": " #cond ". ", ##__VA_ARGS__, " (this is a twig bug)")); \
    }                                                                                                               \
  } while (0)
