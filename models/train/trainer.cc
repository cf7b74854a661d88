#include "models/train/trainer.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "framework/autograd.h"
#include "framework/graph_io.h"
#include "framework/memory_stats.h"
#include "framework/random.h"
#include "framework/status_macros.h"
#include "models/minimind_lm.h"
#include "models/train/checkpoint.h"
#include "models/train/loss_plot.h"
#include "models/train/training_data.h"
#include "ops/all_ops.h"

namespace minigraph {
namespace {

constexpr char kMetricsFile[] = "metrics.jsonl";
constexpr char kPlotFile[] = "loss.svg";
// Salt that separates dropout seeds from the data windows' counter hashes.
constexpr uint64_t kDropoutSalt = 0x5eed0d40b0a7ULL;

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string Duration(double seconds) {
  const int64_t s = static_cast<int64_t>(seconds + 0.5);
  if (s >= 3600) return absl::StrFormat("%dh%02dm", s / 3600, s / 60 % 60);
  if (s >= 60) return absl::StrFormat("%dm%02ds", s / 60, s % 60);
  return absl::StrFormat("%ds", s);
}

// The first parameter whose gradient holds a NaN or an infinity.
std::string FirstNonFiniteGrad(const NamedTensors& params) {
  for (const auto& [name, param] : params) {
    const Tensor grad = param.grad();
    if (!grad.defined()) continue;
    for (const double g : grad.ToVector<double>()) {
      if (!std::isfinite(g)) return name;
    }
  }
  return "";
}

// The rows of an earlier metrics.jsonl up to `step` (a resumed run drops
// what its predecessor logged after the checkpoint), and the curves in them.
std::string KeepMetricsUpTo(const std::string& path, int64_t step,
                            LossCurves* curves) {
  absl::StatusOr<std::string> contents =
      ReadFileToString(path, int64_t{1} << 30);
  if (!contents.ok()) return "";
  std::string kept;
  for (absl::string_view line : absl::StrSplit(*contents, '\n')) {
    int64_t row_step = 0;
    double loss = 0, eval_loss = 0;
    // Rows are written by this file: {"step": N, "loss": X, ...}.
    if (std::sscanf(std::string(line).c_str(), "{\"step\": %ld, \"loss\": %lf",
                    &row_step, &loss) != 2 ||
        row_step > step) {
      continue;
    }
    curves->train.emplace_back(row_step, loss);
    const size_t at = line.find("\"eval_loss\": ");
    if (at != absl::string_view::npos &&
        absl::SimpleAtod(
            line.substr(at + 13, line.find_first_of(",}", at) - at - 13),
            &eval_loss)) {
      curves->eval.emplace_back(row_step, eval_loss);
    }
    absl::StrAppend(&kept, line, "\n");
  }
  return kept;
}

// Losses, rates and norms with 17 significant digits (they read back as the
// same double, so runs compare exactly); timings with 6.
std::string JsonNumber(double value, int digits = 17) {
  return std::isfinite(value) ? absl::StrFormat("%.*g", digits, value)
                              : std::string("null");
}

class Run {
 public:
  Run(const TrainPlan& plan, const TrainOptions& options)
      : plan_(plan), options_(options) {}

  absl::StatusOr<TrainResult> Execute() {
    MG_RETURN_IF_ERROR(Setup());
    TrainResult result;
    result.last_step = start_step_;
    if (start_step_ == plan_.steps) {
      Log(absl::StrCat("the run in ", options_.resume_dir,
                       " is complete (step ", plan_.steps, " of ", plan_.steps,
                       "); nothing to do\n"));
      result.finished = true;
      return result;
    }
    const Clock::time_point run_start = Clock::now();
    int64_t steps_this_run = 0;
    for (int64_t step = start_step_ + 1; step <= plan_.steps; ++step) {
      MG_RETURN_IF_ERROR(TrainStep(step, run_start, &steps_this_run, &result));
      if (step == plan_.steps) {
        MG_RETURN_IF_ERROR(Checkpoint(step));
        result.finished = true;
        result.last_step = step;
        break;
      }
      const bool interrupted =
          (options_.interrupted != nullptr && options_.interrupted->load()) ||
          step == options_.stop_after;
      if (interrupted ||
          (plan_.checkpoint_every > 0 && step % plan_.checkpoint_every == 0)) {
        MG_RETURN_IF_ERROR(Checkpoint(step));
        result.last_step = step;
      }
      if (interrupted) {
        result.interrupted = true;
        break;
      }
    }
    if (options_.live_progress && options_.log != nullptr) {
      std::fputc('\n', options_.log);
    }
    if (metrics_ != nullptr) std::fclose(metrics_);
    metrics_ = nullptr;
    return result;
  }

  ~Run() {
    if (metrics_ != nullptr) std::fclose(metrics_);
    if (lock_ >= 0) close(lock_);
  }

 private:
  absl::Status Setup() {
    MG_RETURN_IF_ERROR(PrepareOutputDir(options_.out_dir));
    MG_ASSIGN_OR_RETURN(lock_, LockOutputDir(options_.out_dir));
    const bool resuming = !options_.resume_dir.empty();
    const int64_t existing = CheckpointStep(options_.out_dir);
    if (!resuming && existing > 0) {
      return absl::AlreadyExistsError(
          absl::StrCat(options_.out_dir, " already holds a checkpoint (step ",
                       existing, "); continue it with --resume ",
                       options_.out_dir, " or choose another --out"));
    }
    if (resuming) {
      MG_ASSIGN_OR_RETURN(LoadedCheckpoint loaded,
                          LoadCheckpoint(options_.resume_dir));
      plan_ = loaded.state.plan;
      start_step_ = loaded.state.step;
      model_.emplace(std::move(*loaded.model));
      tokenizer_.emplace(std::move(*loaded.tokenizer));
      optimizer_ = std::move(loaded.optimizer);
    } else {
      // steps 0: as many as a file of batches holds (checked below).
      TrainPlan check = plan_;
      if (check.steps == 0) check.steps = check.schedule.warmup_steps + 1;
      MG_RETURN_IF_ERROR(ValidatePlan(check));
      MG_ASSIGN_OR_RETURN(
          Tokenizer tokenizer,
          ResolveTokenizer(plan_.tokenizer_path, plan_.model_dir));
      tokenizer_.emplace(std::move(tokenizer));
      if (!plan_.model_dir.empty()) {
        MG_ASSIGN_OR_RETURN(
            MiniMindForCausalLM model,
            MiniMindForCausalLM::LoadDir(plan_.model_dir, plan_.dtype));
        model_.emplace(std::move(model));
      } else {
        MG_ASSIGN_OR_RETURN(MiniMindConfig config, PresetConfig(plan_.preset));
        // A preset takes the vocabulary size of a tokenizer given to it.
        if (!plan_.tokenizer_path.empty()) {
          config.vocab_size = tokenizer_->vocab_size();
        }
        Generator generator(plan_.seed);
        MG_ASSIGN_OR_RETURN(
            MiniMindForCausalLM model,
            MiniMindForCausalLM::Create(config, generator, plan_.dtype));
        model_.emplace(std::move(model));
      }
      MG_ASSIGN_OR_RETURN(optimizer_, MakeOptimizer(plan_, *model_));
    }
    plan_.schedule.total_steps = plan_.steps;
    if (options_.stop_after != 0 && (options_.stop_after <= start_step_ ||
                                     options_.stop_after > plan_.steps)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--stop-after ", options_.stop_after, " must be in [",
                       start_step_ + 1, ", ", plan_.steps,
                       "] (the steps this run has left)"));
    }
    const MiniMindConfig& config = model_->config();
    DataOptions data;
    data.path = plan_.data_path;
    data.batch = plan_.batch;
    data.seq = plan_.seq;
    data.accum = plan_.accum;
    data.seed = plan_.seed;
    data.vocab_size = config.vocab_size;
    data.bos_id = config.bos_token_id;
    data.eos_id = config.eos_token_id;
    data.tokenizer = &*tokenizer_;
    data.eval_batches = plan_.eval_batches;
    MG_ASSIGN_OR_RETURN(data_, OpenTrainingData(data));
    if (plan_.steps == 0) {
      if (data_->NumSteps() == 0) {
        return absl::InvalidArgumentError(
            "--steps is required unless --data is a file of batches");
      }
      plan_.steps = data_->NumSteps();
      plan_.schedule.total_steps = plan_.steps;
      MG_RETURN_IF_ERROR(ValidatePlan(plan_));
    }
    if (data_->NumSteps() > 0 && data_->NumSteps() < plan_.steps) {
      return absl::InvalidArgumentError(absl::StrCat(
          plan_.data_path, " holds batches for ", data_->NumSteps(),
          " optimizer steps, fewer than --steps ", plan_.steps));
    }
    // Batches given in a file have their own shape.
    plan_.batch = data_->batch();
    plan_.seq = data_->seq();
    if (plan_.seq > config.max_position_embeddings) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--seq ", plan_.seq, " exceeds the model's max_position_embeddings ",
          config.max_position_embeddings));
    }
    // Metrics: a fresh file, or the resumed run's rows up to its checkpoint.
    const std::string metrics_path = PathIn(options_.out_dir, kMetricsFile);
    std::string kept;
    if (resuming) {
      kept = KeepMetricsUpTo(PathIn(options_.resume_dir, kMetricsFile),
                             start_step_, &curves_);
    }
    MG_RETURN_IF_ERROR(WriteFileAtomically(metrics_path, kept));
    metrics_ = std::fopen(metrics_path.c_str(), "a");
    if (metrics_ == nullptr) {
      return absl::PermissionDeniedError(
          absl::StrCat(metrics_path, ": cannot append"));
    }
    curves_.title =
        absl::StrCat("MiniMind ", model_->NumParameters(), " parameters, ",
                     plan_.batch, "x", plan_.seq, resuming ? " (resumed)" : "");
    Log(absl::StrCat(
        resuming ? "resuming at step " : "training from step ", start_step_ + 1,
        " of ", plan_.steps, ": ", model_->NumParameters(), " parameters (",
        ConfigToString(config), "), ", plan_.optimizer, " lr ",
        plan_.schedule.lr, " (", ScheduleKindName(plan_.schedule.kind),
        ")\ndata: ", data_->Describe(), "\n"));
    return absl::OkStatus();
  }

  absl::StatusOr<double> EvalLoss() {
    NoGradGuard no_grad;
    model_->SetTraining(false);
    double total = 0;
    for (int64_t i = 0; i < data_->NumEvalBatches(); ++i) {
      const TokenBatch batch = data_->EvalBatch(i);
      LMOptions options;
      options.labels = batch.labels;
      MG_ASSIGN_OR_RETURN(const LMOutput out,
                          model_->Forward(batch.input_ids, options));
      total += out.loss.item();
    }
    model_->SetTraining(true);
    return total / static_cast<double>(data_->NumEvalBatches());
  }

  absl::Status TrainStep(int64_t step, Clock::time_point run_start,
                         int64_t* steps_this_run, TrainResult* result) {
    const Clock::time_point start = Clock::now();
    const int64_t faults_before = MinorPageFaults();
    const double lr = LearningRateAt(plan_.schedule, step);
    model_->SetTraining(true);
    double loss_sum = 0;
    int64_t tokens = 0;
    for (int64_t micro = 0; micro < plan_.accum; ++micro) {
      MG_ASSIGN_OR_RETURN(const TokenBatch batch,
                          data_->TrainBatch(step, micro));
      LMOptions options;
      options.labels = batch.labels;
      options.dropout_seed =
          CounterHash(plan_.seed ^ kDropoutSalt,
                      static_cast<uint64_t>((step - 1) * plan_.accum + micro));
      MG_ASSIGN_OR_RETURN(const LMOutput out,
                          model_->Forward(batch.input_ids, options));
      const double loss = out.loss.item();
      loss_sum += loss;
      tokens += batch.input_ids.numel();
      // As MiniMind: each micro-batch's loss divided by the accumulation.
      const Tensor scaled = plan_.accum > 1
                                ? out.loss / static_cast<double>(plan_.accum)
                                : out.loss;
      MG_RETURN_IF_ERROR(scaled.Backward());
    }
    const double loss = loss_sum / static_cast<double>(plan_.accum);
    const NamedTensors& params = optimizer_->parameters();
    const double grad_norm = ClipGradNorm(params, plan_.grad_clip);
    if (!std::isfinite(loss) || !std::isfinite(grad_norm)) {
      const std::string culprit = FirstNonFiniteGrad(params);
      const int64_t last_good = CheckpointStep(options_.out_dir);
      return absl::InternalError(absl::StrCat(
          "step ", step, ": the loss is ", loss, " and the gradient norm ",
          grad_norm,
          culprit.empty() ? std::string("")
                          : absl::StrCat("; the first parameter whose "
                                         "gradient is not finite is ",
                                         culprit),
          "; stopped without writing a checkpoint (",
          last_good > 0 ? absl::StrCat("the last good one, step ", last_good,
                                       ", is intact in ", options_.out_dir)
                        : std::string("none was written yet"),
          ")"));
    }
    MG_RETURN_IF_ERROR(optimizer_->Step(lr));
    optimizer_->ZeroGrad();
    const double seconds = SecondsSince(start);
    const int64_t faults = MinorPageFaults() - faults_before;
    ++*steps_this_run;
    if (result->first_loss == 0.0) result->first_loss = loss;
    result->last_loss = loss;

    double eval_loss = std::nan("");
    const bool evaluate =
        data_->NumEvalBatches() > 0 &&
        ((plan_.eval_every > 0 && step % plan_.eval_every == 0) ||
         step == plan_.steps);
    if (evaluate) {
      MG_ASSIGN_OR_RETURN(eval_loss, EvalLoss());
      curves_.eval.emplace_back(step, eval_loss);
    }
    curves_.train.emplace_back(step, loss);
    const double tokens_per_s = static_cast<double>(tokens) / seconds;
    std::string row =
        absl::StrCat("{\"step\": ", step, ", \"loss\": ", JsonNumber(loss),
                     ", \"lr\": ", JsonNumber(lr),
                     ", \"grad_norm\": ", JsonNumber(grad_norm),
                     ", \"tokens_per_s\": ", JsonNumber(tokens_per_s, 6),
                     ", \"step_ms\": ", JsonNumber(seconds * 1e3, 6),
                     ", \"page_faults\": ", faults);
    if (evaluate)
      absl::StrAppend(&row, ", \"eval_loss\": ", JsonNumber(eval_loss));
    absl::StrAppend(&row, "}\n");
    std::fputs(row.c_str(), metrics_);
    std::fflush(metrics_);

    // Progress.
    const double elapsed = SecondsSince(run_start);
    const double eta = elapsed / static_cast<double>(*steps_this_run) *
                       static_cast<double>(plan_.steps - step);
    std::string line = absl::StrFormat(
        "step %d/%d  loss %.4f  lr %.3g  grad_norm %.3g  %.0f tok/s  ETA %s",
        step, plan_.steps, loss, lr, grad_norm, tokens_per_s, Duration(eta));
    if (evaluate) absl::StrAppendFormat(&line, "  eval_loss %.4f", eval_loss);
    if (options_.log != nullptr) {
      if (options_.live_progress) {
        std::fprintf(options_.log, "\r%s\033[K", line.c_str());
        if (evaluate) std::fputc('\n', options_.log);
      } else {
        const int64_t every = std::max<int64_t>(1, plan_.steps / 20);
        if (step % every == 0 || step == start_step_ + 1 || evaluate ||
            step == plan_.steps) {
          std::fprintf(options_.log, "%s\n", line.c_str());
        }
      }
      std::fflush(options_.log);
    }
    return absl::OkStatus();
  }

  absl::Status Checkpoint(int64_t step) {
    MG_RETURN_IF_ERROR(SaveCheckpoint(options_.out_dir, *model_, *tokenizer_,
                                      *optimizer_, plan_, step));
    MG_RETURN_IF_ERROR(WriteFileAtomically(PathIn(options_.out_dir, kPlotFile),
                                           LossPlotSvg(curves_)));
    if (options_.log != nullptr) {
      if (options_.live_progress) std::fputc('\n', options_.log);
      std::fprintf(options_.log, "checkpoint: step %ld in %s\n",
                   static_cast<long>(step), options_.out_dir.c_str());
      std::fflush(options_.log);
    }
    return absl::OkStatus();
  }

  void Log(const std::string& text) {
    if (options_.log == nullptr) return;
    std::fputs(text.c_str(), options_.log);
    std::fflush(options_.log);
  }

  TrainPlan plan_;
  TrainOptions options_;
  int64_t start_step_ = 0;
  std::optional<MiniMindForCausalLM> model_;
  std::optional<Tokenizer> tokenizer_;
  std::unique_ptr<Optimizer> optimizer_;
  std::unique_ptr<TrainingData> data_;
  LossCurves curves_;
  FILE* metrics_ = nullptr;
  int lock_ = -1;
};

}  // namespace

absl::Status ValidatePlan(const TrainPlan& plan) {
  auto positive = [](absl::string_view flag, int64_t value) -> absl::Status {
    if (value > 0) return absl::OkStatus();
    return absl::InvalidArgumentError(
        absl::StrCat(flag, " must be positive, got ", value));
  };
  MG_RETURN_IF_ERROR(positive("--steps", plan.steps));
  MG_RETURN_IF_ERROR(positive("--batch", plan.batch));
  MG_RETURN_IF_ERROR(positive("--seq", plan.seq));
  MG_RETURN_IF_ERROR(positive("--accum", plan.accum));
  if (plan.optimizer != "adamw" && plan.optimizer != "sgd") {
    return absl::InvalidArgumentError(absl::StrCat(
        "--optimizer must be adamw or sgd, got '", plan.optimizer, "'"));
  }
  if (!(plan.schedule.lr > 0) || !std::isfinite(plan.schedule.lr)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--lr must be positive, got ", plan.schedule.lr));
  }
  if (plan.schedule.min_lr < 0 || plan.schedule.min_lr > plan.schedule.lr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--min-lr must be in [0, --lr], got ", plan.schedule.min_lr));
  }
  if (plan.schedule.warmup_steps < 0 ||
      plan.schedule.warmup_steps >= plan.steps) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--warmup must be in [0, --steps), got ", plan.schedule.warmup_steps));
  }
  const AdamWOptions& a = plan.adamw;
  if (!(a.beta1 >= 0 && a.beta1 < 1 && a.beta2 >= 0 && a.beta2 < 1)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--betas must be two numbers in [0, 1), got ", a.beta1, ",", a.beta2));
  }
  if (!(a.eps > 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--eps must be positive, got ", a.eps));
  }
  if (a.weight_decay < 0 || plan.sgd.weight_decay < 0) {
    return absl::InvalidArgumentError("--weight-decay must be >= 0");
  }
  if (plan.sgd.momentum < 0 || (plan.sgd.nesterov && plan.sgd.momentum == 0)) {
    return absl::InvalidArgumentError(
        "--momentum must be >= 0 (and positive for nesterov)");
  }
  if (plan.eval_every < 0 || plan.checkpoint_every < 0 ||
      plan.eval_batches <= 0) {
    return absl::InvalidArgumentError(
        "--eval-every and --checkpoint-every must be >= 0");
  }
  if (plan.dtype != DType::kFloat32 && plan.dtype != DType::kFloat64) {
    return absl::InvalidArgumentError("--dtype must be f32 or f64");
  }
  return absl::OkStatus();
}

absl::StatusOr<TrainResult> RunTraining(const TrainPlan& plan,
                                        const TrainOptions& options) {
  Run run(plan, options);
  return run.Execute();
}

}  // namespace minigraph
