#include "tests/framework/tokenizer/golden_util.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace minigraph {
namespace {

using ::google::protobuf::Struct;
using ::google::protobuf::Value;

std::vector<int64_t> IntList(const Struct& row, const std::string& key) {
  std::vector<int64_t> out;
  auto it = row.fields().find(key);
  if (it == row.fields().end()) return out;
  for (const Value& value : it->second.list_value().values()) {
    out.push_back(static_cast<int64_t>(value.number_value()));
  }
  return out;
}

std::string StringField(const Struct& row, const std::string& key) {
  auto it = row.fields().find(key);
  return it == row.fields().end() ? "" : it->second.string_value();
}

}  // namespace

std::string TokenizerTestDataPath(absl::string_view name) {
  const char* root = std::getenv("TEST_SRCDIR");
  return absl::StrCat(root == nullptr ? "." : root,
                      "/minigraph/tests/framework/tokenizer/testdata/", name);
}

absl::StatusOr<std::string> ReadTextFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  std::ostringstream contents;
  contents << file.rdbuf();
  return contents.str();
}

absl::StatusOr<std::vector<GoldenRow>> ReadGoldenRows(const std::string& path) {
  absl::StatusOr<std::string> text = ReadTextFile(path);
  if (!text.ok()) return text.status();
  std::vector<GoldenRow> rows;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    ++line_number;
    if (line.empty()) continue;
    Struct row;
    const auto status = google::protobuf::util::JsonStringToMessage(
        google::protobuf::StringPiece(line.data(), line.size()), &row);
    if (!status.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", line_number, ": ", status.ToString()));
    }
    GoldenRow golden;
    if (row.fields().contains("bytes_b64")) {
      if (!absl::Base64Unescape(StringField(row, "bytes_b64"), &golden.input)) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ":", line_number, ": bad base64"));
      }
    } else {
      golden.input = StringField(row, "text");
    }
    golden.ids = IntList(row, "ids");
    golden.piece_lengths = IntList(row, "piece_lengths");
    golden.decoded = StringField(row, "decoded");
    golden.decoded_skip_special = StringField(row, "decoded_skip_special");
    rows.push_back(std::move(golden));
  }
  return rows;
}

}  // namespace minigraph
