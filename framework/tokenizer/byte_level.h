// GPT-2's byte-to-character table, which byte-level BPE uses so that every
// byte is a printable character: bytes '!'..'~', 0xA1..0xAC and 0xAE..0xFF
// map to themselves, the other 68 bytes to U+0100 onwards in byte order.
#ifndef MINIGRAPH_FRAMEWORK_TOKENIZER_BYTE_LEVEL_H_
#define MINIGRAPH_FRAMEWORK_TOKENIZER_BYTE_LEVEL_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace minigraph {

// The code point byte b maps to.
char32_t ByteToCodePoint(uint8_t b);
// The byte code point c stands for, if c is one of the 256.
std::optional<uint8_t> CodePointToByte(char32_t c);

// UTF-8 of the mapped characters of `bytes`.
std::string BytesToByteLevel(absl::string_view bytes);
// Bytes of a byte-level string; nullopt when it holds a character (or
// invalid UTF-8) outside the table.
std::optional<std::string> ByteLevelToBytes(absl::string_view text);

}  // namespace minigraph

#endif  // MINIGRAPH_FRAMEWORK_TOKENIZER_BYTE_LEVEL_H_
