// Threaded kernels give the same bits whatever the thread count, and from run
// to run: matmul (all transpose forms, batched, few rows), softmax and
// log_softmax, reductions along either axis and over everything, unary and
// broadcast binary elementwise ops, fused attention forward and backward. Every
// input is large enough to cross the kernels' threading thresholds.
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "framework/autograd.h"
#include "framework/random.h"
#include "framework/tensor.h"
#include "framework/thread_pool.h"
#include "gtest/gtest.h"
#include "ops/all_ops.h"

namespace minigraph {
namespace {

struct Case {
  std::string name;
  std::function<Tensor()> run;
};

Tensor Random(const Shape& shape, uint64_t seed, DType dtype) {
  Generator gen(seed);
  return Tensor::Uniform(shape, -2, 2, gen, dtype);
}

std::vector<Case> Cases(DType dtype) {
  const Tensor a = Random({300, 280}, 1, dtype);
  const Tensor b = Random({280, 200}, 2, dtype);
  const Tensor bt = Random({200, 280}, 3, dtype);
  const Tensor at = Random({280, 300}, 4, dtype);
  const Tensor batch = Random({3, 70, 90}, 5, dtype);
  const Tensor shared = Random({90, 50}, 6, dtype);
  const Tensor scores = Random({512, 300}, 7, dtype);
  const Tensor wide = Random({300, 1000}, 8, dtype);
  const Tensor row = Random({1000}, 9, dtype);
  // Few rows: the small-M kernels split W (or B's columns) between threads.
  const Tensor one_row = Random({1, 1000}, 16, dtype);
  const Tensor five_rows = Random({5, 300}, 17, dtype);
  const Tensor eight_rows = Random({8, 1000}, 18, dtype);
  const Tensor flat = Random({400001}, 10, dtype);
  const Tensor flat2 = Random({400001}, 11, dtype);
  // Grouped attention, 4 query heads over 2 key/value heads.
  const Tensor q = Random({2, 4, 200, 64}, 12, dtype);
  const Tensor k = Random({2, 2, 200, 64}, 13, dtype);
  const Tensor v = Random({2, 2, 200, 64}, 14, dtype);
  const Tensor dy = Random({2, 4, 200, 64}, 15, dtype);
  // Gradient `which` (0: dq, 1: dk, 2: dv) of <dy, attention(q, k, v)>.
  auto attention_grad = [=](int which) {
    const FlashAttentionOutputs out =
        FlashAttentionWithLse(q, k, v, true, 0.125, 48);
    const Tensor zero_dlse = Tensor::Zeros(out.lse.shape(), dtype);
    const FlashAttentionGrads g = FlashAttentionBackward(
        q, k, v, out.y, out.lse, dy, zero_dlse, true, 0.125, 48);
    return which == 0 ? g.dq : which == 1 ? g.dk : g.dv;
  };
  return {
      {"matmul_nn", [=] { return Matmul(a, b); }},
      {"matmul_nt", [=] { return Matmul(a, bt, false, true); }},
      {"matmul_tn", [=] { return Matmul(at, b, true, false); }},
      {"matmul_tt", [=] { return Matmul(at, bt, true, true); }},
      {"matmul_batched", [=] { return Matmul(batch, shared); }},
      {"matmul_m1_nt", [=] { return Matmul(one_row, wide, false, true); }},
      {"matmul_m5_nn", [=] { return Matmul(five_rows, wide); }},
      {"matmul_m8_nt", [=] { return Matmul(eight_rows, wide, false, true); }},
      {"softmax_rows", [=] { return Softmax(scores, -1); }},
      {"softmax_columns", [=] { return Softmax(scores, 0); }},
      {"log_softmax_rows", [=] { return LogSoftmax(scores, -1); }},
      {"sum_rows", [=] { return Sum(wide, {-1}); }},
      {"sum_columns", [=] { return Sum(wide, {0}); }},
      {"sum_all", [=] { return Sum(flat); }},
      {"mean_all", [=] { return Mean(wide); }},
      {"max_columns", [=] { return Max(wide, {0}); }},
      {"exp", [=] { return Exp(flat); }},
      {"add_row_broadcast", [=] { return Add(wide, row); }},
      {"mul_flat", [=] { return Mul(flat, flat2); }},
      {"flash_attention",
       [=] { return FlashAttention(q, k, v, true, 0.125, 48); }},
      {"flash_attention_dq", [=] { return attention_grad(0); }},
      {"flash_attention_dk", [=] { return attention_grad(1); }},
      {"flash_attention_dv", [=] { return attention_grad(2); }},
  };
}

std::vector<char> Bytes(const Tensor& t) {
  const Tensor c = CopyToContiguous(t);
  const char* data = static_cast<const char*>(c.storage()->data()) +
                     c.offset() * DTypeSize(c.dtype());
  return std::vector<char>(data, data + c.numel() * DTypeSize(c.dtype()));
}

class ThreadingTest : public ::testing::TestWithParam<DType> {
 protected:
  void TearDown() override { ASSERT_TRUE(SetNumThreads(2).ok()); }
};

TEST_P(ThreadingTest, SameBitsAtEveryThreadCountAndEveryRun) {
  NoGradGuard no_grad;
  for (const Case& c : Cases(GetParam())) {
    ASSERT_TRUE(SetNumThreads(1).ok());
    const std::vector<char> single = Bytes(c.run());
    for (int threads : {2, 3, 4}) {
      ASSERT_TRUE(SetNumThreads(threads).ok());
      for (int run = 0; run < 2; ++run) {
        EXPECT_TRUE(Bytes(c.run()) == single)
            << c.name << " with " << threads << " threads, run " << run;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(BothFloatTypes, ThreadingTest,
                         ::testing::Values(DType::kFloat32, DType::kFloat64),
                         [](const ::testing::TestParamInfo<DType>& info) {
                           return std::string(DTypeName(info.param));
                         });

}  // namespace
}  // namespace minigraph
