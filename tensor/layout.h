// How a tensor's elements are stored: strided (dense storage with sizes and strides, the default)
// or sparse COO (an int64 index matrix and the values at those indices, PyTorch's torch.sparse_coo).
#pragma once

#include <ostream>

namespace twig {

enum class Layout { Strided, SparseCoo };

// PyTorch's spelling: "torch.strided", "torch.sparse_coo".
inline const char* layout_name(Layout layout) {
  return layout == Layout::SparseCoo ? "torch.sparse_coo" : "torch.strided";
}

inline std::ostream& operator<<(std::ostream& os, Layout layout) { return os << layout_name(layout); }

}  // namespace twig
