// Tests of the op-composed MiniMind Attention: outputs against the naive
// loop implementation in naive_attention.cc (causal, padded, GQA/MHA/MQA,
// RoPE at a start position, qk_norm), KV-cache decoding against one causal
// pass, dropout, loading from a checkpoint, and errors.
#include "models/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <ostream>
#include <string>
#include <vector>

#include "framework/random.h"
#include "framework/safetensors.h"
#include "framework/tensor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/minimind_config.h"
#include "models/model_registry.h"
#include "ops/all_ops.h"
#include "tests/models/naive_attention.h"

namespace minigraph {
namespace {

using ::minigraph::testing::NaiveAttention;
using ::minigraph::testing::NaiveAttentionResult;
using ::minigraph::testing::NaiveAttentionSpec;
using ::testing::HasSubstr;

std::vector<double> RandomValues(int64_t n, double scale, Generator& gen) {
  std::vector<double> v(n);
  for (double& e : v) e = scale * gen.NextNormal();
  return v;
}

MiniMindConfig SmallConfig(int64_t heads, int64_t kv_heads) {
  MiniMindConfig config;
  config.hidden_size = 16;
  config.num_attention_heads = heads;
  config.num_key_value_heads = kv_heads;
  config.rope_theta = 100.0;  // visible rotations at small positions
  config.flash_attn = false;
  return config;
}

NaiveAttentionSpec RandomSpec(const MiniMindConfig& config, int64_t batch,
                              int64_t seq, uint64_t seed) {
  Generator gen(seed);
  NaiveAttentionSpec s;
  s.batch = batch;
  s.seq = seq;
  s.hidden = config.hidden_size;
  s.heads = config.num_attention_heads;
  s.kv_heads = config.num_key_value_heads;
  s.head_dim = config.HeadDim();
  s.rope_theta = config.rope_theta;
  s.rms_eps = config.rms_norm_eps;
  const int64_t c = s.hidden, q = s.heads * s.head_dim,
                kv = s.kv_heads * s.head_dim;
  const double w = 1.0 / std::sqrt(static_cast<double>(c));
  s.x = RandomValues(batch * seq * c, 1.0, gen);
  s.wq = RandomValues(q * c, w, gen);
  s.wk = RandomValues(kv * c, w, gen);
  s.wv = RandomValues(kv * c, w, gen);
  s.wo = RandomValues(c * q, w, gen);
  if (config.qk_norm) {
    s.q_norm = RandomValues(s.head_dim, 0.3, gen);
    s.k_norm = RandomValues(s.head_dim, 0.3, gen);
    for (double& e : s.q_norm) e += 1.0;
    for (double& e : s.k_norm) e += 1.0;
  }
  return s;
}

Tensor F64(const std::vector<double>& v, const Shape& shape) {
  return Tensor::FromData(v, shape);
}

AttentionWeights WeightsOf(const NaiveAttentionSpec& s) {
  AttentionWeights w;
  const int64_t q = s.heads * s.head_dim, kv = s.kv_heads * s.head_dim;
  w.q_proj = F64(s.wq, {q, s.hidden});
  w.k_proj = F64(s.wk, {kv, s.hidden});
  w.v_proj = F64(s.wv, {kv, s.hidden});
  w.o_proj = F64(s.wo, {s.hidden, q});
  if (!s.q_norm.empty()) {
    w.q_norm = F64(s.q_norm, {s.head_dim});
    w.k_norm = F64(s.k_norm, {s.head_dim});
  }
  return w;
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

struct NaiveCase {
  std::string name;
  int64_t heads, kv_heads;
  int64_t start_pos;
  bool padded;
  bool qk_norm;
};

// gtest prints the case's name instead of its bytes.
void PrintTo(const NaiveCase& c, std::ostream* os) { *os << c.name; }

class MatchesNaiveTest : public ::testing::TestWithParam<NaiveCase> {};

TEST_P(MatchesNaiveTest, Float64OutputsAndWeights) {
  const NaiveCase& c = GetParam();
  MiniMindConfig config = SmallConfig(c.heads, c.kv_heads);
  config.qk_norm = c.qk_norm;
  NaiveAttentionSpec spec = RandomSpec(config, 2, 5, 11);
  spec.start_pos = c.start_pos;
  AttentionOptions options;
  options.start_pos = c.start_pos;
  options.return_weights = true;
  if (c.padded) {
    // Row 0: left padding, so query 0 sees no key (a fully masked row).
    // Row 1: a hole in the middle.
    spec.mask = {0, 0, 1, 1, 1, 1, 1, 0, 1, 1};
    options.attention_mask = F64(spec.mask, {2, 5});
  }
  const NaiveAttentionResult want = NaiveAttention(spec);
  const AttentionOutput got = ValueOrDie(AttentionForward(
      config, WeightsOf(spec), F64(spec.x, {2, 5, 16}), options));
  EXPECT_FALSE(got.fused);
  EXPECT_EQ(got.y.shape(), Shape({2, 5, 16}));
  ExpectClose(got.y.ToVector<double>(), want.y, 1e-12, "y");
  ExpectClose(got.weights.ToVector<double>(), want.weights, 1e-12, "weights");
}

INSTANTIATE_TEST_SUITE_P(
    Attention, MatchesNaiveTest,
    ::testing::Values(NaiveCase{"gqa_causal", 4, 2, 0, false, false},
                      NaiveCase{"mha_causal", 4, 4, 0, false, false},
                      NaiveCase{"mqa_causal", 4, 1, 0, false, false},
                      NaiveCase{"gqa_padded", 4, 2, 0, true, false},
                      NaiveCase{"gqa_start_pos_7", 4, 2, 7, false, false},
                      NaiveCase{"mqa_padded_start_pos_3", 4, 1, 3, true, false},
                      NaiveCase{"gqa_qk_norm_start_pos_2", 4, 2, 2, false,
                                true}),
    [](const ::testing::TestParamInfo<NaiveCase>& info) {
      return info.param.name;
    });

TEST(AttentionTest, Float32MatchesNaiveToSinglePrecision) {
  const MiniMindConfig config = SmallConfig(4, 2);
  NaiveAttentionSpec spec = RandomSpec(config, 2, 6, 5);
  spec.start_pos = 100;
  AttentionWeights w = WeightsOf(spec);
  for (Tensor* t : {&w.q_proj, &w.k_proj, &w.v_proj, &w.o_proj}) {
    *t = ConvertDType(*t, DType::kFloat32);
  }
  AttentionOptions options;
  options.start_pos = 100;
  const AttentionOutput got = ValueOrDie(AttentionForward(
      config, w, ConvertDType(F64(spec.x, {2, 6, 16}), DType::kFloat32),
      options));
  EXPECT_EQ(got.y.dtype(), DType::kFloat32);
  ExpectClose(got.y.ToVector<double>(), NaiveAttention(spec).y, 2e-5, "y");
}

TEST(AttentionTest, FullyMaskedRowGivesZeroWeightsAndFiniteGradients) {
  const MiniMindConfig config = SmallConfig(4, 2);
  NaiveAttentionSpec spec = RandomSpec(config, 1, 3, 3);
  AttentionWeights w = WeightsOf(spec);
  w.q_proj.set_requires_grad(true);
  AttentionOptions options;
  // int64, as tokenizers return masks.
  options.attention_mask = Tensor::FromData<int64_t>({0, 1, 1}, {1, 3});
  options.return_weights = true;
  const AttentionOutput got =
      ValueOrDie(AttentionForward(config, w, F64(spec.x, {1, 3, 16}), options));
  // Query 0 sees only key 0, which is padding.
  for (int64_t h = 0; h < 4; ++h) {
    for (int64_t j = 0; j < 3; ++j) {
      EXPECT_EQ(got.weights.At<double>({0, h, 0, j}), 0.0);
    }
  }
  for (int64_t c = 0; c < 16; ++c) EXPECT_EQ(got.y.At<double>({0, 0, c}), 0.0);
  MG_CHECK_OK(Sum(got.y).Backward());
  for (double g : w.q_proj.grad().ToVector<double>()) {
    EXPECT_TRUE(std::isfinite(g));
  }
}

// Decoding one token at a time through the cache gives what one causal pass
// over the whole sequence gives; so does a chunk of several tokens (the mask
// aligned to the last key).
TEST(AttentionTest, KVCacheDecodingMatchesOneCausalPass) {
  for (const auto& [heads, kv_heads] :
       std::vector<std::pair<int64_t, int64_t>>{{4, 2}, {4, 4}, {4, 1}}) {
    MiniMindConfig config = SmallConfig(heads, kv_heads);
    config.qk_norm = heads == 4 && kv_heads == 2;
    Generator gen(21);
    const Attention attention =
        ValueOrDie(Attention::Create(config, gen, DType::kFloat64));
    const Tensor x = Tensor::Randn({2, 7, 16}, gen, DType::kFloat64);
    const Tensor full = attention(x);

    KVCache cache;
    std::vector<Tensor> steps;
    for (int64_t t = 0; t < 7; ++t) {
      AttentionOptions options;
      options.cache = &cache;
      steps.push_back(
          ValueOrDie(attention.Forward(Slice(x, 1, t, t + 1), options)).y);
    }
    EXPECT_EQ(cache.length(), 7);
    EXPECT_EQ(cache.keys.shape(), Shape({2, 7, kv_heads, 4}));
    ExpectClose(Concat(steps, 1).ToVector<double>(), full.ToVector<double>(),
                1e-12, "token by token");

    KVCache chunked;
    std::vector<Tensor> chunks;
    for (const auto& [begin, end] :
         std::vector<std::pair<int64_t, int64_t>>{{0, 3}, {3, 4}, {4, 7}}) {
      AttentionOptions options;
      options.cache = &chunked;
      chunks.push_back(
          ValueOrDie(attention.Forward(Slice(x, 1, begin, end), options)).y);
    }
    ExpectClose(Concat(chunks, 1).ToVector<double>(), full.ToVector<double>(),
                1e-12, "in chunks");
  }
}

TEST(AttentionTest, CachedDecodingWithPaddingMatchesOnePass) {
  const MiniMindConfig config = SmallConfig(4, 2);
  Generator gen(8);
  const Attention attention =
      ValueOrDie(Attention::Create(config, gen, DType::kFloat64));
  const Tensor x = Tensor::Randn({2, 4, 16}, gen, DType::kFloat64);
  const Tensor mask = F64({0, 1, 1, 1, 1, 1, 0, 1}, {2, 4});
  AttentionOptions whole;
  whole.attention_mask = mask;
  const Tensor full = ValueOrDie(attention.Forward(x, whole)).y;
  KVCache cache;
  std::vector<Tensor> steps;
  for (int64_t t = 0; t < 4; ++t) {
    AttentionOptions step;
    step.cache = &cache;
    step.attention_mask = Slice(mask, 1, 0, t + 1);
    steps.push_back(
        ValueOrDie(attention.Forward(Slice(x, 1, t, t + 1), step)).y);
  }
  ExpectClose(Concat(steps, 1).ToVector<double>(), full.ToVector<double>(),
              1e-12, "padded decoding");
}

// The fused op serves the module when flash_attn is set and no padding mask
// is given; it must give the composed path's outputs and gradients, also
// when decoding through the cache (diagonal aligned to the last key).
TEST(AttentionTest, FusedPathMatchesComposedOutputsAndGradients) {
  for (const auto& [heads, kv_heads] :
       std::vector<std::pair<int64_t, int64_t>>{{4, 2}, {4, 4}, {4, 1}}) {
    for (DType dtype : {DType::kFloat64, DType::kFloat32}) {
      MiniMindConfig config = SmallConfig(heads, kv_heads);
      config.flash_attn = true;
      config.qk_norm = kv_heads == 1;
      Generator gen(31);
      const Attention attention =
          ValueOrDie(Attention::Create(config, gen, dtype));
      Tensor x = Tensor::Randn({2, 6, 16}, gen, dtype);
      x.set_requires_grad(true);
      const double tol = dtype == DType::kFloat64 ? 1e-12 : 2e-5;
      std::vector<std::vector<double>> outputs, grads;
      for (AttentionPath path :
           {AttentionPath::kAuto, AttentionPath::kComposed}) {
        AttentionOptions options;
        options.path = path;
        options.start_pos = 4;
        const AttentionOutput out = ValueOrDie(attention.Forward(x, options));
        EXPECT_EQ(out.fused, path == AttentionPath::kAuto);
        outputs.push_back(out.y.ToVector<double>());
        const std::vector<Tensor> params = {
            x, attention.weights().q_proj, attention.weights().k_proj,
            attention.weights().v_proj, attention.weights().o_proj};
        const std::vector<Tensor> g =
            ValueOrDie(Gradients({Sum(out.y * out.y)}, params));
        grads.emplace_back();
        for (const Tensor& t : g) {
          for (double e : t.ToVector<double>()) grads.back().push_back(e);
        }
      }
      ExpectClose(outputs[0], outputs[1], tol, "fused y");
      ExpectClose(grads[0], grads[1], tol * 10, "fused gradients");

      // Decoding through the cache on the fused path.
      KVCache cache;
      std::vector<Tensor> steps;
      for (const auto& [begin, end] :
           std::vector<std::pair<int64_t, int64_t>>{{0, 2}, {2, 3}, {3, 6}}) {
        AttentionOptions options;
        options.cache = &cache;
        options.path = AttentionPath::kFused;
        steps.push_back(
            ValueOrDie(attention.Forward(Slice(x, 1, begin, end), options)).y);
      }
      AttentionOptions composed;
      composed.path = AttentionPath::kComposed;
      ExpectClose(
          Concat(steps, 1).ToVector<double>(),
          ValueOrDie(attention.Forward(x, composed)).y.ToVector<double>(), tol,
          "fused decoding");
    }
  }
}

TEST(AttentionTest, AskingForTheFusedPathWhereItCannotServeIsAnError) {
  MiniMindConfig config = SmallConfig(4, 2);
  Generator gen(1);
  const Attention attention =
      ValueOrDie(Attention::Create(config, gen, DType::kFloat64));
  const Tensor x = Tensor::Randn({1, 3, 16}, gen, DType::kFloat64);
  AttentionOptions options;
  options.path = AttentionPath::kFused;
  options.attention_mask = Tensor::Ones({1, 3}, DType::kFloat64);
  absl::StatusOr<AttentionOutput> out = attention.Forward(x, options);
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(std::string(out.status().message()),
              HasSubstr("fused path was asked for but a padding mask is "
                        "given"));
  // kAuto with a mask takes the composed path even with flash_attn.
  config.flash_attn = true;
  options.path = AttentionPath::kAuto;
  const Attention flash =
      ValueOrDie(Attention::FromWeights(config, attention.weights()));
  EXPECT_FALSE(ValueOrDie(flash.Forward(x, options)).fused);
}

TEST(AttentionTest, DropoutOnlyInTrainingAndSeeded) {
  MiniMindConfig config = SmallConfig(4, 2);
  config.dropout = 0.5;
  Generator gen(4);
  const Attention attention =
      ValueOrDie(Attention::Create(config, gen, DType::kFloat64));
  const Tensor x = Tensor::Randn({1, 6, 16}, gen, DType::kFloat64);
  const std::vector<double> eval = attention(x).ToVector<double>();
  AttentionOptions train;
  train.training = true;
  train.dropout_seed = 77;
  const std::vector<double> a =
      ValueOrDie(attention.Forward(x, train)).y.ToVector<double>();
  const std::vector<double> b =
      ValueOrDie(attention.Forward(x, train)).y.ToVector<double>();
  train.dropout_seed = 78;
  const std::vector<double> c =
      ValueOrDie(attention.Forward(x, train)).y.ToVector<double>();
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_NE(a, eval);
  // About half of the outputs are dropped (zero); the rest are nonzero.
  int zeros = 0;
  for (double e : a) zeros += e == 0.0;
  EXPECT_GT(zeros, 20);
  EXPECT_LT(zeros, 76);

  // The output dropout is the one of seed + 1: its mask, read off a tensor
  // of ones, zeroes exactly those outputs. Were the attention weights not
  // dropped too, every kept output would be the eval output / (1 - p).
  train.dropout_seed = 77;
  const std::vector<double> output_mask =
      Dropout(Tensor::Ones({1, 6, 16}, DType::kFloat64), 0.5, 78)
          .ToVector<double>();
  ASSERT_EQ(output_mask.size(), a.size());
  double largest_weight_dropout_effect = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (output_mask[i] == 0.0) {
      EXPECT_EQ(a[i], 0.0) << "output " << i;
    } else {
      EXPECT_EQ(output_mask[i], 2.0);
      largest_weight_dropout_effect =
          std::max(largest_weight_dropout_effect, std::abs(a[i] - 2.0 * eval[i]));
    }
  }
  EXPECT_GT(largest_weight_dropout_effect, 1e-3);
}

TEST(AttentionTest, LoadsWithAPrefixAndNamesMissingOrMisshapedTensors) {
  const MiniMindConfig config = SmallConfig(4, 2);
  const NaiveAttentionSpec spec = RandomSpec(config, 1, 4, 2);
  const AttentionWeights w = WeightsOf(spec);
  const std::string prefix = "model.layers.3.self_attn.";
  SafetensorsFile file;
  file.tensors[prefix + "q_proj.weight"] = w.q_proj;
  file.tensors[prefix + "k_proj.weight"] = w.k_proj;
  file.tensors[prefix + "v_proj.weight"] = w.v_proj;
  file.tensors[prefix + "o_proj.weight"] = w.o_proj;
  file.tensors["model.layers.2.self_attn.q_proj.weight"] = w.k_proj;

  const Attention loaded = ValueOrDie(Attention::Load(
      config, file, prefix, "ckpt.safetensors", DType::kFloat64));
  EXPECT_EQ(loaded.NamedParameters()[0].second.name(),
            prefix + "q_proj.weight");
  EXPECT_TRUE(loaded.weights().q_proj.requires_grad());
  ExpectClose(loaded(F64(spec.x, {1, 4, 16})).ToVector<double>(),
              NaiveAttention(spec).y, 1e-12, "loaded");

  absl::StatusOr<Attention> missing = Attention::Load(
      config, file, "model.layers.2.self_attn.", "ckpt.safetensors");
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(std::string(missing.status().message()),
              HasSubstr("ckpt.safetensors"));
  // q_proj is present there but has k_proj's shape.
  EXPECT_THAT(std::string(missing.status().message()),
              HasSubstr("'model.layers.2.self_attn.q_proj.weight' is "
                        "float64[8, 16], expected"));

  file.tensors.erase(prefix + "v_proj.weight");
  absl::StatusOr<Attention> no_v =
      Attention::Load(config, file, prefix, "ckpt.safetensors");
  ASSERT_FALSE(no_v.ok());
  EXPECT_THAT(std::string(no_v.status().message()),
              HasSubstr("ckpt.safetensors: tensor "
                        "'model.layers.3.self_attn.v_proj.weight' not found"));

  MiniMindConfig with_norm = config;
  with_norm.qk_norm = true;
  file.tensors[prefix + "v_proj.weight"] = w.v_proj;
  absl::StatusOr<Attention> no_norm =
      Attention::Load(with_norm, file, prefix, "ckpt.safetensors");
  ASSERT_FALSE(no_norm.ok());
  EXPECT_THAT(std::string(no_norm.status().message()),
              HasSubstr("q_norm.weight' not found"));
}

TEST(AttentionTest, ConfigValidationNamesTheField) {
  EXPECT_TRUE(ValidateConfig(MiniMindConfig()).ok());
  EXPECT_EQ(MiniMindConfig().HeadDim(), 64);
  EXPECT_EQ(MiniMindConfig().NumRep(), 4);
  struct Bad {
    void (*edit)(MiniMindConfig&);
    const char* message;
  };
  const Bad cases[] = {
      {[](MiniMindConfig& c) { c.num_key_value_heads = 3; },
       "num_attention_heads (8) must be a multiple of num_key_value_heads "
       "(3)"},
      {[](MiniMindConfig& c) { c.hidden_size = 500; },
       "hidden_size (500) must be a multiple of num_attention_heads (8)"},
      {[](MiniMindConfig& c) { c.hidden_size = 40; }, "head_dim must be even"},
      {[](MiniMindConfig& c) { c.num_attention_heads = 0; },
       "num_attention_heads must be > 0"},
      {[](MiniMindConfig& c) { c.dropout = 1.0; }, "dropout must be in"},
      {[](MiniMindConfig& c) { c.rope_theta = -1.0; }, "rope_theta"},
  };
  for (const Bad& bad : cases) {
    MiniMindConfig config;
    bad.edit(config);
    const absl::Status status = ValidateConfig(config);
    EXPECT_THAT(std::string(status.message()), HasSubstr(bad.message));
    Generator gen(0);
    EXPECT_FALSE(Attention::Create(config, gen).ok());
  }
}

TEST(AttentionTest, BadInputsGiveStatusErrors) {
  const MiniMindConfig config = SmallConfig(4, 2);
  const NaiveAttentionSpec spec = RandomSpec(config, 2, 3, 1);
  const AttentionWeights w = WeightsOf(spec);
  const Tensor x = F64(spec.x, {2, 3, 16});
  auto message = [&](const Tensor& input, const AttentionOptions& options) {
    absl::StatusOr<AttentionOutput> out =
        AttentionForward(config, w, input, options);
    return out.ok() ? std::string("ok") : std::string(out.status().message());
  };
  EXPECT_THAT(message(Tensor::Zeros({2, 3, 15}, DType::kFloat64), {}),
              HasSubstr("x must be float64[B, T, 16], got float64[2, 3, 15]"));
  EXPECT_THAT(message(ConvertDType(x, DType::kFloat32), {}),
              HasSubstr("x must be float64"));
  AttentionOptions bad_mask;
  bad_mask.attention_mask = Tensor::Ones({2, 4}, DType::kFloat64);
  EXPECT_THAT(message(x, bad_mask),
              HasSubstr("attention_mask must be [B, T_k] = [2, 3]"));
  AttentionOptions additive;
  additive.attention_mask = F64({0, 0, 0, 0, -1e9, 0}, {2, 3});
  EXPECT_THAT(message(x, additive),
              HasSubstr("only 1 (attend) and 0 (padding); entry [1, 1]"));
  AttentionOptions far;
  far.start_pos = 32767;
  EXPECT_THAT(message(x, far), HasSubstr("positions 32767 to 32769"));
  KVCache cache{Tensor::Zeros({2, 4, 4, 4}, DType::kFloat64),
                Tensor::Zeros({2, 4, 4, 4}, DType::kFloat64)};
  AttentionOptions cached;
  cached.cache = &cache;
  EXPECT_THAT(message(x, cached), HasSubstr("KV cache keys must be"));
  AttentionWeights short_o = w;
  short_o.o_proj = Tensor::Zeros({16, 8}, DType::kFloat64);
  absl::StatusOr<AttentionOutput> out = AttentionForward(config, short_o, x);
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(std::string(out.status().message()),
              HasSubstr("o_proj.weight is float64[16, 8], expected "
                        "float64[16, 16]"));
}

TEST(AttentionTest, RegisteredModelBuildsFromSettings) {
  const ModelEntry* entry = FindModel("attention");
  ASSERT_NE(entry, nullptr);
  ModelOptions options;
  options.batch = 2;
  options.seq = 3;
  options.dtype = DType::kFloat64;
  options.settings = {{"hidden", "32"},
                      {"heads", "4"},
                      {"kv_heads", "1"},
                      {"qk_norm", "true"},
                      {"flash", "false"}};
  const ModelInstance model = ValueOrDie(entry->build(options));
  EXPECT_EQ(model.input_dims[0], std::vector<std::string>({"B", "T", "32"}));
  EXPECT_EQ(model.parameter_names,
            std::vector<std::string>({"q_proj.weight", "k_proj.weight",
                                      "v_proj.weight", "o_proj.weight",
                                      "q_norm.weight", "k_norm.weight"}));
  EXPECT_EQ(model.parameters[1].shape(), Shape({8, 32}));
  const std::vector<Tensor> y = model.forward(model.inputs);
  EXPECT_EQ(y[0].shape(), Shape({2, 3, 32}));
  options.settings = {{"heads", "3"}};
  EXPECT_FALSE(entry->build(options).ok());
  options.settings = {{"layers", "3"}};
  EXPECT_THAT(std::string(entry->build(options).status().message()),
              HasSubstr("unknown setting 'layers'"));
}

}  // namespace
}  // namespace minigraph
