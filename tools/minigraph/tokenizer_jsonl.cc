#include "tools/minigraph/tokenizer_jsonl.h"

#include <cstdio>
#include <limits>
#include <optional>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "framework/graph_io.h"
#include "framework/tokenizer/unicode_props.h"

namespace minigraph::cli {
namespace {

constexpr int kMaxDepth = 512;  // nesting of the values skipped over

// Length of the well-formed UTF-8 sequence at text[i], 0 if none.
size_t Utf8SequenceLength(absl::string_view text, size_t i) {
  const Utf8Char c = DecodeUtf8At(text, i);
  return c.code_point == kInvalidUtf8Byte ? 0 : static_cast<size_t>(c.length);
}

// A recursive-descent reader of one JSON text (RFC 8259).
class LineParser {
 public:
  explicit LineParser(absl::string_view text) : text_(text) {}

  // Finds the top-level field `key`, checking the whole line; calls
  // `read_field` at the start of each occurrence of its value (the last one
  // counts, as in Python's json module) and skips the other values.
  absl::Status FindField(absl::string_view key,
                         const std::function<absl::Status()>& read_field,
                         bool* found) {
    *found = false;
    SkipSpace();
    if (!Consume('{')) return Error("expected a JSON object ('{')");
    SkipSpace();
    if (!Consume('}')) {
      while (true) {
        SkipSpace();
        std::string name;
        if (Peek() != '"') return Error("expected a field name string");
        if (absl::Status s = ReadString(&name, "a field name"); !s.ok()) {
          return s;
        }
        SkipSpace();
        if (!Consume(':')) return Error("expected ':' after a field name");
        SkipSpace();
        if (name == key) {
          *found = true;
          if (absl::Status s = read_field(); !s.ok()) return s;
        } else if (absl::Status s = SkipValue(0); !s.ok()) {
          return s;
        }
        SkipSpace();
        if (Consume(',')) continue;
        if (Consume('}')) break;
        return Error("expected ',' or '}' in the object");
      }
    }
    SkipSpace();
    if (pos_ != text_.size()) return Error("unexpected text after the object");
    return absl::OkStatus();
  }

  // A string value; `what` names it in errors.
  absl::Status ReadString(std::string* out, absl::string_view what) {
    if (!Consume('"')) return Error(absl::StrCat("expected ", what, " string"));
    out->clear();
    while (true) {
      if (pos_ >= text_.size()) {
        return Error(absl::StrCat(what, ": the string is not closed"));
      }
      const unsigned char c = static_cast<unsigned char>(text_[pos_]);
      if (c == '"') {
        ++pos_;
        return absl::OkStatus();
      }
      if (c < 0x20) {
        return Error(
            absl::StrCat(what, ": a raw control character (byte ", c,
                         ") in a string; JSON writes it as an escape"));
      }
      if (c == '\\') {
        if (absl::Status s = ReadEscape(out, what); !s.ok()) return s;
        continue;
      }
      const size_t length = Utf8SequenceLength(text_, pos_);
      if (length == 0) {
        return Error(absl::StrCat(what, ": invalid UTF-8 (byte ", c, ")"));
      }
      out->append(text_.data() + pos_, length);
      pos_ += length;
    }
  }

  // An array of integers (each fitting int64).
  absl::Status ReadIds(std::vector<int64_t>* ids, absl::string_view what) {
    if (!Consume('[')) {
      return Error(absl::StrCat("\"", what, "\" is not an array of ids"));
    }
    ids->clear();
    SkipSpace();
    if (Consume(']')) return absl::OkStatus();
    while (true) {
      SkipSpace();
      const size_t start = pos_;
      bool integer = false;
      if (absl::Status s = ScanNumber(&integer); !s.ok()) {
        pos_ = start;
        return Error(absl::StrCat("\"", what, "\"[", ids->size(),
                                  "] is not a number (expected an integer "
                                  "id)"));
      }
      const absl::string_view number = text_.substr(start, pos_ - start);
      std::optional<int64_t> value =
          integer ? ParseInteger(number) : std::nullopt;
      if (!value.has_value()) {
        pos_ = start;
        return Error(absl::StrCat("\"", what, "\"[", ids->size(), "] is ",
                                  number, ", not an integer id"));
      }
      ids->push_back(*value);
      SkipSpace();
      if (Consume(',')) continue;
      if (Consume(']')) return absl::OkStatus();
      return Error(absl::StrCat("\"", what, "\": expected ',' or ']'"));
    }
  }

  // The character at the cursor ('\0' at the end).
  char Peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }

  absl::Status Error(absl::string_view message) const {
    return absl::InvalidArgumentError(
        absl::StrCat(message, " (column ", pos_ + 1, ")"));
  }

 private:
  bool Consume(char c) {
    if (Peek() != c) return false;
    ++pos_;
    return true;
  }

  void SkipSpace() {
    while (pos_ < text_.size() &&
           (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' ||
            text_[pos_] == '\r')) {
      ++pos_;
    }
  }

  absl::Status ReadEscape(std::string* out, absl::string_view what) {
    ++pos_;  // the backslash
    const char e = Peek();
    ++pos_;
    switch (e) {
      case '"':
        out->push_back('"');
        return absl::OkStatus();
      case '\\':
        out->push_back('\\');
        return absl::OkStatus();
      case '/':
        out->push_back('/');
        return absl::OkStatus();
      case 'b':
        out->push_back('\b');
        return absl::OkStatus();
      case 'f':
        out->push_back('\f');
        return absl::OkStatus();
      case 'n':
        out->push_back('\n');
        return absl::OkStatus();
      case 'r':
        out->push_back('\r');
        return absl::OkStatus();
      case 't':
        out->push_back('\t');
        return absl::OkStatus();
      case 'u':
        break;
      default:
        --pos_;
        return Error(absl::StrCat(what, ": unknown escape in a string"));
    }
    std::optional<uint32_t> unit = ReadHex4();
    if (!unit.has_value()) {
      return Error(absl::StrCat(what, ": \\u needs four hex digits"));
    }
    uint32_t code_point = *unit;
    if (code_point >= 0xDC00 && code_point <= 0xDFFF) {
      return Error(absl::StrCat(
          what, ": a lone low surrogate \\u",
          absl::AsciiStrToLower(absl::StrCat(absl::Hex(code_point))),
          " is not text"));
    }
    if (code_point >= 0xD800 && code_point <= 0xDBFF) {
      const size_t high_end = pos_;
      std::optional<uint32_t> low;
      if (text_.substr(pos_, 2) == "\\u") {
        pos_ += 2;
        low = ReadHex4();
      }
      if (!low.has_value() || *low < 0xDC00 || *low > 0xDFFF) {
        pos_ = high_end;
        return Error(absl::StrCat(
            what, ": a lone high surrogate \\u",
            absl::AsciiStrToLower(absl::StrCat(absl::Hex(code_point))),
            " is not text"));
      }
      code_point = 0x10000 + ((code_point - 0xD800) << 10) + (*low - 0xDC00);
    }
    AppendUtf8(code_point, out);
    return absl::OkStatus();
  }

  std::optional<uint32_t> ReadHex4() {
    if (pos_ + 4 > text_.size()) return std::nullopt;
    uint32_t value = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = text_[pos_ + i];
      int digit;
      if (c >= '0' && c <= '9') {
        digit = c - '0';
      } else if (c >= 'a' && c <= 'f') {
        digit = c - 'a' + 10;
      } else if (c >= 'A' && c <= 'F') {
        digit = c - 'A' + 10;
      } else {
        return std::nullopt;
      }
      value = value * 16 + digit;
    }
    pos_ += 4;
    return value;
  }

  // -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?; *integer when neither a
  // fraction nor an exponent follows.
  absl::Status ScanNumber(bool* integer) {
    const auto digits = [&] {
      const size_t start = pos_;
      while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
        ++pos_;
      }
      return pos_ - start;
    };
    Consume('-');
    if (Peek() == '0') {
      ++pos_;
    } else if (digits() == 0) {
      return Error("expected a number");
    }
    *integer = true;
    if (Consume('.')) {
      *integer = false;
      if (digits() == 0) return Error("expected digits after '.'");
    }
    if (Peek() == 'e' || Peek() == 'E') {
      ++pos_;
      *integer = false;
      if (!Consume('+')) Consume('-');
      if (digits() == 0) return Error("expected digits in the exponent");
    }
    return absl::OkStatus();
  }

  static std::optional<int64_t> ParseInteger(absl::string_view number) {
    const bool negative = !number.empty() && number[0] == '-';
    if (negative) number.remove_prefix(1);
    uint64_t magnitude = 0;
    for (char c : number) {
      const uint64_t digit = static_cast<uint64_t>(c - '0');
      if (magnitude > (std::numeric_limits<uint64_t>::max() - digit) / 10) {
        return std::nullopt;
      }
      magnitude = magnitude * 10 + digit;
    }
    const uint64_t limit =
        static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) +
        (negative ? 1 : 0);
    if (magnitude > limit) return std::nullopt;
    return negative ? static_cast<int64_t>(0 - magnitude)
                    : static_cast<int64_t>(magnitude);
  }

  absl::Status SkipValue(int depth) {
    if (depth > kMaxDepth) return Error("values nested too deeply");
    SkipSpace();
    const char c = Peek();
    if (c == '"') {
      std::string ignored;
      return ReadString(&ignored, "a value");
    }
    if (c == '{' || c == '[') {
      const char close = c == '{' ? '}' : ']';
      ++pos_;
      SkipSpace();
      if (Consume(close)) return absl::OkStatus();
      while (true) {
        SkipSpace();
        if (c == '{') {
          std::string name;
          if (absl::Status s = ReadString(&name, "a field name"); !s.ok()) {
            return s;
          }
          SkipSpace();
          if (!Consume(':')) return Error("expected ':' after a field name");
        }
        if (absl::Status s = SkipValue(depth + 1); !s.ok()) return s;
        SkipSpace();
        if (Consume(',')) continue;
        if (Consume(close)) return absl::OkStatus();
        return Error(
            absl::StrCat("expected ',' or '", std::string(1, close), "'"));
      }
    }
    for (absl::string_view word : {"true", "false", "null"}) {
      if (text_.substr(pos_, word.size()) == word) {
        pos_ += word.size();
        return absl::OkStatus();
      }
    }
    bool integer = false;
    return ScanNumber(&integer).ok() ? absl::OkStatus()
                                     : Error("expected a JSON value");
  }

  absl::string_view text_;
  size_t pos_ = 0;
};

}  // namespace

absl::StatusOr<std::string> JsonlStringField(absl::string_view line,
                                             absl::string_view key) {
  LineParser parser(line);
  std::string value;
  bool found = false;
  const std::string what = absl::StrCat("\"", key, "\"");
  absl::Status status = parser.FindField(
      key,
      [&]() -> absl::Status {
        if (parser.Peek() != '"') {
          return parser.Error(absl::StrCat(what, " is not a string"));
        }
        return parser.ReadString(&value, what);
      },
      &found);
  if (!status.ok()) return status;
  if (!found) {
    return absl::InvalidArgumentError(
        absl::StrCat("no ", what, " field (expected {", what, ": \"...\"})"));
  }
  return value;
}

absl::StatusOr<std::vector<int64_t>> JsonlIdsField(absl::string_view line,
                                                   absl::string_view key) {
  LineParser parser(line);
  std::vector<int64_t> ids;
  bool found = false;
  absl::Status status = parser.FindField(
      key, [&]() { return parser.ReadIds(&ids, key); }, &found);
  if (!status.ok()) return status;
  if (!found) {
    return absl::InvalidArgumentError(absl::StrCat(
        "no \"", key, "\" field (expected {\"", key, "\": [1, 2, ...]})"));
  }
  return ids;
}

absl::Status ForEachJsonlLine(
    absl::string_view contents,
    const std::function<absl::Status(int64_t, absl::string_view)>& visit,
    const std::function<absl::Status(int64_t)>& blank) {
  int64_t line_number = 0;
  size_t start = 0;
  while (start < contents.size()) {
    size_t end = contents.find('\n', start);
    if (end == absl::string_view::npos) end = contents.size();
    absl::string_view line = contents.substr(start, end - start);
    start = end + 1;
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    absl::Status status = absl::StripAsciiWhitespace(line).empty()
                              ? blank(line_number)
                              : visit(line_number, line);
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

absl::Status WriteOutput(const std::string& path, absl::string_view contents) {
  if (path.empty() || path == "-") {
    if (std::fwrite(contents.data(), 1, contents.size(), stdout) !=
            contents.size() ||
        std::fflush(stdout) != 0) {
      return absl::DataLossError("writing standard output failed");
    }
    return absl::OkStatus();
  }
  return WriteFileAtomically(path, contents);
}

}  // namespace minigraph::cli
