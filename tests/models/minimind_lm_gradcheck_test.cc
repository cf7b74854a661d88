// Gradient checks of the whole MiniMind causal LM in float64: the gradient
// of the shifted cross-entropy loss with respect to every parameter tensor,
// by autograd through the composed ops, against central finite differences.
// Both layouts (2025; 2026 with qk_norm), tied and untied embeddings, a
// padding mask, -100 labels, and training-mode dropout. Prints one table row
// per case.
#include <cstdio>
#include <ostream>
#include <string>
#include <vector>

#include "framework/gradcheck.h"
#include "framework/random.h"
#include "gtest/gtest.h"
#include "models/minimind_lm.h"
#include "ops/all_ops.h"

namespace minigraph {
namespace {

struct LMGradCase {
  std::string name;
  bool qk_norm = false;
  bool tied = true;
  bool padded = false;
  double dropout = 0.0;  // with training on
  bool flash = false;
};

void PrintTo(const LMGradCase& c, std::ostream* os) { *os << c.name; }

MiniMindConfig TinyConfig(const LMGradCase& c) {
  MiniMindConfig config;
  config.hidden_size = 8;
  config.num_hidden_layers = 2;
  config.num_attention_heads = 2;
  config.num_key_value_heads = 1;
  config.intermediate_size = 12;
  config.vocab_size = 7;
  config.rope_theta = 100.0;  // visible rotations at small positions
  config.qk_norm = c.qk_norm;
  config.rms_norm_eps = c.qk_norm ? 1e-6 : 1e-5;
  config.tie_word_embeddings = c.tied;
  config.dropout = c.dropout;
  config.flash_attn = c.flash;
  return config;
}

class LMGradcheckTest : public ::testing::TestWithParam<LMGradCase> {};

TEST_P(LMGradcheckTest, LossGradientMatchesFiniteDifferences) {
  const LMGradCase& c = GetParam();
  const MiniMindConfig config = TinyConfig(c);
  Generator gen(7);
  const MiniMindForCausalLM created =
      ValueOrDie(MiniMindForCausalLM::Create(config, gen, DType::kFloat64));
  // The parameters as gradcheck inputs; norm weights moved away from 1 so
  // their gradients are not a special case.
  std::vector<std::string> names;
  std::vector<Tensor> inputs;
  for (const auto& [name, tensor] : created.NamedParameters()) {
    names.push_back(name);
    inputs.push_back(
        tensor.dim() == 1
            ? Tensor::Uniform(tensor.shape(), 0.5, 1.5, gen, DType::kFloat64)
            : tensor.Detach());
  }
  const Tensor ids =
      Tensor::FromData<int64_t>({1, 4, 6, 0, 3, 3, 2, 5}, {2, 4});
  LMOptions options;
  options.labels =
      Tensor::FromData<int64_t>({1, 4, 6, 0, 3, -100, 2, 5}, {2, 4});
  if (c.padded) {
    options.attention_mask =
        Tensor::FromData<int64_t>({0, 1, 1, 1, 1, 1, 0, 1}, {2, 4});
  }
  options.dropout_seed = 11;
  const DifferentiableFn loss_of = [&](const std::vector<Tensor>& in) {
    NamedTensors parameters;
    for (size_t i = 0; i < in.size(); ++i) {
      parameters.emplace_back(names[i], in[i]);
    }
    MiniMindForCausalLM lm =
        ValueOrDie(MiniMindForCausalLM::FromTensors(config, parameters));
    lm.SetTraining(c.dropout > 0.0);
    return std::vector<Tensor>{ValueOrDie(lm.Forward(ids, options)).loss};
  };
  const GradcheckReport report = ValueOrDie(Gradcheck(loss_of, inputs));
  double max_abs = 0.0, max_rel = 0.0;
  int64_t entries = 0;
  for (const InputGradReport& r : report.inputs) {
    max_abs = std::max(max_abs, r.max_abs_error);
    max_rel = std::max(max_rel, r.max_rel_error);
    entries += r.entries_compared;
  }
  std::printf("| %-24s | %3zu tensors | %6lld entries | %9.2e | %9.2e | %s |\n",
              c.name.c_str(), inputs.size(), static_cast<long long>(entries),
              max_abs, max_rel, report.passed ? "PASS" : "FAIL");
  EXPECT_TRUE(report.passed) << report.ToString();
  // Every parameter tensor, every entry: nothing skipped.
  ASSERT_EQ(report.inputs.size(), inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    EXPECT_EQ(report.inputs[i].entries_compared, inputs[i].numel()) << names[i];
  }
}

INSTANTIATE_TEST_SUITE_P(
    WholeModel, LMGradcheckTest,
    ::testing::Values(
        LMGradCase{"layout2025_tied", false, true},
        LMGradCase{"layout2025_untied_padded", false, false, true},
        LMGradCase{"layout2026_qk_norm_tied_flash", true, true, false, 0.0,
                   true},
        LMGradCase{"layout2026_qk_norm_untied", true, false},
        LMGradCase{"layout2025_tied_dropout", false, true, false, 0.2}),
    [](const ::testing::TestParamInfo<LMGradCase>& info) {
      return info.param.name;
    });

}  // namespace
}  // namespace minigraph
