#include "progress.h"

#include <unistd.h>

#include <cstdio>

namespace twig::cli {

bool Progress::enabled() { return isatty(STDERR_FILENO) == 1; }

Progress::Progress(std::string label, int64_t total, int64_t samples_per_step)
    : label_(std::move(label)),
      total_(total),
      samples_per_step_(samples_per_step),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_),
      active_(enabled()) {}

Progress::~Progress() { finish(); }

void Progress::step(double loss) {
  ++done_;
  loss_ = loss;
  if (!active_) return;
  auto now = std::chrono::steady_clock::now();
  // Redraw at most ten times a second.
  if (done_ == total_ || now - last_draw_ > std::chrono::milliseconds(100)) {
    last_draw_ = now;
    draw();
  }
}

void Progress::draw() {
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  double rate = secs > 0 ? static_cast<double>(done_ * samples_per_step_) / secs : 0.0;
  double eta = done_ > 0 ? secs * static_cast<double>(total_ - done_) / static_cast<double>(done_) : 0.0;
  constexpr int kWidth = 24;
  int filled = total_ > 0 ? static_cast<int>(kWidth * done_ / total_) : kWidth;
  std::string bar(static_cast<size_t>(filled), '#');
  bar.append(static_cast<size_t>(kWidth - filled), '.');
  std::fprintf(stderr, "\r%s [%s] %lld/%lld  loss %.4f  %.0f samples/s  ETA %d:%02d ", label_.c_str(), bar.c_str(),
               static_cast<long long>(done_), static_cast<long long>(total_), loss_, rate, static_cast<int>(eta) / 60,
               static_cast<int>(eta) % 60);
  std::fflush(stderr);
}

void Progress::finish() {
  if (!active_) return;
  active_ = false;
  std::fprintf(stderr, "\r\033[K");
  std::fflush(stderr);
}

}  // namespace twig::cli
