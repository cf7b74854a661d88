// Tokenizer files: Load (a tokenizer.json, or a directory with one and an
// optional tokenizer_config.json) and Save (both files, atomically).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "framework/file_io.h"
#include "framework/status_macros.h"
#include "framework/tokenizer/tokenizer.h"
#include "framework/tokenizer/tokenizer_json.h"

namespace minigraph {
namespace {

constexpr char kTokenizerFile[] = "tokenizer.json";
constexpr char kConfigFile[] = "tokenizer_config.json";
// Far above any real tokenizer (MiniMind's is 0.5 MB, large ones ~20 MB).
constexpr int64_t kMaxFileBytes = int64_t{1} << 30;

absl::Status ErrnoError(int error, const std::string& message) {
  return absl::Status(absl::ErrnoToStatusCode(error),
                      absl::StrCat(message, ": ", std::strerror(error)));
}

absl::StatusOr<std::string> ReadWholeFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(errno, absl::StrCat(path, ": cannot open"));
  struct stat info;
  if (fstat(fd, &info) != 0) {
    const int error = errno;
    close(fd);
    return ErrnoError(error, absl::StrCat(path, ": cannot stat"));
  }
  if (info.st_size > kMaxFileBytes) {
    close(fd);
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", info.st_size, " bytes is over the limit of ",
                     kMaxFileBytes));
  }
  std::string bytes;
  char buffer[1 << 16];
  while (true) {
    const ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int error = errno;
      close(fd);
      return ErrnoError(error, absl::StrCat(path, ": cannot read"));
    }
    if (n == 0) break;
    bytes.append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  return bytes;
}

}  // namespace

absl::StatusOr<Tokenizer> Tokenizer::Load(const std::string& path) {
  struct stat info;
  if (stat(path.c_str(), &info) != 0) {
    return ErrnoError(errno, absl::StrCat(path, ": cannot open the tokenizer"));
  }
  const bool is_dir = S_ISDIR(info.st_mode);
  const std::string json_path = is_dir ? JoinPath(path, kTokenizerFile) : path;
  MG_ASSIGN_OR_RETURN(const std::string json, ReadWholeFile(json_path));
  MG_ASSIGN_OR_RETURN(Tokenizer tokenizer, FromJson(json, json_path));
  if (is_dir) {
    const std::string config_path = JoinPath(path, kConfigFile);
    if (access(config_path.c_str(), F_OK) == 0) {
      MG_ASSIGN_OR_RETURN(const std::string config_json,
                          ReadWholeFile(config_path));
      MG_ASSIGN_OR_RETURN(TokenizerConfig config,
                          ParseTokenizerConfigJson(config_json, config_path));
      tokenizer.set_config(std::move(config));
    }
  }
  return tokenizer;
}

absl::Status Tokenizer::Save(const std::string& dir) const {
  if (dir.empty()) {
    return absl::InvalidArgumentError(
        "Tokenizer::Save: the directory name is empty");
  }
  const std::string contents[2] = {ToJson(),
                                   TokenizerConfigToJson(spec(), config())};
  MG_RETURN_IF_ERROR(MakeDirectories(dir));
  return WriteFilesAtomically({{JoinPath(dir, kTokenizerFile), contents[0]},
                               {JoinPath(dir, kConfigFile), contents[1]}});
}

}  // namespace minigraph
