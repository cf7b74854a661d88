// loss.svg: the training and evaluation loss against the step, as a
// self-contained SVG any browser or image viewer shows.
#ifndef MINIGRAPH_MODELS_TRAIN_LOSS_PLOT_H_
#define MINIGRAPH_MODELS_TRAIN_LOSS_PLOT_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace minigraph {

struct LossCurves {
  std::vector<std::pair<int64_t, double>> train;  // (step, loss)
  std::vector<std::pair<int64_t, double>> eval;   // (step, eval loss)
  std::string title;
};

std::string LossPlotSvg(const LossCurves& curves);

}  // namespace minigraph

#endif  // MINIGRAPH_MODELS_TRAIN_LOSS_PLOT_H_
