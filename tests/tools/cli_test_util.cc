#include "tests/tools/cli_test_util.h"

#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace minigraph::testing {

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return absl::StrCat(dir != nullptr ? dir : "/tmp", "/", name);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

RunResult RunMinigraph(const std::vector<std::string>& args) {
  std::string command = absl::StrCat(std::getenv("TEST_SRCDIR"),
                                     "/minigraph/tools/minigraph/minigraph");
  for (const std::string& a : args) {
    absl::StrAppend(&command, " '", absl::StrReplaceAll(a, {{"'", "'\\''"}}),
                    "'");
  }
  const std::string out = TempPath("stdout.txt");
  const std::string err = TempPath("stderr.txt");
  absl::StrAppend(&command, " </dev/null >'", out, "' 2>'", err, "'");
  const int status = std::system(command.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, ReadFile(err),
          ReadFile(out)};
}

}  // namespace minigraph::testing
