// One thread pool for the whole library. OpenBLAS is pinned to one thread and gemms are split
// over this pool, so twig never runs two thread-per-core libraries against each other.
#pragma once

#include <cstdint>
#include <functional>

namespace twig {

int get_num_threads();
// n >= 1; ValueError otherwise. Applies to twig's pool (which also runs the gemms).
void set_num_threads(int n);

// Runs fn(begin, end) over [begin, end) split into chunks of at least `grain` items, on the pool
// (the calling thread takes a share). Nested calls run serially. Exceptions propagate to the caller.
void parallel_for(int64_t begin, int64_t end, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

// True inside a parallel_for body.
bool in_parallel_region();

}  // namespace twig
