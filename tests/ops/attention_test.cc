// Fused attention against attention composed here from primitive ops
// (matmul, softmax, causal_mask, expand + reshape for the repeated key/value
// heads): outputs, log-sum-exp and every gradient, in float32 and float64,
// for grouped, multi-head and multi-query layouts, causal and not, with
// sequence lengths that straddle the tiles and key caches longer than the
// queries. Also: float64 finite-difference gradchecks of the fused op (first
// and second order), the size of what autograd saves, and error messages.
#include "ops/attention.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "framework/autograd.h"
#include "framework/gradcheck.h"
#include "framework/memory_stats.h"
#include "framework/op_registry.h"
#include "framework/thread_pool.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hwy/targets.h"
#include "ops/all_ops.h"

namespace minigraph {
namespace {

using ::testing::HasSubstr;

// ---- the composed reference -------------------------------------------------

// [B, Hkv, T, D] -> [B, Hkv * group, T, D], head h of the result being head
// h / group of x (repeat_kv).
Tensor RepeatKv(const Tensor& x, int64_t group) {
  const Shape& s = x.shape();
  const Tensor once = Reshape(x, {s[0], s[1], 1, s[2], s[3]});
  return Reshape(Expand(once, {s[0], s[1], group, s[2], s[3]}),
                 {s[0], s[1] * group, s[2], s[3]});
}

struct Composed {
  Tensor y;
  Tensor lse;
};

// y = softmax(scale q k^T + mask) v and lse = log sum exp(scores) per row,
// with the mask aligned to the last key (offset Tk - Tq).
Composed ComposedAttention(const Tensor& q, const Tensor& k, const Tensor& v,
                           bool causal, double scale) {
  const int64_t group = q.shape()[1] / k.shape()[1];
  const int64_t tq = q.shape()[2];
  const int64_t tk = k.shape()[2];
  Tensor scores = Matmul(q, RepeatKv(k, group), false, true) * scale;
  if (causal) scores = scores + CausalMask(tq, tk, tk - tq, q.dtype());
  const Tensor y = Matmul(Softmax(scores, -1), RepeatKv(v, group));
  const Tensor max = Max(scores, {-1}, true);
  const Tensor lse = Reshape(max, {q.shape()[0], q.shape()[1], tq}) +
                     Log(Sum(Exp(scores - max), {-1}));
  return {y, lse};
}

// ---- helpers ----------------------------------------------------------------

struct Case {
  std::string name;
  int64_t batch, q_heads, kv_heads, q_len, kv_len, head_dim;
  bool causal;
  int64_t block;
};

// Grouped 8/2, multi-head 8/8 and multi-query 8/1, causal and not; lengths
// that are not multiples of the tile; key caches longer than the queries.
std::vector<Case> Cases() {
  std::vector<Case> cases;
  const int64_t kv_heads[] = {2, 8, 1};
  const char* layouts[] = {"gqa_8_2", "mha_8_8", "mqa_8_1"};
  for (int l = 0; l < 3; ++l) {
    for (bool causal : {true, false}) {
      const std::string base =
          absl::StrCat(layouts[l], causal ? "_causal" : "_full");
      cases.push_back(
          {base + "_t37_block16", 2, 8, kv_heads[l], 37, 37, 16, causal, 16});
      cases.push_back({base + "_t5_cache70_block8", 1, 8, kv_heads[l], 5, 70, 8,
                       causal, 8});
      cases.push_back({base + "_t65_default_block", 1, 8, kv_heads[l], 65, 65,
                       64, causal, kFlashAttentionBlock});
    }
  }
  // Odd head dimensions and a tile of one query/key.
  cases.push_back({"gqa_odd_dim_block1", 1, 4, 2, 6, 9, 5, true, 1});
  cases.push_back({"mha_odd_dim_block3", 2, 2, 2, 7, 7, 3, false, 3});
  return cases;
}

struct Inputs {
  Tensor q, k, v;
};

Inputs MakeInputs(const Case& c, DType dtype, uint64_t seed) {
  Generator gen(seed);
  return {
      Tensor::Randn({c.batch, c.q_heads, c.q_len, c.head_dim}, gen, dtype),
      Tensor::Randn({c.batch, c.kv_heads, c.kv_len, c.head_dim}, gen, dtype),
      Tensor::Randn({c.batch, c.kv_heads, c.kv_len, c.head_dim}, gen, dtype)};
}

double Scale(const Case& c) { return 1.0 / std::sqrt(c.head_dim); }

// Largest |a - b| over all elements, after checking the shapes agree.
double MaxAbsDiff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  EXPECT_EQ(a.dtype(), b.dtype());
  const std::vector<double> x = a.ToVector<double>();
  const std::vector<double> y = b.ToVector<double>();
  double worst = 0.0;
  for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
    worst = std::max(worst, std::abs(x[i] - y[i]));
    if (std::isnan(x[i]) != std::isnan(y[i])) return INFINITY;
  }
  return worst;
}

double Tolerance(DType dtype) {
  return dtype == DType::kFloat64 ? 1e-11 : 2e-5;
}

// ---- forward and gradients against the composed reference -------------------

TEST(FlashAttentionTest, ForwardMatchesComposed) {
  for (const Case& c : Cases()) {
    for (DType dtype : {DType::kFloat32, DType::kFloat64}) {
      SCOPED_TRACE(absl::StrCat(c.name, " ", DTypeName(dtype)));
      const Inputs in = MakeInputs(c, dtype, 7);
      const FlashAttentionOutputs fused =
          FlashAttentionWithLse(in.q, in.k, in.v, c.causal, Scale(c), c.block);
      const Composed ref =
          ComposedAttention(in.q, in.k, in.v, c.causal, Scale(c));
      EXPECT_LE(MaxAbsDiff(fused.y, ref.y), Tolerance(dtype));
      EXPECT_LE(MaxAbsDiff(fused.lse, ref.lse), Tolerance(dtype));
      // The single-output form is the same op.
      EXPECT_EQ(MaxAbsDiff(FlashAttention(in.q, in.k, in.v, c.causal, Scale(c),
                                          c.block),
                           fused.y),
                0.0);
    }
  }
}

// dq, dk, dv of <wy, y> + <wl, lse> through the fused op against autograd
// through the composed ops, with random output weights.
TEST(FlashAttentionTest, GradientsMatchComposedAutograd) {
  for (const Case& c : Cases()) {
    for (DType dtype : {DType::kFloat32, DType::kFloat64}) {
      SCOPED_TRACE(absl::StrCat(c.name, " ", DTypeName(dtype)));
      Inputs in = MakeInputs(c, dtype, 11);
      in.q.set_requires_grad(true);
      in.k.set_requires_grad(true);
      in.v.set_requires_grad(true);
      Generator gen(3);
      const Tensor wy = Tensor::Randn(in.q.shape(), gen, dtype);
      const Tensor wl =
          Tensor::Randn({c.batch, c.q_heads, c.q_len}, gen, dtype);
      const FlashAttentionOutputs fused =
          FlashAttentionWithLse(in.q, in.k, in.v, c.causal, Scale(c), c.block);
      const Composed ref =
          ComposedAttention(in.q, in.k, in.v, c.causal, Scale(c));
      const std::vector<Tensor> wrt = {in.q, in.k, in.v};
      const std::vector<Tensor> got =
          ValueOrDie(Gradients({fused.y, fused.lse}, wrt, {wy, wl}));
      const std::vector<Tensor> want =
          ValueOrDie(Gradients({ref.y, ref.lse}, wrt, {wy, wl}));
      const char* names[] = {"dq", "dk", "dv"};
      for (int i = 0; i < 3; ++i) {
        // Gradients sum over up to 70 keys and 8 heads: a looser float32
        // bound than the outputs'.
        const double tol = dtype == DType::kFloat64 ? 1e-10 : 2e-4;
        EXPECT_LE(MaxAbsDiff(got[i], want[i]), tol) << names[i];
      }
      // And the gradient of y alone (dlse = 0), the common case.
      const std::vector<Tensor> got_y = ValueOrDie(Gradients(
          {FlashAttention(in.q, in.k, in.v, c.causal, Scale(c), c.block)}, wrt,
          {wy}));
      const std::vector<Tensor> want_y = ValueOrDie(
          Gradients({ComposedAttention(in.q, in.k, in.v, c.causal, Scale(c)).y},
                    wrt, {wy}));
      for (int i = 0; i < 3; ++i) {
        const double tol = dtype == DType::kFloat64 ? 1e-10 : 2e-4;
        EXPECT_LE(MaxAbsDiff(got_y[i], want_y[i]), tol) << names[i];
      }
    }
  }
}

// Tiles change only the order of float operations.
TEST(FlashAttentionTest, BlockSizeChangesOnlyRounding) {
  const Case c = {"gqa", 1, 4, 2, 45, 50, 8, true, 0};
  const Inputs in = MakeInputs(c, DType::kFloat64, 5);
  const Tensor base = FlashAttention(in.q, in.k, in.v, true, 0.3, 1024);
  for (int64_t block : {1, 2, 7, 16, 64}) {
    SCOPED_TRACE(block);
    EXPECT_LE(
        MaxAbsDiff(FlashAttention(in.q, in.k, in.v, true, 0.3, block), base),
        1e-13);
  }
}

// Scores far beyond exp's range: the online softmax rescales, never
// overflows, and agrees with the composed (max-subtracted) softmax.
TEST(FlashAttentionTest, LargeScoresStayFinite) {
  const Case c = {"mha", 1, 2, 2, 40, 40, 8, true, 8};
  Inputs in = MakeInputs(c, DType::kFloat32, 9);
  in.q = in.q * 40.0;
  const FlashAttentionOutputs fused =
      FlashAttentionWithLse(in.q, in.k, in.v, true, 1.0, 8);
  const Composed ref = ComposedAttention(in.q, in.k, in.v, true, 1.0);
  for (float value : fused.y.ToVector<float>())
    ASSERT_TRUE(std::isfinite(value));
  EXPECT_LE(MaxAbsDiff(fused.y, ref.y), 1e-4);
  // lse is of the order of the scores (hundreds): relative float32 rounding.
  EXPECT_LE(MaxAbsDiff(fused.lse, ref.lse), 1e-3);
}

// Keys beyond the causal diagonal must not matter: changing them leaves y
// unchanged, bit for bit.
TEST(FlashAttentionTest, CausalRowsIgnoreLaterKeys) {
  const Case c = {"gqa", 1, 4, 2, 20, 20, 8, true, 8};
  const Inputs in = MakeInputs(c, DType::kFloat32, 13);
  const Tensor y = FlashAttention(in.q, in.k, in.v, true, 0.35, 8);
  // Keys and values from position 10 on replaced by other values.
  Generator gen(99);
  const Tensor k_tail = Tensor::Randn({1, 2, 10, 8}, gen);
  const Tensor v_tail = Tensor::Randn({1, 2, 10, 8}, gen);
  const Tensor k2 = Concat({Slice(in.k, 2, 0, 10), k_tail}, 2);
  const Tensor v2 = Concat({Slice(in.v, 2, 0, 10), v_tail}, 2);
  const Tensor y2 = FlashAttention(in.q, k2, v2, true, 0.35, 8);
  EXPECT_EQ(MaxAbsDiff(Slice(y, 2, 0, 10), Slice(y2, 2, 0, 10)), 0.0);
  EXPECT_GT(MaxAbsDiff(Slice(y, 2, 10, 20), Slice(y2, 2, 10, 20)), 1e-3);
}

// q, k and v read through strided views (a [B, T, H, D] projection
// transposed) give the same results as contiguous copies.
TEST(FlashAttentionTest, StridedInputs) {
  Generator gen(17);
  const Tensor q_bthd = Tensor::Randn({2, 9, 4, 8}, gen);
  const Tensor k_bthd = Tensor::Randn({2, 11, 2, 8}, gen);
  const Tensor v_bthd = Tensor::Randn({2, 11, 2, 8}, gen);
  const Tensor q = Transpose(q_bthd, 1, 2);
  const Tensor k = Transpose(k_bthd, 1, 2);
  const Tensor v = Transpose(v_bthd, 1, 2);
  ASSERT_FALSE(q.is_contiguous());
  const Tensor strided = FlashAttention(q, k, v, true, 0.4, 4);
  const Tensor copied = FlashAttention(CopyToContiguous(q), CopyToContiguous(k),
                                       CopyToContiguous(v), true, 0.4, 4);
  EXPECT_EQ(MaxAbsDiff(strided, copied), 0.0);
}

// Every compiled Highway target this CPU supports (AVX3, AVX2, SSE4 and the
// static fallback) against the composed reference computed once on the best
// target: their vector widths differ, so the padded tails and the micro-tile
// strips land differently.
TEST(FlashAttentionTest, EveryTargetMatchesComposed) {
  const Case cases[] = {
      {"gqa_causal_d16", 1, 4, 2, 37, 37, 16, true, 16},
      {"mha_causal_d64", 1, 2, 2, 70, 70, 64, true, 32},
      {"mqa_full_cache", 1, 4, 1, 5, 21, 8, false, 8},
      {"odd_dim_block1", 1, 4, 2, 6, 9, 5, true, 1},
  };
  for (const Case& c : cases) {
    for (DType dtype : {DType::kFloat32, DType::kFloat64}) {
      SCOPED_TRACE(absl::StrCat(c.name, " ", DTypeName(dtype)));
      Inputs in = MakeInputs(c, dtype, 43);
      for (Tensor* x : {&in.q, &in.k, &in.v}) x->set_requires_grad(true);
      Generator gen(5);
      const Tensor wy = Tensor::Randn(in.q.shape(), gen, dtype);
      const std::vector<Tensor> wrt = {in.q, in.k, in.v};
      const Composed ref =
          ComposedAttention(in.q, in.k, in.v, c.causal, Scale(c));
      std::vector<Tensor> expected = {ref.y.Detach(), ref.lse.Detach()};
      for (const Tensor& g : ValueOrDie(Gradients({ref.y}, wrt, {wy}))) {
        expected.push_back(g);
      }
      const double tol = dtype == DType::kFloat64 ? 1e-10 : 2e-4;
      for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
        SCOPED_TRACE(hwy::TargetName(target));
        hwy::SetSupportedTargetsForTest(target);
        const FlashAttentionOutputs fused = FlashAttentionWithLse(
            in.q, in.k, in.v, c.causal, Scale(c), c.block);
        std::vector<Tensor> got = {fused.y, fused.lse};
        for (const Tensor& g : ValueOrDie(Gradients({fused.y}, wrt, {wy}))) {
          got.push_back(g);
        }
        for (size_t i = 0; i < got.size(); ++i) {
          EXPECT_LE(MaxAbsDiff(got[i], expected[i]), tol) << "output " << i;
        }
      }
      hwy::SetSupportedTargetsForTest(0);
    }
  }
}

// Each (batch, head) task writes its own outputs with the same operations
// whatever the split, so results are bitwise identical across thread counts:
// for a problem too small to be split, and for one where every thread of up
// to 5 gets tasks (over 10^6 multiply-adds per task, forward and backward).
TEST(FlashAttentionTest, ResultsDoNotDependOnThreadCount) {
  const Case cases[] = {{"gqa_small", 3, 4, 2, 33, 40, 8, true, 8},
                        {"gqa_split", 2, 4, 2, 150, 160, 64, true, 32}};
  const int original = NumThreads();
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Inputs in = MakeInputs(c, DType::kFloat32, 47);
    Generator gen(53);
    const Tensor dy = Tensor::Randn(in.q.shape(), gen);
    auto run = [&](int threads) {
      EXPECT_TRUE(SetNumThreads(threads).ok());
      const FlashAttentionOutputs out =
          FlashAttentionWithLse(in.q, in.k, in.v, true, 0.3, c.block);
      const FlashAttentionGrads g = FlashAttentionBackward(
          in.q, in.k, in.v, out.y, out.lse, dy, out.lse, true, 0.3, c.block);
      return std::vector<Tensor>{out.y, out.lse, g.dq, g.dk, g.dv};
    };
    const std::vector<Tensor> one = run(1);
    for (int threads : {2, 3, 5}) {
      SCOPED_TRACE(threads);
      const std::vector<Tensor> many = run(threads);
      for (size_t i = 0; i < one.size(); ++i) {
        EXPECT_EQ(one[i].ToVector<float>(), many[i].ToVector<float>()) << i;
      }
    }
  }
  ASSERT_TRUE(SetNumThreads(original).ok());
}

// ---- finite differences -----------------------------------------------------

DifferentiableFn FusedFn(bool causal, double scale, int64_t block) {
  return [=](const std::vector<Tensor>& x) {
    const FlashAttentionOutputs out =
        FlashAttentionWithLse(x[0], x[1], x[2], causal, scale, block);
    return std::vector<Tensor>{out.y, out.lse};
  };
}

TEST(FlashAttentionTest, GradcheckFloat64) {
  const Case cases[] = {
      {"gqa_causal", 1, 4, 2, 7, 7, 3, true, 3},
      {"mqa_full", 2, 3, 1, 5, 6, 4, false, 2},
      {"mha_causal_cache", 1, 2, 2, 4, 9, 3, true, 4},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const Inputs in = MakeInputs(c, DType::kFloat64, 23);
    const GradcheckReport first = ValueOrDie(
        Gradcheck(FusedFn(c.causal, 0.6, c.block), {in.q, in.k, in.v}));
    EXPECT_TRUE(first.passed) << first.ToString();
    EXPECT_EQ(first.inputs.size(), 3u);
  }
}

TEST(FlashAttentionTest, SecondOrderGradcheckFloat64) {
  const Case c = {"gqa_causal", 1, 2, 1, 4, 5, 3, true, 2};
  const Inputs in = MakeInputs(c, DType::kFloat64, 29);
  const GradcheckReport second = ValueOrDie(
      GradGradcheck(FusedFn(true, 0.7, c.block), {in.q, in.k, in.v}));
  EXPECT_TRUE(second.passed) << second.ToString();
}

// ---- saved state ------------------------------------------------------------

int64_t SavedElements(const Node& node) {
  int64_t total = 0;
  for (const Tensor& t : node.inputs()) total += t.numel();
  for (const TensorMeta& m : node.output_metas()) total += NumElements(m.shape);
  return total;
}

// The node of a flash_attention call keeps q, k, v, y and lse: O(B H T D),
// while the composed softmax alone keeps a [B, H, T, T] tensor.
TEST(FlashAttentionTest, NodeSavesOnlyLinearState) {
  const int64_t b = 1, h = 4, t = 512, d = 16;
  Generator gen(31);
  Tensor q = Tensor::Randn({b, h, t, d}, gen);
  Tensor k = Tensor::Randn({b, h / 2, t, d}, gen);
  Tensor v = Tensor::Randn({b, h / 2, t, d}, gen);
  q.set_requires_grad(true);
  k.set_requires_grad(true);
  v.set_requires_grad(true);
  const Tensor y = FlashAttention(q, k, v, true, 0.25);
  ASSERT_NE(y.grad_fn(), nullptr);
  const Node& node = *y.grad_fn();
  EXPECT_EQ(node.op().name, "flash_attention");
  // Inputs q, k, v are the only tensors the node refers to: no intermediate.
  ASSERT_EQ(node.inputs().size(), 3u);
  // q + k + v + y + lse = 4 B H T D (k and v have half the heads) + B H T.
  EXPECT_EQ(SavedElements(node), 3 * b * h * t * d + b * h * t);
  EXPECT_LT(SavedElements(node), b * h * t * t / 4);
  // The backward runs from what was saved (and frees it).
  MG_CHECK_OK(Sum(y * y).Backward());
  EXPECT_EQ(q.grad().shape(), q.shape());
  EXPECT_EQ(k.grad().shape(), k.shape());

  // For contrast, the composed graph's last matmul keeps the [B, H, T, T]
  // probabilities.
  const Composed ref = ComposedAttention(q, k, v, true, 0.25);
  const Node& matmul = *ref.y.grad_fn();
  ASSERT_EQ(matmul.op().name, "matmul");
  EXPECT_EQ(matmul.inputs()[0].numel(), b * h * t * t);
}

// Peak bytes allocated (tensor storage and the fused kernels' scratch)
// during one forward + backward of B=1, 4/2 heads, head_dim 16, float32.
int64_t PeakBytesOfForwardBackward(int64_t t, bool fused) {
  Generator gen(37);
  Tensor q = Tensor::Randn({1, 4, t, 16}, gen);
  Tensor k = Tensor::Randn({1, 2, t, 16}, gen);
  Tensor v = Tensor::Randn({1, 2, t, 16}, gen);
  const Tensor dy = Tensor::Randn({1, 4, t, 16}, gen);
  for (Tensor* x : {&q, &k, &v}) x->set_requires_grad(true);
  ResetPeakAllocatedBytes();
  const int64_t before = CurrentAllocatedBytes();
  {
    const Tensor y = fused ? FlashAttention(q, k, v, true, 0.25)
                           : ComposedAttention(q, k, v, true, 0.25).y;
    MG_CHECK_OK(Gradients({y}, {q, k, v}, {dy}).status());
  }
  return PeakAllocatedBytes() - before;
}

// Fused: within a fixed multiple of q's size at T = 1024 and at T = 4096
// (where that multiple is 1/16 of one [B, H, T, T] matrix), so linear in T;
// composed: at least two [B, H, T, T] matrices at T = 1024. (How much
// scratch is alive at once depends on how the threads interleave, so only
// bounds are checked, not ratios.)
TEST(FlashAttentionTest, PeakMemoryIsLinearInSequenceLength) {
  for (int64_t t : {1024, 4096}) {
    SCOPED_TRACE(t);
    const int64_t q_bytes = 4 * t * 16 * 4;  // [1, 4, T, 16] float32
    const int64_t fused = PeakBytesOfForwardBackward(t, true);
    EXPECT_GT(fused, 2 * q_bytes);  // y, dq and more: the counter counts
    EXPECT_LT(fused, 16 * q_bytes);
  }
  const int64_t t = 1024;
  const int64_t scores_bytes = 4 * t * t * 4;  // [1, 4, T, T] float32
  EXPECT_GE(PeakBytesOfForwardBackward(t, false), 2 * scores_bytes);
}

// No queries: empty outputs, and zero gradients for the keys and values.
TEST(FlashAttentionTest, NoQueriesGiveEmptyOutputsAndZeroKeyGradients) {
  const Tensor q = Tensor::Zeros({1, 2, 0, 4});
  Generator gen(41);
  const Tensor k = Tensor::Randn({1, 1, 3, 4}, gen);
  const Tensor v = Tensor::Randn({1, 1, 3, 4}, gen);
  const FlashAttentionOutputs out = FlashAttentionWithLse(q, k, v, true, 0.5);
  EXPECT_EQ(out.y.shape(), Shape({1, 2, 0, 4}));
  EXPECT_EQ(out.lse.shape(), Shape({1, 2, 0}));
  const FlashAttentionGrads g =
      FlashAttentionBackward(q, k, v, out.y, out.lse, q, out.lse, true, 0.5);
  EXPECT_EQ(g.dq.shape(), q.shape());
  for (const Tensor& t : {g.dk, g.dv}) {
    EXPECT_EQ(t.shape(), k.shape());
    for (float x : t.ToVector<float>()) EXPECT_EQ(x, 0.0f);
  }
}

// ---- errors -----------------------------------------------------------------

std::string ErrorOf(const std::string& op, std::vector<Tensor> inputs,
                    Attrs attrs) {
  absl::StatusOr<std::vector<Tensor>> out =
      CallOp(op, std::move(inputs), std::move(attrs));
  EXPECT_FALSE(out.ok());
  return out.ok() ? "" : std::string(out.status().message());
}

TEST(FlashAttentionTest, ShapeErrorsNameTheOpAndShapes) {
  const Tensor q = Tensor::Zeros({1, 6, 5, 8});
  const Tensor k = Tensor::Zeros({1, 4, 5, 8});
  std::string message = ErrorOf("flash_attention", {q, k, k}, {{"scale", 0.5}});
  EXPECT_THAT(message, HasSubstr("flash_attention (node '"));
  EXPECT_THAT(message, HasSubstr("multiple of kv_heads"));
  EXPECT_THAT(message, HasSubstr("[1, 6, 5, 8]"));
  EXPECT_THAT(message, HasSubstr("[1, 4, 5, 8]"));

  const Tensor short_k = Tensor::Zeros({1, 2, 3, 8});
  message = ErrorOf("flash_attention", {q, short_k, short_k}, {{"scale", 0.5}});
  EXPECT_THAT(message, HasSubstr("kv_len >= q_len"));
  // Not causal, fewer keys than queries is fine.
  EXPECT_TRUE(CallOp("flash_attention", {q, short_k, short_k},
                     {{"scale", 0.5}, {"causal", false}})
                  .ok());

  message = ErrorOf("flash_attention",
                    {Tensor::Zeros({1, 2, 5, 0}), Tensor::Zeros({1, 2, 5, 0}),
                     Tensor::Zeros({1, 2, 5, 0})},
                    {{"scale", 0.5}});
  EXPECT_THAT(message, HasSubstr("head_dim must be >= 1"));

  message = ErrorOf("flash_attention", {Tensor::Zeros({6, 5, 8}), k, k},
                    {{"scale", 0.5}});
  EXPECT_THAT(message,
              HasSubstr("q must be [batch, q_heads, q_len, head_dim]"));

  message =
      ErrorOf("flash_attention",
              {q, Tensor::Zeros({1, 2, 5, 4}), Tensor::Zeros({1, 2, 5, 4})},
              {{"scale", 0.5}});
  EXPECT_THAT(message, HasSubstr("head_dim"));

  message =
      ErrorOf("flash_attention",
              {q, Tensor::Zeros({1, 2, 5, 8}), Tensor::Zeros({1, 2, 6, 8})},
              {{"scale", 0.5}});
  EXPECT_THAT(message, HasSubstr("v must be [1, 2, 5, 8]"));

  message = ErrorOf("flash_attention",
                    {q, Tensor::Zeros({1, 2, 5, 8}, DType::kFloat64),
                     Tensor::Zeros({1, 2, 5, 8}, DType::kFloat64)},
                    {{"scale", 0.5}});
  EXPECT_THAT(message, HasSubstr("k is float64 but q is float32"));

  const Tensor kv = Tensor::Zeros({1, 2, 5, 8});
  message = ErrorOf("flash_attention", {q, kv, kv},
                    {{"scale", 0.5}, {"block_size", int64_t{0}}});
  EXPECT_THAT(message, HasSubstr("block_size must be in [1, 1024], got 0"));
  message = ErrorOf("flash_attention", {q, kv, kv}, Attrs());
  EXPECT_THAT(message, HasSubstr("scale"));

  // The backward op checks its extra inputs too.
  const Tensor rows = Tensor::Zeros({1, 6, 5});
  message = ErrorOf("flash_attention_backward",
                    {q, kv, kv, q, Tensor::Zeros({1, 6, 4}), q, rows},
                    {{"scale", 0.5}});
  EXPECT_THAT(message, HasSubstr("flash_attention_backward (node '"));
  EXPECT_THAT(message, HasSubstr("lse must be [1, 6, 5]"));
  message = ErrorOf("flash_attention_backward",
                    {q, kv, kv, q, rows, Tensor::Zeros({1, 6, 5, 7}), rows},
                    {{"scale", 0.5}});
  EXPECT_THAT(message, HasSubstr("dy must be [1, 6, 5, 8]"));
}

}  // namespace
}  // namespace minigraph
