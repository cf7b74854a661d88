// tokenizer.json and tokenizer_config.json text, shared by the tokenizer's
// files (tokenizer_json.cc reads and writes, tokenizer_io.cc does the files).
#ifndef MINIGRAPH_FRAMEWORK_TOKENIZER_TOKENIZER_JSON_H_
#define MINIGRAPH_FRAMEWORK_TOKENIZER_TOKENIZER_JSON_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "framework/tokenizer/tokenizer.h"

namespace minigraph {

// tokenizer.json text -> spec; errors start with `source` and name the field.
absl::StatusOr<TokenizerSpec> ParseTokenizerJson(absl::string_view json,
                                                 const std::string& source);

// tokenizer_config.json text -> the fields minigraph uses (the rest is
// ignored). bos/eos/pad/unk may be strings or objects with "content".
absl::StatusOr<TokenizerConfig> ParseTokenizerConfigJson(
    absl::string_view json, const std::string& source);

// tokenizer_config.json as transformers writes it (keys sorted, 2-space
// indent): add_bos_token/add_eos_token false, added_tokens_decoder,
// clean_up_tokenization_spaces false, the set fields of `config`, and
// tokenizer_class PreTrainedTokenizerFast.
std::string TokenizerConfigToJson(const TokenizerSpec& spec,
                                  const TokenizerConfig& config);

// A JSON string literal as serde_json writes it: \" \\ \b \f \n \r \t,
// other control characters as \u00xx, everything else (UTF-8) as is.
std::string JsonQuote(absl::string_view text);

}  // namespace minigraph

#endif  // MINIGRAPH_FRAMEWORK_TOKENIZER_TOKENIZER_JSON_H_
