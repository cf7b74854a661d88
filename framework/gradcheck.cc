#include "framework/gradcheck.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "framework/autograd.h"
#include "framework/random.h"

namespace minigraph {
namespace {

// Fresh leaves holding copies of the inputs, so perturbing one never touches
// the caller's data or another input's storage.
std::vector<Tensor> CopyInputs(const std::vector<Tensor>& inputs) {
  std::vector<Tensor> copies;
  copies.reserve(inputs.size());
  for (const Tensor& t : inputs) copies.push_back(CopyToContiguous(t));
  return copies;
}

// fn on `inputs` without recording, each output flattened to float64.
std::vector<std::vector<double>> Evaluate(const DifferentiableFn& fn,
                                          const std::vector<Tensor>& inputs) {
  NoGradGuard no_grad;
  std::vector<std::vector<double>> values;
  for (const Tensor& out : fn(inputs)) values.push_back(out.ToVector<double>());
  return values;
}

// Compares analytic and numeric values entry by entry into `report`.
void Compare(double analytic, double numeric, const GradcheckOptions& options,
             InputGradReport& report) {
  const double abs_error = std::abs(analytic - numeric);
  const double rel_error =
      abs_error / std::max(std::abs(numeric), options.atol);
  ++report.entries_compared;
  const bool ok = abs_error <= options.atol + options.rtol * std::abs(numeric);
  // NaN compares false everywhere: treat any NaN as a failure.
  if (!ok || std::isnan(analytic) || std::isnan(numeric)) report.passed = false;
  report.max_abs_error = std::max(report.max_abs_error, abs_error);
  report.max_rel_error = std::max(report.max_rel_error, rel_error);
}

// Gradients of sum_o <weights[o], outputs[o]> with respect to `leaves`;
// outputs that do not require grad contribute nothing.
absl::StatusOr<std::vector<Tensor>> WeightedGradients(
    const std::vector<Tensor>& outputs, const std::vector<Tensor>& weights,
    const std::vector<Tensor>& leaves, bool create_graph) {
  std::vector<Tensor> used_outputs, used_weights;
  for (size_t o = 0; o < outputs.size(); ++o) {
    if (outputs[o].requires_grad()) {
      used_outputs.push_back(outputs[o]);
      used_weights.push_back(weights[o]);
    }
  }
  if (used_outputs.empty()) {
    std::vector<Tensor> zeros;
    for (const Tensor& leaf : leaves) {
      zeros.push_back(Tensor::Zeros(leaf.shape(), leaf.dtype()));
    }
    return zeros;
  }
  BackwardOptions options;
  options.retain_graph = true;
  options.create_graph = create_graph;
  return Gradients(used_outputs, leaves, used_weights, options,
                   /*allow_unused=*/true);
}

absl::Status CheckInputs(const std::vector<Tensor>& inputs,
                         const GradcheckOptions& options,
                         std::vector<bool>& checked) {
  checked.assign(inputs.size(), false);
  for (size_t i = 0; i < inputs.size(); ++i) {
    const bool floating = IsFloating(inputs[i].dtype());
    const bool wanted =
        options.check_input.empty() ? floating : options.check_input[i];
    if (wanted && inputs[i].dtype() != DType::kFloat64) {
      return absl::InvalidArgumentError(absl::StrCat(
          "gradcheck: input ", i, " is ", DTypeName(inputs[i].dtype()),
          ShapeToString(inputs[i].shape()),
          "; finite differences need float64 inputs"));
    }
    checked[i] = wanted;
  }
  if (!options.check_input.empty() &&
      options.check_input.size() != inputs.size()) {
    return absl::InvalidArgumentError("gradcheck: check_input size mismatch");
  }
  return absl::OkStatus();
}

// Builds leaves (checked inputs require grad) and runs fn with recording.
std::vector<Tensor> MakeLeaves(const std::vector<Tensor>& inputs,
                               const std::vector<bool>& checked) {
  std::vector<Tensor> leaves = CopyInputs(inputs);
  for (size_t i = 0; i < leaves.size(); ++i) {
    if (checked[i]) leaves[i].set_requires_grad(true);
  }
  return leaves;
}

absl::StatusOr<GradcheckReport> FullCheck(const DifferentiableFn& fn,
                                          const std::vector<Tensor>& inputs,
                                          const std::vector<bool>& checked,
                                          const GradcheckOptions& options) {
  std::vector<Tensor> leaves = MakeLeaves(inputs, checked);
  std::vector<Tensor> outputs;
  {
    EnableGradGuard grad(true);
    outputs = fn(leaves);
  }
  std::vector<Tensor> checked_leaves;
  std::vector<int> checked_index;
  for (size_t i = 0; i < leaves.size(); ++i) {
    if (checked[i]) {
      checked_leaves.push_back(leaves[i]);
      checked_index.push_back(i);
    }
  }
  int64_t total_out = 0;
  for (const Tensor& out : outputs) total_out += out.numel();
  int64_t total_in = 0;
  for (const Tensor& leaf : checked_leaves) total_in += leaf.numel();
  const int64_t steps = total_out + total_in;
  int64_t done = 0;

  // analytic[i][j * n_in + k] = d out_flat[j] / d in_i[k], row by row.
  std::vector<std::vector<double>> analytic(checked_leaves.size());
  for (size_t i = 0; i < checked_leaves.size(); ++i) {
    analytic[i].assign(total_out * checked_leaves[i].numel(), 0.0);
  }
  int64_t row = 0;
  for (size_t o = 0; o < outputs.size(); ++o) {
    for (int64_t j = 0; j < outputs[o].numel(); ++j, ++row) {
      std::vector<Tensor> weights;
      for (size_t p = 0; p < outputs.size(); ++p) {
        Tensor w = Tensor::Zeros(outputs[p].shape(), outputs[p].dtype());
        if (p == o) {
          if (w.dtype() == DType::kFloat64) {
            w.data<double>()[j] = 1.0;
          } else {
            w.data<float>()[j] = 1.0f;
          }
        }
        weights.push_back(w);
      }
      MG_ASSIGN_OR_RETURN(
          std::vector<Tensor> grads,
          WeightedGradients(outputs, weights, checked_leaves, false));
      for (size_t i = 0; i < grads.size(); ++i) {
        const std::vector<double> g = grads[i].ToVector<double>();
        std::copy(g.begin(), g.end(),
                  analytic[i].begin() + row * checked_leaves[i].numel());
      }
      if (options.progress) options.progress(++done, steps);
    }
  }

  GradcheckReport report;
  report.mode = "full";
  std::vector<Tensor> work = CopyInputs(inputs);
  for (size_t i = 0; i < checked_leaves.size(); ++i) {
    InputGradReport input_report;
    input_report.input_index = checked_index[i];
    input_report.shape = ShapeToString(checked_leaves[i].shape());
    Tensor& x = work[checked_index[i]];
    double* data = x.data<double>();
    const int64_t n = x.numel();
    for (int64_t k = 0; k < n; ++k) {
      const double saved = data[k];
      data[k] = saved + options.eps;
      const auto plus = Evaluate(fn, work);
      data[k] = saved - options.eps;
      const auto minus = Evaluate(fn, work);
      data[k] = saved;
      int64_t r = 0;
      for (size_t o = 0; o < plus.size(); ++o) {
        for (size_t j = 0; j < plus[o].size(); ++j, ++r) {
          const double numeric =
              (plus[o][j] - minus[o][j]) / (2.0 * options.eps);
          Compare(analytic[i][r * n + k], numeric, options, input_report);
        }
      }
      if (options.progress) options.progress(++done, steps);
    }
    report.passed = report.passed && input_report.passed;
    report.inputs.push_back(input_report);
  }
  return report;
}

absl::StatusOr<GradcheckReport> FastCheck(const DifferentiableFn& fn,
                                          const std::vector<Tensor>& inputs,
                                          const std::vector<bool>& checked,
                                          const GradcheckOptions& options) {
  Generator generator(options.seed);
  std::vector<Tensor> leaves = MakeLeaves(inputs, checked);
  std::vector<Tensor> outputs;
  {
    EnableGradGuard grad(true);
    outputs = fn(leaves);
  }
  GradcheckReport report;
  report.mode = "fast";
  std::vector<Tensor> work = CopyInputs(inputs);
  const int64_t steps = static_cast<int64_t>(options.num_projections) *
                        std::count(checked.begin(), checked.end(), true);
  int64_t done = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!checked[i]) continue;
    InputGradReport input_report;
    input_report.input_index = i;
    input_report.shape = ShapeToString(inputs[i].shape());
    for (int p = 0; p < options.num_projections; ++p) {
      // u^T J v: analytic as <grad(u), v>, numeric as <u, df/dv>.
      std::vector<Tensor> u;
      for (const Tensor& out : outputs) {
        u.push_back(
            ConvertDType(Tensor::Randn(out.shape(), generator), out.dtype()));
      }
      const Tensor v =
          Tensor::Randn(inputs[i].shape(), generator, DType::kFloat64);
      MG_ASSIGN_OR_RETURN(std::vector<Tensor> grads,
                          WeightedGradients(outputs, u, {leaves[i]}, false));
      const std::vector<double> g = grads[0].ToVector<double>();
      const std::vector<double> direction = v.ToVector<double>();
      double analytic = 0.0;
      for (size_t k = 0; k < g.size(); ++k) analytic += g[k] * direction[k];

      double* data = work[i].data<double>();
      const std::vector<double> base = work[i].ToVector<double>();
      for (size_t k = 0; k < base.size(); ++k) {
        data[k] = base[k] + options.eps * direction[k];
      }
      const auto plus = Evaluate(fn, work);
      for (size_t k = 0; k < base.size(); ++k) {
        data[k] = base[k] - options.eps * direction[k];
      }
      const auto minus = Evaluate(fn, work);
      for (size_t k = 0; k < base.size(); ++k) data[k] = base[k];
      double numeric = 0.0;
      for (size_t o = 0; o < plus.size(); ++o) {
        const std::vector<double> weights = u[o].ToVector<double>();
        for (size_t j = 0; j < plus[o].size(); ++j) {
          numeric +=
              weights[j] * (plus[o][j] - minus[o][j]) / (2.0 * options.eps);
        }
      }
      Compare(analytic, numeric, options, input_report);
      if (options.progress) options.progress(++done, steps);
    }
    report.passed = report.passed && input_report.passed;
    report.inputs.push_back(input_report);
  }
  return report;
}

}  // namespace

std::string GradcheckReport::ToString() const {
  std::string out =
      absl::StrFormat("%-6s %-14s %8s %12s %12s  %s\n", "input", "shape",
                      "entries", "max_abs", "max_rel", "result");
  for (const InputGradReport& r : inputs) {
    absl::StrAppendFormat(&out, "%-6d %-14s %8d %12.3e %12.3e  %s\n",
                          r.input_index, r.shape, r.entries_compared,
                          r.max_abs_error, r.max_rel_error,
                          r.passed ? "PASS" : "FAIL");
  }
  absl::StrAppend(&out, mode, ": ", passed ? "PASS" : "FAIL", "\n");
  return out;
}

absl::StatusOr<GradcheckReport> Gradcheck(const DifferentiableFn& fn,
                                          const std::vector<Tensor>& inputs,
                                          const GradcheckOptions& options) {
  std::vector<bool> checked;
  MG_RETURN_IF_ERROR(CheckInputs(inputs, options, checked));
  return options.fast_mode ? FastCheck(fn, inputs, checked, options)
                           : FullCheck(fn, inputs, checked, options);
}

absl::StatusOr<GradcheckReport> GradGradcheck(const DifferentiableFn& fn,
                                              const std::vector<Tensor>& inputs,
                                              const GradcheckOptions& options) {
  std::vector<bool> checked;
  MG_RETURN_IF_ERROR(CheckInputs(inputs, options, checked));
  // Output shapes, to draw the random output weights u.
  std::vector<Tensor> sample_outputs;
  {
    NoGradGuard no_grad;
    sample_outputs = fn(inputs);
  }
  Generator generator(options.seed + 1);
  std::vector<Tensor> extended = inputs;
  for (const Tensor& out : sample_outputs) {
    extended.push_back(Tensor::Randn(out.shape(), generator, DType::kFloat64));
  }
  const size_t num_inputs = inputs.size();
  std::vector<bool> extended_checked = checked;
  extended_checked.resize(extended.size(), true);

  // g(x, u) = d<u, fn(x)>/dx for the checked x, recorded (create_graph).
  DifferentiableFn first_order = [&fn, &checked,
                                  num_inputs](const std::vector<Tensor>& args) {
    std::vector<Tensor> x(args.begin(), args.begin() + num_inputs);
    std::vector<Tensor> u(args.begin() + num_inputs, args.end());
    std::vector<Tensor> leaves;
    for (size_t i = 0; i < num_inputs; ++i) {
      if (checked[i]) leaves.push_back(x[i]);
    }
    std::vector<Tensor> outputs;
    std::vector<Tensor> weights;
    {
      // The inner pass always records, also when the outer check runs
      // without grad (its finite differences): then nothing outside
      // requires grad and the result is just the value of g.
      EnableGradGuard grad(true);
      std::vector<Tensor> inner_leaves;
      std::vector<Tensor> inner_x = x;
      for (size_t i = 0; i < num_inputs; ++i) {
        if (checked[i] && !inner_x[i].requires_grad()) {
          inner_x[i] = inner_x[i].Detach();
          inner_x[i].set_requires_grad(true);
        }
      }
      for (size_t i = 0; i < num_inputs; ++i) {
        if (checked[i]) inner_leaves.push_back(inner_x[i]);
      }
      outputs = fn(inner_x);
      for (size_t o = 0; o < outputs.size(); ++o) {
        weights.push_back(ConvertDType(u[o], outputs[o].dtype()));
        if (u[o].requires_grad()) weights.back() = u[o];
      }
      absl::StatusOr<std::vector<Tensor>> grads =
          WeightedGradients(outputs, weights, inner_leaves, true);
      return ValueOrDie(std::move(grads));
    }
  };
  GradcheckOptions second = options;
  second.check_input = extended_checked;
  MG_ASSIGN_OR_RETURN(GradcheckReport report,
                      Gradcheck(first_order, extended, second));
  report.mode = "second-order " + report.mode;
  return report;
}

}  // namespace minigraph
