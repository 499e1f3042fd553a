#include "twig/tensor/warning.h"

#include <iostream>
#include <mutex>
#include <set>
#include <utility>

namespace twig {

namespace {

thread_local WarningRecorder* innermost_recorder = nullptr;

// The warnings already printed, so each distinct one is printed once (Python's default filter).
std::mutex printed_mutex;
std::set<std::pair<std::string, std::string>>& printed() {
  static std::set<std::pair<std::string, std::string>> seen;
  return seen;
}

}  // namespace

void warn(const std::string& message, const std::string& category) {
  if (innermost_recorder != nullptr) {
    innermost_recorder->warnings_.push_back({category, message});
    return;
  }
  std::lock_guard<std::mutex> lock(printed_mutex);
  if (printed().insert({category, message}).second) std::cerr << category << ": " << message << std::endl;
}

WarningRecorder::WarningRecorder() : outer_(innermost_recorder) { innermost_recorder = this; }

WarningRecorder::~WarningRecorder() { innermost_recorder = outer_; }

size_t WarningRecorder::count(const std::string& needle, const std::string& category) const {
  size_t n = 0;
  for (const auto& w : warnings_) {
    if (w.category == category && w.message.find(needle) != std::string::npos) ++n;
  }
  return n;
}

}  // namespace twig
