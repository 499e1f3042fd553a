// Helpers shared by serialize/'s sources (not part of the public API).
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <utility>

#include "twig/tensor/error.h"

namespace twig::serialize::detail {

// Runs f; a twig error it throws is rethrown as the same type with `prefix` in front of the
// message ("model.twig: header is not valid JSON ...").
template <typename F>
decltype(auto) with_context(const std::string& prefix, F&& f) {
  try {
    return std::forward<F>(f)();
  } catch (const KeyError& e) {
    throw KeyError(prefix + e.what());
  } catch (const IndexError& e) {
    throw IndexError(prefix + e.what());
  } catch (const TypeError& e) {
    throw TypeError(prefix + e.what());
  } catch (const ValueError& e) {
    throw ValueError(prefix + e.what());
  } catch (const NotImplementedError& e) {
    throw NotImplementedError(prefix + e.what());
  } catch (const RuntimeError& e) {
    throw RuntimeError(prefix + e.what());
  } catch (const AttributeError& e) {
    throw AttributeError(prefix + e.what());
  }
}

// Byte offset of the first byte that breaks UTF-8 (overlongs, surrogates and values past
// U+10FFFF included), or npos when all of s is valid.
size_t invalid_utf8_at(const char* s, size_t n);

// Parses untrusted JSON text: ValueError for invalid JSON or a key repeated within one object
// (nlohmann would keep the last silently). Object keys keep the file's order.
nlohmann::ordered_json parse_json_strict(const char* begin, const char* end, const char* what);

// "object", "array", "string", ... for messages.
const char* json_kind(const nlohmann::ordered_json& j);

}  // namespace twig::serialize::detail
