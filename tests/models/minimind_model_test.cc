// The `minimind` entry of the model registry: what each preset builds
// (parameter counts worked out by hand), the settings and their errors, the
// registered forward against MiniMindForCausalLM called directly (bit for
// bit), its loss against a naive next-token cross-entropy, and the captured
// graph against the eager forward.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "framework/graph_executor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/minimind_config.h"
#include "models/minimind_lm.h"
#include "models/model_registry.h"
#include "tests/framework/graph_test_util.h"
#include "tools/minigraph/model_capture.h"

namespace minigraph {
namespace {

using ::minigraph::testing::BitDifference;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

absl::StatusOr<ModelInstance> Build(
    const std::map<std::string, std::string>& settings, int64_t batch = 2,
    int64_t seq = 6, DType dtype = DType::kFloat32, uint64_t seed = 5) {
  const ModelEntry* entry = FindModel("minimind");
  if (entry == nullptr) return absl::NotFoundError("minimind not registered");
  ModelOptions options;
  options.batch = batch;
  options.seq = seq;
  options.dtype = dtype;
  options.seed = seed;
  options.settings = settings;
  return entry->build(options);
}

int64_t CountElements(const ModelInstance& model) {
  int64_t total = 0;
  for (const Tensor& t : model.parameters) total += t.numel();
  return total;
}

Shape ShapeOf(const ModelInstance& model, const std::string& name) {
  for (size_t i = 0; i < model.parameter_names.size(); ++i) {
    if (model.parameter_names[i] == name) return model.parameters[i].shape();
  }
  return {};
}

bool HasParameter(const ModelInstance& model, const std::string& name) {
  for (const std::string& n : model.parameter_names) {
    if (n == name) return true;
  }
  return false;
}

TEST(MiniMindModelTest, TinyIsTheDefaultWithIdsLabelsAndCheckpointNames) {
  absl::StatusOr<ModelInstance> model = Build({});
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_THAT(model->input_names, ElementsAre("input_ids", "labels"));
  ASSERT_EQ(model->input_dims.size(), 2u);
  EXPECT_THAT(model->input_dims[0], ElementsAre("B", "T"));
  EXPECT_THAT(model->input_dims[1], ElementsAre("B", "T"));
  EXPECT_THAT(model->output_names, ElementsAre("logits", "loss"));
  const Tensor& ids = model->inputs[0];
  ASSERT_EQ(ids.dtype(), DType::kInt64);
  EXPECT_EQ(ids.shape(), (Shape{2, 6}));
  // HF-style labels: the ids themselves (the model shifts them).
  EXPECT_EQ(BitDifference(model->inputs[1], ids), "");
  std::vector<int64_t> values = ids.ToVector<int64_t>();
  for (int64_t id : values) {
    EXPECT_GE(id, 0);
    EXPECT_LT(id, 259);  // the tiny preset's byte-level vocabulary
  }
  // Random, not constant.
  EXPECT_NE(*std::min_element(values.begin(), values.end()),
            *std::max_element(values.begin(), values.end()));

  // tiny: hidden 128, 2 layers, 4 heads of 32 sharing 2 kv heads, SwiGLU
  // 384, vocab 259, tied. Embedding 259 * 128 = 33152; per layer q, o
  // 128 * 128 each, k, v 64 * 128 each, mlp 3 * 384 * 128, two norms of 128:
  // 196864; final norm 128. 33152 + 2 * 196864 + 128 = 427008.
  EXPECT_EQ(CountElements(*model), 427008);
  // embed, 2 * (q, k, v, o, gate, down, up, two norms), norm; no lm_head.
  ASSERT_EQ(model->parameters.size(), 1u + 2 * 9 + 1);
  EXPECT_EQ(model->parameter_names.front(), "model.embed_tokens.weight");
  EXPECT_EQ(model->parameter_names.back(), "model.norm.weight");
  EXPECT_FALSE(HasParameter(*model, "lm_head.weight"));
  EXPECT_EQ(ShapeOf(*model, "model.layers.1.self_attn.k_proj.weight"),
            (Shape{64, 128}));
  EXPECT_EQ(ShapeOf(*model, "model.layers.0.mlp.gate_proj.weight"),
            (Shape{384, 128}));

  // The same names, order and values as the LM made from the preset with
  // the same seed.
  Generator generator(5);
  absl::StatusOr<MiniMindForCausalLM> lm =
      MiniMindForCausalLM::Create(*PresetConfig("tiny"), generator);
  ASSERT_TRUE(lm.ok()) << lm.status();
  const NamedTensors named = lm->NamedParameters();
  ASSERT_EQ(named.size(), model->parameters.size());
  for (size_t i = 0; i < named.size(); ++i) {
    EXPECT_EQ(model->parameter_names[i], named[i].first);
    EXPECT_EQ(BitDifference(model->parameters[i], named[i].second), "")
        << named[i].first;
    EXPECT_TRUE(model->parameters[i].requires_grad());
  }
}

TEST(MiniMindModelTest, Minimind2SmallHasItsParameterCount) {
  absl::StatusOr<ModelInstance> model = Build({{"preset", "minimind2-small"}});
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(CountElements(*model), 25829888);
  ASSERT_EQ(model->parameters.size(), 1u + 8 * 9 + 1);
  EXPECT_EQ(ShapeOf(*model, "model.embed_tokens.weight"), (Shape{6400, 512}));
  EXPECT_EQ(ShapeOf(*model, "model.layers.7.self_attn.v_proj.weight"),
            (Shape{128, 512}));
  EXPECT_EQ(ShapeOf(*model, "model.layers.0.mlp.down_proj.weight"),
            (Shape{512, 1408}));
  EXPECT_FALSE(HasParameter(*model, "lm_head.weight"));
}

TEST(MiniMindModelTest, Minimind3HasQkNormAndItsParameterCount) {
  absl::StatusOr<ModelInstance> model = Build({{"preset", "minimind3"}});
  ASSERT_TRUE(model.ok()) << model.status();
  // hidden 768, 8 heads of 96 (4 kv heads), SwiGLU ceil(768 pi / 64) * 64 =
  // 2432, vocab 6400, q/k norms of 96. Embedding 4915200; per layer q, o
  // 768 * 768 each, k, v 384 * 768 each, mlp 3 * 2432 * 768, norms
  // 2 * 96 + 2 * 768: 7374528; final norm 768.
  // 4915200 + 8 * 7374528 + 768 = 63912192.
  EXPECT_EQ(CountElements(*model), 63912192);
  EXPECT_EQ(ShapeOf(*model, "model.layers.3.self_attn.q_norm.weight"),
            (Shape{96}));
  EXPECT_EQ(ShapeOf(*model, "model.layers.0.mlp.up_proj.weight"),
            (Shape{2432, 768}));
}

TEST(MiniMindModelTest, SettingsOverrideThePreset) {
  absl::StatusOr<ModelInstance> model = Build({{"layers", "1"},
                                               {"hidden", "64"},
                                               {"heads", "2"},
                                               {"kv_heads", "1"},
                                               {"vocab", "50"},
                                               {"tie", "false"},
                                               {"qk_norm", "true"}});
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(model->parameter_names.back(), "lm_head.weight");
  EXPECT_EQ(ShapeOf(*model, "lm_head.weight"), (Shape{50, 64}));
  EXPECT_EQ(ShapeOf(*model, "model.embed_tokens.weight"), (Shape{50, 64}));
  EXPECT_EQ(ShapeOf(*model, "model.layers.0.self_attn.k_proj.weight"),
            (Shape{32, 64}));
  EXPECT_EQ(ShapeOf(*model, "model.layers.0.self_attn.k_norm.weight"),
            (Shape{32}));
  EXPECT_FALSE(HasParameter(*model, "model.layers.1.mlp.up_proj.weight"));
  // A new hidden without intermediate takes the 2025 rule:
  // 64 * ceil(int(64 * 8 / 3) / 64) = 64 * ceil(170 / 64) = 192.
  EXPECT_EQ(ShapeOf(*model, "model.layers.0.mlp.gate_proj.weight"),
            (Shape{192, 64}));
  for (int64_t id : model->inputs[0].ToVector<int64_t>()) EXPECT_LT(id, 50);

  absl::StatusOr<ModelInstance> fixed =
      Build({{"hidden", "64"}, {"intermediate", "100"}, {"head_dim", "8"}});
  ASSERT_TRUE(fixed.ok()) << fixed.status();
  EXPECT_EQ(ShapeOf(*fixed, "model.layers.0.mlp.gate_proj.weight"),
            (Shape{100, 64}));
  // 4 heads of 8 (not the derived 64 / 4 = 16).
  EXPECT_EQ(ShapeOf(*fixed, "model.layers.0.self_attn.q_proj.weight"),
            (Shape{32, 64}));
  EXPECT_EQ(ShapeOf(*fixed, "model.layers.0.self_attn.o_proj.weight"),
            (Shape{64, 32}));

  // minimind3 keeps its own (2026) rule: ceil(384 pi / 64) * 64 = 19 * 64.
  absl::StatusOr<ModelInstance> m3 =
      Build({{"preset", "minimind3"}, {"hidden", "384"}, {"layers", "1"}});
  ASSERT_TRUE(m3.ok()) << m3.status();
  EXPECT_EQ(ShapeOf(*m3, "model.layers.0.mlp.gate_proj.weight"),
            (Shape{1216, 384}));
}

TEST(MiniMindModelTest, BadSettingsNameTheSettingAndWhatWasExpected) {
  struct Case {
    std::map<std::string, std::string> settings;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{{"heads", "0"}},
       "model minimind: setting heads=0 is not valid (expected a positive "
       "integer)"},
      {{{"layers", "two"}}, "setting layers=two is not valid"},
      {{{"head_dim", "-2"}}, "setting head_dim=-2 is not valid"},
      {{{"tie", "maybe"}},
       "setting tie=maybe is not valid (expected true or false)"},
      {{{"flash", "yes"}}, "setting flash=yes is not valid"},
      {{{"rope_theta", "-1"}},
       "setting rope_theta=-1 is not valid (expected a positive number)"},
      {{{"dropout", "1"}},
       "setting dropout=1 is not valid (expected a probability in [0, 1))"},
      {{{"preset", "huge"}},
       "setting preset=huge is not valid (expected one of minimind2-small, "
       "minimind3, tiny)"},
      {{{"frobnicate", "1"}},
       "model minimind: unknown setting 'frobnicate' (known: preset, layers, "
       "hidden, heads, kv_heads, head_dim, intermediate, vocab, tie, flash, "
       "qk_norm, rope_theta, dropout)"},
      // Valid numbers that make no model: the config's own check.
      {{{"heads", "3"}}, "model minimind: the settings give an invalid model"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<ModelInstance> model = Build(c.settings);
    ASSERT_FALSE(model.ok()) << c.message;
    EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(model.status().message()), HasSubstr(c.message));
  }
  absl::StatusOr<ModelInstance> one = Build({}, /*batch=*/1, /*seq=*/1);
  ASSERT_FALSE(one.ok());
  EXPECT_THAT(std::string(one.status().message()),
              HasSubstr("seq (1) in [2, 1024]"));
  EXPECT_FALSE(Build({}, 1, 1025).ok());
  EXPECT_FALSE(Build({}, 0, 4).ok());
}

// Mean over b and t < T - 1 of logsumexp(logits[b, t]) - logits[b, t,
// labels[b, t + 1]], in double from the logits' values.
double NaiveNextTokenLoss(const Tensor& logits, const Tensor& labels) {
  const int64_t batch = logits.size(0), seq = logits.size(1),
                vocab = logits.size(2);
  const std::vector<double> l = logits.ToVector<double>();
  const std::vector<int64_t> y = labels.ToVector<int64_t>();
  double total = 0.0;
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t t = 0; t + 1 < seq; ++t) {
      const double* row = &l[(b * seq + t) * vocab];
      double max = row[0];
      for (int64_t v = 1; v < vocab; ++v) max = std::max(max, row[v]);
      double sum = 0.0;
      for (int64_t v = 0; v < vocab; ++v) sum += std::exp(row[v] - max);
      total += max + std::log(sum) - row[y[b * seq + t + 1]];
    }
  }
  return total / static_cast<double>(batch * (seq - 1));
}

TEST(MiniMindModelTest, ForwardIsTheLanguageModelsBitForBit) {
  for (DType dtype : {DType::kFloat32, DType::kFloat64}) {
    SCOPED_TRACE(DTypeName(dtype));
    absl::StatusOr<ModelInstance> model = Build({}, 2, 6, dtype, 11);
    ASSERT_TRUE(model.ok()) << model.status();
    const std::vector<Tensor> out = model->forward(model->inputs);
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0].dtype(), dtype);
    EXPECT_EQ(out[0].shape(), (Shape{2, 6, 259}));
    EXPECT_EQ(out[1].dtype(), dtype);
    EXPECT_EQ(out[1].dim(), 0);
    for (const Tensor& p : model->parameters) EXPECT_EQ(p.dtype(), dtype);

    Generator generator(11);
    absl::StatusOr<MiniMindForCausalLM> lm =
        MiniMindForCausalLM::Create(*PresetConfig("tiny"), generator, dtype);
    ASSERT_TRUE(lm.ok()) << lm.status();
    LMOptions options;
    options.labels = model->inputs[1];
    absl::StatusOr<LMOutput> direct = lm->Forward(model->inputs[0], options);
    ASSERT_TRUE(direct.ok()) << direct.status();
    EXPECT_EQ(BitDifference(out[0], direct->logits), "");
    EXPECT_EQ(BitDifference(out[1], direct->loss), "");

    // The labels are scored as next tokens: position t against t + 1.
    const double naive = NaiveNextTokenLoss(out[0], model->inputs[1]);
    EXPECT_NEAR(out[1].ToVector<double>()[0], naive,
                dtype == DType::kFloat64 ? 1e-12 : 1e-5);
  }
}

TEST(MiniMindModelTest, DropoutRunsInTrainingModeDeterministically) {
  absl::StatusOr<ModelInstance> plain = Build({}, 1, 5);
  absl::StatusOr<ModelInstance> dropped = Build({{"dropout", "0.3"}}, 1, 5);
  ASSERT_TRUE(plain.ok()) << plain.status();
  ASSERT_TRUE(dropped.ok()) << dropped.status();
  const std::vector<Tensor> a = plain->forward(plain->inputs);
  const std::vector<Tensor> b = dropped->forward(dropped->inputs);
  const std::vector<Tensor> again = dropped->forward(dropped->inputs);
  // Same parameters and ids (dropout draws nothing from the generator).
  EXPECT_EQ(BitDifference(plain->inputs[0], dropped->inputs[0]), "");
  EXPECT_NE(BitDifference(a[0], b[0]), "");
  EXPECT_EQ(BitDifference(b[0], again[0]), "");
  EXPECT_EQ(BitDifference(b[1], again[1]), "");
}

TEST(MiniMindModelTest, CapturedGraphRunsToTheEagerBits) {
  for (const std::string flash : {"true", "false"}) {
    SCOPED_TRACE(flash);
    ModelOptions options;
    options.batch = 2;
    options.seq = 5;
    options.seed = 4;
    options.settings = {{"flash", flash}};
    absl::StatusOr<cli::CapturedModel> captured =
        cli::CaptureModel("minimind", options);
    ASSERT_TRUE(captured.ok()) << captured.status();
    const Graph& graph = captured->graph;
    ASSERT_EQ(graph.inputs.size(), 2u);
    EXPECT_EQ(graph.inputs[0].name, "input_ids");
    EXPECT_EQ(graph.inputs[0].type.ToString(), "int64[B, T]");
    EXPECT_EQ(graph.inputs[1].name, "labels");
    ASSERT_EQ(graph.outputs.size(), 2u);
    EXPECT_EQ(graph.outputs[0].name, "logits");
    EXPECT_EQ(graph.outputs[1].name, "loss");
    EXPECT_EQ(graph.parameters.size(), captured->instance.parameters.size());

    absl::StatusOr<std::vector<Tensor>> run =
        ExecuteGraph(graph, captured->feeds);
    ASSERT_TRUE(run.ok()) << run.status();
    ASSERT_EQ(run->size(), 2u);
    EXPECT_EQ(BitDifference((*run)[0], captured->eager_outputs[0]), "");
    EXPECT_EQ(BitDifference((*run)[1], captured->eager_outputs[1]), "");
    // And the eager outputs are the registered forward's.
    const std::vector<Tensor> eager =
        captured->instance.forward(captured->instance.inputs);
    EXPECT_EQ(BitDifference(eager[0], captured->eager_outputs[0]), "");
  }
}

}  // namespace
}  // namespace minigraph
