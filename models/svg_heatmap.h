// Heatmaps of attention weights as standalone SVG files (any browser or
// image viewer opens them; no plotting library needed).
#ifndef MINIGRAPH_MODELS_SVG_HEATMAP_H_
#define MINIGRAPH_MODELS_SVG_HEATMAP_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "framework/tensor.h"

namespace minigraph {

struct HeatmapPanel {
  std::string title;
  // rows x cols values, row-major; the colour scale spans [0, 1] (attention
  // weights), values outside are clamped.
  int rows = 0, cols = 0;
  std::vector<double> values;
  // Optional, row-major: cells drawn as masked (grey, struck through), e.g.
  // keys after the query under a causal mask.
  std::vector<bool> masked;
  std::vector<std::string> row_labels;  // queries
  std::vector<std::string> col_labels;  // keys
  bool show_values = true;
};

// A panel from a [rows, cols] tensor (any float dtype).
HeatmapPanel PanelFromTensor(const Tensor& weights, std::string title);

// Panels side by side, `per_row` per line, under a title, with a colour bar.
std::string RenderHeatmapSvg(const std::vector<HeatmapPanel>& panels,
                             const std::string& title, int per_row = 4);

// Writes through a temporary file and a rename (no partial file).
absl::Status WriteTextFile(const std::string& path,
                           const std::string& contents);

// Where model scripts write their figures: $BUILD_WORKING_DIRECTORY (the
// directory `bazel run` was started from) when set, else the current
// directory.
std::string OutputPath(const std::string& file_name);

}  // namespace minigraph

#endif  // MINIGRAPH_MODELS_SVG_HEATMAP_H_
