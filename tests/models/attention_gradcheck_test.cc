// Gradient checks of the whole attention module in float64: autograd through
// the composed ops (and through the fused op where it is built in) against
// central finite differences, first and second order, for MHA, GQA and MQA,
// with and without a padding mask, qk_norm, RoPE at a start position and
// training-mode dropout. Prints one table row per case.
#include <cstdio>
#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "framework/gradcheck.h"
#include "framework/random.h"
#include "gtest/gtest.h"
#include "models/attention.h"
#include "ops/all_ops.h"

namespace minigraph {
namespace {

struct GradCase {
  std::string name;
  int64_t heads = 4, kv_heads = 2;
  AttentionPath path = AttentionPath::kComposed;
  bool padded = false;
  bool qk_norm = false;
  int64_t start_pos = 0;
  double dropout = 0.0;  // with training on
  bool second_order = false;
  // Random projections u^T J v instead of every Jacobian entry.
  bool fast = false;
  int64_t batch = 2, seq = 5;
  // head_dim 4 with hidden 8: q_proj is [16, 8], wider than hidden, as an
  // explicit head_dim allows; small inputs keep the full Jacobian cheap.
  int64_t hidden = 8, head_dim = 4;
};

std::string PathName(AttentionPath path) {
  return path == AttentionPath::kFused ? "fused" : "composed";
}

// Inputs: x, q_proj, k_proj, v_proj, o_proj (and q_norm, k_norm).
std::vector<Tensor> MakeInputs(const MiniMindConfig& config,
                               const GradCase& c) {
  Generator gen(99);
  const Attention module =
      ValueOrDie(Attention::Create(config, gen, DType::kFloat64));
  std::vector<Tensor> inputs = {Tensor::Randn(
      {c.batch, c.seq, config.hidden_size}, gen, DType::kFloat64)};
  for (const auto& [name, tensor] : module.NamedParameters()) {
    // Norm weights away from 1 so their gradient is not a special case.
    inputs.push_back(
        tensor.dim() == 1
            ? Tensor::Uniform(tensor.shape(), 0.5, 1.5, gen, DType::kFloat64)
            : tensor.Detach());
  }
  return inputs;
}

DifferentiableFn MakeFn(const MiniMindConfig& config, const GradCase& c) {
  AttentionOptions options;
  options.path = c.path;
  options.start_pos = c.start_pos;
  options.training = c.dropout > 0.0;
  options.dropout_seed = 5;
  if (c.padded) {
    std::vector<double> mask(c.batch * c.seq, 1.0);
    mask[0] = 0.0;          // row 0: left padding (query 0 sees nothing)
    mask[c.seq + 2] = 0.0;  // row 1: a hole
    options.attention_mask = Tensor::FromData(mask, {c.batch, c.seq});
  }
  return [config, options](const std::vector<Tensor>& in) {
    AttentionWeights w;
    w.q_proj = in[1];
    w.k_proj = in[2];
    w.v_proj = in[3];
    w.o_proj = in[4];
    if (config.qk_norm) {
      w.q_norm = in[5];
      w.k_norm = in[6];
    }
    return std::vector<Tensor>{
        ValueOrDie(AttentionForward(config, w, in[0], options)).y};
  };
}

// gtest prints the case's name instead of its bytes.
void PrintTo(const GradCase& c, std::ostream* os) { *os << c.name; }

class AttentionGradcheckTest : public ::testing::TestWithParam<GradCase> {};

TEST_P(AttentionGradcheckTest, MatchesFiniteDifferences) {
  const GradCase& c = GetParam();
  MiniMindConfig config;
  config.hidden_size = c.hidden;
  config.head_dim = c.head_dim;
  config.num_attention_heads = c.heads;
  config.num_key_value_heads = c.kv_heads;
  config.rope_theta = 100.0;
  config.qk_norm = c.qk_norm;
  config.dropout = c.dropout;
  const std::vector<Tensor> inputs = MakeInputs(config, c);
  const DifferentiableFn fn = MakeFn(config, c);
  // The fused path must compute what the composed one does.
  if (c.path == AttentionPath::kFused) {
    GradCase composed = c;
    composed.path = AttentionPath::kComposed;
    const std::vector<double> a = fn(inputs)[0].ToVector<double>();
    const std::vector<double> b =
        MakeFn(config, composed)(inputs)[0].ToVector<double>();
    for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], 1e-12);
  }
  GradcheckOptions options;
  options.fast_mode = c.fast;
  const GradcheckReport report =
      c.second_order ? ValueOrDie(GradGradcheck(fn, inputs, options))
                     : ValueOrDie(Gradcheck(fn, inputs, options));
  double max_abs = 0.0, max_rel = 0.0;
  int64_t entries = 0;
  for (const InputGradReport& r : report.inputs) {
    max_abs = std::max(max_abs, r.max_abs_error);
    max_rel = std::max(max_rel, r.max_rel_error);
    entries += r.entries_compared;
  }
  std::printf("| %-28s | %-8s | %-3s | %-4s | %8lld | %9.2e | %9.2e | %s |\n",
              c.name.c_str(), PathName(c.path).c_str(),
              c.second_order ? "2nd" : "1st", c.fast ? "fast" : "full",
              static_cast<long long>(entries), max_abs, max_rel,
              report.passed ? "PASS" : "FAIL");
  EXPECT_TRUE(report.passed) << report.ToString();
  // Every input was compared (nothing silently skipped); the second-order
  // check also differentiates with respect to the output weights u.
  EXPECT_EQ(report.inputs.size(), inputs.size() + (c.second_order ? 1 : 0));
}

std::vector<GradCase> Cases() {
  const AttentionPath composed = AttentionPath::kComposed;
  const AttentionPath fused = AttentionPath::kFused;
  std::vector<GradCase> cases;
  // Every Jacobian entry: GQA with RoPE at an offset on both paths, the
  // padding mask (with a fully masked query), qk_norm.
  cases.push_back(
      {"composed_gqa_start_pos_9", 4, 2, composed, false, false, 9});
  cases.push_back({"fused_gqa_start_pos_9", 4, 2, fused, false, false, 9});
  cases.push_back({"composed_gqa_padded", 4, 2, composed, true});
  cases.push_back({"composed_gqa_qk_norm", 4, 2, composed, false, true, 2});
  // Random projections for the other layouts.
  for (AttentionPath path : {composed, fused}) {
    const std::string p = PathName(path);
    GradCase mha{p + "_mha_4q_4kv", 4, 4, path};
    GradCase mqa{p + "_mqa_4q_1kv", 4, 1, path};
    mha.fast = mqa.fast = true;
    cases.push_back(mha);
    cases.push_back(mqa);
  }
  GradCase fused_norm{"fused_gqa_qk_norm", 4, 2, fused, false, true, 5};
  GradCase mqa_padded{"composed_mqa_padded", 4, 1, composed, true};
  GradCase dropout{
      "composed_gqa_dropout_0.3", 4, 2, composed, false, false, 0, 0.3};
  for (GradCase* c : {&fused_norm, &mqa_padded, &dropout}) {
    c->fast = true;
    cases.push_back(*c);
  }
  // Second order: projections on the full module with mask and qk_norm,
  // every entry on a small MHA.
  GradCase second{"composed_gqa_padded_qk_norm", 4, 2, composed, true, true, 3};
  second.second_order = true;
  second.fast = true;
  second.seq = 4;
  cases.push_back(second);
  GradCase second_mha{"composed_mha", 2, 2, composed};
  second_mha.second_order = true;
  second_mha.batch = 1;
  second_mha.seq = 3;
  cases.push_back(second_mha);
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Module, AttentionGradcheckTest,
                         ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<GradCase>& info) {
                           std::string name = info.param.name;
                           for (char& ch : name) {
                             if (ch == '.') ch = '_';
                           }
                           return name + (info.param.second_order
                                              ? "_second_order"
                                              : "");
                         });

}  // namespace
}  // namespace minigraph
