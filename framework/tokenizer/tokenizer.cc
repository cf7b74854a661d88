// Tokenizer: building from a spec, encoding and decoding. Reading and
// writing tokenizer.json are in tokenizer_json.cc, files in tokenizer_io.cc.
#include "framework/tokenizer/tokenizer.h"

#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "framework/status_macros.h"
#include "framework/tokenizer/added_tokens.h"
#include "framework/tokenizer/bpe_model.h"
#include "framework/tokenizer/byte_level.h"
#include "framework/tokenizer/pretokenize.h"
#include "framework/tokenizer/unicode_props.h"

namespace minigraph {

struct Tokenizer::Impl {
  TokenizerSpec spec;
  TokenizerConfig config;
  absl::flat_hash_map<std::string, int64_t> token_ids;
  std::unique_ptr<BpeModel> bpe;
  std::unique_ptr<AddedTokenMatcher> added;
  // What each id decodes to: its bytes under the ByteLevel decoder (the
  // token's own UTF-8 when a character is outside the byte table, as HF
  // does); its text under a null decoder.
  std::vector<std::string> token_bytes;
  std::vector<bool> special;  // added tokens marked special, by id

  // Appends the ids of one stretch between added tokens.
  void EncodeText(absl::string_view text, std::vector<int64_t>* ids) const;
};

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

absl::StatusOr<Tokenizer> Tokenizer::FromSpec(TokenizerSpec spec) {
  auto impl = std::make_unique<Impl>();
  const int64_t size = static_cast<int64_t>(spec.vocab.size());
  impl->token_ids.reserve(spec.vocab.size());
  for (int64_t id = 0; id < size; ++id) {
    if (!IsValidUtf8(spec.vocab[id])) {
      return absl::InvalidArgumentError(
          absl::StrCat("vocab: the token of id ", id, " is not valid UTF-8"));
    }
    const auto [it, inserted] = impl->token_ids.emplace(spec.vocab[id], id);
    if (!inserted) {
      return absl::InvalidArgumentError(
          absl::StrCat("vocab: token \"", spec.vocab[id], "\" has two ids, ",
                       it->second, " and ", id));
    }
  }
  impl->special.assign(spec.vocab.size(), false);
  std::vector<bool> is_added(spec.vocab.size(), false);
  for (size_t i = 0; i < spec.added_tokens.size(); ++i) {
    const AddedToken& token = spec.added_tokens[i];
    const std::string where = absl::StrCat(
        "added_tokens[", i, "] (\"", token.content, "\", id ", token.id, ")");
    if (token.content.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": the content is empty"));
    }
    if (token.id < 0 || token.id >= size) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": the id is outside the vocab (size ", size, ")"));
    }
    if (spec.vocab[token.id] != token.content) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": the vocab has \"", spec.vocab[token.id], "\" at that id"));
    }
    if (is_added[token.id]) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": the token is listed twice"));
    }
    is_added[token.id] = true;
    impl->special[token.id] = token.special;
  }
  BpeModelOptions options;
  options.ignore_merges = spec.ignore_merges;
  options.fuse_unk = spec.fuse_unk;
  if (spec.unk_token.has_value()) {
    auto it = impl->token_ids.find(*spec.unk_token);
    if (it == impl->token_ids.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "unk_token: \"", *spec.unk_token, "\" is not in the vocab"));
    }
    options.unk_id = static_cast<int32_t>(it->second);
  }
  if (size > INT32_MAX) {
    return absl::InvalidArgumentError(
        absl::StrCat("vocab: ", size, " tokens is too many"));
  }
  MG_ASSIGN_OR_RETURN(impl->bpe,
                      BpeModel::Create(spec.vocab, spec.merges, options));
  impl->added = std::make_unique<AddedTokenMatcher>(spec.added_tokens);
  impl->token_bytes.reserve(spec.vocab.size());
  for (const std::string& token : spec.vocab) {
    std::optional<std::string> bytes;
    if (spec.byte_level_decoder) bytes = ByteLevelToBytes(token);
    impl->token_bytes.push_back(bytes.has_value() ? *std::move(bytes) : token);
  }
  impl->spec = std::move(spec);
  return Tokenizer(std::move(impl));
}

void Tokenizer::Impl::EncodeText(absl::string_view text,
                                 std::vector<int64_t>* ids) const {
  // HF's ByteLevel pre-tokenizer adds the prefix space to every stretch
  // between added tokens that does not already start with one.
  std::string prefixed;
  if (spec.add_prefix_space && text[0] != ' ') {
    prefixed.reserve(text.size() + 1);
    prefixed.push_back(' ');
    prefixed.append(text.data(), text.size());
    text = prefixed;
  }
  if (!spec.use_regex) {
    bpe->Encode(text, ids);
    return;
  }
  std::vector<absl::string_view> pieces;
  SplitGpt2Pattern(text, &pieces);
  for (const absl::string_view piece : pieces) bpe->Encode(piece, ids);
}

std::vector<int64_t> Tokenizer::Encode(absl::string_view text) const {
  std::vector<int64_t> ids;
  ids.reserve(text.size() / 3 + 1);
  if (impl_->added->empty()) {
    if (!text.empty()) impl_->EncodeText(text, &ids);
    return ids;
  }
  std::vector<TextSegment> segments;
  impl_->added->Split(text, &segments);
  for (const TextSegment& segment : segments) {
    if (segment.token_id >= 0) {
      ids.push_back(segment.token_id);
    } else {
      impl_->EncodeText(text.substr(segment.begin, segment.end - segment.begin),
                        &ids);
    }
  }
  return ids;
}

absl::StatusOr<std::string> Tokenizer::Decode(absl::Span<const int64_t> ids,
                                              bool skip_special_tokens) const {
  const int64_t size = vocab_size();
  std::string bytes;
  bool first = true;
  for (const int64_t id : ids) {
    if (id < 0 || id >= size) {
      return absl::OutOfRangeError(
          absl::StrCat("Tokenizer::Decode: id ", id,
                       " is outside the vocabulary (size ", size, ")"));
    }
    if (skip_special_tokens && impl_->special[id]) continue;
    if (!impl_->spec.byte_level_decoder && !first) bytes.push_back(' ');
    bytes.append(impl_->token_bytes[id]);
    first = false;
  }
  return Utf8Lossy(bytes);
}

absl::StatusOr<std::string> Tokenizer::TokenBytes(int64_t id) const {
  if (id < 0 || id >= vocab_size()) {
    return absl::OutOfRangeError(
        absl::StrCat("Tokenizer::TokenBytes: id ", id,
                     " is outside the vocabulary (size ", vocab_size(), ")"));
  }
  return impl_->token_bytes[id];
}

int64_t Tokenizer::vocab_size() const {
  return static_cast<int64_t>(impl_->spec.vocab.size());
}

std::optional<int64_t> Tokenizer::TokenToId(absl::string_view token) const {
  auto it = impl_->token_ids.find(token);
  if (it == impl_->token_ids.end()) return std::nullopt;
  return it->second;
}

const TokenizerSpec& Tokenizer::spec() const { return impl_->spec; }
const TokenizerConfig& Tokenizer::config() const { return impl_->config; }
void Tokenizer::set_config(TokenizerConfig config) {
  impl_->config = std::move(config);
}

}  // namespace minigraph
