#include "framework/optim/optimizer.h"

#include <cmath>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "ops/optimizer.h"

namespace minigraph {

void Optimizer::ZeroGrad() {
  for (auto& [name, param] : params_) {
    if (param.defined()) param.ZeroGrad();
  }
}

namespace {

constexpr absl::string_view kStepPrefix = "step.";

// A double as text that parses back to the same value.
std::string ExactText(double value) { return absl::StrFormat("%.17g", value); }

std::string Describe(const Tensor& t) {
  return absl::StrCat(DTypeName(t.dtype()), ShapeToString(t.shape()));
}

// The shared part of AdamW and SGD: per-parameter state buffers (named by a
// suffix) and step counts, the checks before a step, and the state dict.
// Subclasses supply the hyperparameters and the update itself.
class StatefulOptimizer : public Optimizer {
 public:
  StatefulOptimizer(NamedTensors params, std::string kind,
                    std::vector<std::string> buffer_names)
      : Optimizer(std::move(params)),
        kind_(std::move(kind)),
        buffer_names_(std::move(buffer_names)) {}

  absl::Status Step(double lr) final;
  SafetensorsFile StateDict() const final;
  absl::Status LoadStateDict(const SafetensorsFile& state,
                             absl::string_view source) final;

 protected:
  // Per parameter: one buffer per name in buffer_names_ (param's dtype and
  // shape, zeros until its first step) and the number of steps it has taken.
  struct ParamState {
    std::vector<Tensor> buffers;
    int64_t steps = 0;
  };

  // Checks the options (the messages name the optimizer and the field).
  virtual absl::Status ValidateOptions() const = 0;
  // Name -> exact text of every hyperparameter, for the state dict.
  virtual std::map<std::string, std::string> Hyperparameters() const = 0;
  // Updates parameter `param` in place with its contiguous grad at `lr`;
  // state.steps already counts this step.
  virtual void Update(const Tensor& param, const Tensor& grad, double lr,
                      ParamState& state) = 0;

  const std::string& kind() const { return kind_; }

 private:
  // Every parameter defined, float, contiguous and listed once; allocates
  // the state buffers on first use.
  absl::Status PrepareState();

  std::string kind_;
  std::vector<std::string> buffer_names_;
  std::vector<ParamState> state_;  // empty until PrepareState
};

absl::Status StatefulOptimizer::PrepareState() {
  MG_RETURN_IF_ERROR(ValidateOptions());
  absl::flat_hash_set<std::string> names;
  // Two entries for one buffer (a tied weight listed twice) would update it
  // twice per step.
  absl::flat_hash_map<std::pair<const Storage*, int64_t>, std::string> places;
  for (const auto& [name, param] : params_) {
    const std::string where = absl::StrCat(kind_, ": parameter '", name, "'");
    if (!names.insert(name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, " is listed twice"));
    }
    if (!param.defined()) {
      return absl::InvalidArgumentError(absl::StrCat(where, " is undefined"));
    }
    if (!IsFloating(param.dtype())) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, " must be float32 or float64, got ", Describe(param)));
    }
    if (!param.is_contiguous()) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, " must be contiguous to be updated in place, got strides ",
          ShapeToString(param.strides()), " for ", Describe(param)));
    }
    auto [it, inserted] =
        places.try_emplace({param.storage().get(), param.offset()}, name);
    if (!inserted && param.numel() > 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, " is the same tensor as parameter '", it->second, "'"));
    }
  }
  if (!state_.empty() || params_.empty()) return absl::OkStatus();
  state_.resize(params_.size());
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& param = params_[i].second;
    for (size_t b = 0; b < buffer_names_.size(); ++b) {
      state_[i].buffers.push_back(Tensor::Zeros(param.shape(), param.dtype()));
    }
  }
  return absl::OkStatus();
}

absl::Status StatefulOptimizer::Step(double lr) {
  const std::string where = absl::StrCat(kind_, " step ", step_count_ + 1);
  if (!(std::isfinite(lr) && lr >= 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": lr must be finite and >= 0, got ", lr));
  }
  MG_RETURN_IF_ERROR(PrepareState());
  // Every grad is checked before any parameter changes.
  std::vector<Tensor> grads(params_.size());
  for (size_t i = 0; i < params_.size(); ++i) {
    const auto& [name, param] = params_[i];
    const Tensor grad = param.grad();
    if (!grad.defined()) continue;
    if (grad.dtype() != param.dtype() || grad.shape() != param.shape()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": grad of parameter '", name, "' is ",
                       Describe(grad), ", expected ", Describe(param),
                       " (the parameter's dtype and shape)"));
    }
    grads[i] = grad.is_contiguous() ? grad : CopyToContiguous(grad);
  }
  ++step_count_;
  for (size_t i = 0; i < params_.size(); ++i) {
    if (!grads[i].defined()) continue;
    ++state_[i].steps;
    Update(params_[i].second, grads[i], lr, state_[i]);
  }
  return absl::OkStatus();
}

SafetensorsFile StatefulOptimizer::StateDict() const {
  SafetensorsFile file;
  file.metadata["optimizer"] = kind_;
  file.metadata["step"] = absl::StrCat(step_count_);
  for (const auto& [key, value] : Hyperparameters()) file.metadata[key] = value;
  for (size_t i = 0; i < params_.size(); ++i) {
    const auto& [name, param] = params_[i];
    const int64_t steps = state_.empty() ? 0 : state_[i].steps;
    if (steps != step_count_) {
      file.metadata[absl::StrCat(kStepPrefix, name)] = absl::StrCat(steps);
    }
    for (size_t b = 0; b < buffer_names_.size(); ++b) {
      const std::string key = absl::StrCat(name, ".", buffer_names_[b]);
      if (!state_.empty()) {
        file.tensors[key] = CopyToContiguous(state_[i].buffers[b]);
      } else if (param.defined()) {
        // Before the first step the state is all zeros.
        file.tensors[key] = Tensor::Zeros(param.shape(), param.dtype());
      }
    }
  }
  return file;
}

absl::Status StatefulOptimizer::LoadStateDict(const SafetensorsFile& state,
                                              absl::string_view source) {
  MG_RETURN_IF_ERROR(PrepareState());
  auto error = [&](auto&&... parts) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": ", kind_, " optimizer state: ", parts...));
  };
  const auto& metadata = state.metadata;
  auto kind_it = metadata.find("optimizer");
  if (kind_it == metadata.end()) {
    return error("metadata has no 'optimizer' key (expected \"", kind_, "\")");
  }
  if (kind_it->second != kind_) {
    return error("metadata 'optimizer' is \"", kind_it->second,
                 "\", expected \"", kind_, "\"");
  }
  // Step counts: whole numbers >= 0, a parameter's at most the global one.
  auto parse_steps = [&](const std::string& key,
                         const std::string& text) -> absl::StatusOr<int64_t> {
    int64_t value = 0;
    if (!absl::SimpleAtoi(text, &value) || value < 0) {
      return error("metadata '", key, "' is \"", text,
                   "\", expected a whole number >= 0");
    }
    return value;
  };
  auto step_it = metadata.find("step");
  if (step_it == metadata.end()) {
    return error("metadata has no 'step' key");
  }
  MG_ASSIGN_OR_RETURN(const int64_t step_count,
                      parse_steps("step", step_it->second));
  const std::map<std::string, std::string> hyperparameters = Hyperparameters();
  for (const auto& [key, expected] : hyperparameters) {
    auto it = metadata.find(key);
    if (it == metadata.end()) {
      return error("metadata has no '", key, "' key (expected ", expected, ")");
    }
    // Compared as numbers, so that any exact spelling is accepted.
    double saved = 0.0, mine = 0.0;
    const bool numeric = absl::SimpleAtod(expected, &mine);
    if (numeric ? !absl::SimpleAtod(it->second, &saved) || saved != mine
                : it->second != expected) {
      return error("metadata '", key, "' is \"", it->second,
                   "\" but this optimizer has ", expected);
    }
  }
  std::vector<int64_t> steps(params_.size(), step_count);
  std::set<std::string> param_names;
  for (size_t i = 0; i < params_.size(); ++i) {
    const std::string& name = params_[i].first;
    param_names.insert(name);
    const std::string key = absl::StrCat(kStepPrefix, name);
    auto it = metadata.find(key);
    if (it == metadata.end()) continue;
    MG_ASSIGN_OR_RETURN(steps[i], parse_steps(key, it->second));
    if (steps[i] > step_count) {
      return error("metadata '", key, "' is ", steps[i],
                   ", more than the optimizer's step ", step_count);
    }
  }
  for (const auto& [key, value] : metadata) {
    const bool known = key == "optimizer" || key == "step" ||
                       hyperparameters.count(key) > 0 ||
                       (absl::StartsWith(key, kStepPrefix) &&
                        param_names.count(key.substr(kStepPrefix.size())) > 0);
    if (!known) return error("unexpected metadata key '", key, "'");
  }
  // Tensors: exactly one per parameter and buffer, of the parameter's dtype
  // and shape.
  std::vector<std::vector<Tensor>> buffers(params_.size());
  std::set<std::string> expected_names;
  for (size_t i = 0; i < params_.size(); ++i) {
    const auto& [name, param] = params_[i];
    for (const std::string& buffer : buffer_names_) {
      const std::string key = absl::StrCat(name, ".", buffer);
      expected_names.insert(key);
      auto it = state.tensors.find(key);
      if (it == state.tensors.end()) {
        return error("tensor '", key, "' is missing (parameter '", name,
                     "' is ", Describe(param), ")");
      }
      const Tensor& saved = it->second;
      if (!saved.defined() || saved.dtype() != param.dtype() ||
          saved.shape() != param.shape()) {
        return error("tensor '", key, "' is ",
                     saved.defined() ? Describe(saved) : "undefined",
                     ", expected ", Describe(param), " (parameter '", name,
                     "')");
      }
      buffers[i].push_back(saved);
    }
  }
  for (const auto& [key, tensor] : state.tensors) {
    if (expected_names.count(key) == 0) {
      return error("unexpected tensor '", key,
                   "' (no parameter and buffer of that name)");
    }
  }
  // Everything checked: commit. Copies, never conversions, so the bits are
  // the saved ones.
  for (size_t i = 0; i < params_.size(); ++i) {
    for (size_t b = 0; b < buffers[i].size(); ++b) {
      state_[i].buffers[b] = CopyToContiguous(buffers[i][b]);
    }
    state_[i].steps = steps[i];
  }
  step_count_ = step_count;
  return absl::OkStatus();
}

// Written so that nan fails.
absl::Status CheckOption(absl::string_view kind, absl::string_view name,
                         double value, double low, double high) {
  if (!(value >= low && value < high)) {
    return absl::InvalidArgumentError(absl::StrCat(
        kind, ": ", name, " must be in [", low, ", ", high, "), got ", value));
  }
  return absl::OkStatus();
}

// ---- AdamW ------------------------------------------------------------------

class AdamW final : public StatefulOptimizer {
 public:
  AdamW(NamedTensors params, AdamWOptions options)
      : StatefulOptimizer(std::move(params), "adamw",
                          {"exp_avg", "exp_avg_sq"}),
        options_(options) {}

 protected:
  absl::Status ValidateOptions() const override {
    MG_RETURN_IF_ERROR(CheckOption(kind(), "beta1", options_.beta1, 0, 1));
    MG_RETURN_IF_ERROR(CheckOption(kind(), "beta2", options_.beta2, 0, 1));
    MG_RETURN_IF_ERROR(CheckOption(kind(), "eps", options_.eps, 0, HUGE_VAL));
    return CheckOption(kind(), "weight_decay", options_.weight_decay, 0,
                       HUGE_VAL);
  }

  std::map<std::string, std::string> Hyperparameters() const override {
    return {{"beta1", ExactText(options_.beta1)},
            {"beta2", ExactText(options_.beta2)},
            {"eps", ExactText(options_.eps)},
            {"weight_decay", ExactText(options_.weight_decay)}};
  }

  void Update(const Tensor& param, const Tensor& grad, double lr,
              ParamState& state) override {
    const AdamWStepScalars scalars =
        MakeAdamWStepScalars(lr, state.steps, options_.beta1, options_.beta2,
                             options_.eps, options_.weight_decay);
    Tensor& m = state.buffers[0];
    Tensor& v = state.buffers[1];
    if (param.dtype() == DType::kFloat32) {
      float* p = param.data<float>();
      AdamWUpdateKernel(AdamWArrays<float>{p, grad.data<float>(),
                                           m.data<float>(), v.data<float>(), p,
                                           m.data<float>(), v.data<float>()},
                        param.numel(), scalars);
    } else {
      double* p = param.data<double>();
      AdamWUpdateKernel(
          AdamWArrays<double>{p, grad.data<double>(), m.data<double>(),
                              v.data<double>(), p, m.data<double>(),
                              v.data<double>()},
          param.numel(), scalars);
    }
  }

 private:
  AdamWOptions options_;
};

// ---- SGD --------------------------------------------------------------------

// Without momentum there is no buffer (PyTorch keeps none either).
std::vector<std::string> SgdBuffers(const SgdOptions& options) {
  if (options.momentum == 0.0) return {};
  return {"momentum_buffer"};
}

class Sgd final : public StatefulOptimizer {
 public:
  Sgd(NamedTensors params, SgdOptions options)
      : StatefulOptimizer(std::move(params), "sgd", SgdBuffers(options)),
        options_(options) {}

 protected:
  absl::Status ValidateOptions() const override {
    MG_RETURN_IF_ERROR(
        CheckOption(kind(), "momentum", options_.momentum, 0, HUGE_VAL));
    MG_RETURN_IF_ERROR(CheckOption(kind(), "dampening", options_.dampening,
                                   -HUGE_VAL, HUGE_VAL));
    MG_RETURN_IF_ERROR(CheckOption(kind(), "weight_decay",
                                   options_.weight_decay, 0, HUGE_VAL));
    if (options_.nesterov &&
        !(options_.momentum > 0 && options_.dampening == 0)) {
      return absl::InvalidArgumentError(
          absl::StrCat(kind(),
                       ": nesterov needs momentum > 0 and dampening 0, got "
                       "momentum=",
                       options_.momentum, ", dampening=", options_.dampening));
    }
    return absl::OkStatus();
  }

  std::map<std::string, std::string> Hyperparameters() const override {
    return {{"momentum", ExactText(options_.momentum)},
            {"dampening", ExactText(options_.dampening)},
            {"weight_decay", ExactText(options_.weight_decay)},
            {"nesterov", options_.nesterov ? "true" : "false"}};
  }

  void Update(const Tensor& param, const Tensor& grad, double lr,
              ParamState& state) override {
    const SgdStepScalars scalars = MakeSgdStepScalars(
        lr, state.steps, options_.momentum, options_.dampening,
        options_.nesterov, options_.weight_decay);
    const bool has_buffer = !state.buffers.empty();
    if (param.dtype() == DType::kFloat32) {
      float* p = param.data<float>();
      float* buf = has_buffer ? state.buffers[0].data<float>() : nullptr;
      SgdUpdateKernel(SgdArrays<float>{p, grad.data<float>(), buf, p, buf},
                      param.numel(), scalars);
    } else {
      double* p = param.data<double>();
      double* buf = has_buffer ? state.buffers[0].data<double>() : nullptr;
      SgdUpdateKernel(SgdArrays<double>{p, grad.data<double>(), buf, p, buf},
                      param.numel(), scalars);
    }
  }

 private:
  SgdOptions options_;
};

}  // namespace

std::unique_ptr<Optimizer> MakeAdamW(NamedTensors params,
                                     AdamWOptions options) {
  return std::make_unique<AdamW>(std::move(params), options);
}

std::unique_ptr<Optimizer> MakeSgd(NamedTensors params, SgdOptions options) {
  return std::make_unique<Sgd>(std::move(params), options);
}

}  // namespace minigraph
