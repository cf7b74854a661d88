// The byte-level tokenizer that training uses when no tokenizer.json is
// given: MiniMind's three special tokens keep their ids (0 <|endoftext|>,
// 1 <|im_start|>, 2 <|im_end|>) and byte b becomes id b + 3, so every UTF-8
// text (indeed every byte string) encodes losslessly into 259 ids.
#ifndef MINIGRAPH_MODELS_TRAIN_BYTE_TOKENIZER_H_
#define MINIGRAPH_MODELS_TRAIN_BYTE_TOKENIZER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "framework/tokenizer/tokenizer.h"

namespace minigraph {

inline constexpr int64_t kEndOfTextId = 0;  // <|endoftext|>
inline constexpr int64_t kImStartId = 1;    // <|im_start|>
inline constexpr int64_t kImEndId = 2;      // <|im_end|>
inline constexpr int64_t kFirstByteId = 3;
inline constexpr int64_t kByteVocabSize = kFirstByteId + 256;

// Appends the ids of `text`'s bytes to `ids`.
void AppendByteIds(absl::string_view text, std::vector<int64_t>* ids);
std::vector<int64_t> EncodeBytes(absl::string_view text);

// Bytes back; special ids become their token text, ids outside the byte
// vocabulary become U+FFFD (the replacement character).
std::string DecodeBytes(absl::Span<const int64_t> ids);

// The same tokenizer as a tokenizer.json spec (no merges; id b + 3 is byte
// b's byte-level character; the three special tokens are added tokens), so
// that checkpoints trained byte-level carry a tokenizer HF loads. One
// difference from EncodeBytes: a special token's text inside the input is
// matched as that token, as HF does.
TokenizerSpec ByteTokenizerSpec();

}  // namespace minigraph

#endif  // MINIGRAPH_MODELS_TRAIN_BYTE_TOKENIZER_H_
