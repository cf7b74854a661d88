#include "framework/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace minigraph {
namespace {

absl::Status ErrnoError(int error, absl::string_view message) {
  return absl::Status(absl::ErrnoToStatusCode(error),
                      absl::StrCat(message, ": ", std::strerror(error)));
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

std::string DirectoryOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

std::string JoinPath(const std::string& dir, absl::string_view name) {
  if (dir.empty()) return std::string(name);
  return dir.back() == '/' ? absl::StrCat(dir, name)
                           : absl::StrCat(dir, "/", name);
}

absl::Status MakeDirectories(const std::string& dir) {
  if (dir.empty()) return absl::InvalidArgumentError("empty directory name");
  std::string path = dir.front() == '/' ? "/" : "";
  for (absl::string_view part : absl::StrSplit(dir, '/', absl::SkipEmpty())) {
    absl::StrAppend(&path, part, "/");
    if (mkdir(path.c_str(), 0777) != 0 && errno != EEXIST) {
      return ErrnoError(
          errno, absl::StrCat(dir, ": cannot create the directory ", path));
    }
    struct stat info;
    if (stat(path.c_str(), &info) != 0 || !S_ISDIR(info.st_mode)) {
      return absl::FailedPreconditionError(
          absl::StrCat(dir, ": cannot create the directory: ", path,
                       " exists and is not a directory"));
    }
  }
  return absl::OkStatus();
}

absl::Status WriteFilesAtomically(
    const std::vector<std::pair<std::string, absl::string_view>>& files) {
  std::vector<std::string> temps;
  for (const auto& [path, contents] : files) {
    absl::StatusOr<std::string> temp = WriteTemporary(path, contents);
    if (!temp.ok()) {
      for (const std::string& t : temps) unlink(t.c_str());
      return temp.status();
    }
    temps.push_back(*std::move(temp));
  }
  for (size_t i = 0; i < files.size(); ++i) {
    if (std::rename(temps[i].c_str(), files[i].first.c_str()) != 0) {
      const int error = errno;
      for (size_t j = i; j < temps.size(); ++j) unlink(temps[j].c_str());
      return ErrnoError(error, absl::StrCat(files[i].first, ": cannot rename ",
                                            temps[i], " into place"));
    }
  }
  std::set<std::string> dirs;
  for (const auto& file : files) dirs.insert(DirectoryOf(file.first));
  for (const std::string& dir : dirs) {
    const int dir_fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd >= 0) {
      fsync(dir_fd);  // makes the renames durable
      close(dir_fd);
    }
  }
  return absl::OkStatus();
}

}  // namespace minigraph
