// The conformance harness's machinery (harness.h): building each case's arguments on both devices,
// running the kernel on both backends, comparing.
#include "tensor/conformance/harness.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "twig/tensor/cpu/cpu_backend.h"
#include "twig/tensor/raw.h"

namespace twig::conformance {

namespace {

Backend& cpu() { return cpu::cpu_backend(); }

// The elements of a CPU tensor as doubles, row-major.
std::vector<double> values_of(const Tensor& t) {
  Tensor d = detail::copy_raw(t, kFloat64, Device::cpu());
  const double* p = d.data_ptr<double>();
  return std::vector<double>(p, p + d.numel());
}

// "" when got matches want (same shape and dtype; floats within tolerance, NaN matching NaN).
std::string compare(const Tensor& got, const Tensor& want, double rtol, double atol) {
  if (got.sizes() != want.sizes() || got.dtype() != want.dtype()) {
    return detail::str_cat("got ", detail::describe(got), ", expected ", detail::describe(want));
  }
  const std::vector<double> g = values_of(got), w = values_of(want);
  const bool exact = !is_floating(want.dtype());
  int64_t bad = 0, first = -1;
  for (size_t i = 0; i < g.size(); ++i) {
    bool ok;
    if (std::isnan(w[i]) || std::isnan(g[i])) {
      ok = std::isnan(w[i]) && std::isnan(g[i]);
    } else if (exact || std::isinf(w[i])) {
      ok = g[i] == w[i];
    } else {
      ok = std::abs(g[i] - w[i]) <= atol + rtol * std::abs(w[i]);
    }
    if (!ok && bad++ == 0) first = static_cast<int64_t>(i);
  }
  if (bad == 0) return "";
  std::ostringstream os;
  os.precision(9);
  os << bad << " of " << g.size() << " elements differ; first at storage element " << first << ": " << g[first]
     << " (expected " << w[first] << ")";
  return os.str();
}

// The argument's storage on device (copied from the CPU values by `backend`) and its view.
struct Placed {
  Tensor base, view;
};
Placed place(const Case::Arg& a, Device device, Backend& backend) {
  if (!a.base.defined()) return {};
  Tensor base = detail::make_empty(a.base.sizes(), a.base.dtype(), device);
  backend.copy(base, a.base);
  return {base, detail::make_alias(base, a.sizes, a.strides, a.offset)};
}

// A CPU copy of a tensor of the device under test.
Tensor to_cpu(const Tensor& t, Backend& backend) {
  if (t.device().is_cpu()) return t;
  Tensor c = detail::make_empty(t.sizes(), t.dtype(), Device::cpu());
  backend.copy(c, t);
  return c;
}

std::string layout_text(const Case::Arg& a) {
  return detail::str_cat(dtype_name(a.base.dtype()), a.sizes, " strides ", a.strides, " offset ", a.offset);
}

uint64_t seed_of(const std::string& name, Dtype dtype, int round) {
  uint64_t h = 1469598103934665603ULL;  // FNV-1a
  for (char ch : name) h = (h ^ static_cast<unsigned char>(ch)) * 1099511628211ULL;
  return h ^ (static_cast<uint64_t>(dtype) << 32) ^ static_cast<uint64_t>(round);
}

enum class Outcome { Compared, Skipped, Failed };

// One run of a case on device: fills `failures` and says what happened.
Outcome run_case(const Entry& e, const Case& c, Device device, Backend& backend, std::vector<std::string>& failures) {
  const std::string where =
      detail::str_cat(e.name, " [", dtype_name(c.dtype()), ", round ", c.round(), "] on ", device, ": ");
  std::vector<Placed> dev, ref;
  Args dev_args, ref_args;
  for (const Case::Arg& a : c.args()) {
    dev.push_back(place(a, device, backend));
    ref.push_back(place(a, Device::cpu(), cpu()));
    dev_args.push_back(dev.back().view);
    ref_args.push_back(ref.back().view);
  }
  if (c.mode() == Case::Mode::Checked) {
    try {
      c.call()(backend, dev_args);
    } catch (const std::exception& ex) {
      failures.push_back(where + "threw: " + ex.what());
      return Outcome::Failed;
    }
    Args after;
    for (size_t i = 0; i < dev.size(); ++i) {
      after.push_back(dev[i].view.defined() ? detail::contiguous_raw(to_cpu(dev[i].view, backend)) : Tensor());
    }
    std::string complaint = c.check()(after);
    if (!complaint.empty()) {
      failures.push_back(where + complaint);
      return Outcome::Failed;
    }
    return Outcome::Compared;
  }

  Tensor ref_result, dev_result;
  try {
    if (c.mode() == Case::Mode::Returning) {
      ref_result = c.returning()(cpu(), ref_args);
    } else {
      c.call()(cpu(), ref_args);
    }
  } catch (const Error&) {
    return Outcome::Skipped;  // the CPU backend does not take this (op, dtype): nothing to compare
  }
  try {
    if (c.mode() == Case::Mode::Returning) {
      dev_result = c.returning()(backend, dev_args);
    } else {
      c.call()(backend, dev_args);
    }
  } catch (const std::exception& ex) {
    failures.push_back(where + "threw: " + ex.what());
    return Outcome::Failed;
  }
  bool ok = true;
  for (size_t i = 0; i < c.args().size(); ++i) {
    if (!c.args()[i].written) continue;
    std::string diff = compare(to_cpu(dev[i].base, backend), ref[i].base, e.rtol, e.atol);
    if (!diff.empty()) {
      failures.push_back(detail::str_cat(where, "argument ", i, " (", layout_text(c.args()[i]), "): ", diff));
      ok = false;
    }
  }
  if (c.mode() == Case::Mode::Returning) {
    if (dev_result.device() != device) {
      failures.push_back(detail::str_cat(where, "returned a tensor on ", dev_result.device()));
      return Outcome::Failed;
    }
    std::string diff = compare(detail::contiguous_raw(to_cpu(dev_result, backend)), detail::contiguous_raw(ref_result),
                               e.rtol, e.atol);
    if (!diff.empty()) {
      failures.push_back(where + "returned tensor: " + diff);
      ok = false;
    }
  }
  return ok ? Outcome::Compared : Outcome::Failed;
}

}  // namespace

Case::Case(Dtype dtype, int round, uint64_t seed) : dtype_(dtype), round_(round), rng_(seed) {}

ArgLayout Case::layout() const {
  static const ArgLayout order[] = {ArgLayout::Contiguous, ArgLayout::Transposed, ArgLayout::Strided,
                                    ArgLayout::Broadcast};
  return order[round_ % 4];
}

ArgLayout Case::dense_layout() const {
  static const ArgLayout order[] = {ArgLayout::Contiguous, ArgLayout::Transposed, ArgLayout::Strided};
  return order[round_ % 3];
}

int64_t Case::size(int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng_); }

size_t Case::add(const Shape& shape, Dtype dtype, ArgLayout layout, bool written) {
  Arg a;
  a.sizes = shape;
  a.written = written;
  const size_t nd = shape.size();
  if (written && layout == ArgLayout::Broadcast) layout = ArgLayout::Strided;
  if (nd < 2 && layout == ArgLayout::Transposed) layout = ArgLayout::Contiguous;
  if (nd == 0) layout = ArgLayout::Contiguous;
  int64_t storage = 1;
  switch (layout) {
    case ArgLayout::Contiguous:
      a.strides = contiguous_strides(shape);
      storage = shape_numel(shape);
      break;
    case ArgLayout::Transposed: {
      Shape swapped = shape;
      std::swap(swapped[nd - 1], swapped[nd - 2]);
      a.strides = contiguous_strides(swapped);
      std::swap(a.strides[nd - 1], a.strides[nd - 2]);
      storage = shape_numel(shape);
      break;
    }
    case ArgLayout::Strided: {
      Shape wide = shape;
      wide[nd - 1] *= 2;
      a.strides = contiguous_strides(wide);
      a.strides[nd - 1] = 2;
      a.offset = 1;
      storage = 1 + shape_numel(wide);
      break;
    }
    case ArgLayout::Broadcast: {
      Shape rest(shape.begin() + 1, shape.end());
      a.strides = contiguous_strides(shape);
      a.strides[0] = 0;
      storage = shape_numel(rest);
      break;
    }
  }
  a.base = detail::make_empty({storage}, dtype, Device::cpu());
  args_.push_back(a);
  return args_.size() - 1;
}

namespace {
// Random values in [lo, hi) into t (floored when whole or t is not floating).
void randomize(const Tensor& t, std::mt19937_64& rng, double lo, double hi, bool whole) {
  if (t.dtype() == kBool) lo = 0, hi = 2;
  if (t.dtype() == kUInt8 && lo < 0) lo = 0;
  Tensor v = detail::make_empty(t.sizes(), kFloat64, Device::cpu());
  double* p = v.data_ptr<double>();
  std::uniform_real_distribution<double> dist(lo, hi);
  for (int64_t i = 0; i < v.numel(); ++i) {
    p[i] = dist(rng);
    if (whole || !is_floating(t.dtype())) p[i] = std::floor(p[i]);
  }
  cpu().copy(t, v);
}
}  // namespace

size_t Case::input(const Shape& shape, Dtype dtype, ArgLayout layout, double lo, double hi) {
  size_t i = add(shape, dtype, layout, false);
  Arg& a = args_[i];
  randomize(a.base, rng_, lo, hi, false);
  return i;
}

size_t Case::input_whole(const Shape& shape, Dtype dtype, ArgLayout layout, int64_t lo, int64_t hi) {
  size_t i = add(shape, dtype, layout, false);
  Arg& a = args_[i];
  randomize(a.base, rng_, static_cast<double>(lo), static_cast<double>(hi), true);
  return i;
}

size_t Case::input(const Tensor& values, ArgLayout layout) {
  size_t i = add(values.sizes(), values.dtype(), layout, false);
  Arg& a = args_[i];
  randomize(a.base, rng_, -4, 4, false);
  cpu().copy(detail::make_alias(a.base, a.sizes, a.strides, a.offset), values);
  return i;
}

size_t Case::output(const Shape& shape, Dtype dtype, ArgLayout layout) {
  size_t i = add(shape, dtype, layout, true);
  Arg& a = args_[i];
  randomize(a.base, rng_, -4, 4, false);
  return i;
}

void Case::written(size_t arg) {
  TWIG_CHECK(arg < args_.size(), IndexError, "written: no argument ", arg);
  TWIG_CHECK(args_[arg].strides.empty() ||
                 std::find(args_[arg].strides.begin(), args_[arg].strides.end(), 0) == args_[arg].strides.end(),
             ValueError, "written: argument ", arg, " is broadcast");
  args_[arg].written = true;
}

size_t Case::undefined() {
  args_.push_back(Arg{});
  return args_.size() - 1;
}

void Case::run(Call call) {
  mode_ = Mode::Compare;
  call_ = std::move(call);
  ran_ = true;
}

void Case::run_returning(std::function<Tensor(Backend&, const Args&)> call) {
  mode_ = Mode::Returning;
  returning_ = std::move(call);
  ran_ = true;
}

void Case::run_checked(Call call, std::function<std::string(const Args&)> check) {
  mode_ = Mode::Checked;
  call_ = std::move(call);
  check_ = std::move(check);
  ran_ = true;
}

Table& Table::add(BackendOp op, std::string name, std::vector<Dtype> dtypes, std::function<void(Case&)> body,
                  double rtol, double atol) {
  entries_.push_back(Entry{op, std::move(name), std::move(dtypes), std::move(body), rtol, atol});
  return *this;
}

std::vector<std::string> check_entry(const Entry& entry, Device device, int rounds) {
  std::vector<std::string> failures;
  Backend& backend = registered_backend(device);
  int claimed = 0, compared = 0;
  for (Dtype dtype : entry.dtypes) {
    if (!backend.supports_op(entry.op, dtype)) continue;
    ++claimed;
    for (int round = 0; round < rounds; ++round) {
      Case c(dtype, round, seed_of(entry.name, dtype, round));
      entry.body(c);
      if (!c.ran()) {
        failures.push_back(entry.name + ": the case body never called run()");
        return failures;
      }
      if (run_case(entry, c, device, backend, failures) != Outcome::Skipped) ++compared;
    }
  }
  if (claimed > 0 && compared == 0) {
    failures.push_back(entry.name + " on " + device.str() + ": nothing compared (the CPU backend refused every run)");
  }
  return failures;
}

std::vector<std::string> check_backend(Device device, int rounds) {
  std::vector<std::string> failures;
  for (const Entry& e : conformance_table().entries()) {
    std::vector<std::string> f = check_entry(e, device, rounds);
    failures.insert(failures.end(), f.begin(), f.end());
  }
  return failures;
}

}  // namespace twig::conformance
