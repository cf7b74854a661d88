// Running the real `minigraph` binary from a test (it is a data dependency
// of the test target), and temporary paths for its files.
#ifndef MINIGRAPH_TESTS_TOOLS_CLI_TEST_UTIL_H_
#define MINIGRAPH_TESTS_TOOLS_CLI_TEST_UTIL_H_

#include <string>
#include <vector>

namespace minigraph::testing {

// $TEST_TMPDIR/name (or /tmp/name outside Bazel).
std::string TempPath(const std::string& name);

struct RunResult {
  int exit_code;  // -1 when the binary did not exit normally
  std::string stderr_text;
  std::string stdout_text;
};

// Runs `minigraph ARGS...` (each argument quoted) with standard input from
// /dev/null (never a terminal), keeping its standard output and error.
RunResult RunMinigraph(const std::vector<std::string>& args);

// A whole file's bytes ("" when it cannot be read), and writing one.
std::string ReadFile(const std::string& path);
void WriteFile(const std::string& path, const std::string& bytes);

}  // namespace minigraph::testing

#endif  // MINIGRAPH_TESTS_TOOLS_CLI_TEST_UTIL_H_
