// A one-line progress bar on stderr (steps, loss, samples/s, ETA), drawn only when stderr is a
// terminal, so logs and pipes stay clean.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace twig::cli {

class Progress {
 public:
  // total steps of `samples_per_step` samples each; label e.g. "epoch 1/3".
  Progress(std::string label, int64_t total, int64_t samples_per_step);
  ~Progress();
  void step(double loss);
  // Clears the line (called by the destructor too).
  void finish();
  static bool enabled();

 private:
  void draw();
  std::string label_;
  int64_t total_, samples_per_step_, done_ = 0;
  double loss_ = 0;
  std::chrono::steady_clock::time_point start_, last_draw_;
  bool active_;
};

}  // namespace twig::cli
