// CPU backend: memory, copies, fills and random numbers.
#include "twig/tensor/cpu/cpu_backend.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <new>
#include <unordered_map>

#include "twig/tensor/cpu/loops.h"
#include "twig/tensor/random.h"
#include "twig/tensor/raw.h"

namespace twig::cpu {

CpuBackend& cpu_backend() {
  static CpuBackend instance;
  return instance;
}

namespace {

void* aligned_alloc_or_throw(size_t nbytes) {
  void* p = nullptr;
  // 64-byte alignment suits AVX-512 loads and OpenBLAS.
  if (posix_memalign(&p, 64, nbytes) != 0 || p == nullptr) {
    TWIG_THROW(RuntimeError, "CPU out of memory: failed to allocate ", nbytes, " bytes");
  }
  return p;
}

// Keeps freed blocks of 64 KiB and more for reuse by later requests of the same size class.
// Fresh pages cost a page fault each on first write (measured here: about 8 ms per MB), and a
// training step allocates the same shapes every iteration, so reuse removes that cost.
// Sanitizer builds bypass the cache so use-after-free is still caught.
class CachingAllocator {
 public:
  void* allocate(size_t nbytes) {
    if (!enabled() || nbytes < kMinCached) return aligned_alloc_or_throw(nbytes);
    size_t size = size_class(nbytes);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = free_.find(size);
      if (it != free_.end()) {
        void* p = it->second;
        free_.erase(it);
        cached_bytes_ -= size;
        block_size_[p] = size;
        return p;
      }
    }
    void* p = aligned_alloc_or_throw(size);
    std::lock_guard<std::mutex> lock(mutex_);
    block_size_[p] = size;
    return p;
  }

  void deallocate(void* p) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = block_size_.find(p);
      if (it != block_size_.end()) {
        size_t size = it->second;
        block_size_.erase(it);
        if (cached_bytes_ + size <= kMaxCachedBytes) {
          free_.emplace(size, p);
          cached_bytes_ += size;
          return;
        }
      }
    }
    std::free(p);
  }

  void empty_cache() {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& [size, p] : free_) std::free(p);
    free_.clear();
    cached_bytes_ = 0;
  }

  size_t cached_bytes() {
    std::lock_guard<std::mutex> lock(mutex_);
    return cached_bytes_;
  }

 private:
  static constexpr size_t kMinCached = size_t{1} << 16;
  static constexpr size_t kMaxCachedBytes = size_t{1} << 30;

  static bool enabled() {
#ifdef TWIG_NO_ALLOC_CACHE
    return false;
#else
    return true;
#endif
  }

  // Four classes per power of two: at most 25% slack.
  static size_t size_class(size_t n) {
    size_t pow2 = size_t{1} << (63 - __builtin_clzll(n));
    size_t step = pow2 / 4;
    return (n + step - 1) / step * step;
  }

  std::mutex mutex_;
  std::multimap<size_t, void*> free_;
  std::unordered_map<void*, size_t> block_size_;
  size_t cached_bytes_ = 0;
};

CachingAllocator& allocator() {
  static CachingAllocator* a = new CachingAllocator();  // outlives every static tensor
  return *a;
}

}  // namespace

void* CpuBackend::allocate(size_t nbytes) { return allocator().allocate(nbytes); }

void CpuBackend::deallocate(void* ptr) { allocator().deallocate(ptr); }

void empty_cache() { allocator().empty_cache(); }

size_t cached_bytes() { return allocator().cached_bytes(); }

namespace {

template <typename To, typename From>
To convert(From v) {
  if constexpr (std::is_same_v<To, bool>) {
    return v != From(0);
  } else if constexpr (std::is_floating_point_v<From> && std::is_integral_v<To> && std::is_unsigned_v<To>) {
    // A negative float into uint8 wraps as in PyTorch; casting it directly is undefined.
    return static_cast<To>(static_cast<int64_t>(v));
  } else {
    return static_cast<To>(v);
  }
}

}  // namespace

void CpuBackend::copy(const Tensor& dst, const Tensor& src) {
  TWIG_CHECK(src.device().is_cpu(), RuntimeError, "CPU copy from ", src.device(),
             " is served by that device's backend");
  if (dst.dtype() == src.dtype() && dst.is_contiguous() && src.is_contiguous()) {
    if (dst.raw_data_ptr() != src.raw_data_ptr() && dst.numel() > 0) {
      std::memmove(dst.raw_data_ptr(), src.raw_data_ptr(), dst.nbytes());
    }
    return;
  }
  TWIG_DISPATCH_ALL(dst.dtype(), "copy", [&] {
    using out_t = scalar_t;
    TWIG_DISPATCH_ALL(src.dtype(), "copy", [&] {
      using in_t = scalar_t;
      map1<out_t, in_t>(dst, src, [](in_t v) { return convert<out_t>(v); });
    });
  });
}

void CpuBackend::fill(const Tensor& dst, Scalar value) {
  TWIG_DISPATCH_ALL(dst.dtype(), "fill", [&] {
    const scalar_t v = value.to<scalar_t>();
    for_each<1>(dst.sizes(), {&dst}, [v](std::array<char*, 1> p, std::array<int64_t, 1> s, int64_t n) {
      if (s[0] == sizeof(scalar_t)) {
        scalar_t* o = reinterpret_cast<scalar_t*>(p[0]);
        std::fill(o, o + n, v);
      } else {
        for (int64_t i = 0; i < n; ++i) *reinterpret_cast<scalar_t*>(p[0] + i * s[0]) = v;
      }
    });
  });
}

// Random numbers are drawn serially in row-major order so a seed gives the same tensor whatever
// the thread count.
namespace {
template <typename F>
void fill_serial(const Tensor& out, F draw) {
  TWIG_DISPATCH_ALL(out.dtype(), "random", [&] {
    for_each<1>(
        out.sizes(), {&out},
        [&](std::array<char*, 1> p, std::array<int64_t, 1> s, int64_t n) {
          for (int64_t i = 0; i < n; ++i) *reinterpret_cast<scalar_t*>(p[0] + i * s[0]) = convert<scalar_t>(draw());
        },
        /*parallel=*/false);
  });
}
}  // namespace

void CpuBackend::uniform(const Tensor& out, double lo, double hi, Generator& gen) {
  if (out.dtype() == kFloat32) {
    // Keep float results strictly below hi after rounding.
    fill_serial(out, [&] {
      float v = static_cast<float>(lo + (hi - lo) * gen.uniform());
      return v < static_cast<float>(hi) ? v : std::nextafter(static_cast<float>(hi), static_cast<float>(lo));
    });
  } else {
    fill_serial(out, [&] { return lo + (hi - lo) * gen.uniform(); });
  }
}

void CpuBackend::normal(const Tensor& out, double mean, double std, Generator& gen) {
  fill_serial(out, [&] { return mean + std * gen.normal(); });
}

void CpuBackend::bernoulli(const Tensor& out, const Tensor& p, Generator& gen) {
  Tensor pe = detail::contiguous_raw(detail::broadcast_raw(detail::converted(p, kFloat64), out.sizes()));
  const double* probs = pe.data_ptr<double>();
  int64_t i = 0;
  fill_serial(out, [&] { return gen.uniform() < probs[i++] ? 1.0 : 0.0; });
}

}  // namespace twig::cpu
