// Test support for tests/engine: the independent PyTorch forward pass,
// tests/reference/torch_forward.py, run with Debian's /usr/bin/python3 and python3-torch
// (scripts/setup installs them) on a directory that model_testing::write_reference_dump wrote,
// and the comparison of its float64 output with the engine's floats.
#pragma once

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/support/reference.hpp"

namespace ragent::engine::torch_reference {

inline constexpr const char* kPython = "/usr/bin/python3";

inline std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char ch : s) out += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  return out + "'";
}

inline bool available() {
  static const bool found =
      std::system((std::string(kPython) + " -c 'import torch, numpy' >/dev/null 2>&1").c_str()) == 0;
  return found;
}

// Runs torch_forward.py on `dir`; throws when it fails.
inline void run(const std::filesystem::path& dir) {
  const std::string command = std::string(kPython) + " " +
                              shell_quote(std::string(RAGENT_SOURCE_DIR) + "/tests/reference/torch_forward.py") + " " +
                              shell_quote(dir.string());
  if (std::system(command.c_str()) != 0) throw std::runtime_error("reference failed: " + command);
}

// `count` little-endian float64 values from `path`; throws when the file is shorter.
inline std::vector<double> read_f64(const std::filesystem::path& path, size_t count) {
  std::vector<double> v(count);
  std::ifstream in(path, std::ios::binary);
  in.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(count * sizeof(double)));
  if (in.gcount() != static_cast<std::streamsize>(count * sizeof(double))) {
    throw std::runtime_error(path.string() + ": short read");
  }
  return v;
}

// |actual - expected| / |expected|, in double.
template <typename T>
double relative_l2(const std::vector<float>& actual, const std::vector<T>& expected) {
  double diff2 = 0, ref2 = 0;
  for (size_t i = 0; i < actual.size(); ++i) {
    const double e = static_cast<double>(expected[i]);
    diff2 += (actual[i] - e) * (actual[i] - e);
    ref2 += e * e;
  }
  return std::sqrt(diff2 / ref2);
}

}  // namespace ragent::engine::torch_reference

// Skips the test (locally) or fails it (CI) when python3-torch is missing.
#define REQUIRE_TORCH_REFERENCE() \
  RAGENT_REQUIRE_REFERENCE(::ragent::engine::torch_reference::available(), "python3-torch is missing for /usr/bin/python3")
