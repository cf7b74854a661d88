#include "models/generate.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>
#include <utility>

#include "absl/strings/str_cat.h"
#include "framework/autograd.h"
#include "framework/random.h"
#include "framework/status_macros.h"

namespace minigraph {
namespace {

using Clock = std::chrono::steady_clock;

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Every prompt non-empty with ids in [0, vocab), the longest within the
// position table, and the options usable with this model.
absl::Status CheckRequest(const MiniMindConfig& config,
                          const std::vector<std::vector<int64_t>>& prompts,
                          const GenerateOptions& options) {
  const int64_t vocab = config.vocab_size;
  if (prompts.empty()) {
    return absl::InvalidArgumentError("generate: no prompts given");
  }
  for (size_t row = 0; row < prompts.size(); ++row) {
    const std::vector<int64_t>& prompt = prompts[row];
    if (prompt.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "generate: prompt ", row, " is empty (at least one token needed)"));
    }
    if (static_cast<int64_t>(prompt.size()) > config.max_position_embeddings) {
      return absl::InvalidArgumentError(
          absl::StrCat("generate: prompt ", row, " has ", prompt.size(),
                       " tokens, more than max_position_embeddings ",
                       config.max_position_embeddings));
    }
    for (size_t t = 0; t < prompt.size(); ++t) {
      if (prompt[t] < 0 || prompt[t] >= vocab) {
        return absl::OutOfRangeError(absl::StrCat(
            "generate: prompt ", row, " token ", t, " is id ", prompt[t],
            ", outside the vocabulary [0, ", vocab, ")"));
      }
    }
  }
  if (options.max_new_tokens < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "generate: max_new_tokens must be >= 0, got ", options.max_new_tokens));
  }
  if (options.pad_token_id < 0 || options.pad_token_id >= vocab) {
    return absl::OutOfRangeError(
        absl::StrCat("generate: pad_token_id ", options.pad_token_id,
                     " is outside the vocabulary [0, ", vocab, ")"));
  }
  if (options.eos_token_id.has_value() &&
      (*options.eos_token_id < 0 || *options.eos_token_id >= vocab)) {
    return absl::OutOfRangeError(
        absl::StrCat("generate: eos_token_id ", *options.eos_token_id,
                     " is outside the vocabulary [0, ", vocab, ")"));
  }
  return ValidateSamplingOptions(options.sampling);
}

// The tokens fed so far, left-padded to one length, and which are real.
struct PaddedBatch {
  int64_t rows = 0;
  int64_t length = 0;
  std::vector<std::vector<int64_t>> tokens;  // [rows][length]
  std::vector<std::vector<double>> mask;     // 1 real, 0 pad
  bool has_padding = false;

  Tensor Ids(int64_t from) const {
    std::vector<int64_t> flat;
    flat.reserve(rows * (length - from));
    for (const auto& row : tokens) {
      flat.insert(flat.end(), row.begin() + from, row.end());
    }
    return Tensor::FromData(flat, {rows, length - from});
  }
  Tensor Mask(DType dtype) const {
    std::vector<double> flat;
    flat.reserve(rows * length);
    for (const auto& row : mask)
      flat.insert(flat.end(), row.begin(), row.end());
    return ConvertDType(Tensor::FromData(flat, {rows, length}), dtype);
  }
  void Append(const std::vector<int64_t>& next) {
    for (int64_t r = 0; r < rows; ++r) {
      tokens[r].push_back(next[r]);
      mask[r].push_back(1.0);
    }
    ++length;
  }
};

PaddedBatch PadLeft(const std::vector<std::vector<int64_t>>& prompts,
                    int64_t pad_token_id) {
  PaddedBatch batch;
  batch.rows = static_cast<int64_t>(prompts.size());
  for (const auto& prompt : prompts) {
    batch.length = std::max<int64_t>(batch.length, prompt.size());
  }
  for (const auto& prompt : prompts) {
    const int64_t pads = batch.length - static_cast<int64_t>(prompt.size());
    std::vector<int64_t> row(pads, pad_token_id);
    row.insert(row.end(), prompt.begin(), prompt.end());
    std::vector<double> mask(pads, 0.0);
    mask.resize(batch.length, 1.0);
    batch.tokens.push_back(std::move(row));
    batch.mask.push_back(std::move(mask));
    batch.has_padding = batch.has_padding || pads > 0;
  }
  return batch;
}

}  // namespace

absl::Status ValidateSamplingOptions(const SamplingOptions& options) {
  if (!(options.temperature > 0.0) || !std::isfinite(options.temperature)) {
    return absl::InvalidArgumentError(
        absl::StrCat("sampling: temperature must be a finite number > 0, got ",
                     options.temperature));
  }
  if (options.top_k < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "sampling: top_k must be >= 0 (0: off), got ", options.top_k));
  }
  if (!(options.top_p > 0.0 && options.top_p <= 1.0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "sampling: top_p must be in (0, 1] (1: off), got ", options.top_p));
  }
  if (!(options.repetition_penalty > 0.0) ||
      !std::isfinite(options.repetition_penalty)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "sampling: repetition_penalty must be a finite number > 0 (1: off), "
        "got ",
        options.repetition_penalty));
  }
  return absl::OkStatus();
}

void ProcessLogits(absl::Span<double> logits, absl::Span<const int64_t> seen,
                   const SamplingOptions& options) {
  const int64_t vocab = static_cast<int64_t>(logits.size());
  for (double& score : logits) score /= options.temperature;

  if (options.repetition_penalty != 1.0) {
    // Each distinct id once, however often it occurs.
    std::vector<int64_t> distinct(seen.begin(), seen.end());
    std::sort(distinct.begin(), distinct.end());
    distinct.erase(std::unique(distinct.begin(), distinct.end()),
                   distinct.end());
    const double r = options.repetition_penalty;
    for (const int64_t id : distinct) {
      if (id < 0 || id >= vocab) continue;
      double& score = logits[id];
      score = score > 0.0 ? score / r : score * r;
    }
  }

  if (options.top_k > 0 && options.top_k < vocab) {
    // The k-th largest value; everything strictly below it goes, so ties
    // with it stay (torch's `logits < topk(...)[-1]`).
    std::vector<double> sorted(logits.begin(), logits.end());
    std::nth_element(sorted.begin(), sorted.begin() + (options.top_k - 1),
                     sorted.end(), std::greater<double>());
    const double kth = sorted[options.top_k - 1];
    for (double& score : logits) {
      if (score < kth) score = kNegInf;
    }
  }

  if (options.top_p < 1.0) {
    // Descending order; equal scores by id, so the result is deterministic.
    std::vector<int64_t> order(vocab);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
      return logits[a] > logits[b];
    });
    const double max_score = logits[order[0]];
    double total = 0.0;
    for (const int64_t id : order) total += std::exp(logits[id] - max_score);
    // Token i stays when the probability mass before it is <= top_p: the
    // first always, the one that crosses top_p too.
    double before = 0.0;
    for (const int64_t id : order) {
      const double p = std::exp(logits[id] - max_score) / total;
      if (before > options.top_p) logits[id] = kNegInf;
      before += p;
    }
  }
}

int64_t ArgmaxToken(absl::Span<const double> logits) {
  int64_t best = 0;
  for (int64_t i = 1; i < static_cast<int64_t>(logits.size()); ++i) {
    if (logits[i] > logits[best] || std::isnan(logits[best])) best = i;
  }
  return best;
}

int64_t SampleToken(absl::Span<const double> logits, double uniform) {
  const int64_t best = ArgmaxToken(logits);
  const double max_score = logits[best];
  if (!std::isfinite(max_score)) return best;
  // softmax(l)_i = exp(l_i - max) / sum_j exp(l_j - max); draw by the CDF.
  double total = 0.0;
  for (const double score : logits) {
    if (!std::isnan(score)) total += std::exp(score - max_score);
  }
  const double target = uniform * total;
  double cumulative = 0.0;
  int64_t last_drawable = best;
  for (int64_t i = 0; i < static_cast<int64_t>(logits.size()); ++i) {
    if (std::isnan(logits[i]) || logits[i] == kNegInf) continue;
    cumulative += std::exp(logits[i] - max_score);
    last_drawable = i;
    if (cumulative > target) return i;
  }
  // Rounding left the sum a hair below target: the last drawable id.
  return last_drawable;
}

double SamplingUniform(uint64_t seed, int64_t row, int64_t step) {
  return BitsToUnit(CounterHash(CounterHash(seed, static_cast<uint64_t>(row)),
                                static_cast<uint64_t>(step)));
}

absl::StatusOr<GenerateOutput> Generate(
    const MiniMindForCausalLM& model,
    const std::vector<std::vector<int64_t>>& prompts,
    const GenerateOptions& options) {
  const MiniMindConfig& config = model.config();
  MG_RETURN_IF_ERROR(CheckRequest(config, prompts, options));
  const int64_t vocab = config.vocab_size;
  const DType dtype = model.lm_head().weight.dtype();
  PaddedBatch batch = PadLeft(prompts, options.pad_token_id);
  const int64_t rows = batch.rows;

  GenerateOutput output;
  output.prompt_length = batch.length;
  output.ids.resize(rows);
  if (options.max_new_tokens == 0) return output;

  // What the repetition penalty sees: real tokens only, never pads.
  std::vector<std::vector<int64_t>> seen = prompts;
  std::vector<bool> finished(rows, false);
  std::vector<int64_t> next(rows, 0);
  std::vector<KVCache> caches;
  NoGradGuard no_grad;

  for (int64_t step = 0;; ++step) {
    const Clock::time_point start = Clock::now();
    // The prefill (and every step without a cache) runs the whole sequence;
    // a cached step only the newest token.
    const bool whole = step == 0 || !options.use_cache;
    LMOptions lm;
    lm.logits_to_keep = 1;
    if (options.use_cache) lm.caches = &caches;
    // Without padding every key is visible: no mask, so the fused attention
    // path serves.
    if (batch.has_padding) lm.attention_mask = batch.Mask(dtype);
    MG_ASSIGN_OR_RETURN(
        const LMOutput out,
        model.Forward(batch.Ids(whole ? 0 : batch.length - 1), lm));
    std::vector<double> logits = out.logits.ToVector<double>();  // [B, 1, V]
    if (options.return_logits) {
      output.logits.push_back(Tensor::FromData(logits, {rows, vocab}));
    }

    for (int64_t r = 0; r < rows && !output.stopped_by_callback; ++r) {
      if (finished[r]) {
        next[r] = *options.eos_token_id;  // MiniMind feeds eos once done
        continue;
      }
      const absl::Span<double> row(logits.data() + r * vocab, vocab);
      for (int64_t id = options.token_limit; id > 0 && id < vocab; ++id) {
        row[id] = -std::numeric_limits<double>::infinity();
      }
      ProcessLogits(row, seen[r], options.sampling);
      const int64_t token =
          options.sampling.do_sample
              ? SampleToken(row,
                            SamplingUniform(options.sampling.seed, r, step))
              : ArgmaxToken(row);
      next[r] = token;
      if (options.eos_token_id.has_value() && token == *options.eos_token_id) {
        finished[r] = true;
        continue;
      }
      output.ids[r].push_back(token);
      seen[r].push_back(token);
      if (options.on_token && !options.on_token(r, token)) {
        output.stopped_by_callback = true;
      }
    }
    if (step == 0) {
      output.prefill_seconds = SecondsSince(start);
    } else {
      output.decode_seconds += SecondsSince(start);
      ++output.decode_steps;
    }

    const bool all_finished =
        std::all_of(finished.begin(), finished.end(), [](bool f) { return f; });
    if (output.stopped_by_callback || all_finished ||
        step + 1 >= options.max_new_tokens) {
      break;
    }
    // The next forward feeds this step's tokens at position batch.length.
    if (batch.length >= config.max_position_embeddings) {
      output.reached_position_limit = true;
      break;
    }
    batch.Append(next);
  }
  return output;
}

}  // namespace minigraph
