// One optimizer step of training as a graph: forward, loss, backward,
// gradient clipping and the optimizer update, with the same ops (and so the
// same bits) as the trainer's eager step. Parameters, optimizer state, the
// step and the learning rate are graph inputs, and the updated ones are
// outputs of the same names, so the outputs of one run feed the next:
//
//   inputs:  <param>, <param>.exp_avg, <param>.exp_avg_sq (AdamW; SGD with
//            momentum: <param>.momentum_buffer), step (int64 [], the
//            1-based step being taken), lr (float64 []), input_ids and
//            labels (int64 [B, T])
//   outputs: the same parameter and state names updated, loss, grad_norm
//
// The state names are those of the trainer's optimizer.safetensors, so a
// checkpoint's model and optimizer files are a run's inputs as they are.
#ifndef MINIGRAPH_MODELS_TRAIN_TRAIN_STEP_GRAPH_H_
#define MINIGRAPH_MODELS_TRAIN_TRAIN_STEP_GRAPH_H_

#include <string>

#include "absl/status/statusor.h"
#include "framework/graph.h"
#include "framework/optim/optimizer.h"

namespace minigraph {

struct TrainStepGraphOptions {
  // "adamw" or "sgd".
  std::string optimizer = "adamw";
  AdamWOptions adamw;
  SgdOptions sgd;
  // clip_grad_norm_'s max_norm; 0 or less turns clipping off.
  double grad_clip = 1.0;
};

// `forward` reads graph inputs input_ids and labels and has an output
// "loss" (the captured `minimind` model); its floating parameters are
// trained. The result follows forward's symbols (B, T).
absl::StatusOr<Graph> BuildTrainStepGraph(const Graph& forward,
                                          const TrainStepGraphOptions& options);

}  // namespace minigraph

#endif  // MINIGRAPH_MODELS_TRAIN_TRAIN_STEP_GRAPH_H_
