// Python's `warnings` in C++: a library call that Python would answer with warnings.warn(...)
// calls twig::warn(...). By default the warning goes to stderr as Python prints it,
// "UserWarning: <message>", once per distinct (category, message) in the process (Python's
// "default" filter shows a warning once per place that issues it). While a WarningRecorder is
// alive on a thread, that thread's warnings are recorded instead, every time (Python's
// `warnings.catch_warnings(record=True)` with `simplefilter("always")`, what assertWarns uses).
//
//   {
//     twig::WarningRecorder recorder;
//     scheduler.step();
//     EXPECT_EQ(recorder.warnings().size(), 1u);  // recorder.warnings()[0].category == "UserWarning"
//   }
#pragma once

#include <string>
#include <vector>

namespace twig {

struct Warning {
  std::string category;  // Python's class name: "UserWarning", "DeprecationWarning", ...
  std::string message;
};

// warnings.warn(message, category).
void warn(const std::string& message, const std::string& category = "UserWarning");

// Records the warnings of this thread while alive; recorders nest (the innermost one records).
class WarningRecorder {
 public:
  WarningRecorder();
  ~WarningRecorder();
  WarningRecorder(const WarningRecorder&) = delete;
  WarningRecorder& operator=(const WarningRecorder&) = delete;

  const std::vector<Warning>& warnings() const { return warnings_; }
  // How many recorded warnings have this category and contain `needle` in their message.
  size_t count(const std::string& needle, const std::string& category = "UserWarning") const;
  void clear() { warnings_.clear(); }

 private:
  friend void warn(const std::string& message, const std::string& category);
  std::vector<Warning> warnings_;
  WarningRecorder* outer_;
};

}  // namespace twig
