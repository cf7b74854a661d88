// End-to-end tests of `minigraph attention`: the real binary is run on
// safetensors files written here byte by byte the way PyTorch's
// safetensors.torch.save_file writes them (header {"__metadata__":
// {"format":"pt"}, tensors in name order}, padded with spaces to 8 bytes,
// little-endian data), and its outputs are compared with the naive
// double-loop attention of tests/models/naive_attention.cc and with central
// finite differences of it for --grad.
#include <sys/stat.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "framework/safetensors.h"
#include "framework/tensor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/models/naive_attention.h"
#include "tests/tools/cli_test_util.h"

namespace minigraph {
namespace {

using ::minigraph::testing::NaiveAttention;
using ::minigraph::testing::NaiveAttentionResult;
using ::minigraph::testing::NaiveAttentionSpec;
using ::minigraph::testing::NaiveGradient;
using ::minigraph::testing::RunMinigraph;
using ::minigraph::testing::RunResult;
using ::minigraph::testing::TempPath;
using ::testing::HasSubstr;

// One tensor of a file, with its values as float32 or int64 ("F32", "I64").
struct Entry {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;
  std::vector<double> values;
};

std::string TorchStyleSafetensors(std::vector<Entry> entries) {
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.name < b.name; });
  std::string header = "{\"__metadata__\":{\"format\":\"pt\"}";
  std::string data;
  for (const Entry& e : entries) {
    const size_t begin = data.size();
    for (double v : e.values) {
      char bytes[8];
      size_t n = 0;
      if (e.dtype == "F32") {
        const float f = static_cast<float>(v);
        uint32_t bits;
        std::memcpy(&bits, &f, 4);
        for (int i = 0; i < 4; ++i)
          bytes[n++] = static_cast<char>(bits >> (8 * i));
      } else {
        const int64_t value = static_cast<int64_t>(v);
        uint64_t bits;
        std::memcpy(&bits, &value, 8);
        for (int i = 0; i < 8; ++i)
          bytes[n++] = static_cast<char>(bits >> (8 * i));
      }
      data.append(bytes, n);
    }
    absl::StrAppend(&header, ",\"", e.name, "\":{\"dtype\":\"", e.dtype,
                    "\",\"shape\":[", absl::StrJoin(e.shape, ","),
                    "],\"data_offsets\":[", begin, ",", data.size(), "]}");
  }
  header += "}";
  while (header.size() % 8 != 0) header += ' ';
  std::string file;
  const uint64_t length = header.size();
  for (int i = 0; i < 8; ++i)
    file.push_back(static_cast<char>(length >> (8 * i)));
  return file + header + data;
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

bool Exists(const std::string& path) {
  struct stat info;
  return stat(path.c_str(), &info) == 0;
}

// Known values: a fixed formula, rounded to float32 (what the file holds).
std::vector<double> Known(int64_t n, double salt, double scale) {
  std::vector<double> v(n);
  for (int64_t i = 0; i < n; ++i) {
    v[i] = static_cast<float>(scale * std::sin(1.37 * i + salt) +
                              0.1 * scale * std::cos(0.11 * i * salt));
  }
  return v;
}

void ExpectClose(const Tensor& got, const std::vector<double>& want, double tol,
                 const std::string& what) {
  const std::vector<double> values = got.ToVector<double>();
  ASSERT_EQ(values.size(), want.size()) << what;
  for (size_t i = 0; i < want.size(); ++i) {
    ASSERT_NEAR(values[i], want[i], tol * (1.0 + std::abs(want[i])))
        << what << " entry " << i;
  }
}

// hidden 16, 4 query heads, 2 KV heads, head_dim 4.
constexpr int64_t kB = 2, kT = 4, kC = 16, kH = 4, kKV = 2, kD = 4;

NaiveAttentionSpec Spec() {
  NaiveAttentionSpec s;
  s.batch = kB;
  s.seq = kT;
  s.hidden = kC;
  s.heads = kH;
  s.kv_heads = kKV;
  s.head_dim = kD;
  s.x = Known(kB * kT * kC, 0.3, 1.0);
  s.wq = Known(kH * kD * kC, 1.1, 0.3);
  s.wk = Known(kKV * kD * kC, 2.3, 0.3);
  s.wv = Known(kKV * kD * kC, 3.7, 0.3);
  s.wo = Known(kC * kH * kD, 4.1, 0.3);
  return s;
}

std::string WriteWeights(const NaiveAttentionSpec& s, const std::string& prefix,
                         const std::string& file, bool drop_k = false) {
  std::vector<Entry> entries = {
      {prefix + "q_proj.weight", "F32", {kH * kD, kC}, s.wq},
      {prefix + "v_proj.weight", "F32", {kKV * kD, kC}, s.wv},
      {prefix + "o_proj.weight", "F32", {kC, kH * kD}, s.wo},
      // Another layer's tensors, which the prefix must skip.
      {"model.layers.1.self_attn.q_proj.weight", "F32", {2, 2}, {1, 2, 3, 4}},
  };
  if (!drop_k) {
    entries.push_back({prefix + "k_proj.weight", "F32", {kKV * kD, kC}, s.wk});
  }
  const std::string path = TempPath(file);
  WriteFile(path, TorchStyleSafetensors(entries));
  return path;
}

const char kPrefix[] = "model.layers.0.self_attn.";

TEST(AttentionCliTest, Float64ForwardAndGradMatchTheNaiveImplementation) {
  NaiveAttentionSpec spec = Spec();
  spec.rope_theta = 100.0;
  spec.start_pos = 3;
  const std::vector<double> grad_output = Known(kB * kT * kC, 5.5, 1.0);
  const std::string w = WriteWeights(spec, kPrefix, "w64.safetensors");
  const std::string x = TempPath("x64.safetensors");
  WriteFile(x, TorchStyleSafetensors(
                   {{"x", "F32", {kB, kT, kC}, spec.x},
                    {"grad_output", "F32", {kB, kT, kC}, grad_output}}));
  const std::string y = TempPath("y64.safetensors");
  const RunResult run = RunMinigraph({"attention",
                                      "--weights",
                                      w,
                                      "--prefix",
                                      kPrefix,
                                      "--input",
                                      x,
                                      "--output",
                                      y,
                                      "--grad",
                                      "--dtype",
                                      "f64",
                                      "--heads",
                                      "4",
                                      "--kv-heads",
                                      "2",
                                      "--rope-theta",
                                      "100",
                                      "--no-flash",
                                      "--start-pos",
                                      "3"});
  ASSERT_EQ(run.exit_code, 0) << run.stderr_text;
  const SafetensorsFile out = ValueOrDie(ReadSafetensors(y));
  EXPECT_EQ(out.metadata.at("path"), "composed");
  EXPECT_EQ(out.tensors.at("y").dtype(), DType::kFloat64);
  ExpectClose(out.tensors.at("y"), NaiveAttention(spec).y, 1e-12, "y");
  const char* names[] = {"grad.x", "grad.q_proj.weight", "grad.k_proj.weight",
                         "grad.v_proj.weight", "grad.o_proj.weight"};
  for (int which = 0; which < 5; ++which) {
    ASSERT_EQ(out.tensors.count(names[which]), 1u) << names[which];
    ExpectClose(out.tensors.at(names[which]),
                NaiveGradient(spec, grad_output, which), 1e-7, names[which]);
  }
  EXPECT_EQ(out.tensors.size(), 6u);
}

TEST(AttentionCliTest, Float32FusedPathWithDefaultGradOutput) {
  const NaiveAttentionSpec spec = Spec();  // theta 1e6, start 0
  const std::string w = WriteWeights(spec, "", "w32.safetensors");
  const std::string x = TempPath("x32.safetensors");
  WriteFile(x, TorchStyleSafetensors({{"x", "F32", {kB, kT, kC}, spec.x}}));
  const std::string y = TempPath("y32.safetensors");
  const RunResult run =
      RunMinigraph({"attention", "--weights", w, "--input", x, "--output", y,
                    "--grad", "--heads", "4", "--kv_heads", "2"});
  ASSERT_EQ(run.exit_code, 0) << run.stderr_text;
  const SafetensorsFile out = ValueOrDie(ReadSafetensors(y));
  EXPECT_EQ(out.metadata.at("path"), "fused");
  EXPECT_EQ(out.tensors.at("y").dtype(), DType::kFloat32);
  ExpectClose(out.tensors.at("y"), NaiveAttention(spec).y, 2e-5, "y");
  // The gradient of sum(y).
  const std::vector<double> ones(kB * kT * kC, 1.0);
  ExpectClose(out.tensors.at("grad.x"), NaiveGradient(spec, ones, 0), 2e-4,
              "grad.x");
  ExpectClose(out.tensors.at("grad.o_proj.weight"),
              NaiveGradient(spec, ones, 4), 2e-4, "grad.o_proj.weight");
}

TEST(AttentionCliTest, PaddingMaskAndSavedWeights) {
  NaiveAttentionSpec spec = Spec();
  spec.mask = {0, 1, 1, 1, 1, 1, 0, 1};  // int64, as tokenizers give it
  const std::string w = WriteWeights(spec, kPrefix, "wm.safetensors");
  const std::string x = TempPath("xm.safetensors");
  WriteFile(x, TorchStyleSafetensors(
                   {{"x", "F32", {kB, kT, kC}, spec.x},
                    {"attention_mask", "I64", {kB, kT}, spec.mask}}));
  const std::string y = TempPath("ym.safetensors");
  const RunResult run =
      RunMinigraph({"attention", "--weights", w, "--prefix", kPrefix, "--input",
                    x, "--output", y, "--heads", "4", "--kv-heads", "2",
                    "--save-attn", "--dtype", "f64"});
  ASSERT_EQ(run.exit_code, 0) << run.stderr_text;
  const SafetensorsFile out = ValueOrDie(ReadSafetensors(y));
  const NaiveAttentionResult want = NaiveAttention(spec);
  ExpectClose(out.tensors.at("y"), want.y, 1e-12, "y");
  EXPECT_EQ(out.tensors.at("attn").shape(), Shape({kB, kH, kT, kT}));
  ExpectClose(out.tensors.at("attn"), want.weights, 1e-12, "attn");
}

// Each bad input: exit status 2, a message naming the file and the tensor
// (or the flag), and no output file.
TEST(AttentionCliTest, BadInputExitsWithTwoAndWritesNothing) {
  const NaiveAttentionSpec spec = Spec();
  const std::string w = WriteWeights(spec, kPrefix, "wb.safetensors");
  const std::string no_k =
      WriteWeights(spec, kPrefix, "wb_no_k.safetensors", /*drop_k=*/true);
  const std::string x = TempPath("xb.safetensors");
  WriteFile(x, TorchStyleSafetensors({{"x", "F32", {kB, kT, kC}, spec.x}}));
  const std::string x_wide = TempPath("xb_wide.safetensors");
  WriteFile(
      x_wide,
      TorchStyleSafetensors(
          {{"x", "F32", {kB, kT, 2 * kC}, Known(kB * kT * 2 * kC, 0.1, 1.0)}}));
  const std::string truncated = TempPath("wb_truncated.safetensors");
  {
    std::ifstream in(w, std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    WriteFile(truncated, bytes.str().substr(0, bytes.str().size() - 10));
  }
  const std::string y = TempPath("yb.safetensors");
  struct Bad {
    std::vector<std::string> args;
    std::vector<std::string> message_parts;
  };
  const std::vector<Bad> cases = {
      {{"--weights", no_k, "--prefix", kPrefix, "--input", x, "--heads", "4"},
       {no_k, "model.layers.0.self_attn.k_proj.weight", "not found"}},
      {{"--weights", w, "--input", x, "--heads", "4"},
       {w, "'q_proj.weight' not found"}},
      {{"--weights", w, "--prefix", kPrefix, "--input", x_wide, "--heads", "4"},
       {x_wide, "'x'", "[2, 4, 32]", "expected [B, T, 16]"}},
      {{"--weights", w, "--prefix", kPrefix, "--input", x, "--heads", "4",
        "--kv-heads", "4"},
       {w, "k_proj.weight", "expected [16, 16]"}},
      {{"--weights", w, "--prefix", kPrefix, "--input", x, "--heads", "3",
        "--kv-heads", "1"},
       {w, "q_proj.weight", "16 rows are not heads*head_dim for --heads 3"}},
      {{"--weights", truncated, "--prefix", kPrefix, "--input", x, "--heads",
        "4"},
       {truncated}},
      {{"--weights", w, "--prefix", kPrefix, "--input", x, "--heads", "4",
        "--dtype", "f16"},
       {"--dtype"}},
      {{"--weights", w, "--input", x, "--heads", "4", "--layers", "2"},
       {"unknown flag --layers"}},
  };
  for (const Bad& bad : cases) {
    std::vector<std::string> args = {"attention", "--output", y};
    args.insert(args.end(), bad.args.begin(), bad.args.end());
    const RunResult run = RunMinigraph(args);
    EXPECT_EQ(run.exit_code, 2) << absl::StrJoin(args, " ");
    for (const std::string& part : bad.message_parts) {
      EXPECT_THAT(run.stderr_text, HasSubstr(part)) << absl::StrJoin(args, " ");
    }
    EXPECT_FALSE(Exists(y)) << absl::StrJoin(args, " ");
  }
}

}  // namespace
}  // namespace minigraph
