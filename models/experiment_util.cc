#include "models/experiment_util.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "absl/strings/str_format.h"

namespace minigraph {

void PrintMatrix(const std::string& title, const Tensor& matrix,
                 const std::vector<std::string>& row_labels,
                 const std::vector<std::string>& col_labels, int precision) {
  const int64_t rows = matrix.size(0), cols = matrix.size(1);
  const std::vector<double> values = matrix.ToVector<double>();
  auto row_label = [&](int64_t r) {
    return r < static_cast<int64_t>(row_labels.size())
               ? row_labels[r]
               : absl::StrFormat("%d", r);
  };
  auto col_label = [&](int64_t c) {
    return c < static_cast<int64_t>(col_labels.size())
               ? col_labels[c]
               : absl::StrFormat("%d", c);
  };
  size_t label_width = 0;
  for (int64_t r = 0; r < rows; ++r) {
    label_width = std::max(label_width, row_label(r).size());
  }
  std::vector<std::string> cells(values.size());
  size_t width = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    cells[i] = std::isinf(values[i])
                   ? (values[i] < 0 ? "-inf" : "inf")
                   : absl::StrFormat("%.*f", precision, values[i]);
    width = std::max(width, cells[i].size());
  }
  for (int64_t c = 0; c < cols; ++c) {
    width = std::max(width, col_label(c).size());
  }
  std::printf("%s  [%lld x %lld]\n", title.c_str(),
              static_cast<long long>(rows), static_cast<long long>(cols));
  std::printf("%*s", static_cast<int>(label_width), "");
  for (int64_t c = 0; c < cols; ++c) {
    std::printf("  %*s", static_cast<int>(width), col_label(c).c_str());
  }
  std::printf("\n");
  for (int64_t r = 0; r < rows; ++r) {
    std::printf("%*s", static_cast<int>(label_width), row_label(r).c_str());
    for (int64_t c = 0; c < cols; ++c) {
      std::printf("  %*s", static_cast<int>(width),
                  cells[r * cols + c].c_str());
    }
    std::printf("\n");
  }
  std::printf("\n");
}

void PrintSection(const std::string& title) {
  std::printf("\n=== %s ===\n\n", title.c_str());
}

double MaxAbsDiff(const Tensor& a, const Tensor& b) {
  const std::vector<double> x = a.ToVector<double>();
  const std::vector<double> y = b.ToVector<double>();
  double worst = 0.0;
  for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
    worst = std::max(worst, std::abs(x[i] - y[i]));
  }
  return worst;
}

}  // namespace minigraph
