// Text generation with MiniMind's causal LM, following MiniMind's generate():
// prefill the prompt in one forward, then one token per step through the
// per-layer KV caches. Each step turns the last position's logits into a
// token:
//
//   logits /= temperature
//   repetition penalty r: every distinct id seen in the row, s > 0 ? s / r
//                         : s * r
//   top-k: logits below the k-th largest -> -inf (ties with it kept)
//   top-p: sorted descending, drop a token when the cumulative softmax
//          before it already exceeds p (the first is always kept, and so is
//          the one that crosses p)
//   token = sample from softmax(logits), or argmax when greedy
//
// Two deliberate differences from MiniMind: the random draw for (seed, row,
// step) is a pure function of the three (so a seed gives the same text
// whatever else ran), and the repetition penalty sees only a row's real
// tokens, never left padding (so a row of a batch generates what its prompt
// alone would).
#ifndef MINIGRAPH_MODELS_GENERATE_H_
#define MINIGRAPH_MODELS_GENERATE_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "framework/tensor.h"
#include "models/minimind_lm.h"

namespace minigraph {

// MiniMind's defaults.
struct SamplingOptions {
  // Sample from the processed distribution; false picks its argmax (greedy),
  // where temperature, top-k and top-p change nothing but the repetition
  // penalty still applies.
  bool do_sample = true;
  double temperature = 0.85;        // > 0
  int64_t top_k = 50;               // 0: off
  double top_p = 0.85;              // in (0, 1]; 1: off
  double repetition_penalty = 1.0;  // > 0; 1: off
  uint64_t seed = 0;
};

// Temperature > 0 and finite, top_k >= 0, top_p in (0, 1], repetition
// penalty > 0 and finite; the message names the field and its value.
absl::Status ValidateSamplingOptions(const SamplingOptions& options);

// One row of logits [vocab], in place: temperature, repetition penalty over
// the distinct ids of `seen` (ids outside the row are ignored), top-k, top-p,
// in that order. Removed entries become -inf. Options must be valid.
void ProcessLogits(absl::Span<double> logits, absl::Span<const int64_t> seen,
                   const SamplingOptions& options);

// The first index of the largest entry (torch.argmax's choice).
int64_t ArgmaxToken(absl::Span<const double> logits);

// Inverse-CDF draw from softmax(logits) with `uniform` in [0, 1): the first
// id whose cumulative probability exceeds uniform. -inf entries have
// probability 0 and are never drawn; the result is always a finite entry.
int64_t SampleToken(absl::Span<const double> logits, double uniform);

// The uniform in [0, 1) used for row `row` at step `step` under `seed`: a
// pure function of the three (counter-based), so reruns and batches agree.
double SamplingUniform(uint64_t seed, int64_t row, int64_t step);

// Called with every generated token that is kept (never eos, never the
// filler of a finished row), in row order within a step; returning false
// stops generation at once: this token is kept, later rows of the same step
// get none.
using TokenCallback = std::function<bool(int64_t row, int64_t id)>;

struct GenerateOptions {
  int64_t max_new_tokens = 128;  // >= 0
  // A row that produces it is finished (the id is not part of its output)
  // and is fed eos while others go on; generation ends when every row is.
  // nullopt: no end token.
  std::optional<int64_t> eos_token_id;
  SamplingOptions sampling;
  // False recomputes the whole sequence at every step (no KV cache): the
  // reference the cached path is tested against.
  bool use_cache = true;
  // Fills the left of shorter prompts; masked out, never attended to.
  int64_t pad_token_id = 0;
  TokenCallback on_token;
  // Keep each step's raw last-position logits (before ProcessLogits).
  bool return_logits = false;
  // When > 0, ids at or above it are never chosen: a model whose vocabulary
  // is larger than its tokenizer's (padded embeddings, or a preset trained
  // byte-level) only produces ids the tokenizer can turn into text.
  int64_t token_limit = 0;
};

struct GenerateOutput {
  // Per row: the generated ids, prompt and eos excluded.
  std::vector<std::vector<int64_t>> ids;
  // Per step (with return_logits): float64 [B, vocab], the raw logits the
  // step's tokens were chosen from.
  std::vector<Tensor> logits;
  // The padded prompt length (the longest prompt).
  int64_t prompt_length = 0;
  // Forward passes after the prefill, and their time with sampling;
  // prefill_seconds covers the prompt's forward and the first token.
  int64_t decode_steps = 0;
  double prefill_seconds = 0.0;
  double decode_seconds = 0.0;
  // Generation stopped because the next token would need a position at or
  // past max_position_embeddings (pads take positions too).
  bool reached_position_limit = false;
  // Stopped by on_token returning false.
  bool stopped_by_callback = false;
};

// Generates from `prompts` (one id vector per row, of any lengths: shorter
// ones are left-padded and masked) under a no-grad scope, running the model
// in whatever mode it is in (put it in eval mode for dropout-free output).
// A row of length L gets at most max_new_tokens ids; the padded length T
// may reach max_position_embeddings P, and a run stops after P - T + 1
// tokens, the last position then being filled. Errors: no prompts, an empty
// prompt, an id outside the vocabulary (naming row and position), a prompt
// longer than P (naming both), bad options.
absl::StatusOr<GenerateOutput> Generate(
    const MiniMindForCausalLM& model,
    const std::vector<std::vector<int64_t>>& prompts,
    const GenerateOptions& options = {});

}  // namespace minigraph

#endif  // MINIGRAPH_MODELS_GENERATE_H_
