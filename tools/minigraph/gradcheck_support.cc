#include "tools/minigraph/gradcheck_support.h"

#include <unistd.h>

#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "framework/autograd.h"

namespace minigraph::cli {

std::function<void(int64_t, int64_t)> ProgressPrinter(
    std::string what, std::FILE* out, std::function<absl::Time()> now) {
  struct State {
    absl::Time start;
    absl::Time last_shown;
    bool shown = false;
  };
  auto state = std::make_shared<State>();
  state->start = now();
  // Redrawing with '\r' only makes sense on a terminal; logs get lines.
  const bool terminal = isatty(fileno(out)) != 0;
  return [what = std::move(what), out, now = std::move(now), state, terminal](
             int64_t done, int64_t total) {
    const absl::Time t = now();
    const bool finished = done >= total;
    if (!state->shown) {
      if (t - state->start < kProgressInterval) return;
    } else if (!finished && t - state->last_shown < kProgressInterval) {
      return;
    }
    state->shown = true;
    state->last_shown = t;
    const int64_t percent = total > 0 ? done * 100 / total : 100;
    std::fprintf(out, "%s  %s: %lld/%lld (%lld%%, %.0fs)%s",
                 terminal ? "\r" : "", what.c_str(),
                 static_cast<long long>(done), static_cast<long long>(total),
                 static_cast<long long>(percent),
                 absl::ToDoubleSeconds(t - state->start),
                 finished || !terminal ? "\n" : "");
    std::fflush(out);
  };
}

absl::StatusOr<GradcheckReport> CheckGradients(
    const FallibleFn& fn, const std::vector<Tensor>& inputs,
    const GradcheckOptions& options, CheckOrder order) {
  std::vector<TensorMeta> output_metas;
  {
    NoGradGuard no_grad;
    MG_ASSIGN_OR_RETURN(std::vector<Tensor> outputs, fn(inputs));
    for (const Tensor& t : outputs) output_metas.push_back(t.meta());
  }
  auto error = std::make_shared<absl::Status>();
  DifferentiableFn checked = [&fn, output_metas,
                              error](const std::vector<Tensor>& xs) {
    if (error->ok()) {
      absl::StatusOr<std::vector<Tensor>> outputs = fn(xs);
      if (outputs.ok()) return *std::move(outputs);
      *error = outputs.status();
    }
    std::vector<Tensor> zeros;
    for (const TensorMeta& meta : output_metas) {
      zeros.push_back(Tensor::Zeros(meta.shape, meta.dtype));
    }
    return zeros;
  };
  absl::StatusOr<GradcheckReport> report =
      order == CheckOrder::kFirst ? Gradcheck(checked, inputs, options)
                                  : GradGradcheck(checked, inputs, options);
  // fn's own error first: whatever the check made of the zeros after it
  // means nothing.
  if (!error->ok()) {
    return absl::Status(
        error->code(),
        absl::StrCat("during the ",
                     order == CheckOrder::kFirst ? "" : "second-order ",
                     "gradient check: ", error->message()));
  }
  return report;
}

}  // namespace minigraph::cli
