// The backend conformance harness (ggml's test-backend-ops): every Backend kernel, for every dtype
// a backend claims (supports_op), on random shapes with non-contiguous, offset and broadcast
// arguments, run on that backend and on the CPU backend and compared: exactly for integer and bool
// results, within a tolerance for floating ones. Each written argument is compared over its whole
// storage, so a kernel that writes outside its view is caught too.
//
// The table holds one or more entries per BackendOp (test_backend_conformance.cpp checks that every
// op has one). A new kernel adds its entries in a function of its own family's file, called from
// conformance_table() in cases.cpp:
//
//   void add_pool_cases(Table& t) {
//     t.add(BackendOp::MaxPool2d, "max_pool2d", kFloatingDtypes, [](Case& c) {
//       const int64_t h = c.size(4, 9), w = c.size(4, 9);
//       auto in = c.input({c.size(1, 3), h, w}, c.dtype(), c.layout());  // any layout
//       Pool2dGeometry g = ...;
//       auto out = c.output({...}, c.dtype());
//       auto idx = c.output({...}, kInt64);
//       c.run([=](Backend& b, const Args& a) { b.max_pool2d(a[out], a[idx], a[in], g); });
//     });
//   }
#pragma once

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "twig/tensor/backend.h"

namespace twig::conformance {

// How an argument sits in memory. The harness builds the same layout on both devices.
enum class ArgLayout {
  Contiguous,
  Transposed,  // the last two dims swapped in memory (a transposed view); Contiguous below 2-D
  Strided,     // every other element of the last dim, from storage offset 1
  Broadcast,   // the first dim expanded from size 1 (stride 0); inputs only
};

const std::vector<Dtype> kAllDtypes = {kBool, kUInt8, kInt32, kInt64, kFloat32, kFloat64};
const std::vector<Dtype> kNumericDtypes = {kUInt8, kInt32, kInt64, kFloat32, kFloat64};
const std::vector<Dtype> kFloatingDtypes = {kFloat32, kFloat64};

// The tensors of one run, in the order the case made them, on the device of the backend called.
using Args = std::vector<Tensor>;
using Call = std::function<void(Backend&, const Args&)>;

// One run of one entry for one dtype: the body makes the arguments (on the CPU, from the run's
// seed) and calls run() once with the kernel call.
class Case {
 public:
  Case(Dtype dtype, int round, uint64_t seed);

  // The dtype under test (the op's key dtype, tensor/backend.h's BackendOp).
  Dtype dtype() const { return dtype_; }
  // Which run of this entry and dtype this is (0, 1, ...).
  int round() const { return round_; }
  // The layout inputs take in this round: Contiguous, Transposed, Strided, Broadcast in turn.
  ArgLayout layout() const;
  // The same without Broadcast (for outputs, and inputs that must have their own elements).
  ArgLayout dense_layout() const;
  // A random integer in [lo, hi].
  int64_t size(int64_t lo, int64_t hi);
  std::mt19937_64& rng() { return rng_; }

  // A random input: values uniform in [lo, hi) (integers: floored; bool: 0 or 1; uint8: from 0).
  size_t input(const Shape& shape, Dtype dtype, ArgLayout layout = ArgLayout::Contiguous, double lo = -4,
               double hi = 4);
  // An input with the given values (a CPU tensor; its shape and dtype), laid out per layout.
  size_t input(const Tensor& values, ArgLayout layout = ArgLayout::Contiguous);
  // An input of whole numbers in [lo, hi) whatever the dtype (zeros for nonzero, ties, exact sums).
  size_t input_whole(const Shape& shape, Dtype dtype, ArgLayout layout = ArgLayout::Contiguous, int64_t lo = -4,
                     int64_t hi = 4);
  // An output: filled with random values first (both devices see the same), compared after the run.
  size_t output(const Shape& shape, Dtype dtype, ArgLayout layout = ArgLayout::Contiguous);
  // Marks an input as written by the kernel (in-place kernels): compared after the run.
  void written(size_t arg);
  // An undefined tensor argument (adam_step's max_exp_avg_sq without amsgrad).
  size_t undefined();

  // The kernel call, run on the backend under test and on the CPU backend; the written arguments
  // are compared.
  void run(Call call);
  // For a kernel that returns a tensor (nonzero): the returned tensors are compared too.
  void run_returning(std::function<Tensor(Backend&, const Args&)> call);
  // For random-number kernels, which cannot match the CPU's stream: runs on the backend under test
  // only; check gets the written arguments as contiguous CPU tensors and returns "" or a complaint.
  void run_checked(Call call, std::function<std::string(const Args&)> check);

  // ---- used by the harness (harness.cpp) ----
  struct Arg {
    Tensor base;  // the CPU values, laid out as the storage is
    Shape sizes, strides;
    int64_t offset = 0;
    bool written = false;
  };
  enum class Mode { Compare, Returning, Checked };
  const std::vector<Arg>& args() const { return args_; }
  Mode mode() const { return mode_; }
  const Call& call() const { return call_; }
  const std::function<Tensor(Backend&, const Args&)>& returning() const { return returning_; }
  const std::function<std::string(const Args&)>& check() const { return check_; }
  bool ran() const { return ran_; }

 private:
  size_t add(const Shape& shape, Dtype dtype, ArgLayout layout, bool written);

  Dtype dtype_;
  int round_;
  std::mt19937_64 rng_;
  std::vector<Arg> args_;
  Mode mode_ = Mode::Compare;
  Call call_;
  std::function<Tensor(Backend&, const Args&)> returning_;
  std::function<std::string(const Args&)> check_;
  bool ran_ = false;
};

struct Entry {
  BackendOp op;
  std::string name;           // "unary.exp": names the entry in failures
  std::vector<Dtype> dtypes;  // the key dtypes the kernel takes (the CPU backend's)
  std::function<void(Case&)> body;
  double rtol = 1e-5, atol = 1e-6;  // floating results: |x - ref| <= atol + rtol |ref|
};

class Table {
 public:
  Table& add(BackendOp op, std::string name, std::vector<Dtype> dtypes, std::function<void(Case&)> body,
             double rtol = 1e-5, double atol = 1e-6);
  const std::vector<Entry>& entries() const { return entries_; }

 private:
  std::vector<Entry> entries_;
};

// Every entry, built once (cases.cpp).
const Table& conformance_table();

// Runs entry on the backend registered for device (registered_backend, no fallback) against the
// CPU backend, `rounds` random runs for each dtype of the entry that the backend claims. Returns
// the failures, one message each ("" none); a dtype the CPU backend itself refuses is skipped, and
// an entry that compares nothing at all fails.
std::vector<std::string> check_entry(const Entry& entry, Device device, int rounds = 4);
// Every entry of the table on device.
std::vector<std::string> check_backend(Device device, int rounds = 4);

}  // namespace twig::conformance
