// MiniMindForCausalLM::LoadDir and SaveDir: the HF checkpoint directory
// (config.json + model.safetensors) that MiniMind and transformers read.
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
#include "framework/safetensors.h"
#include "framework/status_macros.h"
#include "models/minimind_lm.h"

namespace minigraph {
namespace {

constexpr char kConfigFile[] = "config.json";
constexpr char kWeightsFile[] = "model.safetensors";

std::string JoinPath(const std::string& dir, absl::string_view file) {
  if (dir.empty()) return std::string(file);
  return dir.back() == '/' ? absl::StrCat(dir, file)
                           : absl::StrCat(dir, "/", file);
}

absl::Status ErrnoError(int error, absl::string_view message) {
  return absl::Status(absl::ErrnoToStatusCode(error),
                      absl::StrCat(message, ": ", std::strerror(error)));
}

// mkdir -p: every missing component of `dir` is created.
absl::Status MakeDirs(const std::string& dir) {
  std::string path = dir.front() == '/' ? "/" : "";
  for (absl::string_view part : absl::StrSplit(dir, '/', absl::SkipEmpty())) {
    absl::StrAppend(&path, part, "/");
    if (mkdir(path.c_str(), 0777) == 0 || errno == EEXIST) {
      struct stat info;
      if (stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode)) continue;
      return absl::FailedPreconditionError(
          absl::StrCat(dir, ": cannot create the checkpoint directory: ", path,
                       " exists and is not a directory"));
    }
    return ErrnoError(errno, absl::StrCat(dir,
                                          ": cannot create the checkpoint "
                                          "directory ",
                                          path));
  }
  return absl::OkStatus();
}

// Writes `bytes` to a new temporary file beside `final_path` (same
// directory, so a rename moves it into place atomically) and flushes it to
// disk. Returns the temporary's path.
absl::StatusOr<std::string> WriteTemporary(const std::string& final_path,
                                           absl::string_view bytes) {
  static std::atomic<uint64_t> counter{0};
  std::string temp;
  int fd = -1;
  for (int attempt = 0; attempt < 100 && fd < 0; ++attempt) {
    temp = absl::StrCat(final_path, ".tmp.", getpid(), ".", counter++);
    fd = open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno != EEXIST) break;
  }
  if (fd < 0) {
    return ErrnoError(
        errno,
        absl::StrCat(final_path, ": cannot create a temporary file ", temp));
  }
  size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n = write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int error = errno;
      close(fd);
      unlink(temp.c_str());
      return ErrnoError(error,
                        absl::StrCat(final_path, ": cannot write ", temp));
    }
    written += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0 || close(fd) != 0) {
    const int error = errno;
    unlink(temp.c_str());
    return ErrnoError(error, absl::StrCat(final_path, ": cannot flush ", temp));
  }
  return temp;
}

}  // namespace

absl::StatusOr<MiniMindForCausalLM> MiniMindForCausalLM::LoadDir(
    const std::string& dir, DType dtype) {
  MG_ASSIGN_OR_RETURN(const MiniMindConfig config,
                      ReadConfigJson(JoinPath(dir, kConfigFile)));
  const std::string weights_path = JoinPath(dir, kWeightsFile);
  MG_ASSIGN_OR_RETURN(const SafetensorsFile state,
                      ReadSafetensors(weights_path));
  return FromStateDict(config, state, weights_path, dtype);
}

absl::Status MiniMindForCausalLM::SaveDir(const std::string& dir) const {
  if (dir.empty()) {
    return absl::InvalidArgumentError(
        "MiniMindForCausalLM::SaveDir: the directory name is empty");
  }
  // Everything that can fail without touching the disk first.
  SafetensorsFile state = StateDict(*this);
  // transformers checks this metadata when it loads safetensors weights.
  state.metadata["format"] = "pt";
  MG_ASSIGN_OR_RETURN(const std::string weights, SerializeSafetensors(state));
  const std::string config = ConfigToJson(config_);
  MG_RETURN_IF_ERROR(MakeDirs(dir));

  const std::string paths[2] = {JoinPath(dir, kWeightsFile),
                                JoinPath(dir, kConfigFile)};
  const absl::string_view contents[2] = {weights, config};
  std::vector<std::string> temps;
  auto remove_temps = [&temps] {
    for (const std::string& temp : temps) unlink(temp.c_str());
  };
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<std::string> temp = WriteTemporary(paths[i], contents[i]);
    if (!temp.ok()) {
      remove_temps();
      return temp.status();
    }
    temps.push_back(*temp);
  }
  // The weights first: a config.json never describes weights that are not
  // there yet.
  for (int i = 0; i < 2; ++i) {
    if (std::rename(temps[i].c_str(), paths[i].c_str()) != 0) {
      const int error = errno;
      for (size_t j = static_cast<size_t>(i); j < temps.size(); ++j) {
        unlink(temps[j].c_str());
      }
      return ErrnoError(error, absl::StrCat(paths[i], ": cannot rename ",
                                            temps[i], " into place"));
    }
  }
  // Make the renames themselves durable.
  const int dir_fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    fsync(dir_fd);
    close(dir_fd);
  }
  return absl::OkStatus();
}

}  // namespace minigraph
