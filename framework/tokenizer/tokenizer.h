// Byte-level BPE tokenizers in Hugging Face's tokenizer.json format, read
// and written so that HF tokenizers gives the same ids and text: MiniMind's
// tokenizer (vocab 6400) is one, and the BPE trainer (bpe_trainer.h) writes
// them.
//
// Encoding, as HF's pipeline does it: added tokens are matched in the raw
// text first (leftmost-longest, honouring lstrip/rstrip/single_word; those
// with normalized == false first, then the others in what is left, see
// added_tokens.h); each stretch between them is pre-tokenized by the
// ByteLevel pre-tokenizer (an optional prefix space, the GPT-2 split
// pattern, bytes mapped to printable characters) and every piece is encoded
// by BPE merges in rank order.
// Decoding maps tokens back to bytes (ByteLevel decoder) and invalid UTF-8
// becomes U+FFFD, as HF's from_utf8_lossy does.
//
// Stricter than HF, which warns or goes on: an id outside the vocabulary in
// Decode is an error (HF skips it); on loading, a token listed twice, an
// added token whose id differs from model.vocab's, ids with gaps and an
// unk_token missing from the vocab are errors.
#ifndef MINIGRAPH_FRAMEWORK_TOKENIZER_TOKENIZER_H_
#define MINIGRAPH_FRAMEWORK_TOKENIZER_TOKENIZER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace minigraph {

// One entry of tokenizer.json's "added_tokens".
struct AddedToken {
  int64_t id = 0;
  std::string content;
  bool special = false;
  bool single_word = false;  // matched only when not inside a word
  bool lstrip = false;       // swallows whitespace on its left
  bool rstrip = false;       // swallows whitespace on its right
  bool normalized = false;
};

// Everything a byte-level BPE tokenizer.json holds that encoding and decoding
// use; the trainer produces one, Tokenizer::FromSpec builds from it.
struct TokenizerSpec {
  // Token text by id (byte-level alphabet: byte b as a printable character,
  // GPT-2's table); added tokens' ids are included with their content.
  std::vector<std::string> vocab;
  // Merges in rank order; each pair's concatenation is in the vocab.
  std::vector<std::pair<std::string, std::string>> merges;
  std::vector<AddedToken> added_tokens;
  bool add_prefix_space = false;  // ByteLevel pre-tokenizer
  bool use_regex = true;          // ByteLevel pre-tokenizer's GPT-2 split
  bool ignore_merges = false;     // BPE: a piece that is a token is kept whole
  std::optional<std::string> unk_token;
  bool fuse_unk = false;
  // Decoder: true is ByteLevel (tokens back to bytes, then lossy UTF-8);
  // false is tokenizer.json's "decoder": null, with which HF joins the token
  // texts with single spaces.
  bool byte_level_decoder = true;
};

// What tokenizer_config.json adds (all optional).
struct TokenizerConfig {
  std::optional<std::string> bos_token;
  std::optional<std::string> eos_token;
  std::optional<std::string> pad_token;
  std::optional<std::string> unk_token;
  std::optional<std::string> chat_template;
  std::optional<int64_t> model_max_length;
};

class Tokenizer {
 public:
  // `path` is a tokenizer.json file or a directory holding tokenizer.json
  // (and optionally tokenizer_config.json). Errors name the file and field.
  static absl::StatusOr<Tokenizer> Load(const std::string& path);
  // Parses tokenizer.json text; `source` names it in error messages.
  static absl::StatusOr<Tokenizer> FromJson(absl::string_view json,
                                            const std::string& source);
  static absl::StatusOr<Tokenizer> FromSpec(TokenizerSpec spec);

  // Ids of `text` (any bytes: invalid UTF-8 is encoded byte by byte).
  std::vector<int64_t> Encode(absl::string_view text) const;
  // Text of `ids`; an id outside [0, vocab_size()) is an error naming it.
  absl::StatusOr<std::string> Decode(absl::Span<const int64_t> ids,
                                     bool skip_special_tokens = false) const;
  // The bytes one id stands for (for streaming: join, then decode UTF-8).
  absl::StatusOr<std::string> TokenBytes(int64_t id) const;

  // Number of ids: max id + 1 over the vocab and added tokens.
  int64_t vocab_size() const;
  std::optional<int64_t> TokenToId(absl::string_view token) const;
  const TokenizerSpec& spec() const;
  const TokenizerConfig& config() const;
  void set_config(TokenizerConfig config);

  // tokenizer.json text in HF's layout (vocab by id, merges as "a b").
  std::string ToJson() const;
  // Writes DIR/tokenizer.json and DIR/tokenizer_config.json atomically.
  absl::Status Save(const std::string& dir) const;

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

 private:
  struct Impl;
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace minigraph

#endif  // MINIGRAPH_FRAMEWORK_TOKENIZER_TOKENIZER_H_
