// absl::Status helpers. Library code returns Status; model scripts, which read
// like PyTorch, die with the same message instead (Google style has no
// exceptions), so a mistake is never undefined behaviour.
#ifndef MINIGRAPH_FRAMEWORK_STATUS_MACROS_H_
#define MINIGRAPH_FRAMEWORK_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace minigraph {

// Prints "minigraph: <message>" to stderr and aborts.
[[noreturn]] void DieWithStatus(const absl::Status& status);

template <typename T>
T ValueOrDie(absl::StatusOr<T> value) {
  if (!value.ok()) DieWithStatus(value.status());
  return *std::move(value);
}

}  // namespace minigraph

#define MG_STATUS_CONCAT_INNER(a, b) a##b
#define MG_STATUS_CONCAT(a, b) MG_STATUS_CONCAT_INNER(a, b)

#define MG_RETURN_IF_ERROR(expr)                              \
  do {                                                        \
    if (::absl::Status mg_status = (expr); !mg_status.ok()) { \
      return mg_status;                                       \
    }                                                         \
  } while (0)

#define MG_ASSIGN_OR_RETURN(lhs, expr) \
  MG_ASSIGN_OR_RETURN_IMPL(MG_STATUS_CONCAT(mg_statusor_, __LINE__), lhs, expr)
#define MG_ASSIGN_OR_RETURN_IMPL(statusor, lhs, expr) \
  auto statusor = (expr);                             \
  if (!statusor.ok()) return statusor.status();       \
  lhs = *std::move(statusor)

#define MG_CHECK_OK(expr)                                     \
  do {                                                        \
    if (::absl::Status mg_status = (expr); !mg_status.ok()) { \
      ::minigraph::DieWithStatus(mg_status);                  \
    }                                                         \
  } while (0)

#endif  // MINIGRAPH_FRAMEWORK_STATUS_MACROS_H_
