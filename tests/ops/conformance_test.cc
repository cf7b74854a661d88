// Walks every registered op through its own samples: shape inference against
// the kernel's outputs, the kernel against the op's scalar reference in
// float32 and float64, float64 finite-difference gradcheck, and second-order
// gradcheck. An op without samples fails. Prints a table of ops by checks.
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "framework/gradcheck.h"
#include "framework/op_registry.h"
#include "gtest/gtest.h"
#include "ops/all_ops.h"

namespace minigraph {
namespace {

// t converted to `dtype` with the same shape, strides and offset, so that a
// sample given as a permuted, sliced or expanded view reaches the kernel as
// one.
Tensor ConvertKeepingLayout(const Tensor& t, DType dtype) {
  int64_t extent = t.offset() + 1;
  for (int d = 0; d < t.dim(); ++d) {
    if (t.shape()[d] == 0) return ConvertDType(t, dtype);
    extent += (t.shape()[d] - 1) * t.strides()[d];
  }
  const Tensor base = Tensor::Zeros({extent}, dtype);
  const Tensor view = MakeView(base, t.shape(), t.strides(), t.offset());
  const std::vector<double> values = t.ToVector<double>();
  ForEachOffset(t.shape(), t.strides(), t.offset(), [&](int64_t i, int64_t e) {
    switch (dtype) {
      case DType::kFloat32:
        static_cast<float*>(base.storage()->data())[e] = values[i];
        break;
      case DType::kFloat64:
        static_cast<double*>(base.storage()->data())[e] = values[i];
        break;
      case DType::kInt64:
        static_cast<int64_t*>(base.storage()->data())[e] = values[i];
        break;
    }
  });
  return view;
}

// Float inputs converted to `dtype`; int64 inputs (indices) kept. Layouts
// are kept.
std::vector<Tensor> InputsAs(const std::vector<Tensor>& inputs, DType dtype) {
  std::vector<Tensor> out;
  for (const Tensor& t : inputs) {
    out.push_back(
        ConvertKeepingLayout(t, IsFloating(t.dtype()) ? dtype : t.dtype()));
  }
  return out;
}

// Equal up to tolerance; equal infinities and both-NaN count as equal.
bool Close(double actual, double expected, double atol, double rtol) {
  if (std::isnan(expected)) return std::isnan(actual);
  if (std::isinf(expected)) return actual == expected;
  return std::abs(actual - expected) <= atol + rtol * std::abs(expected);
}

// "" when equal, else what differs first.
std::string CompareTensors(const Tensor& actual, const Tensor& expected,
                           double atol, double rtol) {
  if (actual.dtype() != expected.dtype() ||
      actual.shape() != expected.shape()) {
    return absl::StrCat("got ", DTypeName(actual.dtype()),
                        ShapeToString(actual.shape()), ", reference ",
                        DTypeName(expected.dtype()),
                        ShapeToString(expected.shape()));
  }
  const std::vector<double> a = actual.ToVector<double>();
  const std::vector<double> e = expected.ToVector<double>();
  for (size_t i = 0; i < a.size(); ++i) {
    if (!Close(a[i], e[i], atol, rtol)) {
      return absl::StrCat("element ", i, ": kernel ", a[i], ", reference ",
                          e[i]);
    }
  }
  return "";
}

struct OpRow {
  int samples = 0;
  std::map<std::string, std::string> cells;  // check -> "ok" | "FAIL" | "n/a"
  void Mark(const std::string& check, bool ok) {
    std::string& cell = cells[check];
    if (!ok) {
      cell = "FAIL";
    } else if (cell.empty()) {
      cell = "ok";
    }
  }
};

const char* const kChecks[] = {"infer", "f32_vs_ref", "f64_vs_ref", "gradcheck",
                               "gradgrad"};

TEST(ConformanceTest, EveryRegisteredOpPassesEveryCheck) {
  const std::vector<const OpDef*> ops = AllOps();
  ASSERT_FALSE(ops.empty());
  std::map<std::string, OpRow> table;
  int strided_samples = 0;
  for (const OpDef* def : ops) {
    SCOPED_TRACE(def->name);
    OpRow& row = table[def->name];
    const std::vector<OpSample> samples = def->samples();
    EXPECT_FALSE(samples.empty()) << "op " << def->name << " has no samples";
    if (samples.empty()) row.cells["infer"] = "FAIL (no samples)";
    bool differentiable = false;
    for (const OpSample& sample : samples) {
      SCOPED_TRACE(sample.label);
      ++row.samples;
      for (const Tensor& t : sample.inputs) {
        if (!t.is_contiguous()) {
          ++strided_samples;
          break;
        }
      }
      for (DType dtype : {DType::kFloat32, DType::kFloat64}) {
        const std::vector<Tensor> inputs = InputsAs(sample.inputs, dtype);
        absl::StatusOr<std::vector<Tensor>> outputs =
            CallOp(def->name, inputs, sample.attrs);
        ASSERT_TRUE(outputs.ok()) << outputs.status();
        // Inference on its own agrees with what the kernel produced.
        Attrs attrs = sample.attrs;
        ASSERT_TRUE(ValidateAttrs(def->attrs, def->name, attrs).ok());
        std::vector<TensorMeta> metas;
        for (const Tensor& t : inputs) metas.push_back(t.meta());
        absl::StatusOr<std::vector<TensorMeta>> inferred =
            def->infer(InferContext{metas, attrs});
        ASSERT_TRUE(inferred.ok()) << inferred.status();
        bool infer_ok = inferred->size() == outputs->size();
        for (size_t i = 0; infer_ok && i < outputs->size(); ++i) {
          infer_ok = (*inferred)[i].shape == (*outputs)[i].shape() &&
                     (*inferred)[i].dtype == (*outputs)[i].dtype();
        }
        EXPECT_TRUE(infer_ok);
        row.Mark("infer", infer_ok);
        // Kernel against the scalar reference.
        const std::vector<Tensor> expected = def->reference(inputs, attrs);
        ASSERT_EQ(expected.size(), outputs->size());
        bool ref_ok = true;
        for (size_t i = 0; i < expected.size(); ++i) {
          const std::string diff =
              dtype == DType::kFloat64
                  ? CompareTensors((*outputs)[i], expected[i], 1e-12, 1e-10)
                  : CompareTensors((*outputs)[i], expected[i], 1e-5, 1e-4);
          EXPECT_EQ(diff, "") << DTypeName(dtype) << " output " << i;
          ref_ok = ref_ok && diff.empty();
        }
        row.Mark(dtype == DType::kFloat64 ? "f64_vs_ref" : "f32_vs_ref",
                 ref_ok);
      }
      // Gradients, float64, against central finite differences.
      std::vector<bool> check(sample.inputs.size());
      bool any = false;
      for (size_t i = 0; i < check.size(); ++i) {
        check[i] = IsFloating(sample.inputs[i].dtype()) &&
                   def->IsDifferentiable(static_cast<int>(i));
        any = any || check[i];
      }
      if (!any) continue;
      differentiable = true;
      const std::string name = def->name;
      const Attrs attrs = sample.attrs;
      DifferentiableFn fn = [name, attrs](const std::vector<Tensor>& x) {
        return ValueOrDie(CallOp(name, x, attrs));
      };
      GradcheckOptions options;
      options.check_input = check;
      const std::vector<Tensor> inputs =
          InputsAs(sample.inputs, DType::kFloat64);
      absl::StatusOr<GradcheckReport> first = Gradcheck(fn, inputs, options);
      ASSERT_TRUE(first.ok()) << first.status();
      EXPECT_TRUE(first->passed) << first->ToString();
      row.Mark("gradcheck", first->passed);
      absl::StatusOr<GradcheckReport> second =
          GradGradcheck(fn, inputs, options);
      ASSERT_TRUE(second.ok()) << second.status();
      EXPECT_TRUE(second->passed) << second->ToString();
      row.Mark("gradgrad", second->passed);
    }
    if (!differentiable) {
      row.cells["gradcheck"] = "n/a";
      row.cells["gradgrad"] = "n/a";
    }
  }

  std::string header = absl::StrFormat("%-26s %7s", "op", "samples");
  for (const char* check : kChecks)
    absl::StrAppendFormat(&header, " %10s", check);
  std::string text = header + "\n";
  for (const auto& [name, row] : table) {
    absl::StrAppendFormat(&text, "%-26s %7d", name, row.samples);
    for (const char* check : kChecks) {
      auto it = row.cells.find(check);
      absl::StrAppendFormat(&text, " %10s",
                            it == row.cells.end() ? "-" : it->second);
    }
    text += "\n";
  }
  absl::StrAppendFormat(&text,
                        "%d registered ops; %d samples have a strided input\n",
                        table.size(), strided_samples);
  // The layout-keeping conversion above is only worth something if some
  // sample really is a view.
  EXPECT_GT(strided_samples, 0);
  std::printf("%s", text.c_str());
}

}  // namespace
}  // namespace minigraph
