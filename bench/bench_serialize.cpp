// Saving and loading a 256 MB state dict (64 float32 tensors of 4 MB) with serialize/, best of N.
// Prints one line: save_s save_nofsync_s load_s load_touch_s (load_touch_s also reads one byte of every 4 KB page
// of every tensor, so the mapped file is really in memory, as after torch.load).
//   bench_serialize FOLDER [MB] [REPS]
// bench/run_serialize.sh compares it with torch.save / torch.load of the same tensors.
#include <algorithm>
#include <cstdio>
#include <string>

#include "bench_timer.h"
#include "twig/autograd/ops/ops.h"
#include "twig/serialize/safetensors.h"

using namespace twig;

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench_serialize FOLDER [MB] [REPS]\n");
    return 2;
  }
  const std::string path = std::string(argv[1]) + "/bench_twig.safetensors";
  const int64_t mb = argc > 2 ? std::stoll(argv[2]) : 256;
  const int reps = argc > 3 ? std::stoi(argv[3]) : 5;
  const int64_t per_tensor = 1 << 20;  // floats: 4 MB
  nn::StateDict sd;
  for (int64_t i = 0; i < mb / 4; ++i)
    sd.insert("layer" + std::to_string(i) + ".weight", rand({1024, per_tensor / 1024}));
  double best_save = 1e9, best_nosync = 1e9, best_load = 1e9, best_touch = 1e9;
  volatile unsigned sink = 0;
  for (int r = 0; r < reps; ++r) {
    best_nosync = std::min(best_nosync, bench::time_once([&] {
                             serialize::save_state_dict(sd, path, {}, serialize::SaveOptions{.fsync = false});
                           }));
    best_save = std::min(best_save, bench::time_once([&] { serialize::save_state_dict(sd, path); }));
    best_load = std::min(best_load, bench::time_once([&] {
                           nn::StateDict back = serialize::load_state_dict_file(path);
                           sink = sink + static_cast<unsigned>(back.size());
                         }));
    best_touch = std::min(best_touch, bench::time_once([&] {
                            nn::StateDict back = serialize::load_state_dict_file(path);
                            for (const auto& [name, t] : back) {
                              const auto* p = static_cast<const unsigned char*>(t.raw_data_ptr());
                              for (size_t off = 0; off < t.nbytes(); off += 4096) sink = sink + p[off];
                            }
                          }));
  }
  std::remove(path.c_str());
  std::printf("%.4f %.4f %.4f %.4f\n", best_save, best_nosync, best_load, best_touch);
  return 0;
}
