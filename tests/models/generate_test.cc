// Generation: the logits processor against hand-computed rows, the sampler
// against the softmax it draws from, and Generate against a greedy loop
// written here from whole-sequence forwards (no cache, no padding), on tiny
// random models of both MiniMind layouts, tied and untied.
#include "models/generate.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "framework/autograd.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/minimind_config.h"
#include "models/minimind_lm.h"

namespace minigraph {
namespace {

using ::testing::HasSubstr;

constexpr double kInf = std::numeric_limits<double>::infinity();

// Both layouts from their presets, shrunk so every test takes milliseconds.
struct ModelCase {
  std::string name;
  bool minimind3;  // the 2026 layout: qk_norm, eps 1e-6, pi-rule width
  bool tied;
};

void PrintTo(const ModelCase& c, std::ostream* os) { *os << c.name; }

MiniMindConfig SmallConfig(const ModelCase& c) {
  MiniMindConfig config =
      ValueOrDie(PresetConfig(c.minimind3 ? "minimind3" : "tiny"));
  config.hidden_size = 64;
  config.num_hidden_layers = 2;
  config.num_attention_heads = 4;
  config.num_key_value_heads = 2;
  if (c.minimind3) {
    config.head_dim = 16;
    config.intermediate_size = IntermediateSize2026(64);
  } else {
    config.intermediate_size = IntermediateSize2025(64);
  }
  config.vocab_size = 96;
  config.max_position_embeddings = 128;
  config.tie_word_embeddings = c.tied;
  return config;
}

// MiniMind's initialisation leaves a tied model's residual stream dominated
// by the token's own embedding, so it greedily repeats its input forever
// (which would hide a wrong cache). Projections `gain` times larger let the
// blocks steer the output.
template <typename T>
void ScaleInPlace(const Tensor& t, double gain) {
  T* data = t.data<T>();
  for (int64_t i = 0; i < t.numel(); ++i) data[i] *= gain;
}

MiniMindForCausalLM MakeModel(const ModelCase& c, DType dtype,
                              uint64_t seed = 11, double gain = 4.0) {
  Generator generator(seed);
  MiniMindForCausalLM model =
      ValueOrDie(MiniMindForCausalLM::Create(SmallConfig(c), generator, dtype));
  for (const auto& [name, tensor] : model.NamedParameters()) {
    if (name.rfind("model.layers.", 0) != 0 || tensor.dim() != 2) continue;
    if (dtype == DType::kFloat64) {
      ScaleInPlace<double>(tensor, gain);
    } else {
      ScaleInPlace<float>(tensor, gain);
    }
  }
  return model;
}

const ModelCase k2025Tied = {"Layout2025Tied", false, true};

SamplingOptions Greedy() {
  SamplingOptions greedy;
  greedy.do_sample = false;
  return greedy;
}

// The last position's logits of one whole-sequence forward, in the plain
// way: every position through lm_head, the last row read out.
std::vector<double> LastLogits(const MiniMindForCausalLM& model,
                               const std::vector<int64_t>& ids) {
  NoGradGuard no_grad;
  const Tensor logits =
      ValueOrDie(model.Forward(Tensor::FromData(
                     ids, {1, static_cast<int64_t>(ids.size())})))
          .logits;
  const std::vector<double> all = logits.ToVector<double>();
  const int64_t vocab = logits.size(2);
  return std::vector<double>(all.end() - vocab, all.end());
}

// Greedy decoding by hand: whole sequence each step, the first maximum.
struct ReferenceRun {
  std::vector<int64_t> ids;
  std::vector<std::vector<double>> logits;
};

ReferenceRun ReferenceGreedy(const MiniMindForCausalLM& model,
                             std::vector<int64_t> sequence, int64_t steps) {
  ReferenceRun run;
  for (int64_t s = 0; s < steps; ++s) {
    std::vector<double> logits = LastLogits(model, sequence);
    const int64_t best =
        std::max_element(logits.begin(), logits.end()) - logits.begin();
    run.ids.push_back(best);
    run.logits.push_back(std::move(logits));
    sequence.push_back(best);
  }
  return run;
}

std::vector<int64_t> Ids(const GenerateOutput& output, size_t row = 0) {
  return output.ids[row];
}

// --------------------------------------------------------------------------
// ProcessLogits on hand-computed rows.

SamplingOptions Only() {  // every step off; tests turn one on
  SamplingOptions o;
  o.temperature = 1.0;
  o.top_k = 0;
  o.top_p = 1.0;
  o.repetition_penalty = 1.0;
  return o;
}

TEST(ProcessLogitsTest, TemperatureDividesEveryScore) {
  std::vector<double> logits = {1.0, -2.0, 0.5};
  SamplingOptions o = Only();
  o.temperature = 0.5;
  ProcessLogits(absl::MakeSpan(logits), {}, o);
  EXPECT_EQ(logits, (std::vector<double>{2.0, -4.0, 1.0}));
}

TEST(ProcessLogitsTest, RepetitionPenaltyShrinksPositiveGrowsNegative) {
  std::vector<double> logits = {2.0, -1.0, 0.5, 3.0};
  SamplingOptions o = Only();
  o.repetition_penalty = 2.0;
  // 0 and 1 seen (twice each: penalised once); 7 and -1 are not ids.
  ProcessLogits(absl::MakeSpan(logits), {0, 1, 1, 7, -1, 0}, o);
  EXPECT_EQ(logits, (std::vector<double>{1.0, -2.0, 0.5, 3.0}));

  // After the temperature: 2 / 2 = 1 -> 1 / 4; -1 / 2 -> -0.5 * 4 = -2.
  std::vector<double> both = {2.0, -1.0, 4.0};
  o.temperature = 2.0;
  o.repetition_penalty = 4.0;
  ProcessLogits(absl::MakeSpan(both), {0, 1}, o);
  EXPECT_EQ(both, (std::vector<double>{0.25, -2.0, 2.0}));
}

TEST(ProcessLogitsTest, TopKKeepsTiesWithTheKth) {
  SamplingOptions o = Only();
  o.top_k = 3;  // sorted: 3 3 2 2 1 0, the third is 2: both 2s stay
  std::vector<double> logits = {1.0, 3.0, 2.0, 3.0, 2.0, 0.0};
  ProcessLogits(absl::MakeSpan(logits), {}, o);
  EXPECT_EQ(logits, (std::vector<double>{-kInf, 3.0, 2.0, 3.0, 2.0, -kInf}));

  o.top_k = 2;  // the second is 3: only the two 3s
  logits = {1.0, 3.0, 2.0, 3.0, 2.0, 0.0};
  ProcessLogits(absl::MakeSpan(logits), {}, o);
  EXPECT_EQ(logits,
            (std::vector<double>{-kInf, 3.0, -kInf, 3.0, -kInf, -kInf}));

  o.top_k = 6;  // k >= vocab keeps everything
  logits = {1.0, 3.0, 2.0, 3.0, 2.0, 0.0};
  ProcessLogits(absl::MakeSpan(logits), {}, o);
  EXPECT_EQ(logits, (std::vector<double>{1.0, 3.0, 2.0, 3.0, 2.0, 0.0}));
}

// Scores log(p) make softmax = p: probabilities by id 0.3, 0.05, 0.5, 0.15.
std::vector<double> LogProbs() {
  return {std::log(0.3), std::log(0.05), std::log(0.5), std::log(0.15)};
}

TEST(ProcessLogitsTest, TopPKeepsTheCrossingTokenAndAlwaysTheFirst) {
  SamplingOptions o = Only();
  // Descending: id 2 (0.5), id 0 (0.3, cumulative 0.8 crosses 0.7: kept),
  // id 3 (mass before it 0.8 > 0.7: removed), id 1 (removed).
  o.top_p = 0.7;
  std::vector<double> logits = LogProbs();
  ProcessLogits(absl::MakeSpan(logits), {}, o);
  EXPECT_EQ(logits,
            (std::vector<double>{std::log(0.3), -kInf, std::log(0.5), -kInf}));

  // 0.5 alone already exceeds 0.4: the first stays, nothing else.
  o.top_p = 0.4;
  logits = LogProbs();
  ProcessLogits(absl::MakeSpan(logits), {}, o);
  EXPECT_EQ(logits, (std::vector<double>{-kInf, -kInf, std::log(0.5), -kInf}));

  // 0.9: the mass before id 3 is 0.8 <= 0.9, before id 1 it is 0.95.
  o.top_p = 0.9;
  logits = LogProbs();
  ProcessLogits(absl::MakeSpan(logits), {}, o);
  EXPECT_EQ(logits, (std::vector<double>{std::log(0.3), -kInf, std::log(0.5),
                                         std::log(0.15)}));
}

TEST(ProcessLogitsTest, TopPRenormalisesOverWhatTopKKept) {
  // Probabilities 0.4, 0.3, 0.2, 0.1. top_k 2 keeps 0.4 and 0.3, which
  // renormalise to 4/7 and 3/7; 4/7 > 0.5 removes the second.
  SamplingOptions o = Only();
  o.top_k = 2;
  o.top_p = 0.5;
  std::vector<double> logits = {std::log(0.4), std::log(0.3), std::log(0.2),
                                std::log(0.1)};
  ProcessLogits(absl::MakeSpan(logits), {}, o);
  EXPECT_EQ(logits, (std::vector<double>{std::log(0.4), -kInf, -kInf, -kInf}));
  // Without top_k the mass before the second is 0.4 <= 0.5: it stays.
  o.top_k = 0;
  logits = {std::log(0.4), std::log(0.3), std::log(0.2), std::log(0.1)};
  ProcessLogits(absl::MakeSpan(logits), {}, o);
  EXPECT_EQ(logits,
            (std::vector<double>{std::log(0.4), std::log(0.3), -kInf, -kInf}));
}

TEST(ProcessLogitsTest, OptionsAreValidated) {
  const auto message = [](SamplingOptions o) {
    return std::string(ValidateSamplingOptions(o).message());
  };
  EXPECT_TRUE(ValidateSamplingOptions(SamplingOptions()).ok());
  SamplingOptions o;
  o.temperature = 0.0;
  EXPECT_THAT(message(o), HasSubstr("temperature must be a finite number > 0"));
  o = SamplingOptions();
  o.top_k = -1;
  EXPECT_THAT(message(o), HasSubstr("top_k must be >= 0"));
  o = SamplingOptions();
  o.top_p = 0.0;
  EXPECT_THAT(message(o), HasSubstr("top_p must be in (0, 1]"));
  o.top_p = 1.5;
  EXPECT_THAT(message(o), HasSubstr("got 1.5"));
  o = SamplingOptions();
  o.repetition_penalty = -1.0;
  EXPECT_THAT(message(o), HasSubstr("repetition_penalty"));
}

// --------------------------------------------------------------------------
// The sampler.

TEST(SamplerTest, ArgmaxTakesTheFirstMaximum) {
  EXPECT_EQ(ArgmaxToken(std::vector<double>{1.0, 4.0, -kInf, 4.0}), 1);
  EXPECT_EQ(ArgmaxToken(std::vector<double>{-kInf, -3.0, -5.0}), 1);
}

TEST(SamplerTest, InverseCdfAtChosenUniforms) {
  // softmax = 0.5, 0, 0.25, 0.25 (id 1 removed).
  const std::vector<double> logits = {std::log(0.5), -kInf, std::log(0.25),
                                      std::log(0.25)};
  EXPECT_EQ(SampleToken(logits, 0.0), 0);
  EXPECT_EQ(SampleToken(logits, 0.49), 0);
  EXPECT_EQ(SampleToken(logits, 0.51), 2);
  EXPECT_EQ(SampleToken(logits, 0.74), 2);
  EXPECT_EQ(SampleToken(logits, 0.76), 3);
  EXPECT_EQ(SampleToken(logits, 0.9999999), 3);
}

TEST(SamplerTest, UniformIsAPureFunctionOfSeedRowAndStep) {
  EXPECT_EQ(SamplingUniform(3, 1, 4), SamplingUniform(3, 1, 4));
  EXPECT_NE(SamplingUniform(3, 1, 4), SamplingUniform(4, 1, 4));
  EXPECT_NE(SamplingUniform(3, 1, 4), SamplingUniform(3, 0, 4));
  EXPECT_NE(SamplingUniform(3, 1, 4), SamplingUniform(3, 1, 5));
}

// Frequencies of many draws against softmax: Pearson's chi-square with 4
// degrees of freedom below 18.47 (p = 0.001), and a removed id never drawn.
TEST(SamplerTest, FrequenciesMatchTheSoftmax) {
  const std::vector<double> probs = {0.1, 0.2, 0.3, 0.15, 0.25, 0.0};
  std::vector<double> logits;
  for (double p : probs) logits.push_back(p > 0.0 ? std::log(p) + 1.7 : -kInf);
  const int64_t draws = 50000;
  std::vector<int64_t> counts(probs.size(), 0);
  for (int64_t i = 0; i < draws; ++i) {
    ++counts[SampleToken(logits, SamplingUniform(2024, 0, i))];
  }
  EXPECT_EQ(counts[5], 0);
  double chi_square = 0.0;
  for (size_t i = 0; i + 1 < probs.size(); ++i) {
    const double expected = probs[i] * draws;
    chi_square += (counts[i] - expected) * (counts[i] - expected) / expected;
  }
  EXPECT_LT(chi_square, 18.47)
      << "counts " << counts[0] << " " << counts[1] << " " << counts[2] << " "
      << counts[3] << " " << counts[4];
}

// --------------------------------------------------------------------------
// Generate on tiny models.

class GenerateLayoutTest : public ::testing::TestWithParam<ModelCase> {};

// The cached path (prefill + one token per step) and the recomputing path
// both give the greedy ids and the logits of the hand-written loop.
TEST_P(GenerateLayoutTest, CachedGreedyMatchesRecomputingTheSequence) {
  const MiniMindForCausalLM model = MakeModel(GetParam(), DType::kFloat64);
  const std::vector<int64_t> prompt = {5, 17, 3, 42, 8};
  const int64_t steps = 20;
  const ReferenceRun reference = ReferenceGreedy(model, prompt, steps);
  // Enough distinct tokens that a wrong cache would show.
  EXPECT_GE(
      std::set<int64_t>(reference.ids.begin(), reference.ids.end()).size(), 3u);
  for (bool use_cache : {true, false}) {
    SCOPED_TRACE(use_cache ? "cached" : "recomputed");
    GenerateOptions options;
    options.max_new_tokens = steps;
    options.sampling = Greedy();
    options.use_cache = use_cache;
    options.return_logits = true;
    const GenerateOutput out = ValueOrDie(Generate(model, {prompt}, options));
    EXPECT_EQ(Ids(out), reference.ids);
    ASSERT_EQ(out.logits.size(), static_cast<size_t>(steps));
    double worst = 0.0;
    for (int64_t s = 0; s < steps; ++s) {
      const std::vector<double> got = out.logits[s].ToVector<double>();
      ASSERT_EQ(got.size(), reference.logits[s].size());
      for (size_t v = 0; v < got.size(); ++v) {
        worst = std::max(worst, std::abs(got[v] - reference.logits[s][v]));
      }
    }
    EXPECT_LE(worst, 1e-12);
    EXPECT_EQ(out.decode_steps, steps - 1);
    EXPECT_EQ(out.prompt_length, 5);
  }
}

// Prompts of lengths 3, 7 and 5 in one left-padded batch: each row gets the
// ids of its prompt alone, with the cache and without.
TEST_P(GenerateLayoutTest, LeftPaddedBatchRowsMatchEachPromptAlone) {
  const MiniMindForCausalLM model = MakeModel(GetParam(), DType::kFloat64);
  const std::vector<std::vector<int64_t>> prompts = {
      {9, 4, 60}, {1, 2, 3, 4, 5, 6, 7}, {33, 70, 12, 12, 90}};
  const int64_t steps = 12;
  for (bool use_cache : {true, false}) {
    GenerateOptions options;
    options.max_new_tokens = steps;
    options.sampling = Greedy();
    options.use_cache = use_cache;
    options.pad_token_id = 4;  // a real id of row 0: masked, never seen
    const GenerateOutput batched =
        ValueOrDie(Generate(model, prompts, options));
    ASSERT_EQ(batched.ids.size(), 3u);
    EXPECT_EQ(batched.prompt_length, 7);
    for (size_t r = 0; r < prompts.size(); ++r) {
      SCOPED_TRACE(absl::StrCat("row ", r, use_cache ? " cached" : ""));
      const std::vector<int64_t> alone =
          ReferenceGreedy(model, prompts[r], steps).ids;
      EXPECT_GE(std::set<int64_t>(alone.begin(), alone.end()).size(), 3u);
      EXPECT_EQ(batched.ids[r], alone);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    BothLayouts, GenerateLayoutTest,
    ::testing::Values(ModelCase{"Layout2025Tied", false, true},
                      ModelCase{"Layout2025Untied", false, false},
                      ModelCase{"MiniMind3Tied", true, true},
                      ModelCase{"MiniMind3Untied", true, false}),
    [](const ::testing::TestParamInfo<ModelCase>& info) {
      return info.param.name;
    });

// lm_head on the last k positions only gives those rows of the full logits.
TEST(GenerateTest, LogitsToKeepGivesTheLastRowsOfTheFullLogits) {
  const MiniMindForCausalLM model = MakeModel(k2025Tied, DType::kFloat64);
  const Tensor ids =
      Tensor::FromData<int64_t>({3, 1, 4, 1, 5, 9, 2, 6}, {2, 4});
  const std::vector<double> full =
      ValueOrDie(model.Forward(ids)).logits.ToVector<double>();
  const int64_t vocab = 96;
  for (int64_t keep : {1, 3, 4, 9}) {
    LMOptions options;
    options.logits_to_keep = keep;
    const Tensor logits = ValueOrDie(model.Forward(ids, options)).logits;
    const int64_t kept = std::min<int64_t>(keep, 4);
    ASSERT_EQ(logits.shape(), (Shape{2, kept, vocab}));
    const std::vector<double> got = logits.ToVector<double>();
    for (int64_t b = 0; b < 2; ++b) {
      for (int64_t i = 0; i < kept * vocab; ++i) {
        EXPECT_EQ(got[b * kept * vocab + i],
                  full[(b * 4 + 4 - kept) * vocab + i]);
      }
    }
  }
  LMOptions bad;
  bad.logits_to_keep = -1;
  EXPECT_THAT(model.Forward(ids, bad).status().message(),
              HasSubstr("logits_to_keep must be >= 0"));
  bad.logits_to_keep = 1;
  bad.labels = ids;
  EXPECT_THAT(model.Forward(ids, bad).status().message(),
              HasSubstr("got 1 with labels"));
}

// The repetition penalty sees a row's real tokens, not its padding: with the
// pad id equal to the token the row picks first, a strong penalty on the
// pads would change that pick.
TEST(GenerateTest, RepetitionPenaltyIgnoresPadding) {
  const MiniMindForCausalLM model = MakeModel(k2025Tied, DType::kFloat64);
  const std::vector<int64_t> shorter = {9, 4, 60};
  const std::vector<int64_t> longer = {1, 2, 3, 5, 6, 7};
  SamplingOptions penalised = Greedy();
  penalised.repetition_penalty = 50.0;
  GenerateOptions options;
  options.max_new_tokens = 6;
  options.sampling = penalised;
  const std::vector<int64_t> alone =
      Ids(ValueOrDie(Generate(model, {shorter}, options)));
  ASSERT_EQ(alone.size(), 6u);
  // The first pick by hand: the raw logits, the prompt's ids penalised.
  std::vector<double> first = LastLogits(model, shorter);
  for (int64_t id : {9, 4, 60}) {
    first[id] = first[id] > 0 ? first[id] / 50.0 : first[id] * 50.0;
  }
  EXPECT_EQ(alone[0],
            std::max_element(first.begin(), first.end()) - first.begin());
  ASSERT_EQ(std::count(shorter.begin(), shorter.end(), alone[0]), 0);

  options.pad_token_id = alone[0];
  const GenerateOutput batched =
      ValueOrDie(Generate(model, {shorter, longer}, options));
  EXPECT_EQ(batched.ids[0], alone);
  EXPECT_EQ(batched.ids[1],
            Ids(ValueOrDie(Generate(model, {longer}, options))));
}

TEST(GenerateTest, SeededSamplingIsReproducibleAndSeedsDiffer) {
  // float64: row 0 beside another runs the masked attention path, whose
  // rounding must not move a draw across a boundary.
  const MiniMindForCausalLM model = MakeModel(k2025Tied, DType::kFloat64);
  const std::vector<int64_t> prompt = {7, 7, 21, 50};
  GenerateOptions options;  // MiniMind's defaults: 0.85, 50, 0.85
  options.max_new_tokens = 24;
  options.sampling.seed = 123;
  const std::vector<int64_t> first =
      Ids(ValueOrDie(Generate(model, {prompt}, options)));
  EXPECT_EQ(first.size(), 24u);
  EXPECT_EQ(Ids(ValueOrDie(Generate(model, {prompt}, options))), first);
  // The draw depends on (seed, row, step) only: another row beside it
  // changes nothing for row 0.
  const GenerateOutput with_neighbour =
      ValueOrDie(Generate(model, {prompt, {3, 2}}, options));
  EXPECT_EQ(with_neighbour.ids[0], first);
  options.sampling.seed = 124;
  EXPECT_NE(Ids(ValueOrDie(Generate(model, {prompt}, options))), first);
  // Sampling differs from greedy decoding on this model.
  options.sampling = Greedy();
  EXPECT_NE(Ids(ValueOrDie(Generate(model, {prompt}, options))), first);
}

// eos ends a row (not part of its ids); the batch stops when every row has.
TEST(GenerateTest, EosStopsARowAndTheBatch) {
  const MiniMindForCausalLM model = MakeModel(k2025Tied, DType::kFloat64);
  const std::vector<std::vector<int64_t>> prompts = {{5, 17, 3}, {40, 2, 2, 9}};
  const int64_t steps = 16;
  std::vector<std::vector<int64_t>> free_run;
  for (const auto& prompt : prompts) {
    free_run.push_back(ReferenceGreedy(model, prompt, steps).ids);
  }
  // An eos both rows produce, at different steps.
  int64_t eos = -1;
  size_t at[2] = {0, 0};
  for (size_t i = 1; i < free_run[0].size() && eos < 0; ++i) {
    const int64_t id = free_run[0][i];
    const auto in_row1 = std::find(free_run[1].begin(), free_run[1].end(), id);
    if (std::find(free_run[0].begin(), free_run[0].begin() + i, id) ==
            free_run[0].begin() + i &&
        in_row1 != free_run[1].end() &&
        static_cast<size_t>(in_row1 - free_run[1].begin()) != i) {
      eos = id;
      at[0] = i;
      at[1] = in_row1 - free_run[1].begin();
    }
  }
  ASSERT_GE(eos, 0) << "no token shared by the two greedy runs";

  GenerateOptions options;
  options.max_new_tokens = steps;
  options.sampling = Greedy();
  options.eos_token_id = eos;
  std::vector<std::pair<int64_t, int64_t>> streamed;
  options.on_token = [&](int64_t row, int64_t id) {
    streamed.emplace_back(row, id);
    return true;
  };
  const GenerateOutput out = ValueOrDie(Generate(model, prompts, options));
  for (size_t r = 0; r < 2; ++r) {
    EXPECT_EQ(out.ids[r], std::vector<int64_t>(free_run[r].begin(),
                                               free_run[r].begin() + at[r]));
  }
  // The last step is the one where the later row produced eos.
  EXPECT_EQ(out.decode_steps, static_cast<int64_t>(std::max(at[0], at[1])));
  EXPECT_EQ(streamed.size(), at[0] + at[1]);
  for (const auto& [row, id] : streamed) EXPECT_NE(id, eos);

  // Alone, the row stops at its eos too.
  const GenerateOutput single =
      ValueOrDie(Generate(model, {prompts[0]}, options));
  EXPECT_EQ(single.ids[0], out.ids[0]);
  EXPECT_EQ(single.decode_steps, static_cast<int64_t>(at[0]));
}

TEST(GenerateTest, MaxNewTokensAndTheCallbackStop) {
  const MiniMindForCausalLM model = MakeModel(k2025Tied, DType::kFloat32);
  GenerateOptions options;
  options.sampling.seed = 5;
  options.max_new_tokens = 7;
  EXPECT_EQ(ValueOrDie(Generate(model, {{1, 2}}, options)).ids[0].size(), 7u);
  options.max_new_tokens = 0;
  EXPECT_TRUE(ValueOrDie(Generate(model, {{1, 2}}, options)).ids[0].empty());

  options.max_new_tokens = 30;
  std::vector<int64_t> streamed;
  options.on_token = [&](int64_t, int64_t id) {
    streamed.push_back(id);
    return streamed.size() < 4;
  };
  const GenerateOutput stopped = ValueOrDie(Generate(model, {{1, 2}}, options));
  EXPECT_TRUE(stopped.stopped_by_callback);
  EXPECT_EQ(stopped.ids[0], streamed);
  EXPECT_EQ(streamed.size(), 4u);
}

// With P positions and a padded prompt of T, P - T + 1 tokens fit: the last
// one is produced from position P - 1 and never fed back.
TEST(GenerateTest, StopsAtTheLastPosition) {
  ModelCase c = k2025Tied;
  MiniMindConfig config = SmallConfig(c);
  config.max_position_embeddings = 16;
  Generator generator(3);
  const MiniMindForCausalLM model = ValueOrDie(
      MiniMindForCausalLM::Create(config, generator, DType::kFloat32));
  GenerateOptions options;
  options.max_new_tokens = 20;
  const GenerateOutput out = ValueOrDie(
      Generate(model, {std::vector<int64_t>(10, 3), {4, 5}}, options));
  EXPECT_EQ(out.ids[0].size(), 7u);
  EXPECT_EQ(out.ids[1].size(), 7u);
  EXPECT_TRUE(out.reached_position_limit);
  const GenerateOutput full =
      ValueOrDie(Generate(model, {std::vector<int64_t>(16, 3)}, options));
  EXPECT_EQ(full.ids[0].size(), 1u);
  EXPECT_TRUE(full.reached_position_limit);
  options.max_new_tokens = 7;
  EXPECT_FALSE(
      ValueOrDie(Generate(model, {std::vector<int64_t>(10, 3)}, options))
          .reached_position_limit);
  EXPECT_THAT(
      std::string(Generate(model, {std::vector<int64_t>(17, 3)}, options)
                      .status()
                      .message()),
      HasSubstr("prompt 0 has 17 tokens, more than "
                "max_position_embeddings 16"));
}

TEST(GenerateTest, BadRequestsNameWhatIsWrong) {
  const MiniMindForCausalLM model = MakeModel(k2025Tied, DType::kFloat32);
  const auto message = [&](const std::vector<std::vector<int64_t>>& prompts,
                           const GenerateOptions& options) {
    return std::string(Generate(model, prompts, options).status().message());
  };
  const GenerateOptions defaults;
  EXPECT_THAT(message({}, defaults), HasSubstr("no prompts"));
  EXPECT_THAT(message({{1}, {}}, defaults), HasSubstr("prompt 1 is empty"));
  EXPECT_THAT(message({{1, 2}, {3, 96}}, defaults),
              HasSubstr("prompt 1 token 1 is id 96, outside the vocabulary "
                        "[0, 96)"));
  EXPECT_THAT(message({{-3}}, defaults), HasSubstr("token 0 is id -3"));
  GenerateOptions bad;
  bad.max_new_tokens = -1;
  EXPECT_THAT(message({{1}}, bad), HasSubstr("max_new_tokens must be >= 0"));
  bad = GenerateOptions();
  bad.pad_token_id = 96;
  EXPECT_THAT(message({{1}}, bad), HasSubstr("pad_token_id 96"));
  bad = GenerateOptions();
  bad.eos_token_id = -2;
  EXPECT_THAT(message({{1}}, bad), HasSubstr("eos_token_id -2"));
  bad = GenerateOptions();
  bad.sampling.top_p = 2.0;
  EXPECT_THAT(message({{1}}, bad), HasSubstr("top_p must be in (0, 1]"));
}

}  // namespace
}  // namespace minigraph
