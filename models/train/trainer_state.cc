// trainer_state.json: the step a checkpoint holds and the plan of its run.
#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "framework/status_macros.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "models/train/trainer.h"

namespace minigraph {
namespace {

std::string Quoted(absl::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (static_cast<unsigned char>(c) < 0x20) {
      absl::StrAppendFormat(&out, "\\u%04x", static_cast<unsigned char>(c));
    } else {
      out.push_back(c);
    }
  }
  return out + "\"";
}

// 17 significant digits: every double reads back as the same bits.
std::string Exact(double value) { return absl::StrFormat("%.17g", value); }

using Fields = google::protobuf::Map<std::string, google::protobuf::Value>;

class Reader {
 public:
  Reader(const Fields& fields, absl::string_view source, std::string where)
      : fields_(fields), source_(source), where_(std::move(where)) {}

  absl::Status Number(absl::string_view key, double* out) const {
    MG_ASSIGN_OR_RETURN(const google::protobuf::Value* v, Find(key));
    if (v->kind_case() != google::protobuf::Value::kNumberValue) {
      return Error(key, "a number");
    }
    *out = v->number_value();
    return absl::OkStatus();
  }
  absl::Status Integer(absl::string_view key, int64_t* out) const {
    double value = 0.0;
    MG_RETURN_IF_ERROR(Number(key, &value));
    if (value != std::floor(value) || std::abs(value) > 9.007199254740992e15) {
      return Error(key, "an integer");
    }
    *out = static_cast<int64_t>(value);
    return absl::OkStatus();
  }
  absl::Status Unsigned(absl::string_view key, uint64_t* out) const {
    // Seeds are written as strings: JSON numbers hold 53 bits.
    MG_ASSIGN_OR_RETURN(const google::protobuf::Value* v, Find(key));
    if (v->kind_case() != google::protobuf::Value::kStringValue ||
        !absl::SimpleAtoi(v->string_value(), out)) {
      return Error(key, "a string holding an unsigned integer");
    }
    return absl::OkStatus();
  }
  absl::Status String(absl::string_view key, std::string* out) const {
    MG_ASSIGN_OR_RETURN(const google::protobuf::Value* v, Find(key));
    if (v->kind_case() != google::protobuf::Value::kStringValue) {
      return Error(key, "a string");
    }
    *out = v->string_value();
    return absl::OkStatus();
  }
  absl::Status Bool(absl::string_view key, bool* out) const {
    MG_ASSIGN_OR_RETURN(const google::protobuf::Value* v, Find(key));
    if (v->kind_case() != google::protobuf::Value::kBoolValue) {
      return Error(key, "true or false");
    }
    *out = v->bool_value();
    return absl::OkStatus();
  }

 private:
  absl::StatusOr<const google::protobuf::Value*> Find(
      absl::string_view key) const {
    auto it = fields_.find(std::string(key));
    if (it == fields_.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat(source_, ": key '", where_, key, "' is missing"));
    }
    return &it->second;
  }
  absl::Status Error(absl::string_view key, absl::string_view expected) const {
    return absl::InvalidArgumentError(
        absl::StrCat(source_, ": key '", where_, key, "' must be ", expected));
  }

  const Fields& fields_;
  absl::string_view source_;
  std::string where_;
};

}  // namespace

std::string TrainerStateToJson(const TrainPlan& plan, int64_t step,
                               int64_t batches_consumed) {
  std::string json = "{\n";
  absl::StrAppend(&json, "  \"step\": ", step, ",\n");
  absl::StrAppend(
      &json, "  \"data_position\": {\"batches_consumed\": ", batches_consumed,
      ", \"sampling\": \"windows from CounterHash(seed, index)\"},\n");
  absl::StrAppend(
      &json, "  \"rng\": {\"seed\": ", Quoted(absl::StrCat(plan.seed)), "},\n");
  absl::StrAppend(&json, "  \"plan\": {\n");
  auto field = [&](absl::string_view key, const std::string& value,
                   bool last = false) {
    absl::StrAppend(&json, "    ", Quoted(key), ": ", value,
                    last ? "\n" : ",\n");
  };
  field("model_dir", Quoted(plan.model_dir));
  field("preset", Quoted(plan.preset));
  field("data", Quoted(plan.data_path));
  field("tokenizer", Quoted(plan.tokenizer_path));
  field("steps", absl::StrCat(plan.steps));
  field("batch", absl::StrCat(plan.batch));
  field("seq", absl::StrCat(plan.seq));
  field("accum", absl::StrCat(plan.accum));
  field("optimizer", Quoted(plan.optimizer));
  field("lr", Exact(plan.schedule.lr));
  field("schedule", Quoted(ScheduleKindName(plan.schedule.kind)));
  field("warmup", absl::StrCat(plan.schedule.warmup_steps));
  field("min_lr", Exact(plan.schedule.min_lr));
  field("beta1", Exact(plan.adamw.beta1));
  field("beta2", Exact(plan.adamw.beta2));
  field("eps", Exact(plan.adamw.eps));
  field("adamw_weight_decay", Exact(plan.adamw.weight_decay));
  field("momentum", Exact(plan.sgd.momentum));
  field("dampening", Exact(plan.sgd.dampening));
  field("nesterov", plan.sgd.nesterov ? "true" : "false");
  field("sgd_weight_decay", Exact(plan.sgd.weight_decay));
  field("grad_clip", Exact(plan.grad_clip));
  field("dtype", Quoted(plan.dtype == DType::kFloat64 ? "f64" : "f32"));
  field("seed", Quoted(absl::StrCat(plan.seed)));
  field("eval_every", absl::StrCat(plan.eval_every));
  field("eval_batches", absl::StrCat(plan.eval_batches));
  field("checkpoint_every", absl::StrCat(plan.checkpoint_every), true);
  absl::StrAppend(&json, "  }\n}\n");
  return json;
}

absl::StatusOr<TrainerState> ParseTrainerState(absl::string_view json,
                                               absl::string_view source) {
  google::protobuf::Struct root;
  const auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), &root);
  if (!status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        source, ": not a JSON object (", status.message().as_string(), ")"));
  }
  TrainerState state;
  const Reader top(root.fields(), source, "");
  MG_RETURN_IF_ERROR(top.Integer("step", &state.step));
  auto plan_it = root.fields().find("plan");
  if (plan_it == root.fields().end() ||
      plan_it->second.kind_case() != google::protobuf::Value::kStructValue) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": key 'plan' is missing or not an object"));
  }
  const Reader r(plan_it->second.struct_value().fields(), source, "plan.");
  TrainPlan& p = state.plan;
  std::string schedule, dtype;
  MG_RETURN_IF_ERROR(r.String("model_dir", &p.model_dir));
  MG_RETURN_IF_ERROR(r.String("preset", &p.preset));
  MG_RETURN_IF_ERROR(r.String("data", &p.data_path));
  // Absent in checkpoints written before runs could name a tokenizer.
  if (plan_it->second.struct_value().fields().contains("tokenizer")) {
    MG_RETURN_IF_ERROR(r.String("tokenizer", &p.tokenizer_path));
  }
  MG_RETURN_IF_ERROR(r.Integer("steps", &p.steps));
  MG_RETURN_IF_ERROR(r.Integer("batch", &p.batch));
  MG_RETURN_IF_ERROR(r.Integer("seq", &p.seq));
  MG_RETURN_IF_ERROR(r.Integer("accum", &p.accum));
  MG_RETURN_IF_ERROR(r.String("optimizer", &p.optimizer));
  MG_RETURN_IF_ERROR(r.Number("lr", &p.schedule.lr));
  MG_RETURN_IF_ERROR(r.String("schedule", &schedule));
  MG_RETURN_IF_ERROR(r.Integer("warmup", &p.schedule.warmup_steps));
  MG_RETURN_IF_ERROR(r.Number("min_lr", &p.schedule.min_lr));
  MG_RETURN_IF_ERROR(r.Number("beta1", &p.adamw.beta1));
  MG_RETURN_IF_ERROR(r.Number("beta2", &p.adamw.beta2));
  MG_RETURN_IF_ERROR(r.Number("eps", &p.adamw.eps));
  MG_RETURN_IF_ERROR(r.Number("adamw_weight_decay", &p.adamw.weight_decay));
  MG_RETURN_IF_ERROR(r.Number("momentum", &p.sgd.momentum));
  MG_RETURN_IF_ERROR(r.Number("dampening", &p.sgd.dampening));
  MG_RETURN_IF_ERROR(r.Bool("nesterov", &p.sgd.nesterov));
  MG_RETURN_IF_ERROR(r.Number("sgd_weight_decay", &p.sgd.weight_decay));
  MG_RETURN_IF_ERROR(r.Number("grad_clip", &p.grad_clip));
  MG_RETURN_IF_ERROR(r.String("dtype", &dtype));
  MG_RETURN_IF_ERROR(r.Unsigned("seed", &p.seed));
  MG_RETURN_IF_ERROR(r.Integer("eval_every", &p.eval_every));
  MG_RETURN_IF_ERROR(r.Integer("eval_batches", &p.eval_batches));
  MG_RETURN_IF_ERROR(r.Integer("checkpoint_every", &p.checkpoint_every));
  absl::StatusOr<ScheduleKind> kind = ParseScheduleKind(schedule);
  if (!kind.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        source, ": key 'plan.schedule': ", kind.status().message()));
  }
  p.schedule.kind = *kind;
  p.schedule.total_steps = p.steps;
  if (dtype != "f32" && dtype != "f64") {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": key 'plan.dtype' must be \"f32\" or \"f64\""));
  }
  p.dtype = dtype == "f64" ? DType::kFloat64 : DType::kFloat32;
  if (absl::Status s = ValidatePlan(p); !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": the saved plan is invalid: ", s.message()));
  }
  if (state.step < 1 || state.step > p.steps) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": key 'step' is ",
                                                   state.step, ", outside [1, ",
                                                   p.steps, "] (plan.steps)"));
  }
  return state;
}

}  // namespace minigraph
