// The `train` verb: trains MiniMind's causal LM (models/train/trainer.h)
// from a preset or a checkpoint on text or ready-made batches, writing
// checkpoints that PyTorch reads and that resume bit for bit.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "framework/dtype.h"
#include "models/train/trainer.h"
#include "tools/minigraph/common_flags.h"
#include "tools/minigraph/verb.h"

ABSL_FLAG(int64_t, steps, 3000,
          "train: optimizer steps in the run (with --data F.safetensors: "
          "every batch it holds)");
ABSL_FLAG(std::string, optimizer, "adamw", "train: adamw or sgd");
ABSL_FLAG(double, lr, 2e-3, "train: peak learning rate");
ABSL_FLAG(std::string, schedule, "cosine",
          "train: constant, cosine (warmup, then cosine to --min-lr) or "
          "minimind (lr * (0.1 + 0.45 * (1 + cos(pi s / S))))");
ABSL_FLAG(int64_t, warmup, 100, "train: linear warmup steps");
ABSL_FLAG(double, min_lr, 2e-4, "train: the cosine schedule's floor");
ABSL_FLAG(std::vector<std::string>, betas, {},
          "train: AdamW betas as b1,b2 (default 0.9,0.999)");
ABSL_FLAG(double, weight_decay, 0.01,
          "train: weight decay on every parameter (AdamW decoupled; SGD "
          "added to the gradient); default 0.01 for AdamW, 0 for SGD");
ABSL_FLAG(double, momentum, 0.0, "train: SGD momentum");
ABSL_FLAG(double, dampening, 0.0, "train: SGD dampening");
ABSL_FLAG(bool, nesterov, false, "train: SGD Nesterov momentum");
ABSL_FLAG(double, grad_clip, 1.0,
          "train: clip the global gradient norm to this (0: no clipping)");
ABSL_FLAG(int64_t, accum, 1, "train: micro-batches per optimizer step");
ABSL_FLAG(int64_t, eval_every, 250,
          "train: evaluate on the held-out split every N steps (0: only at "
          "the end)");
ABSL_FLAG(int64_t, eval_batches, 8, "train: held-out batches per evaluation");
ABSL_FLAG(int64_t, checkpoint_every, 0,
          "train: checkpoint every N steps (0: only at the end)");
ABSL_FLAG(std::string, resume, "",
          "train: continue the run saved in this checkpoint directory to the "
          "end of its plan");
ABSL_FLAG(int64_t, stop_after, 0,
          "train: end the run after step N with a checkpoint, as an "
          "interruption would, without changing its plan");

namespace minigraph::cli {
namespace {

constexpr char kTrainUsage[] =
    "minigraph train [--model DIR | --preset NAME] [--data FILE]\n"
    "    [--tokenizer FILE_OR_DIR] --out DIR\n"
    "    [--steps N] [--batch B] [--seq T] [--optimizer adamw|sgd] [--lr X]\n"
    "    [--schedule constant|cosine|minimind] [--warmup N] [--min-lr X]\n"
    "    [--betas a,b] [--eps X] [--weight-decay X] [--momentum X]\n"
    "    [--dampening X] [--nesterov] [--grad-clip X] [--accum K]\n"
    "    [--dtype f32|f64] [--seed S] [--eval-every N] [--eval-batches N]\n"
    "    [--checkpoint-every N] [--resume DIR] [--stop-after N]\n"
    "\n"
    "Trains MiniMind's causal LM. With only --out it trains the tiny preset\n"
    "on the fortunes corpus for a few minutes. DIR gets config.json and\n"
    "model.safetensors (MiniMind's names; PyTorch and HF load them),\n"
    "optimizer.safetensors, trainer_state.json (the run's plan and step),\n"
    "metrics.jsonl (one JSON object per step), loss.svg and the tokenizer\n"
    "(tokenizer.json: --tokenizer's, else --model DIR's, else byte-level;\n"
    "a preset takes a given tokenizer's vocabulary size). --resume DIR\n"
    "continues a run to the end of its plan, with the same bits as a run\n"
    "that never stopped; Ctrl-C checkpoints after the current step.\n"
    "--out is short for --output.\n"
    "Defaults: 3000 steps, batch 16, seq 128, lr 2e-3 cosine with 100\n"
    "warmup steps to 2e-4, AdamW betas 0.9,0.999 eps 1e-8 weight decay\n"
    "0.01, grad clip 1.\n";

std::atomic<bool> g_interrupted{false};

void OnInterrupt(int) { g_interrupted.store(true); }

int BadInput(const std::string& message) {
  std::fprintf(stderr, "minigraph train: %s\n", message.c_str());
  return kExitBadInput;
}

int RunTrainVerb(const std::vector<std::string>& positional) {
  if (!positional.empty()) {
    return BadInput(absl::StrCat("unexpected argument '", positional.back(),
                                 "' (every input is a flag)"));
  }
  TrainPlan plan;
  plan.model_dir = absl::GetFlag(FLAGS_model);
  plan.preset = absl::GetFlag(FLAGS_preset);
  plan.data_path = absl::GetFlag(FLAGS_data);
  plan.tokenizer_path = absl::GetFlag(FLAGS_tokenizer);
  plan.steps = absl::GetFlag(FLAGS_steps);
  // A file of batches is trained through, in order, unless --steps says.
  if (!FlagGiven("steps") && absl::EndsWith(plan.data_path, ".safetensors")) {
    plan.steps = 0;
  }
  if (FlagGiven("batch")) plan.batch = absl::GetFlag(FLAGS_batch);
  if (FlagGiven("seq")) plan.seq = absl::GetFlag(FLAGS_seq);
  plan.accum = absl::GetFlag(FLAGS_accum);
  plan.optimizer = absl::GetFlag(FLAGS_optimizer);
  plan.schedule.lr = absl::GetFlag(FLAGS_lr);
  absl::StatusOr<ScheduleKind> kind =
      ParseScheduleKind(absl::GetFlag(FLAGS_schedule));
  if (!kind.ok()) return BadInput(std::string(kind.status().message()));
  plan.schedule.kind = *kind;
  plan.schedule.warmup_steps = absl::GetFlag(FLAGS_warmup);
  plan.schedule.min_lr = absl::GetFlag(FLAGS_min_lr);
  if (!FlagGiven("min_lr") && plan.schedule.min_lr > plan.schedule.lr) {
    plan.schedule.min_lr = plan.schedule.lr / 10;
  }
  if (!FlagGiven("warmup") && plan.steps > 0 &&
      plan.schedule.warmup_steps >= plan.steps) {
    plan.schedule.warmup_steps = plan.steps / 10;
  }
  const std::vector<std::string> betas = absl::GetFlag(FLAGS_betas);
  if (!betas.empty()) {
    if (betas.size() != 2 || !absl::SimpleAtod(betas[0], &plan.adamw.beta1) ||
        !absl::SimpleAtod(betas[1], &plan.adamw.beta2)) {
      return BadInput("--betas must be two numbers, e.g. 0.9,0.95");
    }
  }
  plan.adamw.eps = FlagGiven("eps") ? absl::GetFlag(FLAGS_eps) : 1e-8;
  const double weight_decay = absl::GetFlag(FLAGS_weight_decay);
  plan.adamw.weight_decay = weight_decay;
  plan.sgd.weight_decay = FlagGiven("weight_decay") ? weight_decay : 0.0;
  plan.sgd.momentum = absl::GetFlag(FLAGS_momentum);
  plan.sgd.dampening = absl::GetFlag(FLAGS_dampening);
  plan.sgd.nesterov = absl::GetFlag(FLAGS_nesterov);
  plan.grad_clip = absl::GetFlag(FLAGS_grad_clip);
  plan.seed = absl::GetFlag(FLAGS_seed);
  plan.eval_every = absl::GetFlag(FLAGS_eval_every);
  plan.eval_batches = absl::GetFlag(FLAGS_eval_batches);
  plan.checkpoint_every = absl::GetFlag(FLAGS_checkpoint_every);
  const std::string dtype = absl::GetFlag(FLAGS_dtype);
  if (!dtype.empty()) {
    absl::StatusOr<DType> parsed = ParseDType(dtype);
    if (!parsed.ok() || !IsFloating(*parsed)) {
      return BadInput(
          absl::StrCat("--dtype must be f32 or f64, got '", dtype, "'"));
    }
    plan.dtype = *parsed;
  }

  TrainOptions options;
  options.resume_dir = absl::GetFlag(FLAGS_resume);
  options.out_dir = absl::GetFlag(FLAGS_output);
  if (options.out_dir.empty()) options.out_dir = options.resume_dir;
  if (options.out_dir.empty()) {
    return BadInput("--out DIR is required (where checkpoints go)");
  }
  options.stop_after = absl::GetFlag(FLAGS_stop_after);
  options.interrupted = &g_interrupted;
  options.log = stdout;
  options.live_progress = isatty(STDOUT_FILENO) != 0;
  struct sigaction action = {};
  action.sa_handler = OnInterrupt;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);

  absl::StatusOr<TrainResult> result = RunTraining(plan, options);
  if (!result.ok()) {
    const bool diverged = result.status().code() == absl::StatusCode::kInternal;
    std::fprintf(stderr, "minigraph train: %s\n",
                 std::string(result.status().message()).c_str());
    return diverged ? kExitFailure : kExitBadInput;
  }
  if (result->finished) {
    std::printf("done: %ld steps, loss %.4f -> %.4f; checkpoint in %s\n",
                static_cast<long>(result->last_step), result->first_loss,
                result->last_loss, options.out_dir.c_str());
    return kExitOk;
  }
  std::printf(
      "stopped after step %ld; continue with: minigraph train --resume %s\n",
      static_cast<long>(result->last_step), options.out_dir.c_str());
  return g_interrupted.load() ? 130 : kExitOk;
}

}  // namespace

MG_REGISTER_VERB(train) {
  Verb verb;
  verb.name = "train";
  verb.summary =
      "train MiniMind's causal LM; checkpoints PyTorch loads and that resume "
      "bit for bit";
  verb.usage = kTrainUsage;
  verb.run = RunTrainVerb;
  return verb;
}

}  // namespace minigraph::cli
