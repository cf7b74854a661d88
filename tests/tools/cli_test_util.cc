#include "tests/tools/cli_test_util.h"

#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace minigraph::testing {

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return absl::StrCat(dir != nullptr ? dir : "/tmp", "/", name);
}

RunResult RunMinigraph(const std::vector<std::string>& args) {
  const std::string binary = absl::StrCat(std::getenv("TEST_SRCDIR"),
                                          "/minigraph/tools/minigraph/"
                                          "minigraph");
  const std::string err = TempPath("stderr.txt");
  std::string command = binary;
  for (const std::string& a : args) absl::StrAppend(&command, " '", a, "'");
  absl::StrAppend(&command, " >/dev/null 2>'", err, "'");
  const int status = std::system(command.c_str());
  std::ifstream in(err);
  std::stringstream text;
  text << in.rdbuf();
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, text.str()};
}

}  // namespace minigraph::testing
