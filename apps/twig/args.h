// Command-line parsing for the `twig` tool: `--name value` options and `--flag` switches after a
// subcommand. A mistake in the command line is a UsageError (exit status 2 with a usage line).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace twig::cli {

class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Args {
 public:
  // argv holds what follows the subcommand. `options` take a value, `switches` do not;
  // positional arguments are allowed up to max_positional. Unknown names, a missing value or a
  // repeated option are UsageErrors naming the argument.
  Args(const std::vector<std::string>& argv, const std::set<std::string>& options,
       const std::set<std::string>& switches, size_t max_positional = 0);

  bool has(const std::string& name) const { return values_.contains(name) || switches_.contains(name); }
  std::optional<std::string> get(const std::string& name) const;
  std::string get(const std::string& name, const std::string& fallback) const;
  // The value of a required option (UsageError "missing --name").
  std::string require(const std::string& name) const;
  // Integers and reals parsed strictly: the whole text must be a number in range, else a
  // UsageError naming the option and the text.
  int64_t get_int(const std::string& name, int64_t fallback, int64_t min = INT64_MIN, int64_t max = INT64_MAX) const;
  double get_double(const std::string& name, double fallback) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::map<std::string, std::string> values_;
  std::set<std::string> switches_;
  std::vector<std::string> positional_;
};

// Strict number parsing (nullopt unless all of text is one number in range).
std::optional<int64_t> parse_int(const std::string& text);
std::optional<double> parse_double(const std::string& text);

}  // namespace twig::cli
