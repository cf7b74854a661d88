// Printing helpers shared by the experiment scripts (exp1 to exp3).
#ifndef MINIGRAPH_MODELS_EXPERIMENT_UTIL_H_
#define MINIGRAPH_MODELS_EXPERIMENT_UTIL_H_

#include <string>
#include <vector>

#include "framework/tensor.h"

namespace minigraph {

// A 2-D tensor as an aligned table with optional row and column labels
// (default: row and column numbers); -inf prints as "-inf".
void PrintMatrix(const std::string& title, const Tensor& matrix,
                 const std::vector<std::string>& row_labels = {},
                 const std::vector<std::string>& col_labels = {},
                 int precision = 3);

// "=== title ===" between sections.
void PrintSection(const std::string& title);

// Largest |a - b| over all elements (same shapes).
double MaxAbsDiff(const Tensor& a, const Tensor& b);

}  // namespace minigraph

#endif  // MINIGRAPH_MODELS_EXPERIMENT_UTIL_H_
