// Printing: PyTorch's repr format (torch/_tensor_str.py with the default print options: precision
// 4, threshold 1000, edgeitems 3, linewidth 80), so a twig tensor prints as torch would print it.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "twig/autograd/grad_mode.h"
#include "twig/autograd/node.h"
#include "twig/autograd/ops/internal.h"
#include "twig/autograd/ops/ops.h"

namespace twig {

namespace {

constexpr int kPrecision = 4;
constexpr int64_t kThreshold = 1000;
constexpr int64_t kEdgeItems = 3;
constexpr int64_t kLineWidth = 80;
constexpr int64_t kEllipsis = -1;  // marks "..." in an index list

// Elements are read from a contiguous CPU copy: float64 for floating tensors, int64 for integer
// ones, bool for bool, so one formatter serves every dtype.
enum class Kind { Floating, Integer, Boolean };

struct Data {
  Kind kind;
  Tensor values;  // contiguous, CPU
  Shape sizes;
  Shape strides;
  bool summarize;

  // Indices of dim d that get printed: all of them, or the edges around kEllipsis.
  std::vector<int64_t> indices(int64_t d) const {
    int64_t n = sizes[d];
    std::vector<int64_t> out;
    if (summarize && n > 2 * kEdgeItems) {
      for (int64_t i = 0; i < kEdgeItems; ++i) out.push_back(i);
      out.push_back(kEllipsis);
      for (int64_t i = n - kEdgeItems; i < n; ++i) out.push_back(i);
    } else {
      for (int64_t i = 0; i < n; ++i) out.push_back(i);
    }
    return out;
  }
  double as_double(int64_t flat) const { return values.data_ptr<double>()[flat]; }
  int64_t as_int(int64_t flat) const { return values.data_ptr<int64_t>()[flat]; }
  bool as_bool(int64_t flat) const { return values.data_ptr<bool>()[flat]; }
};

// Flat offsets of every element that will be printed (the summarized data PyTorch formats).
void collect(const Data& data, int64_t d, int64_t offset, std::vector<int64_t>& out) {
  if (d == static_cast<int64_t>(data.sizes.size())) {
    out.push_back(offset);
    return;
  }
  for (int64_t i : data.indices(d)) {
    if (i != kEllipsis) collect(data, d + 1, offset + i * data.strides[d], out);
  }
}

std::string printf_str(const char* fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), fmt, v);
  return buf;
}

// Python's str() of a non-finite float ("nan" whatever its sign bit).
std::string nonfinite_str(double v) {
  if (std::isnan(v)) return "nan";
  return v > 0 ? "inf" : "-inf";
}

// torch._tensor_str._Formatter: picks integer, fixed or scientific notation and a common width.
class Formatter {
 public:
  explicit Formatter(const Data& data) : kind_(data.kind) {
    std::vector<int64_t> offsets;
    collect(data, 0, 0, offsets);
    if (kind_ == Kind::Integer) {
      for (int64_t o : offsets) width_ = std::max(width_, static_cast<int>(std::to_string(data.as_int(o)).size()));
      return;
    }
    if (kind_ == Kind::Boolean) {
      for (int64_t o : offsets) width_ = std::max(width_, data.as_bool(o) ? 4 : 5);
      return;
    }
    std::vector<double> vals;
    for (int64_t o : offsets) {
      double v = data.as_double(o);
      if (std::isfinite(v) && v != 0.0) vals.push_back(v);
    }
    if (vals.empty()) return;
    double lo = INFINITY, hi = 0.0;
    for (double v : vals) {
      lo = std::min(lo, std::fabs(v));
      hi = std::max(hi, std::fabs(v));
      if (v != std::ceil(v)) int_mode_ = false;
    }
    if (int_mode_) {
      sci_mode_ = hi / lo > 1000.0 || hi > 1e8;
    } else {
      sci_mode_ = hi / lo > 1000.0 || hi > 1e8 || lo < 1e-4;
    }
    for (double v : vals) {
      if (sci_mode_) {
        width_ = std::max(width_, static_cast<int>(printf_str("%.4e", v).size()));
      } else if (int_mode_) {
        width_ = std::max(width_, static_cast<int>(printf_str("%.0f", v).size()) + 1);
      } else {
        width_ = std::max(width_, static_cast<int>(printf_str("%.4f", v).size()));
      }
    }
  }

  int width() const { return width_; }

  std::string format(const Data& data, int64_t offset) const {
    std::string s;
    switch (kind_) {
      case Kind::Integer:
        s = std::to_string(data.as_int(offset));
        break;
      case Kind::Boolean:
        s = data.as_bool(offset) ? "True" : "False";
        break;
      case Kind::Floating:
        s = format_float(data.as_double(offset));
        break;
    }
    if (static_cast<int>(s.size()) < width_) s.insert(0, static_cast<size_t>(width_) - s.size(), ' ');
    return s;
  }

 private:
  std::string format_float(double v) const {
    if (!std::isfinite(v)) return nonfinite_str(v);
    if (sci_mode_) return printf_str("%.4e", v);
    if (int_mode_) return printf_str("%.0f", v) + ".";
    return printf_str("%.4f", v);
  }

  Kind kind_;
  bool int_mode_ = true;
  bool sci_mode_ = false;
  int width_ = 1;
};

std::string join(const std::vector<std::string>& parts, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i) out += sep;
    out += parts[i];
  }
  return out;
}

// "[" + s + "]", appended in place (GCC 12 warns falsely, -Wrestrict, on "[" + std::string).
std::string bracketed(const std::string& s) {
  std::string out;
  out.reserve(s.size() + 2);
  out += '[';
  out += s;
  out += ']';
  return out;
}

// torch._tensor_str._vector_str: a row wrapped to the line width.
std::string vector_str(const Data& data, const Formatter& fmt, int64_t offset, int64_t indent) {
  int64_t d = static_cast<int64_t>(data.sizes.size()) - 1;
  int64_t element_length = fmt.width() + 2;
  int64_t per_line = std::max<int64_t>(1, (kLineWidth - indent) / element_length);
  std::vector<std::string> elems;
  for (int64_t i : data.indices(d)) {
    elems.push_back(i == kEllipsis ? " ..." : fmt.format(data, offset + i * data.strides[d]));
  }
  std::vector<std::string> lines;
  for (size_t i = 0; i < elems.size(); i += static_cast<size_t>(per_line)) {
    size_t end = std::min(elems.size(), i + static_cast<size_t>(per_line));
    lines.push_back(join(std::vector<std::string>(elems.begin() + static_cast<std::ptrdiff_t>(i),
                                                  elems.begin() + static_cast<std::ptrdiff_t>(end)),
                         ", "));
  }
  return bracketed(join(lines, ",\n" + std::string(static_cast<size_t>(indent + 1), ' ')));
}

// torch._tensor_str._tensor_str_with_formatter for the sub-tensor starting at dim d.
std::string tensor_str(const Data& data, const Formatter& fmt, int64_t d, int64_t offset, int64_t indent) {
  int64_t ndim = static_cast<int64_t>(data.sizes.size());
  if (ndim == 0) return fmt.format(data, offset);
  if (d == ndim - 1) return vector_str(data, fmt, offset, indent);
  std::vector<std::string> slices;
  for (int64_t i : data.indices(d)) {
    slices.push_back(i == kEllipsis ? "..." : tensor_str(data, fmt, d + 1, offset + i * data.strides[d], indent + 1));
  }
  std::string sep = ",";
  sep.append(static_cast<size_t>(ndim - d - 1), '\n');
  sep.append(static_cast<size_t>(indent + 1), ' ');
  return bracketed(join(slices, sep));
}

// torch._tensor_str._add_suffixes: ", suffix" or a new line when the line would pass 80 columns.
// force_newline (sparse tensors) puts the first suffix on a new line.
std::string add_suffixes(const std::string& body, const std::vector<std::string>& suffixes, int64_t indent,
                         bool force_newline = false) {
  std::string out = body;
  size_t nl = body.rfind('\n');
  // Python: len(s) - s.rfind('\n') + 1, with rfind giving -1 when there is no newline.
  int64_t last_line_len =
      static_cast<int64_t>(body.size()) - (nl == std::string::npos ? -1 : static_cast<int64_t>(nl)) + 1;
  for (const std::string& suffix : suffixes) {
    int64_t len = static_cast<int64_t>(suffix.size());
    if (force_newline || last_line_len + len + 2 > kLineWidth) {
      out += ",\n" + std::string(static_cast<size_t>(indent), ' ') + suffix;
      last_line_len = indent + len;
      force_newline = false;
    } else {
      out += ", " + suffix;
      last_line_len += len + 2;
    }
  }
  return out + ")";
}

std::string size_str(const Shape& sizes) {
  std::string s = "(";
  for (size_t i = 0; i < sizes.size(); ++i) s += (i ? ", " : "") + std::to_string(sizes[i]);
  return s + (sizes.size() == 1 ? ",)" : ")");
}

// torch._tensor_str._tensor_str: the bracketed elements of a strided tensor, rows indented by indent.
std::string elements_str(const Tensor& t, int64_t indent) {
  if (t.numel() == 0) return "[]";
  Data data;
  data.kind = is_floating(t.dtype()) ? Kind::Floating : t.dtype() == kBool ? Kind::Boolean : Kind::Integer;
  Dtype read_as = data.kind == Kind::Floating ? kFloat64 : data.kind == Kind::Boolean ? kBool : kInt64;
  {
    autograd::NoGradGuard no_grad;
    data.values = t.detach().to(Device::cpu()).to(read_as).contiguous();
  }
  data.sizes = t.sizes();
  data.strides = contiguous_strides(data.sizes);
  data.summarize = t.numel() > kThreshold;
  Formatter fmt(data);
  return tensor_str(data, fmt, 0, 0, indent);
}

// Int64 and bool print without a dtype suffix, as the default dtype does.
bool has_default_dtype(Dtype dtype) { return dtype == default_dtype() || dtype == kInt64 || dtype == kBool; }

// torch._tensor_str._str_intern's sparse COO branch: indices=, values= and size/nnz/layout suffixes.
std::string sparse_to_string(const Tensor& t) {
  const std::string prefix = "tensor(";
  const auto indent = static_cast<int64_t>(prefix.size());
  std::vector<std::string> suffixes;
  if (!t.device().is_cpu()) suffixes.push_back("device='" + t.device().str() + "'");
  const std::string indices_prefix = "indices=tensor(";
  const std::string values_prefix = "values=tensor(";
  Tensor indices = t._indices();
  Tensor values = t._values();
  std::string indices_str = elements_str(indices, indent + static_cast<int64_t>(indices_prefix.size()));
  if (indices.numel() == 0) indices_str += ", size=" + size_str(indices.sizes());
  std::string values_str = elements_str(values, indent + static_cast<int64_t>(values_prefix.size()));
  if (values.numel() == 0) values_str += ", size=" + size_str(values.sizes());
  std::string body = indices_prefix + indices_str + "),\n" + std::string(static_cast<size_t>(indent), ' ') +
                     values_prefix + values_str + ")";
  suffixes.push_back("size=" + size_str(t.sizes()));
  suffixes.push_back("nnz=" + std::to_string(t._nnz()));
  if (!has_default_dtype(t.dtype())) suffixes.push_back(std::string("dtype=torch.") + dtype_name(t.dtype()));
  suffixes.push_back(std::string("layout=") + layout_name(t.layout()));
  return add_suffixes(prefix + body, suffixes, indent, /*force_newline=*/true);
}

}  // namespace

std::string Tensor::to_string() const {
  if (!defined()) return "tensor(undefined)";
  if (is_sparse()) return sparse_to_string(*this);
  const std::string prefix = "tensor(";
  const int64_t indent = static_cast<int64_t>(prefix.size());
  std::vector<std::string> suffixes;
  if (!device().is_cpu()) suffixes.push_back("device='" + device().str() + "'");

  if (numel() == 0) {
    if (dim() != 1) suffixes.push_back("size=" + size_str(sizes()));
    if (dtype() != default_dtype()) suffixes.push_back(std::string("dtype=torch.") + dtype_name(dtype()));
  } else if (!has_default_dtype(dtype())) {
    suffixes.push_back(std::string("dtype=torch.") + dtype_name(dtype()));
  }
  std::string body = elements_str(*this, indent);

  if (auto fn = grad_fn()) {
    suffixes.push_back("grad_fn=<" + fn->name() + ">");
  } else if (requires_grad()) {
    suffixes.push_back("requires_grad=True");
  }
  return add_suffixes(prefix + body, suffixes, indent);
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.to_string(); }

}  // namespace twig
