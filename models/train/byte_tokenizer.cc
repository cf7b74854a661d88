#include "models/train/byte_tokenizer.h"

#include "framework/tokenizer/byte_level.h"

namespace minigraph {

void AppendByteIds(absl::string_view text, std::vector<int64_t>* ids) {
  ids->reserve(ids->size() + text.size());
  for (const char c : text) {
    ids->push_back(kFirstByteId + static_cast<unsigned char>(c));
  }
}

std::vector<int64_t> EncodeBytes(absl::string_view text) {
  std::vector<int64_t> ids;
  AppendByteIds(text, &ids);
  return ids;
}

std::string DecodeBytes(absl::Span<const int64_t> ids) {
  std::string text;
  for (const int64_t id : ids) {
    if (id == kEndOfTextId) {
      text += "<|endoftext|>";
    } else if (id == kImStartId) {
      text += "<|im_start|>";
    } else if (id == kImEndId) {
      text += "<|im_end|>";
    } else if (id >= kFirstByteId && id < kByteVocabSize) {
      text.push_back(static_cast<char>(id - kFirstByteId));
    } else {
      text += "\xEF\xBF\xBD";
    }
  }
  return text;
}

TokenizerSpec ByteTokenizerSpec() {
  TokenizerSpec spec;
  const char* const specials[] = {"<|endoftext|>", "<|im_start|>",
                                  "<|im_end|>"};
  for (int64_t id = 0; id < kFirstByteId; ++id) {
    spec.vocab.push_back(specials[id]);
    AddedToken token;
    token.id = id;
    token.content = specials[id];
    token.special = true;
    spec.added_tokens.push_back(token);
  }
  for (int b = 0; b < 256; ++b) {
    spec.vocab.push_back(
        BytesToByteLevel(std::string(1, static_cast<char>(b))));
  }
  return spec;
}

}  // namespace minigraph
