#include "args.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>

namespace twig::cli {

Args::Args(const std::vector<std::string>& argv, const std::set<std::string>& options,
           const std::set<std::string>& switches, size_t max_positional) {
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& arg = argv[i];
    if (arg.size() > 2 && arg.compare(0, 2, "--") == 0) {
      std::string name = arg.substr(2);
      std::optional<std::string> inline_value;
      if (auto eq = name.find('='); eq != std::string::npos) {
        inline_value = name.substr(eq + 1);
        name = name.substr(0, eq);
      }
      if (switches.contains(name)) {
        if (inline_value) throw UsageError("--" + name + " takes no value");
        switches_.insert(name);
      } else if (options.contains(name)) {
        if (values_.contains(name)) throw UsageError("--" + name + " given twice");
        if (inline_value) {
          values_[name] = *inline_value;
        } else {
          if (i + 1 >= argv.size()) throw UsageError("--" + name + " needs a value");
          values_[name] = argv[++i];
        }
      } else {
        throw UsageError("unknown option '" + arg + "'");
      }
    } else {
      if (positional_.size() >= max_positional) throw UsageError("unexpected argument '" + arg + "'");
      positional_.push_back(arg);
    }
  }
}

std::optional<std::string> Args::get(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

std::string Args::get(const std::string& name, const std::string& fallback) const {
  return get(name).value_or(fallback);
}

std::string Args::require(const std::string& name) const {
  auto v = get(name);
  if (!v) throw UsageError("missing --" + name);
  return *v;
}

int64_t Args::get_int(const std::string& name, int64_t fallback, int64_t min, int64_t max) const {
  auto text = get(name);
  if (!text) return fallback;
  auto v = parse_int(*text);
  if (!v) throw UsageError("--" + name + " expects an integer, got '" + *text + "'");
  if (*v < min || *v > max)
    throw UsageError("--" + name + " must be in [" + std::to_string(min) + ", " + std::to_string(max) + "], got " +
                     *text);
  return *v;
}

double Args::get_double(const std::string& name, double fallback) const {
  auto text = get(name);
  if (!text) return fallback;
  auto v = parse_double(*text);
  if (!v) throw UsageError("--" + name + " expects a number, got '" + *text + "'");
  return *v;
}

std::optional<int64_t> parse_int(const std::string& text) {
  if (text.empty()) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(text.c_str(), &end, 10);
  if (errno != 0 || end != text.c_str() + text.size()) return std::nullopt;
  return static_cast<int64_t>(v);
}

std::optional<double> parse_double(const std::string& text) {
  if (text.empty()) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (errno != 0 || end != text.c_str() + text.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

}  // namespace twig::cli
