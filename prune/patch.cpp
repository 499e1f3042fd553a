// The per-thread compute_mask patches of prune/patch.h.
#include "twig/prune/patch.h"

#include <map>

namespace twig::prune::detail {

namespace {
thread_local std::map<std::type_index, ComputeMaskFn>* patches = nullptr;
}  // namespace

const ComputeMaskFn* patched_compute_mask(const std::type_info& method) {
  if (patches == nullptr) return nullptr;
  auto it = patches->find(std::type_index(method));
  return it == patches->end() ? nullptr : &it->second;
}

ComputeMaskFn swap_compute_mask_patch(const std::type_info& method, ComputeMaskFn fn) {
  static thread_local std::map<std::type_index, ComputeMaskFn> storage;
  patches = &storage;
  ComputeMaskFn previous;
  auto it = storage.find(std::type_index(method));
  if (it != storage.end()) {
    previous = std::move(it->second);
    storage.erase(it);
  }
  if (fn) storage.emplace(std::type_index(method), std::move(fn));
  if (storage.empty()) patches = nullptr;
  return previous;
}

}  // namespace twig::prune::detail
