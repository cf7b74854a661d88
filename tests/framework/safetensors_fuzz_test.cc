// Deterministic mutation fuzzing of ParseSafetensors: valid seed files are
// mutated (bit flips, interesting bytes, truncations, insertions, header
// length edits, JSON token edits) and every result must parse to a value or
// to an error that names the file, never crash or hang. Run under
// --config=asan and --config=ubsan to catch out-of-bounds reads.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "framework/safetensors.h"
#include "gtest/gtest.h"

namespace minigraph {
namespace {

constexpr int kCases = 100'000;
constexpr absl::string_view kSource = "fuzz.safetensors";

std::string LengthField(uint64_t n) {
  std::string out;
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>(n >> (8 * i)));
  return out;
}

std::string MakeFile(const std::string& header, const std::string& data) {
  return LengthField(header.size()) + header + data;
}

std::vector<std::string> Seeds() {
  std::vector<std::string> seeds;
  Generator gen(3);
  SafetensorsFile mixed;
  mixed.tensors["w"] = Tensor::Randn({3, 4}, gen, DType::kFloat32);
  mixed.tensors["b"] = Tensor::Randn({4}, gen, DType::kFloat64);
  mixed.tensors["ids"] = Tensor::FromData<int64_t>({1, -2, 3}, {3});
  mixed.tensors["s"] = Tensor::Scalar(2.0, DType::kFloat32);
  mixed.tensors["e"] = Tensor::Zeros({2, 0}, DType::kFloat32);
  mixed.metadata["format"] = "pt";
  mixed.metadata["q\"\\\n"] = "\u00e9";
  seeds.push_back(ValueOrDie(SerializeSafetensors(mixed)));

  SafetensorsFile single;
  single.tensors["model.layers.0.self_attn.q_proj.weight"] =
      Tensor::Randn({2, 2}, gen, DType::kFloat32);
  seeds.push_back(ValueOrDie(SerializeSafetensors(single)));

  seeds.push_back(ValueOrDie(SerializeSafetensors(SafetensorsFile())));

  // Half and bfloat16, listed out of data order, with whitespace.
  seeds.push_back(MakeFile(
      "{ \"bf\": {\"dtype\": \"BF16\", \"shape\": [2], \"data_offsets\": "
      "[4, 8]},\n  \"h\": {\"shape\": [1, 2], \"dtype\": \"F16\", "
      "\"data_offsets\": [0, 4]} }",
      std::string("\x00\x3C\x00\x7C\x80\x3F\xC0\x7F", 8)));
  return seeds;
}

// A small deterministic mutation engine; each case stacks 1-3 mutations.
class Mutator {
 public:
  explicit Mutator(uint64_t seed) : rng_(seed) {}

  size_t Below(size_t n) {
    return n == 0 ? 0 : std::uniform_int_distribution<size_t>(0, n - 1)(rng_);
  }
  template <typename T>
  const T& Pick(const std::vector<T>& values) {
    return values[Below(values.size())];
  }

  void Mutate(std::string& bytes, int kind) {
    switch (kind) {
      case 0:  // bit flip
        if (!bytes.empty()) bytes[Below(bytes.size())] ^= 1 << Below(8);
        break;
      case 1: {  // overwrite with an interesting byte
        static const std::vector<char> kBytes = {0,   '\xFF', '\x7F', '\x80',
                                                 '"', '{',    ']',    '-'};
        if (!bytes.empty()) bytes[Below(bytes.size())] = Pick(kBytes);
        break;
      }
      case 2:  // truncation
        bytes.resize(Below(bytes.size() + 1));
        break;
      case 3: {  // insertion of random bytes
        std::string inserted(1 + Below(8), '\0');
        for (char& c : inserted) c = static_cast<char>(Below(256));
        bytes.insert(Below(bytes.size() + 1), inserted);
        break;
      }
      case 4:  // header length field
        EditLength(bytes);
        break;
      case 5:  // a JSON number replaced
        ReplaceToken(
            bytes, IsNumberChar,
            {"-1", "0", "-0", "1.5", "1e3", "1e308", "1e400", "4294967296",
             "9007199254740992", "9007199254740993", "18446744073709551615",
             "18446744073709551616", "99999999999999999999999999999",
             "-9223372036854775808", "NaN", "null", "\"7\"", "[]", "{}"});
        break;
      case 6:  // a string (dtype, key, name) replaced
        ReplaceString(bytes);
        break;
      case 7:  // a structural character removed or duplicated
        EditStructure(bytes);
        break;
      case 8: {  // a range of the file duplicated elsewhere
        if (bytes.empty()) break;
        const size_t begin = Below(bytes.size());
        const std::string piece = bytes.substr(begin, 1 + Below(32));
        bytes.insert(Below(bytes.size() + 1), piece);
        break;
      }
    }
  }

  static constexpr int kKinds = 9;

 private:
  static bool IsNumberChar(char c) {
    return (c >= '0' && c <= '9') || c == '-' || c == '.' || c == 'e';
  }

  size_t HeaderEnd(const std::string& bytes) {
    if (bytes.size() < 8) return bytes.size();
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(bytes[i]);
    return n > bytes.size() - 8 ? bytes.size() : 8 + n;
  }

  void EditLength(std::string& bytes) {
    if (bytes.size() < 8) return;
    const uint64_t size = bytes.size();
    const uint64_t current = HeaderEnd(bytes) - 8;
    const std::vector<uint64_t> values = {0,
                                          1,
                                          current - 1,
                                          current + 1,
                                          current + 8,
                                          size - 8,
                                          size - 7,
                                          size,
                                          uint64_t{1} << 32,
                                          uint64_t{1} << 63,
                                          ~uint64_t{0},
                                          100'000'000,
                                          100'000'001,
                                          rng_()};
    const std::string field = LengthField(Pick(values));
    bytes.replace(0, 8, field);
  }

  // Replaces one maximal run of `in_token` characters inside the header.
  template <typename Pred>
  void ReplaceToken(std::string& bytes, Pred in_token,
                    const std::vector<std::string>& replacements) {
    const size_t end = HeaderEnd(bytes);
    std::vector<std::pair<size_t, size_t>> tokens;
    for (size_t i = 8; i < end; ++i) {
      if (!in_token(bytes[i])) continue;
      size_t j = i;
      while (j < end && in_token(bytes[j])) ++j;
      tokens.emplace_back(i, j - i);
      i = j;
    }
    if (tokens.empty()) return;
    const auto [pos, len] = Pick(tokens);
    const std::string& replacement = Pick(replacements);
    bytes.replace(pos, len, replacement);
    FixLength(
        bytes, end,
        static_cast<int64_t>(replacement.size()) - static_cast<int64_t>(len));
  }

  // Keeps the header length field consistent 3 times in 4, so edits reach
  // the JSON and tensor checks rather than stopping at the length.
  void FixLength(std::string& bytes, size_t old_end, int64_t delta) {
    if (bytes.size() < 8 || Below(4) == 0) return;
    bytes.replace(0, 8, LengthField(old_end - 8 + delta));
  }

  void ReplaceString(std::string& bytes) {
    const size_t end = HeaderEnd(bytes);
    std::vector<std::pair<size_t, size_t>> strings;  // contents, unquoted
    for (size_t i = 8; i < end; ++i) {
      if (bytes[i] != '"') continue;
      size_t j = i + 1;
      while (j < end && bytes[j] != '"') j += bytes[j] == '\\' ? 2 : 1;
      if (j >= end) break;
      strings.emplace_back(i + 1, j - i - 1);
      i = j;
    }
    if (strings.empty()) return;
    static const std::vector<std::string> kStrings = {
        "F32", "F64",     "I64",     "F16",          "BF16",
        "U8",  "BOOL",    "I32",     "F8_E4M3",      "f32",
        "",    "dtype",   "shape",   "data_offsets", "__metadata__",
        "w",   "\\u0000", "\\ud800", "\\",           "extra"};
    const auto [pos, len] = Pick(strings);
    const std::string& replacement = Pick(kStrings);
    bytes.replace(pos, len, replacement);
    FixLength(
        bytes, end,
        static_cast<int64_t>(replacement.size()) - static_cast<int64_t>(len));
  }

  void EditStructure(std::string& bytes) {
    const size_t end = HeaderEnd(bytes);
    std::vector<size_t> positions;
    for (size_t i = 8; i < end; ++i) {
      if (std::string_view("{}[],:\"").find(bytes[i]) !=
          std::string_view::npos) {
        positions.push_back(i);
      }
    }
    if (positions.empty()) return;
    const size_t pos = Pick(positions);
    if (Below(2) == 0) {
      bytes.erase(pos, 1);
      FixLength(bytes, end, -1);
    } else {
      bytes.insert(pos, 1, bytes[pos]);
      FixLength(bytes, end, 1);
    }
  }

  std::mt19937_64 rng_;
};

// Checks a successful parse: tensors well formed, and writing them out and
// reading them back reproduces them bit for bit.
void CheckAccepted(const SafetensorsFile& file, const std::string& input) {
  for (const auto& [name, tensor] : file.tensors) {
    ASSERT_TRUE(tensor.defined()) << name;
    ASSERT_TRUE(ValidateShape(tensor.shape()).ok()) << name;
  }
  absl::StatusOr<std::string> bytes = SerializeSafetensors(file);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  absl::StatusOr<SafetensorsFile> again = ParseSafetensors(*bytes, kSource);
  ASSERT_TRUE(again.ok()) << again.status();
  ASSERT_EQ(again->metadata, file.metadata);
  ASSERT_EQ(again->tensors.size(), file.tensors.size());
  for (const auto& [name, tensor] : file.tensors) {
    const Tensor& other = again->tensors.at(name);
    ASSERT_EQ(other.dtype(), tensor.dtype()) << name;
    ASSERT_EQ(other.shape(), tensor.shape()) << name;
    const size_t n = tensor.numel() * DTypeSize(tensor.dtype());
    ASSERT_EQ(std::memcmp(other.storage()->data(), tensor.storage()->data(), n),
              0)
        << name;
  }
}

TEST(SafetensorsFuzzTest, MutatedFilesParseOrFailCleanly) {
  const std::vector<std::string> seeds = Seeds();
  for (const std::string& seed : seeds) {
    ASSERT_TRUE(ParseSafetensors(seed, kSource).ok());
  }
  Mutator mutator(20240601);
  // Outcomes by how far parsing got: the length field, the JSON text, the
  // per-tensor checks, other file-level checks (metadata, coverage).
  int accepted = 0, length_errors = 0, json_errors = 0, tensor_errors = 0,
      other_errors = 0;
  std::vector<int> cases_per_kind(Mutator::kKinds, 0);
  for (int i = 0; i < kCases; ++i) {
    std::string bytes = mutator.Pick(seeds);
    const int mutations = 1 + static_cast<int>(mutator.Below(3));
    for (int m = 0; m < mutations; ++m) {
      const int kind = static_cast<int>(mutator.Below(Mutator::kKinds));
      ++cases_per_kind[kind];
      mutator.Mutate(bytes, kind);
    }
    absl::StatusOr<SafetensorsFile> parsed = ParseSafetensors(bytes, kSource);
    if (parsed.ok()) {
      ++accepted;
      CheckAccepted(*parsed, bytes);
      if (HasFatalFailure()) {
        FAIL() << "case " << i << " input (escaped): " << absl::CEscape(bytes);
      }
      continue;
    }
    const absl::string_view message = parsed.status().message();
    ASSERT_TRUE(absl::StartsWith(message, absl::StrCat(kSource, ": ")))
        << "case " << i << ": " << message;
    if (absl::StrContains(message, ": tensor '")) {
      ++tensor_errors;
    } else if (absl::StrContains(message, "header length") ||
               absl::StrContains(message, "expected at least 8")) {
      ++length_errors;
    } else if (absl::StrContains(message, "not valid JSON") ||
               absl::StrContains(message, "does not start with")) {
      ++json_errors;
    } else {
      ++other_errors;
    }
  }
  std::printf(
      "%d mutated files: %d accepted; errors: %d length, %d JSON, %d tensor, "
      "%d other\n",
      kCases, accepted, length_errors, json_errors, tensor_errors,
      other_errors);
  // The mutations must exercise every layer: some files survive, and many
  // get as far as the per-tensor checks.
  EXPECT_GT(accepted, kCases / 50);
  EXPECT_GT(length_errors, kCases / 50);
  EXPECT_GT(json_errors, kCases / 50);
  EXPECT_GT(tensor_errors, kCases / 20);
  EXPECT_GT(other_errors, kCases / 1000);
  for (int kind = 0; kind < Mutator::kKinds; ++kind) {
    EXPECT_GT(cases_per_kind[kind], kCases / 20) << kind;
  }
}

}  // namespace
}  // namespace minigraph
