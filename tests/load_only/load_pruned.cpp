// A program that only loads models: no prune/ header anywhere in this file (nor twig.h), yet a
// file holding a pruning hook loads, because twig::twig links twig_prune whole and its codecs
// register themselves at program start. Exit status 0 when every check holds.
#include <iostream>
#include <string>

#include "twig/autograd/ops/ops.h"
#include "twig/nn/linear.h"
#include "twig/serialize/module_io.h"
#include "twig/serialize/safetensors.h"

using namespace twig;

namespace {

int failures = 0;

void check(bool ok, const std::string& what) {
  if (!ok) {
    std::cerr << "FAILED: " << what << "\n";
    ++failures;
  }
}

}  // namespace

int main() {
  try {
    // A Linear(4, 3) whose weight is pruned by L1Unstructured(0.5), written as twig writes it.
    nn::StateDict tensors;
    Tensor w = arange(12, kFloat32).sub(5.5).reshape({3, 4});
    Tensor mask = (w.abs() > 3.0).to(kFloat32);
    Tensor b = tensor({0.5f, -1.0f, 2.0f});
    tensors.insert("weight_orig", w);
    tensors.insert("bias", b);
    tensors.insert("weight_mask", mask);
    const std::string tree = R"({"version": 2, "root": 0, "packed": {}, "modules": [{
      "type": "Linear", "options": {"in_features": 4, "out_features": 3, "bias": true}, "training": true,
      "parameters": [{"name": "weight_orig", "tensor": "weight_orig", "requires_grad": true},
                     {"name": "bias", "tensor": "bias", "requires_grad": true}],
      "buffers": [{"name": "weight_mask", "tensor": "weight_mask", "persistent": true}],
      "attributes": [], "children": [],
      "forward_pre_hooks": [{"type": "L1Unstructured",
                             "state": {"type": "L1Unstructured", "tensor_name": "weight", "amount": 0.5}}],
      "forward_hooks": []}]})";
    std::string bytes = serialize::to_safetensors_bytes(tensors, {{serialize::kModuleTreeKey, tree}});

    nn::ModulePtr m = serialize::module_from_bytes(bytes.data(), bytes.size());
    check(serialize::has_forward_pre_hook_type("L1Unstructured"), "pruning's codecs are registered");
    check(m->forward_pre_hooks().size() == 1, "the pruning hook is attached");
    check(m->forward_pre_hooks().items().begin()->second->type_name() == "L1Unstructured", "hook type");
    check(m->is_attribute("weight") && equal(m->get("weight"), w * mask), "weight = weight_orig * weight_mask");
    Tensor x = arange(8, kFloat32).reshape({2, 4});
    check(equal((*m)(x), x.matmul((w * mask).t()) + b), "forward uses the pruned weight");
    // Saved again: the hook is stored, the recomputed weight is not.
    const std::string saved = serialize::module_to_bytes(*m);
    auto again = serialize::from_safetensors_bytes(saved.data(), saved.size());
    check(!again.tensors.contains("weight") &&
              again.metadata.at(serialize::kModuleTreeKey).find("L1Unstructured") != std::string::npos,
          "saved again with its hook");
  } catch (const std::exception& e) {
    std::cerr << "FAILED with an exception: " << e.what() << "\n";
    return 1;
  }
  if (failures == 0) std::cout << "a pruned file loads in a program with no prune header\n";
  return failures == 0 ? 0 : 1;
}
