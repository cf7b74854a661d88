// Module: state dicts (the tensors themselves, by name), loading in place
// with dtype conversion and strict/non-strict checks that write nothing on
// failure, and train/eval reaching every held module.
#include "models/module.h"

#include <string>
#include <vector>

#include "framework/random.h"
#include "framework/safetensors.h"
#include "framework/tensor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/attention.h"
#include "models/minimind_lm.h"
#include "ops/all_ops.h"

namespace minigraph {
namespace {

using ::testing::HasSubstr;

// Two projections, as a model script would hold them.
struct TwoLayers : public Module {
  Linear first, second;

  TwoLayers() {
    first.weight = Tensor::Zeros({2, 3}, DType::kFloat32);
    second.weight = Tensor::Zeros({4, 2}, DType::kFloat32);
    first.weight.set_requires_grad(true);
    second.weight.set_requires_grad(true);
  }
  NamedTensors NamedParameters() const override {
    NamedTensors named = WithPrefix("first.", first.NamedParameters());
    for (auto& entry : WithPrefix("second.", second.NamedParameters())) {
      named.push_back(entry);
    }
    return named;
  }

 protected:
  std::vector<Module*> Children() override { return {&first, &second}; }
};

SafetensorsFile Float64State() {
  SafetensorsFile state;
  state.tensors["first.weight"] =
      Tensor::FromData<double>({1, 2, 3, 4, 5, 6.5}, {2, 3});
  // A transposed (non-contiguous) view: values in its logical order.
  state.tensors["second.weight"] = Transpose(
      Tensor::FromData<double>({1, 2, 3, 4, 5, 6, 7, 8.25}, {2, 4}), 0, 1);
  return state;
}

std::string Message(const absl::Status& status) {
  return status.ok() ? "ok" : std::string(status.message());
}

TEST(ModuleTest, StateDictHoldsTheParametersThemselves) {
  const TwoLayers module;
  const SafetensorsFile state = StateDict(module);
  ASSERT_EQ(state.tensors.size(), 2u);
  EXPECT_EQ(state.tensors.at("first.weight").impl(),
            module.first.weight.impl());
  EXPECT_EQ(state.tensors.at("second.weight").impl(),
            module.second.weight.impl());
}

TEST(ModuleTest, LoadsInPlaceConvertingTheDType) {
  TwoLayers module;
  const Tensor before = module.first.weight;
  const void* storage = module.first.weight.storage()->data();
  ASSERT_TRUE(LoadStateDict(module, Float64State(), "w.safetensors").ok());
  EXPECT_EQ(module.first.weight.impl(), before.impl());
  EXPECT_EQ(module.first.weight.storage()->data(), storage);
  EXPECT_EQ(module.first.weight.dtype(), DType::kFloat32);
  EXPECT_TRUE(module.first.weight.requires_grad());
  EXPECT_TRUE(module.first.weight.is_leaf());
  EXPECT_EQ(module.first.weight.ToVector<float>(),
            std::vector<float>({1, 2, 3, 4, 5, 6.5f}));
  EXPECT_EQ(module.second.weight.ToVector<float>(),
            std::vector<float>({1, 5, 2, 6, 3, 7, 4, 8.25f}));

  // Through the file format and back into a fresh module.
  const SafetensorsFile parsed = ValueOrDie(ParseSafetensors(
      ValueOrDie(SerializeSafetensors(StateDict(module))), "bytes"));
  TwoLayers copy;
  ASSERT_TRUE(LoadStateDict(copy, parsed, "bytes").ok());
  EXPECT_EQ(copy.second.weight.ToVector<float>(),
            module.second.weight.ToVector<float>());
}

TEST(ModuleTest, StrictChecksWriteNothingOnFailure) {
  TwoLayers module;
  SafetensorsFile missing = Float64State();
  missing.tensors.erase("second.weight");
  EXPECT_EQ(Message(LoadStateDict(module, missing, "w.safetensors")),
            "w.safetensors: tensor 'second.weight' not found (expected "
            "[4, 2])");
  // first.weight was fine but is not written: the load failed as a whole.
  EXPECT_EQ(module.first.weight.ToVector<float>(), std::vector<float>(6, 0.0f));
  // Not strict: what is there is loaded.
  ASSERT_TRUE(LoadStateDict(module, missing, "w.safetensors", false).ok());
  EXPECT_EQ(module.first.weight.ToVector<float>()[5], 6.5f);

  TwoLayers fresh;
  SafetensorsFile misshaped = Float64State();
  misshaped.tensors["first.weight"] = Tensor::Zeros({3, 2}, DType::kFloat64);
  for (bool strict : {true, false}) {
    EXPECT_EQ(
        Message(LoadStateDict(fresh, misshaped, "w.safetensors", strict)),
        "w.safetensors: tensor 'first.weight' is float64[3, 2], expected a "
        "float tensor of shape [2, 3]");
  }
  SafetensorsFile ints = Float64State();
  ints.tensors["second.weight"] =
      Tensor::FromData<int64_t>({1, 2, 3, 4, 5, 6, 7, 8}, {4, 2});
  EXPECT_THAT(Message(LoadStateDict(fresh, ints, "w.safetensors")),
              HasSubstr("'second.weight' is int64[4, 2], expected a float "
                        "tensor"));
  SafetensorsFile extra = Float64State();
  extra.tensors["third.weight"] = Tensor::Zeros({1}, DType::kFloat32);
  EXPECT_EQ(Message(LoadStateDict(fresh, extra, "w.safetensors")),
            "w.safetensors: unexpected tensor(s) the model has no parameter "
            "for: third.weight");
  EXPECT_EQ(fresh.second.weight.ToVector<float>(), std::vector<float>(8, 0.0f));
  EXPECT_TRUE(LoadStateDict(fresh, extra, "w.safetensors", false).ok());
}

TEST(ModuleTest, SetTrainingReachesHeldModules) {
  TwoLayers module;
  EXPECT_FALSE(module.training());
  module.SetTraining(true);
  EXPECT_TRUE(module.training());
  EXPECT_TRUE(module.first.training());
  EXPECT_TRUE(module.second.training());
  module.SetTraining(false);
  EXPECT_FALSE(module.second.training());
}

TEST(ModuleTest, AttentionIsAModule) {
  MiniMindConfig config;
  config.hidden_size = 16;
  config.num_attention_heads = 4;
  config.num_key_value_heads = 2;
  config.qk_norm = true;
  Generator gen(0);
  const Attention attention = ValueOrDie(Attention::Create(config, gen));
  const Module& module = attention;
  std::vector<std::string> names;
  for (const auto& entry : module.NamedParameters())
    names.push_back(entry.first);
  EXPECT_EQ(names, AttentionParameterNames(true));
  const SafetensorsFile state = StateDict(module);
  EXPECT_EQ(state.tensors.at("k_norm.weight").impl(),
            attention.weights().k_norm.impl());
  Attention other = ValueOrDie(Attention::Create(config, gen));
  ASSERT_TRUE(LoadStateDict(other, state, "attention").ok());
  EXPECT_EQ(other.weights().o_proj.ToVector<float>(),
            attention.weights().o_proj.ToVector<float>());
}

}  // namespace
}  // namespace minigraph
