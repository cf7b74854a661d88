// Optimizer update ops: one fused pass over a parameter and its state.
//
// adamw_update and sgd_update are registered ops (so a whole training step
// can be captured as a graph) with no gradient. Their kernels are also
// exported here as plain entry points that may run in place (an output
// pointer equal to the matching input pointer), which is how the optimizer
// classes in framework/optim/ update parameters: one kernel serves both, so
// the op and the in-place step give the same bits.
//
// Semantics are PyTorch 1.13's torch.optim.AdamW and torch.optim.SGD
// (single-tensor, non-amsgrad, non-maximize). Hyperparameters are computed in
// double, as Python does with float hyperparameters, and converted once to
// the parameter's dtype, as ATen does for a Python scalar operand.
#ifndef MINIGRAPH_OPS_OPTIMIZER_H_
#define MINIGRAPH_OPS_OPTIMIZER_H_

#include <cstdint>
#include <vector>

#include "framework/tensor.h"

namespace minigraph {

// ---- ops ------------------------------------------------------------------

// {param_out, exp_avg_out, exp_avg_sq_out} after one AdamW step. lr is a 0-d
// float tensor (float64 keeps it exact), step a 0-d int64 tensor >= 1 (the
// step being taken). param, grad, exp_avg and exp_avg_sq share shape and
// float dtype.
std::vector<Tensor> AdamWUpdate(const Tensor& param, const Tensor& grad,
                                const Tensor& exp_avg, const Tensor& exp_avg_sq,
                                const Tensor& lr, const Tensor& step,
                                double beta1 = 0.9, double beta2 = 0.999,
                                double eps = 1e-8, double weight_decay = 0.01);

// {param_out, momentum_buffer_out} after one SGD step; lr and step as for
// AdamWUpdate. At step 1 the buffer input is ignored (PyTorch starts the
// buffer as a copy of the gradient); with momentum 0 it passes through.
std::vector<Tensor> SgdUpdate(const Tensor& param, const Tensor& grad,
                              const Tensor& momentum_buffer, const Tensor& lr,
                              const Tensor& step, double momentum = 0.0,
                              double dampening = 0.0, bool nesterov = false,
                              double weight_decay = 0.0);

// Gradient clipping by total norm as ops, giving ClipGradNorm's bits
// (framework/optim/clip_grad.h): total = Sqrt(SumOfSquaresOp(g_1) + ... +
// SumOfSquaresOp(g_k)) added in order, coef = ClipCoefficient(total,
// max_norm), then g_i = ScaleBy(g_i, coef). None has a gradient.

// sum(double(x_i)^2) as a 0-d float64 tensor, summed by SumOfSquaresKernel.
// (Named apart from a private SumOfSquares helper in clip_grad.cc, with which
// an unqualified call there would be ambiguous.)
Tensor SumOfSquaresOp(const Tensor& x);
// 0-d float64: max_norm / (total_norm + 1e-6) when total_norm is finite,
// max_norm > 0 and the quotient is < 1; otherwise exactly 1.
Tensor ClipCoefficient(const Tensor& total_norm, double max_norm = 1.0);
// x * coef (coef a 0-d float tensor, rounded once to x's dtype), through
// ScaleKernel; a coef of 1 returns x's bits.
Tensor ScaleBy(const Tensor& x, const Tensor& coef);

// ---- per-step scalars -------------------------------------------------------

// AdamW's scalars for one step, in double (the kernels convert each to the
// parameter's dtype once).
struct AdamWStepScalars {
  double param_decay = 1.0;      // 1 - lr * weight_decay
  double beta1 = 0.9;            // exp_avg keeps beta1 of itself
  double one_minus_beta1 = 0.1;  // and takes 1 - beta1 of the grad
  double beta2 = 0.999;
  double one_minus_beta2 = 0.001;
  double bias_correction2_sqrt = 1.0;  // sqrt(1 - beta2^step)
  double eps = 1e-8;
  double step_size = 0.0;  // lr / (1 - beta1^step)
};
// The scalars of step `step` (1-based) as PyTorch 1.13 computes them.
AdamWStepScalars MakeAdamWStepScalars(double lr, int64_t step, double beta1,
                                      double beta2, double eps,
                                      double weight_decay);

struct SgdStepScalars {
  double lr = 0.0;
  double momentum = 0.0;  // 0: plain SGD, the buffer is neither read nor set
  double one_minus_dampening = 1.0;
  double weight_decay = 0.0;  // 0 skips the decay term altogether
  bool nesterov = false;
  bool first_step = false;  // the buffer starts as a copy of the grad
};
SgdStepScalars MakeSgdStepScalars(double lr, int64_t step, double momentum,
                                  double dampening, bool nesterov,
                                  double weight_decay);

// ---- kernels (in place allowed) ---------------------------------------------

// Pointers to n contiguous elements each. Every *_out may equal its input
// (the in-place step) but must not overlap any other array.
template <typename T>
struct AdamWArrays {
  const T* param;
  const T* grad;
  const T* exp_avg;
  const T* exp_avg_sq;
  T* param_out;
  T* exp_avg_out;
  T* exp_avg_sq_out;
};
template <typename T>
struct SgdArrays {
  const T* param;
  const T* grad;
  const T* momentum_buffer;  // unused (may be null) when momentum is 0
  T* param_out;
  T* momentum_buffer_out;  // likewise
};

// One AdamW step over n elements, split statically over the thread pool:
// every element goes through the same instructions whatever the split, so
// the result has the same bits for every thread count.
void AdamWUpdateKernel(const AdamWArrays<float>& arrays, int64_t n,
                       const AdamWStepScalars& scalars);
void AdamWUpdateKernel(const AdamWArrays<double>& arrays, int64_t n,
                       const AdamWStepScalars& scalars);
void SgdUpdateKernel(const SgdArrays<float>& arrays, int64_t n,
                     const SgdStepScalars& scalars);
void SgdUpdateKernel(const SgdArrays<double>& arrays, int64_t n,
                     const SgdStepScalars& scalars);

// ---- gradient clipping helpers ------------------------------------------

// sum(x[i]^2) over n contiguous elements, each square and sum in double.
// Summed in fixed blocks whose partial sums are added in order, so the
// result does not depend on the thread count.
double SumOfSquaresKernel(const float* x, int64_t n);
double SumOfSquaresKernel(const double* x, int64_t n);
// x[i] *= scale (scale converted to x's dtype first), in place.
void ScaleKernel(float* x, int64_t n, double scale);
void ScaleKernel(double* x, int64_t n, double scale);

}  // namespace minigraph

#endif  // MINIGRAPH_OPS_OPTIMIZER_H_
