// A test seam with unittest.mock.patch's meaning for pruning methods:
//
//   with mock.patch("torch.nn.utils.prune.RandomUnstructured.compute_mask") as compute_mask:
//       compute_mask.return_value = mask
//       prune.random_unstructured(m, name="weight", amount=0.9)
//
// is, in twig,
//
//   {
//     prune::PatchComputeMask<prune::RandomUnstructured> patch([&](const Tensor&, const Tensor&) { return mask; });
//     prune::random_unstructured(*m, "weight", 0.9);
//   }
//
// While the guard lives, Method::compute_mask (for every object of that method type, the ones
// the public prune functions create included) calls the replacement instead of its own body; the
// rest of the pruning machinery runs as usual. The destructor restores what was there before
// (guards nest). A patch is visible to the thread that made it only, so tests running in
// parallel do not see each other's patches.
#pragma once

#include <functional>
#include <typeindex>
#include <typeinfo>
#include <utility>

#include "twig/tensor/tensor.h"

namespace twig::prune {

using ComputeMaskFn = std::function<Tensor(const Tensor& t, const Tensor& default_mask)>;

namespace detail {
// The replacement for the compute_mask that `method` (the class defining it) defines, or null.
// Cheap when nothing is patched: one thread-local check.
const ComputeMaskFn* patched_compute_mask(const std::type_info& method);
// Installs fn (empty: none) for `method`; returns what was installed before.
ComputeMaskFn swap_compute_mask_patch(const std::type_info& method, ComputeMaskFn fn);
}  // namespace detail

template <typename Method>
class PatchComputeMask {
 public:
  explicit PatchComputeMask(ComputeMaskFn fn)
      : previous_(detail::swap_compute_mask_patch(typeid(Method),
                                                  [this, fn = std::move(fn)](const Tensor& t, const Tensor& dm) {
                                                    ++calls_;
                                                    return fn(t, dm);
                                                  })) {}
  ~PatchComputeMask() { detail::swap_compute_mask_patch(typeid(Method), std::move(previous_)); }
  PatchComputeMask(const PatchComputeMask&) = delete;
  PatchComputeMask& operator=(const PatchComputeMask&) = delete;

  // How many times the replacement ran (mock's call_count).
  int call_count() const { return calls_; }

 private:
  int calls_ = 0;
  ComputeMaskFn previous_;
};

}  // namespace twig::prune
