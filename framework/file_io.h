// Writing a directory's files so that a reader never sees a half-written
// one: every file goes to a temporary beside it, is flushed, and only when
// all are on disk are they renamed into place, in the order given.
#ifndef MINIGRAPH_FRAMEWORK_FILE_IO_H_
#define MINIGRAPH_FRAMEWORK_FILE_IO_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace minigraph {

// dir + "/" + name (no doubled slash).
std::string JoinPath(const std::string& dir, absl::string_view name);

// mkdir -p: creates every missing component of `dir`; an error names the
// component that exists and is not a directory, or the system's reason.
absl::Status MakeDirectories(const std::string& dir);

// Writes (path, contents) pairs: all temporaries first (a failure removes
// them and leaves the old files as they were), then the renames in order,
// then the directories are synced so the renames are durable.
absl::Status WriteFilesAtomically(
    const std::vector<std::pair<std::string, absl::string_view>>& files);

}  // namespace minigraph

#endif  // MINIGRAPH_FRAMEWORK_FILE_IO_H_
