// The training API in one page: a MiniMind, AdamW, MiniMind's learning-rate
// schedule, gradient clipping, and a checkpoint PyTorch loads, in the shape
// of a PyTorch training loop.
//
//   ./bazelw run //models:train_minimind -- /tmp/minimind_script
//
// `minigraph train` is the same loop with data sources, evaluation,
// metrics and resumable checkpoints around it (models/train/trainer.h).
#include <cstdio>
#include <string>

#include "framework/optim/optim.h"
#include "models/minimind_lm.h"
#include "models/svg_heatmap.h"
#include "models/train/training_data.h"
#include "ops/all_ops.h"

using namespace minigraph;

int main(int argc, char** argv) {
  const std::string out = argc > 1 ? argv[1] : OutputPath("minimind_script");

  // model = MiniMindForCausalLM(MiniMindConfig(...))
  MiniMindConfig config = ValueOrDie(PresetConfig("tiny"));
  Generator generator(0);
  MiniMindForCausalLM model =
      ValueOrDie(MiniMindForCausalLM::Create(config, generator));
  model.SetTraining(true);

  // Random windows of the fortunes corpus, byte-level.
  DataOptions data_options;
  data_options.batch = 16;
  data_options.seq = 128;
  data_options.vocab_size = config.vocab_size;
  const auto data = ValueOrDie(OpenTrainingData(data_options));

  // optimizer = AdamW(model.parameters(), lr=lr, weight_decay=0.01)
  const int64_t steps = 200;
  const double lr = 2e-3;
  const auto optimizer = MakeAdamW(model.NamedParameters(), AdamWOptions{});
  const Schedule schedule{ScheduleKind::kMiniMind, lr, 0, 0.0, steps};

  for (int64_t step = 1; step <= steps; ++step) {
    const TokenBatch batch = ValueOrDie(data->TrainBatch(step, 0));
    LMOptions options;
    options.labels = batch.labels;
    // loss = model(input_ids, labels=labels).loss; loss.backward()
    const Tensor loss = ValueOrDie(model.Forward(batch.input_ids, options)).loss;
    MG_CHECK_OK(loss.Backward());
    // clip_grad_norm_(model.parameters(), 1.0); optimizer.step()
    const double norm = ClipGradNorm(optimizer->parameters(), 1.0);
    MG_CHECK_OK(optimizer->Step(LearningRateAt(schedule, step)));
    optimizer->ZeroGrad();
    if (step % 20 == 0) {
      std::printf("step %3ld  loss %.4f  grad norm %.3f  lr %.2e\n",
                  static_cast<long>(step), loss.item(), norm,
                  LearningRateAt(schedule, step));
    }
  }

  // model.save_pretrained(out): config.json + model.safetensors
  MG_CHECK_OK(model.SaveDir(out));
  std::printf("saved %s/config.json and %s/model.safetensors\n", out.c_str(),
              out.c_str());
  return 0;
}
