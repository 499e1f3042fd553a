// Golden-value files in tests/fixtures/, parsed once per test binary.
#pragma once

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "twig/tensor/error.h"

namespace twig::testing {

// tests/fixtures/<name>; RuntimeError naming the file and the script that writes it when absent.
inline const nlohmann::json& load_fixture(const std::string& name, const std::string& generator) {
  static std::map<std::string, nlohmann::json> cache;
  auto it = cache.find(name);
  if (it != cache.end()) return it->second;
  std::ifstream in(std::string(TWIG_FIXTURE_DIR) + "/" + name);
  TWIG_CHECK(static_cast<bool>(in), RuntimeError, "missing fixture ", TWIG_FIXTURE_DIR, "/", name,
             "; regenerate it with /usr/bin/python3 tools/", generator);
  return cache[name] = nlohmann::json::parse(in);
}

}  // namespace twig::testing
