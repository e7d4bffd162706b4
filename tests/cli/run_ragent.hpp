// Test support for tests/cli: runs the `ragent` binary as a user would, with stdin given and
// stdout and stderr kept apart.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include <gtest/gtest.h>

namespace ragent::cli_testing {

struct RagentRun {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr

  std::string output() const { return out + err; }  // both, for messages that may go to either
};

inline std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

// Runs build/ragent ARGS with `input` on stdin. `launcher` goes before the binary (e.g. a
// `timeout` command).
inline RagentRun run_ragent(const std::string& args, const std::string& input = "", const std::string& launcher = "") {
  const std::filesystem::path dir = std::filesystem::path(testing::TempDir()) / "ragent_cli_run";
  std::filesystem::create_directories(dir);
  // ctest runs test processes in parallel: each run gets files of its own.
  static int runs = 0;
  const std::string tag = std::to_string(::getpid()) + "_" + std::to_string(runs++);
  const std::filesystem::path in_file = dir / ("stdin_" + tag + ".txt"), err_file = dir / ("stderr_" + tag + ".txt");
  std::ofstream(in_file, std::ios::binary) << input;
  // Appended piece by piece: GCC 12 raises a false -Wrestrict on chained operator+ here.
  std::string command = launcher + RAGENT_BINARY_DIR;
  command.append("/ragent ").append(args).append(" <").append(in_file.string()).append(" 2>").append(err_file.string());
  RagentRun run;
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return run;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) run.out.append(buffer, n);
  const int status = pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  run.err = read_text(err_file);
  std::filesystem::remove(in_file);
  std::filesystem::remove(err_file);
  return run;
}

}  // namespace ragent::cli_testing
