#include "models/train/training_data.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "framework/graph_io.h"
#include "framework/random.h"
#include "framework/safetensors.h"
#include "framework/status_macros.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "models/train/byte_tokenizer.h"

namespace minigraph {
namespace {

// Text files larger than this are refused before reading (the token stream
// takes four bytes per byte of text).
constexpr int64_t kMaxTextBytes = int64_t{4} << 30;
// One document in twenty goes to the held-out split.
constexpr int64_t kEvalEvery = 20;

std::string Megabytes(int64_t bytes) {
  return absl::StrFormat("%.1f MB", static_cast<double>(bytes) / 1e6);
}

// ---- random windows over token streams --------------------------------------

class WindowData : public TrainingData {
 public:
  WindowData(std::vector<int32_t> train, std::vector<int32_t> eval,
             const DataOptions& options, std::string description)
      : train_(std::move(train)),
        eval_(std::move(eval)),
        options_(options),
        description_(std::move(description)) {}

  // Window b of the micro-batch starts at a position drawn from the counter
  // hash of (seed, its index in the run): stateless, so resumable.
  absl::StatusOr<TokenBatch> TrainBatch(int64_t step,
                                        int64_t micro) const override {
    const int64_t batch = options_.batch, seq = options_.seq;
    const uint64_t starts = static_cast<uint64_t>(train_.size() - seq + 1);
    std::vector<int64_t> ids(batch * seq);
    for (int64_t b = 0; b < batch; ++b) {
      const uint64_t counter = static_cast<uint64_t>(
          ((step - 1) * options_.accum + micro) * batch + b);
      const uint64_t start = CounterHash(options_.seed, counter) % starts;
      std::copy(train_.begin() + start, train_.begin() + start + seq,
                ids.begin() + b * seq);
    }
    return MakeBatch(ids);
  }

  int64_t NumEvalBatches() const override {
    return static_cast<int64_t>(eval_.size()) >= options_.seq
               ? options_.eval_batches
               : 0;
  }

  // Windows spread evenly over the held-out stream: the same every time.
  TokenBatch EvalBatch(int64_t index) const override {
    const int64_t batch = options_.batch, seq = options_.seq;
    const int64_t windows = options_.eval_batches * batch;
    const int64_t last_start = static_cast<int64_t>(eval_.size()) - seq;
    std::vector<int64_t> ids(batch * seq);
    for (int64_t b = 0; b < batch; ++b) {
      const int64_t w = index * batch + b;
      const int64_t start =
          windows > 1 ? static_cast<int64_t>(static_cast<double>(w) *
                                             last_start / (windows - 1))
                      : 0;
      std::copy(eval_.begin() + start, eval_.begin() + start + seq,
                ids.begin() + b * seq);
    }
    return MakeBatch(ids);
  }

  std::string Describe() const override { return description_; }
  int64_t batch() const override { return options_.batch; }
  int64_t seq() const override { return options_.seq; }

 private:
  TokenBatch MakeBatch(const std::vector<int64_t>& ids) const {
    const Tensor t = Tensor::FromData(ids, {options_.batch, options_.seq});
    return TokenBatch{t, t};
  }

  std::vector<int32_t> train_;
  std::vector<int32_t> eval_;
  DataOptions options_;
  std::string description_;
};

// ---- batches given in a safetensors file
// -------------------------------------

class SafetensorsData : public TrainingData {
 public:
  SafetensorsData(Tensor input_ids, Tensor labels, const DataOptions& options,
                  std::string description)
      : input_ids_(std::move(input_ids)),
        labels_(std::move(labels)),
        options_(options),
        description_(std::move(description)) {}

  absl::StatusOr<TokenBatch> TrainBatch(int64_t step,
                                        int64_t micro) const override {
    const int64_t index = (step - 1) * options_.accum + micro;
    if (index >= input_ids_.size(0)) {
      return absl::OutOfRangeError(absl::StrCat(
          options_.path, ": step ", step, " needs batch ", index + 1,
          " of input_ids, which holds ", input_ids_.size(0)));
    }
    return TokenBatch{Row(input_ids_, index), Row(labels_, index)};
  }
  int64_t NumEvalBatches() const override { return 0; }
  TokenBatch EvalBatch(int64_t) const override { return {}; }
  int64_t NumSteps() const override {
    return input_ids_.size(0) / options_.accum;
  }
  std::string Describe() const override { return description_; }
  int64_t batch() const override { return options_.batch; }
  int64_t seq() const override { return options_.seq; }

 private:
  static Tensor Row(const Tensor& t, int64_t index) {
    const int64_t rows = t.size(1), cols = t.size(2);
    std::vector<int64_t> values(t.data<int64_t>() + index * rows * cols,
                                t.data<int64_t>() + (index + 1) * rows * cols);
    return Tensor::FromData(values, {rows, cols});
  }

  Tensor input_ids_;
  Tensor labels_;
  DataOptions options_;
  std::string description_;
};

absl::Status CheckIds(const Tensor& t, const std::string& path,
                      const std::string& name, int64_t vocab_size,
                      bool allow_ignore) {
  const int64_t* ids = t.data<int64_t>();
  for (int64_t i = 0; i < t.numel(); ++i) {
    const int64_t id = ids[i];
    if ((id >= 0 && id < vocab_size) || (allow_ignore && id == -100)) continue;
    const int64_t per_batch = t.size(1) * t.size(2);
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": ", name, "[", i / per_batch, ", ", (i % per_batch) / t.size(2),
        ", ", i % t.size(2), "] is ", id, ", outside [0, ", vocab_size,
        ") (the model's vocab_size)", allow_ignore ? " and not -100" : ""));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<TrainingData>> OpenSafetensorsData(
    const DataOptions& options) {
  MG_ASSIGN_OR_RETURN(SafetensorsFile file, ReadSafetensors(options.path));
  auto it = file.tensors.find("input_ids");
  if (it == file.tensors.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat(options.path,
                     ": no tensor 'input_ids' (expected int64 [S, B, T]: S "
                     "batches of B sequences of T ids)"));
  }
  const Tensor input_ids = it->second;
  auto check_shape = [&](const Tensor& t, const std::string& name,
                         const Shape& expected) -> absl::Status {
    if (t.dtype() != DType::kInt64 || t.dim() != 3 ||
        (!expected.empty() && t.shape() != expected) || t.numel() == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          options.path, ": tensor '", name, "' is ", DTypeName(t.dtype()),
          ShapeToString(t.shape()), ", expected int64 ",
          expected.empty() ? std::string("[S, B, T] with S, B, T > 0")
                           : ShapeToString(expected)));
    }
    return absl::OkStatus();
  };
  MG_RETURN_IF_ERROR(check_shape(input_ids, "input_ids", {}));
  Tensor labels = input_ids;
  if (auto l = file.tensors.find("labels"); l != file.tensors.end()) {
    labels = l->second;
    MG_RETURN_IF_ERROR(check_shape(labels, "labels", input_ids.shape()));
  }
  MG_RETURN_IF_ERROR(CheckIds(input_ids, options.path, "input_ids",
                              options.vocab_size, /*allow_ignore=*/false));
  MG_RETURN_IF_ERROR(CheckIds(labels, options.path, "labels",
                              options.vocab_size, /*allow_ignore=*/true));
  if (input_ids.size(0) < options.accum) {
    return absl::InvalidArgumentError(
        absl::StrCat(options.path, ": input_ids holds ", input_ids.size(0),
                     " batches, fewer than one optimizer step of ",
                     options.accum, " micro-batches (--accum)"));
  }
  DataOptions own = options;
  own.batch = input_ids.size(1);
  own.seq = input_ids.size(2);
  const std::string description =
      absl::StrCat(options.path, ": ", input_ids.size(0), " batches of ",
                   own.batch, " x ", own.seq, " ids, in order",
                   labels.SharesStorageWith(input_ids) ? "" : ", with labels");
  return std::unique_ptr<TrainingData>(
      new SafetensorsData(input_ids, labels, own, description));
}

// ---- text
// --------------------------------------------------------------------

struct Documents {
  std::vector<std::string> texts;
  int64_t bytes = 0;
};

// MiniMind's pretraining format: one JSON object per line with a "text"
// string. Blank lines are skipped.
absl::StatusOr<Documents> ReadJsonl(const std::string& path,
                                    absl::string_view contents) {
  Documents docs;
  int64_t line_number = 0;
  for (absl::string_view line : absl::StrSplit(contents, '\n')) {
    ++line_number;
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    google::protobuf::Struct object;
    const auto status = google::protobuf::util::JsonStringToMessage(
        google::protobuf::StringPiece(line.data(), line.size()), &object);
    if (!status.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": line ", line_number, " is not a JSON object (",
                       status.message().as_string(), ")"));
    }
    auto it = object.fields().find("text");
    if (it == object.fields().end() ||
        it->second.kind_case() != google::protobuf::Value::kStringValue) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": line ", line_number,
          " has no \"text\" string (expected {\"text\": \"...\"})"));
    }
    docs.bytes += it->second.string_value().size();
    docs.texts.push_back(it->second.string_value());
  }
  return docs;
}

// The fortunes package's files: fortunes separated by lines holding "%".
absl::StatusOr<Documents> ReadDefaultCorpus() {
  DIR* dir = opendir(kDefaultCorpusDir);
  if (dir == nullptr) {
    return absl::NotFoundError(absl::StrCat(
        "the default corpus ", kDefaultCorpusDir,
        " is missing (Debian's fortunes package; ./bazelw installs it), or "
        "give --data FILE"));
  }
  std::vector<std::string> names;
  while (const dirent* entry = readdir(dir)) {
    const std::string name = entry->d_name;
    if (name.empty() || name[0] == '.' || absl::StrContains(name, ".")) {
      continue;  // .dat indexes, .u8 copies
    }
    names.push_back(name);
  }
  closedir(dir);
  std::sort(names.begin(), names.end());
  Documents docs;
  for (const std::string& name : names) {
    const std::string path = absl::StrCat(kDefaultCorpusDir, "/", name);
    struct stat info;
    if (stat(path.c_str(), &info) != 0 || !S_ISREG(info.st_mode)) continue;
    MG_ASSIGN_OR_RETURN(const std::string contents,
                        ReadFileToString(path, kMaxTextBytes));
    for (absl::string_view entry : absl::StrSplit(contents, "\n%\n")) {
      entry = absl::StripSuffix(absl::StripPrefix(entry, "%\n"), "\n%");
      if (absl::StripAsciiWhitespace(entry).empty()) continue;
      docs.bytes += entry.size();
      docs.texts.emplace_back(entry);
    }
  }
  if (docs.texts.empty()) {
    return absl::NotFoundError(absl::StrCat(
        "the default corpus ", kDefaultCorpusDir, " holds no fortunes"));
  }
  return docs;
}

// Appends the ids of `text` to `stream` in one call of the tokenizer.
void AppendIds(absl::string_view text, const Tokenizer* tokenizer,
               std::vector<int32_t>* stream) {
  if (tokenizer == nullptr) {
    stream->reserve(stream->size() + text.size());
    for (const char c : text) {
      stream->push_back(
          static_cast<int32_t>(kFirstByteId + static_cast<unsigned char>(c)));
    }
    return;
  }
  for (const int64_t id : tokenizer->Encode(text)) {
    stream->push_back(static_cast<int32_t>(id));
  }
}

void AppendDocument(const std::string& text, const DataOptions& options,
                    std::vector<int32_t>* stream) {
  stream->push_back(static_cast<int32_t>(options.bos_id));
  AppendIds(text, options.tokenizer, stream);
  stream->push_back(static_cast<int32_t>(options.eos_id));
}

std::string TokenizerName(const DataOptions& options) {
  if (options.tokenizer == nullptr) return "byte-level";
  return absl::StrCat("tokenizer of ", options.tokenizer->vocab_size(), " ids");
}

absl::StatusOr<std::unique_ptr<TrainingData>> FinishText(
    std::vector<int32_t> train, std::vector<int32_t> eval,
    const DataOptions& options, const std::string& source,
    std::string description) {
  if (static_cast<int64_t>(train.size()) < options.seq) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": ", train.size(),
                     " tokens for training, shorter than one window of --seq ",
                     options.seq));
  }
  return MakeWindowData(std::move(train), std::move(eval), options,
                        std::move(description));
}

absl::StatusOr<std::unique_ptr<TrainingData>> OpenTextData(
    const DataOptions& options) {
  const int64_t tokenizer_ids = options.tokenizer == nullptr
                                    ? kByteVocabSize
                                    : options.tokenizer->vocab_size();
  if (options.vocab_size < tokenizer_ids) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the model's vocab_size ", options.vocab_size,
        " is smaller than the tokenizer's ", tokenizer_ids, " ids",
        options.tokenizer == nullptr ? " (256 bytes + 3 special tokens)" : ""));
  }
  for (const int64_t id : {options.bos_id, options.eos_id}) {
    if (id < 0 || id >= options.vocab_size) {
      return absl::InvalidArgumentError(
          absl::StrCat("bos/eos id ", id, " is outside the vocabulary [0, ",
                       options.vocab_size, ")"));
    }
  }
  const bool is_default = options.path.empty();
  const std::string source =
      is_default ? std::string(kDefaultCorpusDir) : options.path;
  Documents docs;
  std::string contents;
  if (is_default) {
    MG_ASSIGN_OR_RETURN(docs, ReadDefaultCorpus());
  } else {
    MG_ASSIGN_OR_RETURN(contents,
                        ReadFileToString(options.path, kMaxTextBytes));
    if (absl::EndsWith(options.path, ".jsonl")) {
      MG_ASSIGN_OR_RETURN(docs, ReadJsonl(options.path, contents));
      contents.clear();
    }
  }
  std::vector<int32_t> train, eval;
  std::string what;
  if (is_default || absl::EndsWith(options.path, ".jsonl")) {
    if (docs.texts.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(source,
                       ": no documents (expected lines like "
                       "{\"text\": \"...\"})"));
    }
    // Every twentieth document is held out (none when there are fewer than
    // twenty; then evaluation is skipped).
    int64_t held_out = 0;
    for (size_t i = 0; i < docs.texts.size(); ++i) {
      const bool eval_doc =
          docs.texts.size() >= kEvalEvery && i % kEvalEvery == kEvalEvery - 1;
      AppendDocument(docs.texts[i], options, eval_doc ? &eval : &train);
      held_out += eval_doc;
    }
    what = absl::StrCat(source, ": ", docs.texts.size(), " documents, ",
                        Megabytes(docs.bytes), ", ", TokenizerName(options),
                        "; ", held_out, " held out for evaluation");
  } else {
    if (contents.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": the file is empty"));
    }
    // Plain text is one stream; its last 5% (from a line start) is held
    // out when both parts still hold a window.
    const int64_t size = static_cast<int64_t>(contents.size());
    size_t cut = contents.size();
    if (size / 20 >= options.seq && size - size / 20 >= options.seq) {
      cut = contents.find('\n', static_cast<size_t>(size - size / 20));
      cut = cut == std::string::npos ? contents.size() : cut + 1;
    }
    const absl::string_view text(contents);
    AppendTextIds(text.substr(0, cut), options.tokenizer, &train);
    AppendTextIds(text.substr(cut), options.tokenizer, &eval);
    if (static_cast<int64_t>(eval.size()) < options.seq) {
      // Too few ids to hold a window: train on everything.
      train.insert(train.end(), eval.begin(), eval.end());
      eval.clear();
    }
    what = absl::StrCat(source, ": ", Megabytes(size), " of text, ",
                        TokenizerName(options), "; ",
                        eval.empty() ? std::string("too short to hold out")
                                     : "the last 5% held out for evaluation");
  }
  return FinishText(std::move(train), std::move(eval), options, source, what);
}

}  // namespace

void AppendTextIds(absl::string_view text, const Tokenizer* tokenizer,
                   std::vector<int32_t>* ids, size_t piece_bytes) {
  // Printable ASCII other than space: never part of a whitespace run.
  auto is_graphic = [](char c) { return c > 0x20 && c < 0x7f; };
  // A prefix space would be added to every piece, not once.
  const bool can_split =
      tokenizer == nullptr || !tokenizer->spec().add_prefix_space;
  while (can_split && piece_bytes > 0 && text.size() > 2 * piece_bytes) {
    size_t cut = piece_bytes;
    while (cut + 1 < text.size() &&
           !(text[cut] == '\n' && is_graphic(text[cut - 1]) &&
             is_graphic(text[cut + 1]))) {
      ++cut;
    }
    if (cut + 1 >= text.size()) break;
    AppendIds(text.substr(0, cut + 1), tokenizer, ids);
    text.remove_prefix(cut + 1);
  }
  AppendIds(text, tokenizer, ids);
}

std::unique_ptr<TrainingData> MakeWindowData(std::vector<int32_t> train,
                                             std::vector<int32_t> eval,
                                             const DataOptions& options,
                                             std::string description) {
  return std::make_unique<WindowData>(std::move(train), std::move(eval),
                                      options, std::move(description));
}

absl::StatusOr<std::unique_ptr<TrainingData>> OpenTrainingData(
    const DataOptions& options) {
  if (options.batch <= 0 || options.seq <= 0 || options.accum <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--batch, --seq and --accum must be positive, got ",
                     options.batch, ", ", options.seq, ", ", options.accum));
  }
  if (absl::EndsWith(options.path, ".safetensors")) {
    return OpenSafetensorsData(options);
  }
  return OpenTextData(options);
}

}  // namespace minigraph
