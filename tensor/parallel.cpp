// The thread pool: n-1 persistent workers plus the calling thread. OpenBLAS is kept at one
// thread: CpuBackend::gemm splits products over this pool itself, so there is one threading
// decision and BLAS calls may run inside parallel_for bodies (conv runs its per-sample gemms there). One parallel_for
// runs at a time; a second caller (another user thread, or a nested call) runs its loop serially instead of waiting.
//
// Workers and the caller spin for a short while before they sleep on a condition variable. A
// training step is dozens of parallel_for calls a few microseconds to a millisecond apart, and on
// a VM a wake-up through the kernel takes tens of microseconds each way: with sleeping alone, a
// LeNet-5 epoch gained 1.5x from a second core where libtorch (whose OpenMP spins too) gains 1.75x.
#include "twig/tensor/parallel.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "twig/tensor/error.h"

extern "C" void openblas_set_num_threads(int num_threads);

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace twig {

namespace {

// How long a thread spins on a flag before it sleeps.
constexpr std::chrono::microseconds kSpinTime{100};
constexpr int64_t kChunksPerThread = 4;

void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#else
  std::this_thread::yield();
#endif
}

// Spins until ready() or kSpinTime has passed; returns ready()'s last value.
template <typename Ready>
bool spin_until(Ready ready) {
  const auto deadline = std::chrono::steady_clock::now() + kSpinTime;
  for (int i = 0;; ++i) {
    if (ready()) return true;
    cpu_relax();
    if ((i & 63) == 63 && std::chrono::steady_clock::now() > deadline) return ready();
  }
}

thread_local bool tls_in_parallel = false;

int default_threads() {
  for (const char* var : {"TWIG_NUM_THREADS", "OMP_NUM_THREADS"}) {
    if (const char* v = std::getenv(var)) {
      int n = std::atoi(v);
      if (n >= 1) return n;
    }
  }
  unsigned hc = std::thread::hardware_concurrency();
  return hc == 0 ? 1 : static_cast<int>(hc);
}

class ThreadPool {
 public:
  explicit ThreadPool(int n) { resize(n); }
  ~ThreadPool() { stop_workers(); }

  int size() const { return num_threads_; }

  void resize(int n) {
    std::lock_guard<std::mutex> run_lock(run_mutex_);
    stop_workers();
    num_threads_ = n;
    stop_ = false;
    for (int i = 1; i < n; ++i) workers_.emplace_back([this] { worker_loop(); });
  }

  void run(int64_t begin, int64_t end, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
    const int64_t range = end - begin;
    // A few chunks per thread, taken first come first served: a worker that wakes late (or a core
    // the VM lends to someone else for a moment) still gets its share instead of leaving the
    // caller to run every chunk alone.
    int64_t chunks = std::min<int64_t>(kChunksPerThread * num_threads_, (range + grain - 1) / grain);
    std::unique_lock<std::mutex> run_lock(run_mutex_, std::try_to_lock);
    if (chunks <= 1 || tls_in_parallel || !run_lock.owns_lock()) {
      bool prev = tls_in_parallel;
      tls_in_parallel = true;
      try {
        fn(begin, end);
      } catch (...) {
        tls_in_parallel = prev;
        throw;
      }
      tls_in_parallel = prev;
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      fn_ = &fn;
      begin_ = begin;
      end_ = end;
      num_chunks_ = chunks;
      chunk_size_ = (range + chunks - 1) / chunks;
      next_chunk_ = 0;
      busy_workers_ = static_cast<int>(workers_.size());
      error_ = nullptr;
      ++generation_;
    }
    cv_.notify_all();
    tls_in_parallel = true;
    work();
    tls_in_parallel = false;
    spin_until([this] { return busy_workers_.load(std::memory_order_acquire) == 0; });
    std::unique_lock<std::mutex> lock(mutex_);
    done_cv_.wait(lock, [this] { return busy_workers_.load() == 0; });
    fn_ = nullptr;
    if (error_) std::rethrow_exception(error_);
  }

 private:
  void work() {
    for (;;) {
      int64_t c = next_chunk_.fetch_add(1);
      if (c >= num_chunks_) return;
      int64_t b = begin_ + c * chunk_size_;
      int64_t e = std::min(end_, b + chunk_size_);
      if (b >= e) continue;
      try {
        (*fn_)(b, e);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!error_) error_ = std::current_exception();
      }
    }
  }

  void worker_loop() {
    tls_in_parallel = true;
    uint64_t seen = 0;
    for (;;) {
      spin_until(
          [&] { return stop_.load(std::memory_order_acquire) || generation_.load(std::memory_order_acquire) != seen; });
      {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait(lock, [&] { return stop_.load() || generation_.load() != seen; });
        if (stop_) return;
        seen = generation_;
      }
      work();
      {
        std::lock_guard<std::mutex> lock(mutex_);
        --busy_workers_;
      }
      done_cv_.notify_one();
    }
  }

  void stop_workers() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& w : workers_) w.join();
    workers_.clear();
  }

  int num_threads_ = 1;
  std::vector<std::thread> workers_;
  std::mutex run_mutex_;  // one parallel_for at a time
  std::mutex mutex_;
  std::condition_variable cv_, done_cv_;
  // Written under mutex_, read by spinning threads without it.
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> generation_{0};
  const std::function<void(int64_t, int64_t)>* fn_ = nullptr;
  int64_t begin_ = 0, end_ = 0, chunk_size_ = 1, num_chunks_ = 0;
  std::atomic<int64_t> next_chunk_{0};
  std::atomic<int> busy_workers_{0};
  std::exception_ptr error_;
};

ThreadPool& pool() {
  static ThreadPool* p = [] {
    int n = default_threads();
    openblas_set_num_threads(1);
    return new ThreadPool(n);  // never destroyed: workers may outlive static destructors
  }();
  return *p;
}

}  // namespace

int get_num_threads() { return pool().size(); }

void set_num_threads(int n) {
  TWIG_CHECK(n >= 1, ValueError, "set_num_threads: expected a positive thread count, got ", n);
  TWIG_CHECK(!tls_in_parallel, RuntimeError, "set_num_threads cannot be called inside parallel_for");
  pool().resize(n);
  openblas_set_num_threads(1);
}

void parallel_for(int64_t begin, int64_t end, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (begin >= end) return;
  pool().run(begin, end, std::max<int64_t>(grain, 1), fn);
}

bool in_parallel_region() { return tls_in_parallel; }

}  // namespace twig
