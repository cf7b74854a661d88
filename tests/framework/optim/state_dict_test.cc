// StateDict / LoadStateDict: a run that saves after 3 steps through a
// safetensors file and resumes in a fresh optimizer continues bit for bit
// like a run of 6 steps; the saved names and metadata; every mismatch is an
// error naming the source and the tensor or key, and changes nothing.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "framework/optim/optim.h"
#include "framework/safetensors.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/framework/optim/optim_test_util.h"

namespace minigraph {
namespace {

using ::testing::HasSubstr;
using testing_util::RandomTensor;
using testing_util::SameBits;
using testing_util::SetGrad;

using MakeOptimizer = std::function<std::unique_ptr<Optimizer>(NamedTensors)>;

// Fresh parameters with the same starting values on every call.
NamedTensors MakeParams(DType dtype) {
  return {{"embed.weight", RandomTensor({11, 7}, -1, 1, 1, dtype)},
          {"norm.weight", RandomTensor({7}, -1, 1, 2, dtype)},
          {"head.bias", RandomTensor({3}, -1, 1, 3, dtype)}};
}

// Gives every parameter its grad of step t (the same on every call) and
// steps; head.bias gets no grad at step 2, so its own count falls behind.
void RunSteps(Optimizer& optimizer, int64_t first, int64_t last) {
  for (int64_t t = first; t <= last; ++t) {
    const NamedTensors& params = optimizer.parameters();
    for (size_t i = 0; i < params.size(); ++i) {
      if (t == 2 && params[i].first == "head.bias") continue;
      const Tensor& p = params[i].second;
      SetGrad(p, RandomTensor(p.shape(), -1, 1, 1000 * t + i, p.dtype()));
    }
    ASSERT_TRUE(optimizer.Step(1e-2 / static_cast<double>(t)).ok());
    optimizer.ZeroGrad();
  }
}

SafetensorsFile SaveAndRead(const Optimizer& optimizer) {
  absl::StatusOr<std::string> bytes =
      SerializeSafetensors(optimizer.StateDict());
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  absl::StatusOr<SafetensorsFile> file =
      ParseSafetensors(bytes.ok() ? *bytes : "", "optimizer.safetensors");
  EXPECT_TRUE(file.ok()) << file.status();
  return file.ok() ? *std::move(file) : SafetensorsFile();
}

// The parameters as a checkpoint would restore them: same bits, new
// tensors.
NamedTensors CopyParams(const NamedTensors& params) {
  NamedTensors copy;
  for (const auto& [name, p] : params) {
    copy.emplace_back(name, CopyToContiguous(p));
  }
  return copy;
}

void ExpectResumeIsBitIdentical(const MakeOptimizer& make, DType dtype) {
  std::unique_ptr<Optimizer> straight = make(MakeParams(dtype));
  RunSteps(*straight, 1, 6);

  std::unique_ptr<Optimizer> first_half = make(MakeParams(dtype));
  RunSteps(*first_half, 1, 3);
  const SafetensorsFile saved = SaveAndRead(*first_half);
  std::unique_ptr<Optimizer> resumed =
      make(CopyParams(first_half->parameters()));
  const absl::Status loaded =
      resumed->LoadStateDict(saved, "optimizer.safetensors");
  ASSERT_TRUE(loaded.ok()) << loaded;
  EXPECT_EQ(resumed->step_count(), 3);
  RunSteps(*resumed, 4, 6);

  EXPECT_EQ(resumed->step_count(), 6);
  for (size_t i = 0; i < straight->parameters().size(); ++i) {
    EXPECT_TRUE(SameBits(resumed->parameters()[i].second,
                         straight->parameters()[i].second))
        << straight->parameters()[i].first;
  }
  const SafetensorsFile a = straight->StateDict();
  const SafetensorsFile b = resumed->StateDict();
  EXPECT_EQ(a.metadata, b.metadata);
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (const auto& [name, tensor] : a.tensors) {
    ASSERT_EQ(b.tensors.count(name), 1u) << name;
    EXPECT_TRUE(SameBits(b.tensors.at(name), tensor)) << name;
  }
}

std::unique_ptr<Optimizer> AdamW(NamedTensors params) {
  AdamWOptions options;
  options.weight_decay = 0.1;
  return MakeAdamW(std::move(params), options);
}

std::unique_ptr<Optimizer> SgdNesterov(NamedTensors params) {
  SgdOptions options;
  options.momentum = 0.9;
  options.nesterov = true;
  options.weight_decay = 0.01;
  return MakeSgd(std::move(params), options);
}

TEST(StateDictTest, AdamWResumesBitIdentically) {
  ExpectResumeIsBitIdentical(AdamW, DType::kFloat32);
  ExpectResumeIsBitIdentical(AdamW, DType::kFloat64);
}

TEST(StateDictTest, SgdResumesBitIdentically) {
  ExpectResumeIsBitIdentical(SgdNesterov, DType::kFloat32);
  ExpectResumeIsBitIdentical(SgdNesterov, DType::kFloat64);
}

TEST(StateDictTest, NamesAndMetadata) {
  std::unique_ptr<Optimizer> adamw = AdamW(MakeParams(DType::kFloat32));
  RunSteps(*adamw, 1, 2);
  const SafetensorsFile state = adamw->StateDict();
  std::vector<std::string> names;
  for (const auto& [name, tensor] : state.tensors) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{
                       "embed.weight.exp_avg", "embed.weight.exp_avg_sq",
                       "head.bias.exp_avg", "head.bias.exp_avg_sq",
                       "norm.weight.exp_avg", "norm.weight.exp_avg_sq"}));
  EXPECT_EQ(state.tensors.at("norm.weight.exp_avg").dtype(), DType::kFloat32);
  EXPECT_EQ(state.tensors.at("embed.weight.exp_avg").shape(), (Shape{11, 7}));
  const std::map<std::string, std::string> expected = {
      {"optimizer", "adamw"},
      {"step", "2"},
      {"step.head.bias", "1"},
      {"beta1", "0.90000000000000002"},
      {"beta2", "0.999"},
      {"eps", "1e-08"},
      {"weight_decay", "0.10000000000000001"}};
  EXPECT_EQ(state.metadata, expected);

  std::unique_ptr<Optimizer> sgd = MakeSgd(MakeParams(DType::kFloat64), {});
  const SafetensorsFile plain = sgd->StateDict();
  // Plain SGD keeps no buffer.
  EXPECT_TRUE(plain.tensors.empty());
  EXPECT_EQ(plain.metadata.at("optimizer"), "sgd");
  EXPECT_EQ(plain.metadata.at("step"), "0");
  EXPECT_EQ(plain.metadata.at("nesterov"), "false");
}

// ---- errors
// ---------------------------------------------------------------------

// Loads `state` into an AdamW that has taken one step; expects an error
// that names the source, and that nothing changed.
std::string LoadError(const SafetensorsFile& state) {
  std::unique_ptr<Optimizer> optimizer = AdamW(MakeParams(DType::kFloat32));
  RunSteps(*optimizer, 1, 1);
  const SafetensorsFile before = optimizer->StateDict();
  const absl::Status status = optimizer->LoadStateDict(state, "ckpt/opt.st");
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr("ckpt/opt.st: adamw optimizer"));
  const SafetensorsFile after = optimizer->StateDict();
  EXPECT_EQ(after.metadata, before.metadata);
  for (const auto& [name, tensor] : before.tensors) {
    EXPECT_TRUE(SameBits(after.tensors.at(name), tensor)) << name;
  }
  return std::string(status.message());
}

// A valid AdamW state after 3 steps, to spoil.
SafetensorsFile GoodState() {
  std::unique_ptr<Optimizer> optimizer = AdamW(MakeParams(DType::kFloat32));
  RunSteps(*optimizer, 1, 3);
  return optimizer->StateDict();
}

TEST(StateDictErrorTest, KindMismatch) {
  std::unique_ptr<Optimizer> sgd = SgdNesterov(MakeParams(DType::kFloat32));
  EXPECT_THAT(LoadError(sgd->StateDict()),
              HasSubstr("metadata 'optimizer' is \"sgd\", expected \"adamw\""));
  SafetensorsFile no_kind = GoodState();
  no_kind.metadata.erase("optimizer");
  EXPECT_THAT(LoadError(no_kind), HasSubstr("no 'optimizer' key"));
}

TEST(StateDictErrorTest, MissingOrUnexpectedTensor) {
  SafetensorsFile missing = GoodState();
  missing.tensors.erase("norm.weight.exp_avg_sq");
  EXPECT_THAT(LoadError(missing),
              HasSubstr("tensor 'norm.weight.exp_avg_sq' is missing"));
  SafetensorsFile extra = GoodState();
  extra.tensors["lm_head.weight.exp_avg"] = Tensor::Zeros({2});
  EXPECT_THAT(LoadError(extra),
              HasSubstr("unexpected tensor 'lm_head.weight.exp_avg'"));
}

TEST(StateDictErrorTest, WrongShapeOrDType) {
  SafetensorsFile shape = GoodState();
  shape.tensors["embed.weight.exp_avg"] = Tensor::Zeros({7, 11});
  EXPECT_THAT(LoadError(shape),
              HasSubstr("tensor 'embed.weight.exp_avg' is float32[7, 11], "
                        "expected float32[11, 7]"));
  SafetensorsFile dtype = GoodState();
  dtype.tensors["head.bias.exp_avg_sq"] = Tensor::Zeros({3}, DType::kFloat64);
  EXPECT_THAT(LoadError(dtype),
              HasSubstr("tensor 'head.bias.exp_avg_sq' is float64[3], "
                        "expected float32[3]"));
}

TEST(StateDictErrorTest, BadMetadata) {
  SafetensorsFile no_step = GoodState();
  no_step.metadata.erase("step");
  EXPECT_THAT(LoadError(no_step), HasSubstr("no 'step' key"));
  SafetensorsFile bad_step = GoodState();
  bad_step.metadata["step"] = "three";
  EXPECT_THAT(LoadError(bad_step),
              HasSubstr("metadata 'step' is \"three\", expected a whole "
                        "number >= 0"));
  SafetensorsFile ahead = GoodState();
  ahead.metadata["step.head.bias"] = "9";
  EXPECT_THAT(LoadError(ahead),
              HasSubstr("metadata 'step.head.bias' is 9, more than the "
                        "optimizer's step 3"));
  SafetensorsFile beta = GoodState();
  beta.metadata["beta2"] = "0.95";
  EXPECT_THAT(LoadError(beta), HasSubstr("metadata 'beta2' is \"0.95\" but "
                                         "this optimizer has 0.999"));
  SafetensorsFile no_eps = GoodState();
  no_eps.metadata.erase("eps");
  EXPECT_THAT(LoadError(no_eps), HasSubstr("no 'eps' key"));
  SafetensorsFile unknown = GoodState();
  unknown.metadata["amsgrad"] = "true";
  EXPECT_THAT(LoadError(unknown),
              HasSubstr("unexpected metadata key 'amsgrad'"));
}

}  // namespace
}  // namespace minigraph
