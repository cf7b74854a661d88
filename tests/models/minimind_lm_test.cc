// The MiniMind causal LM against the naive loop implementation in
// naive_minimind.cc (logits and loss, a single block, both layouts, tied and
// untied, padded), its parameter names and initialisation, KV-cache
// decoding against one pass, dropout, and input errors.
#include "models/minimind_lm.h"

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "framework/random.h"
#include "framework/tensor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ops/all_ops.h"
#include "tests/models/naive_minimind.h"

namespace minigraph {
namespace {

using ::minigraph::testing::NaiveBlock;
using ::minigraph::testing::NaiveLayer;
using ::minigraph::testing::NaiveLM;
using ::minigraph::testing::NaiveLMResult;
using ::minigraph::testing::NaiveLMSpec;
using ::testing::HasSubstr;

std::vector<double> RandomValues(int64_t n, double scale, double offset,
                                 Generator& gen) {
  std::vector<double> v(n);
  for (double& e : v) e = offset + scale * gen.NextNormal();
  return v;
}

MiniMindConfig SmallConfig(bool qk_norm, bool tied) {
  MiniMindConfig config;
  config.hidden_size = 16;
  config.num_hidden_layers = 2;
  config.num_attention_heads = 4;
  config.num_key_value_heads = 2;
  config.intermediate_size = 24;
  config.vocab_size = 11;
  config.rope_theta = 100.0;  // visible rotations at small positions
  config.qk_norm = qk_norm;
  config.rms_norm_eps = qk_norm ? 1e-6 : 1e-5;
  config.tie_word_embeddings = tied;
  config.flash_attn = qk_norm;  // both attention paths get used
  return config;
}

// Random weights for `config`; norm weights near 1.
NaiveLMSpec RandomSpec(const MiniMindConfig& config, int64_t batch, int64_t seq,
                       uint64_t seed) {
  Generator gen(seed);
  NaiveLMSpec s;
  s.batch = batch;
  s.seq = seq;
  s.hidden = config.hidden_size;
  s.heads = config.num_attention_heads;
  s.kv_heads = config.num_key_value_heads;
  s.head_dim = config.HeadDim();
  s.intermediate = config.IntermediateSize();
  s.vocab = config.vocab_size;
  s.rope_theta = config.rope_theta;
  s.eps = config.rms_norm_eps;
  const int64_t C = s.hidden, I = s.intermediate, V = s.vocab;
  const int64_t q = s.heads * s.head_dim, kv = s.kv_heads * s.head_dim;
  const double w = 1.0 / std::sqrt(static_cast<double>(C));
  s.embed = RandomValues(V * C, 1.0, 0.0, gen);
  for (int64_t l = 0; l < config.num_hidden_layers; ++l) {
    NaiveLayer layer;
    layer.wq = RandomValues(q * C, w, 0.0, gen);
    layer.wk = RandomValues(kv * C, w, 0.0, gen);
    layer.wv = RandomValues(kv * C, w, 0.0, gen);
    layer.wo = RandomValues(C * q, w, 0.0, gen);
    if (config.qk_norm) {
      layer.q_norm = RandomValues(s.head_dim, 0.2, 1.0, gen);
      layer.k_norm = RandomValues(s.head_dim, 0.2, 1.0, gen);
    }
    layer.input_norm = RandomValues(C, 0.2, 1.0, gen);
    layer.post_norm = RandomValues(C, 0.2, 1.0, gen);
    layer.gate = RandomValues(I * C, w, 0.0, gen);
    layer.up = RandomValues(I * C, w, 0.0, gen);
    layer.down = RandomValues(C * I, 1.0 / std::sqrt(I), 0.0, gen);
    s.layers.push_back(std::move(layer));
  }
  s.final_norm = RandomValues(C, 0.2, 1.0, gen);
  if (!config.tie_word_embeddings) s.lm_head = RandomValues(V * C, w, 0.0, gen);
  for (int64_t n = 0; n < batch * seq; ++n) {
    s.ids.push_back(static_cast<int64_t>(gen.NextBits() % V));
  }
  return s;
}

Tensor F64(const std::vector<double>& v, const Shape& shape) {
  return Tensor::FromData(v, shape);
}

// The spec's weights under the model's parameter names.
NamedTensors ParametersOf(const MiniMindConfig& config, const NaiveLMSpec& s) {
  const int64_t C = s.hidden, I = s.intermediate, V = s.vocab;
  const int64_t q = s.heads * s.head_dim, kv = s.kv_heads * s.head_dim;
  NamedTensors p;
  p.emplace_back("model.embed_tokens.weight", F64(s.embed, {V, C}));
  for (size_t l = 0; l < s.layers.size(); ++l) {
    const NaiveLayer& w = s.layers[l];
    const std::string prefix = absl::StrCat("model.layers.", l, ".");
    p.emplace_back(prefix + "self_attn.q_proj.weight", F64(w.wq, {q, C}));
    p.emplace_back(prefix + "self_attn.k_proj.weight", F64(w.wk, {kv, C}));
    p.emplace_back(prefix + "self_attn.v_proj.weight", F64(w.wv, {kv, C}));
    p.emplace_back(prefix + "self_attn.o_proj.weight", F64(w.wo, {C, q}));
    if (config.qk_norm) {
      p.emplace_back(prefix + "self_attn.q_norm.weight",
                     F64(w.q_norm, {s.head_dim}));
      p.emplace_back(prefix + "self_attn.k_norm.weight",
                     F64(w.k_norm, {s.head_dim}));
    }
    p.emplace_back(prefix + "input_layernorm.weight", F64(w.input_norm, {C}));
    p.emplace_back(prefix + "post_attention_layernorm.weight",
                   F64(w.post_norm, {C}));
    p.emplace_back(prefix + "mlp.gate_proj.weight", F64(w.gate, {I, C}));
    p.emplace_back(prefix + "mlp.down_proj.weight", F64(w.down, {C, I}));
    p.emplace_back(prefix + "mlp.up_proj.weight", F64(w.up, {I, C}));
  }
  p.emplace_back("model.norm.weight", F64(s.final_norm, {C}));
  if (!config.tie_word_embeddings) {
    p.emplace_back("lm_head.weight", F64(s.lm_head, {V, C}));
  }
  return p;
}

void ExpectClose(const std::vector<double>& got,
                 const std::vector<double>& want, double tol,
                 const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_NEAR(got[i], want[i], tol * (1.0 + std::abs(want[i])))
        << what << " entry " << i;
  }
}

std::string Message(const absl::StatusOr<LMOutput>& out) {
  return out.ok() ? "ok" : std::string(out.status().message());
}

struct LayoutCase {
  std::string name;
  bool qk_norm, tied, padded;
};

void PrintTo(const LayoutCase& c, std::ostream* os) { *os << c.name; }

class MatchesNaiveLMTest : public ::testing::TestWithParam<LayoutCase> {};

TEST_P(MatchesNaiveLMTest, Float64LogitsLossAndBlock) {
  const LayoutCase& c = GetParam();
  const MiniMindConfig config = SmallConfig(c.qk_norm, c.tied);
  NaiveLMSpec spec = RandomSpec(config, 2, 6, 17);
  spec.labels = spec.ids;
  spec.labels[3] = -100;
  spec.labels[8] = -100;
  LMOptions options;
  if (c.padded) {
    // Row 0: left padding; row 1: a hole.
    spec.mask = {0, 0, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1};
    options.attention_mask =
        Tensor::FromData<int64_t>({0, 0, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1}, {2, 6});
  }
  options.labels = Tensor::FromData(spec.labels, {2, 6});
  const MiniMindForCausalLM lm = ValueOrDie(
      MiniMindForCausalLM::FromTensors(config, ParametersOf(config, spec)));
  const NaiveLMResult want = NaiveLM(spec);
  const LMOutput got =
      ValueOrDie(lm.Forward(Tensor::FromData(spec.ids, {2, 6}), options));
  EXPECT_EQ(got.logits.shape(), Shape({2, 6, 11}));
  EXPECT_EQ(got.logits.dtype(), DType::kFloat64);
  ExpectClose(got.logits.ToVector<double>(), want.logits, 1e-12, "logits");
  EXPECT_EQ(got.loss.numel(), 1);
  EXPECT_NEAR(got.loss.item(), want.loss, 1e-12 * want.loss);

  // One block alone, on a random input.
  Generator gen(3);
  const std::vector<double> x = RandomValues(2 * 6 * 16, 1.0, 0.0, gen);
  BlockOptions block_options;
  block_options.attention_mask = options.attention_mask;
  const Tensor block = ValueOrDie(
      lm.model().layers[1].Forward(F64(x, {2, 6, 16}), block_options));
  ExpectClose(block.ToVector<double>(), NaiveBlock(spec, 1, x), 1e-12,
              "block 1");
}

INSTANTIATE_TEST_SUITE_P(
    Layouts, MatchesNaiveLMTest,
    ::testing::Values(
        LayoutCase{"layout2025_tied", false, true, false},
        LayoutCase{"layout2025_untied_padded", false, false, true},
        LayoutCase{"layout2026_qk_norm_tied", true, true, false},
        LayoutCase{"layout2026_qk_norm_untied_padded", true, false, true}),
    [](const ::testing::TestParamInfo<LayoutCase>& info) {
      return info.param.name;
    });

TEST(MiniMindLMTest, Float32MatchesNaiveToSinglePrecision) {
  const MiniMindConfig config = SmallConfig(true, true);
  NaiveLMSpec spec = RandomSpec(config, 2, 5, 23);
  spec.labels = spec.ids;
  NamedTensors parameters = ParametersOf(config, spec);
  for (auto& entry : parameters) {
    entry.second = ConvertDType(entry.second, DType::kFloat32);
  }
  const MiniMindForCausalLM lm =
      ValueOrDie(MiniMindForCausalLM::FromTensors(config, parameters));
  LMOptions options;
  options.labels = Tensor::FromData(spec.labels, {2, 5});
  const LMOutput got =
      ValueOrDie(lm.Forward(Tensor::FromData(spec.ids, {2, 5}), options));
  EXPECT_EQ(got.logits.dtype(), DType::kFloat32);
  const NaiveLMResult want = NaiveLM(spec);
  ExpectClose(got.logits.ToVector<double>(), want.logits, 2e-5, "logits");
  EXPECT_NEAR(got.loss.item(), want.loss, 2e-5 * want.loss);
}

TEST(MiniMindLMTest, ParametersAreNamedAsInTheCheckpointInPyTorchOrder) {
  Generator gen(1);
  MiniMindConfig config = SmallConfig(true, false);
  config.num_hidden_layers = 1;
  const MiniMindForCausalLM untied =
      ValueOrDie(MiniMindForCausalLM::Create(config, gen));
  std::vector<std::string> names;
  for (const auto& [name, tensor] : untied.NamedParameters()) {
    names.push_back(name);
    EXPECT_EQ(tensor.name(), name);
    EXPECT_TRUE(tensor.requires_grad()) << name;
    EXPECT_TRUE(tensor.is_leaf()) << name;
    EXPECT_EQ(tensor.dtype(), DType::kFloat32) << name;
  }
  EXPECT_EQ(names, std::vector<std::string>(
                       {"model.embed_tokens.weight",
                        "model.layers.0.self_attn.q_proj.weight",
                        "model.layers.0.self_attn.k_proj.weight",
                        "model.layers.0.self_attn.v_proj.weight",
                        "model.layers.0.self_attn.o_proj.weight",
                        "model.layers.0.self_attn.q_norm.weight",
                        "model.layers.0.self_attn.k_norm.weight",
                        "model.layers.0.input_layernorm.weight",
                        "model.layers.0.post_attention_layernorm.weight",
                        "model.layers.0.mlp.gate_proj.weight",
                        "model.layers.0.mlp.down_proj.weight",
                        "model.layers.0.mlp.up_proj.weight",
                        "model.norm.weight", "lm_head.weight"}));
  EXPECT_EQ(untied.StateDictEntries().size(), names.size());
  // hidden 16, q 16x16, k and v 8x16, o 16x16, norms 4+4+16+16, mlp 3x24x16,
  // final norm 16, embedding and head 11x16 each.
  EXPECT_EQ(untied.NumParameters(),
            176 + 256 + 128 + 128 + 256 + 8 + 32 + 3 * 384 + 16 + 176);

  config.tie_word_embeddings = true;
  config.qk_norm = false;
  const MiniMindForCausalLM tied =
      ValueOrDie(MiniMindForCausalLM::Create(config, gen));
  const NamedTensors params = tied.NamedParameters();
  EXPECT_EQ(params.size(), 11u);
  EXPECT_EQ(params.front().first, "model.embed_tokens.weight");
  EXPECT_EQ(params.back().first, "model.norm.weight");
  const NamedTensors entries = tied.StateDictEntries();
  ASSERT_EQ(entries.size(), 12u);
  EXPECT_EQ(entries.back().first, "lm_head.weight");
  // One tensor under two names.
  EXPECT_EQ(entries.back().second.impl(), params.front().second.impl());
  EXPECT_EQ(tied.lm_head().weight.impl(),
            tied.model().embed_tokens.weight.impl());
  EXPECT_EQ(entries.back().second.name(), "model.embed_tokens.weight");
}

TEST(MiniMindLMTest, PresetSizesAndMiniMindInitialisation) {
  // MiniMind2-small is the 25.83M-parameter model.
  Generator gen(5);
  const MiniMindForCausalLM small = ValueOrDie(MiniMindForCausalLM::Create(
      ValueOrDie(PresetConfig("minimind2-small")), gen));
  EXPECT_EQ(small.NumParameters(), 25829888);
  EXPECT_EQ(small.config().intermediate_size, 1408);

  // Tied: the shared weight has nn.Linear's U(-1/sqrt(hidden), ..) (MiniMind
  // assigns the head's weight to the embedding); untied, the embedding has
  // nn.Embedding's N(0, 1).
  MiniMindConfig config = ValueOrDie(PresetConfig("tiny"));
  auto stats = [](const Tensor& t) {
    const std::vector<double> v = t.ToVector<double>();
    double sum = 0.0, sum_sq = 0.0, largest = 0.0;
    for (double e : v) {
      sum += e;
      sum_sq += e * e;
      largest = std::max(largest, std::abs(e));
    }
    const double mean = sum / v.size();
    return std::make_pair(std::sqrt(sum_sq / v.size() - mean * mean), largest);
  };
  const double bound = 1.0 / std::sqrt(128.0);
  const MiniMindForCausalLM tied =
      ValueOrDie(MiniMindForCausalLM::Create(config, gen));
  const auto [tied_std, tied_max] = stats(tied.model().embed_tokens.weight);
  EXPECT_LE(tied_max, bound);
  EXPECT_NEAR(tied_std, bound / std::sqrt(3.0), 0.02 * bound);  // uniform
  config.tie_word_embeddings = false;
  const MiniMindForCausalLM untied =
      ValueOrDie(MiniMindForCausalLM::Create(config, gen));
  const auto [embed_std, embed_max] = stats(untied.model().embed_tokens.weight);
  EXPECT_NEAR(embed_std, 1.0, 0.02);
  EXPECT_GT(embed_max, 3.0);  // a normal's tail, not a bounded uniform
  EXPECT_LE(stats(untied.lm_head().weight).second, bound);
  // down_proj's fan-in is the intermediate size.
  const auto [down_std, down_max] =
      stats(untied.model().layers[1].mlp.down_proj.weight);
  EXPECT_LE(down_max, 1.0 / std::sqrt(384.0));
  EXPECT_GT(down_max, 0.9 / std::sqrt(384.0));
  for (const RMSNorm* norm :
       {&untied.model().norm, &untied.model().layers[0].input_layernorm}) {
    for (double e : norm->weight.ToVector<double>()) EXPECT_EQ(e, 1.0);
  }
}

// Decoding one token (or a chunk) at a time through per-layer caches gives
// the logits of one pass over the whole sequence.
TEST(MiniMindLMTest, KVCacheDecodingMatchesOneFullPass) {
  for (bool qk_norm : {false, true}) {
    const MiniMindConfig config = SmallConfig(qk_norm, !qk_norm);
    Generator gen(9);
    const MiniMindForCausalLM lm =
        ValueOrDie(MiniMindForCausalLM::Create(config, gen, DType::kFloat64));
    const Tensor ids = Tensor::FromData<int64_t>(
        {3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7}, {2, 7});
    const Tensor full = ValueOrDie(lm.Forward(ids)).logits;

    std::vector<KVCache> caches;
    std::vector<Tensor> steps;
    for (int64_t t = 0; t < 7; ++t) {
      LMOptions step;
      step.caches = &caches;
      steps.push_back(
          ValueOrDie(lm.Forward(Slice(ids, 1, t, t + 1), step)).logits);
    }
    ASSERT_EQ(caches.size(), 2u);
    EXPECT_EQ(caches[1].length(), 7);
    ExpectClose(Concat(steps, 1).ToVector<double>(), full.ToVector<double>(),
                1e-12, "token by token");

    std::vector<KVCache> chunked;
    std::vector<Tensor> chunks;
    for (const auto& [begin, end] :
         std::vector<std::pair<int64_t, int64_t>>{{0, 4}, {4, 5}, {5, 7}}) {
      LMOptions step;
      step.caches = &chunked;
      chunks.push_back(
          ValueOrDie(lm.Forward(Slice(ids, 1, begin, end), step)).logits);
    }
    ExpectClose(Concat(chunks, 1).ToVector<double>(), full.ToVector<double>(),
                1e-12, "in chunks");
  }
}

TEST(MiniMindLMTest, DropoutOnlyInTrainingSeededAndEverywhere) {
  MiniMindConfig config = SmallConfig(false, true);
  config.dropout = 0.3;
  Generator gen(2);
  MiniMindForCausalLM lm =
      ValueOrDie(MiniMindForCausalLM::Create(config, gen, DType::kFloat64));
  const Tensor ids = Tensor::FromData<int64_t>({1, 2, 3, 4, 5, 6}, {1, 6});
  const std::vector<double> eval =
      ValueOrDie(lm.Forward(ids)).logits.ToVector<double>();
  EXPECT_FALSE(lm.training());
  lm.SetTraining(true);
  // Every module the model holds switched.
  EXPECT_TRUE(lm.model().training());
  EXPECT_TRUE(lm.model().embed_tokens.training());
  EXPECT_TRUE(lm.model().layers[1].training());
  EXPECT_TRUE(lm.model().layers[1].self_attn.training());
  EXPECT_TRUE(lm.model().layers[1].mlp.training());
  EXPECT_TRUE(lm.model().layers[1].mlp.down_proj.training());
  EXPECT_TRUE(lm.model().norm.training());
  LMOptions options;
  options.dropout_seed = 40;
  const std::vector<double> a =
      ValueOrDie(lm.Forward(ids, options)).logits.ToVector<double>();
  const std::vector<double> b =
      ValueOrDie(lm.Forward(ids, options)).logits.ToVector<double>();
  options.dropout_seed = 41;
  const std::vector<double> c =
      ValueOrDie(lm.Forward(ids, options)).logits.ToVector<double>();
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_NE(a, eval);
  lm.SetTraining(false);
  EXPECT_FALSE(lm.model().layers[0].mlp.training());
  EXPECT_EQ(ValueOrDie(lm.Forward(ids, options)).logits.ToVector<double>(),
            eval);

  // The feed-forward drops after down_proj: with dropout 0.5 about half of
  // its outputs are zero, and the kept ones are doubled.
  FeedForward mlp = lm.model().layers[0].mlp;
  mlp.dropout = 0.5;
  const Tensor x = Tensor::Randn({1, 6, 16}, gen, DType::kFloat64);
  const std::vector<double> plain = mlp.Forward(x, 3).ToVector<double>();
  mlp.SetTraining(true);
  const std::vector<double> dropped = mlp.Forward(x, 3).ToVector<double>();
  int zeros = 0;
  for (size_t i = 0; i < plain.size(); ++i) {
    if (dropped[i] == 0.0) {
      ++zeros;
    } else {
      EXPECT_NEAR(dropped[i], 2.0 * plain[i], 1e-12 * std::abs(plain[i]));
    }
  }
  EXPECT_GT(zeros, 24);
  EXPECT_LT(zeros, 72);
}

TEST(MiniMindLMTest, BadInputsNameThePositionAndTheValue) {
  const MiniMindConfig config = SmallConfig(false, true);
  Generator gen(4);
  const MiniMindForCausalLM lm =
      ValueOrDie(MiniMindForCausalLM::Create(config, gen, DType::kFloat64));
  const Tensor ids = Tensor::FromData<int64_t>({1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_EQ(Message(lm.Forward(ids)), "ok");
  EXPECT_THAT(
      Message(
          lm.Forward(Tensor::FromData<int64_t>({1, 2, 3, 4, 11, 6}, {2, 3}))),
      HasSubstr("input_ids[1, 1] = 11 is outside the vocabulary [0, 11)"));
  EXPECT_THAT(Message(lm.Forward(Tensor::FromData<int64_t>({-1}, {1, 1}))),
              HasSubstr("input_ids[0, 0] = -1 is outside the vocabulary"));
  EXPECT_THAT(Message(lm.Forward(Tensor::Zeros({2, 3}, DType::kFloat32))),
              HasSubstr("input_ids must be a non-empty int64[B, T], got "
                        "float32[2, 3]"));
  EXPECT_THAT(Message(lm.Forward(Tensor::FromData<int64_t>({1, 2}, {2}))),
              HasSubstr("got int64[2]"));
  LMOptions options;
  options.labels = Tensor::FromData<int64_t>({1, 2, -100, 4, 12, 6}, {2, 3});
  EXPECT_THAT(Message(lm.Forward(ids, options)),
              HasSubstr("labels[1, 1] = 12 is outside the vocabulary [0, 11) "
                        "and is not -100"));
  options.labels = Tensor::FromData<int64_t>({1, 2, 3}, {1, 3});
  EXPECT_THAT(Message(lm.Forward(ids, options)),
              HasSubstr("labels must be int64[2, 3] like input_ids, got "
                        "int64[1, 3]"));
  options.labels = Tensor::FromData<int64_t>({1, 2}, {2, 1});
  EXPECT_THAT(
      Message(lm.Forward(Tensor::FromData<int64_t>({1, 2}, {2, 1}), options)),
      HasSubstr("a loss needs at least 2 positions"));
  std::vector<KVCache> caches(3);
  LMOptions cached;
  cached.caches = &caches;
  EXPECT_THAT(Message(lm.Forward(ids, cached)),
              HasSubstr("3 KV caches given for 2 layers"));
  LMOptions far;
  far.start_pos = config.max_position_embeddings - 2;
  EXPECT_THAT(Message(lm.Forward(ids, far)),
              HasSubstr("(max_position_embeddings)"));
  LMOptions bad_mask;
  bad_mask.attention_mask = Tensor::Ones({2, 4}, DType::kFloat64);
  EXPECT_THAT(Message(lm.Forward(ids, bad_mask)),
              HasSubstr("attention_mask must be [B, T_k] = [2, 3]"));

  // FromTensors names what is missing, misshaped or unknown.
  NamedTensors params = lm.NamedParameters();
  params.pop_back();
  EXPECT_THAT(
      std::string(
          MiniMindForCausalLM::FromTensors(config, params).status().message()),
      HasSubstr("parameter 'model.norm.weight' not given (expected "
                "float64[16])"));
  params = lm.NamedParameters();
  params[1].second = Tensor::Zeros({8, 16}, DType::kFloat64);
  EXPECT_THAT(
      std::string(
          MiniMindForCausalLM::FromTensors(config, params).status().message()),
      HasSubstr("parameter 'model.layers.0.self_attn.q_proj.weight' "
                "is float64[8, 16], expected float64[16, 16]"));
  params = lm.NamedParameters();
  params.emplace_back("lm_head.weight", params[0].second);
  EXPECT_THAT(
      std::string(
          MiniMindForCausalLM::FromTensors(config, params).status().message()),
      HasSubstr("parameter 'lm_head.weight' is not one of the "
                "model's"));
}

}  // namespace
}  // namespace minigraph
