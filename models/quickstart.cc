// The quick-start model script: one causal self-attention head written with
// primitive ops, run forward and backward, then gradient-checked against
// float64 finite differences.
//
//   ./bazelw run //models:quickstart
#include <cmath>
#include <cstdio>
#include <vector>

#include "framework/gradcheck.h"
#include "framework/op_registry.h"
#include "ops/all_ops.h"

namespace minigraph {
namespace {

// y = softmax(q k^T / sqrt(d) + causal) v with q, k, v = x W_q^T, x W_k^T,
// x W_v^T (weights stored [out, in] like torch.nn.Linear).
Tensor CausalAttentionHead(const Tensor& x, const Tensor& w_q,
                           const Tensor& w_k, const Tensor& w_v) {
  const int64_t seq = x.size(0);
  const int64_t head_dim = w_q.size(0);
  NameScope scope("head");
  const Tensor q = Matmul(x, w_q, false, /*transpose_b=*/true);
  const Tensor k = Matmul(x, w_k, false, true);
  const Tensor v = Matmul(x, w_v, false, true);
  const Tensor scores = Matmul(q, k, false, true) *
                        (1.0 / std::sqrt(static_cast<double>(head_dim)));
  const Tensor masked = scores + CausalMask(seq, seq, 0, x.dtype());
  return Matmul(Softmax(masked, -1), v);
}

int Run() {
  Generator generator(2025);
  const DType f64 = DType::kFloat64;
  const int64_t seq = 4, hidden = 8, head_dim = 4;
  const Tensor x = Tensor::Randn({seq, hidden}, generator, f64);
  std::vector<Tensor> weights;
  for (const char* name : {"w_q", "w_k", "w_v"}) {
    Tensor w = Tensor::Randn({head_dim, hidden}, generator, f64) *
               (1.0 / std::sqrt(static_cast<double>(hidden)));
    w = w.Detach();
    w.set_requires_grad(true).set_name(name);
    weights.push_back(w);
  }

  const Tensor y = CausalAttentionHead(x, weights[0], weights[1], weights[2]);
  const Tensor loss = Sum(y * y);
  std::printf("x =\n%s\n\n", x.ToString().c_str());
  std::printf("y = attention(x) =\n%s\n\n", y.ToString().c_str());
  std::printf("loss = sum(y^2) = %.10f\n\n", loss.item());

  MG_CHECK_OK(loss.Backward());
  for (const Tensor& w : weights) {
    std::printf("d loss / d %s =\n%s\n\n", w.name().c_str(),
                w.grad().ToString().c_str());
  }

  // The same function, checked entry by entry against finite differences.
  DifferentiableFn fn = [&x](const std::vector<Tensor>& w) {
    const Tensor out = CausalAttentionHead(x, w[0], w[1], w[2]);
    return std::vector<Tensor>{Sum(out * out)};
  };
  std::vector<Tensor> inputs;
  for (const Tensor& w : weights) inputs.push_back(w.Detach());
  const GradcheckReport first = ValueOrDie(Gradcheck(fn, inputs));
  std::printf("Gradient check (float64, eps 1e-6, atol 1e-5, rtol 1e-3)\n");
  std::printf("inputs 0, 1, 2 = w_q, w_k, w_v\n%s\n", first.ToString().c_str());
  const GradcheckReport second = ValueOrDie(GradGradcheck(fn, inputs));
  std::printf("%s", second.ToString().c_str());
  return first.passed && second.passed ? 0 : 1;
}

}  // namespace
}  // namespace minigraph

int main() { return minigraph::Run(); }
