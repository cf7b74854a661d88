// The `generate` verb: text (or token ids) from a MiniMind checkpoint with
// the KV cache, streamed as it is produced.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "framework/dtype.h"
#include "framework/status_macros.h"
#include "framework/tokenizer/tokenizer.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "models/generate.h"
#include "models/minimind_lm.h"
#include "tools/minigraph/common_flags.h"
#include "tools/minigraph/verb.h"

ABSL_FLAG(std::string, prompt, "",
          "generate: the prompt text (needs DIR/tokenizer.json)");
ABSL_FLAG(std::string, prompt_ids, "",
          "generate: the prompt as comma-separated token ids, e.g. 1,2,3");
ABSL_FLAG(int64_t, max_new_tokens, 128,
          "generate: the most tokens to generate (eos may end sooner)");
ABSL_FLAG(bool, greedy, false,
          "generate: always take the most likely token (no sampling)");
ABSL_FLAG(double, temperature, 0.85,
          "generate: divide the logits by this before sampling");
ABSL_FLAG(int64_t, top_k, 50,
          "generate: sample among the k most likely tokens (0: all)");
ABSL_FLAG(double, top_p, 0.85,
          "generate: sample from the smallest set of most likely tokens "
          "whose probability reaches p (1: all)");
ABSL_FLAG(double, repetition_penalty, 1.0,
          "generate: divide positive (multiply negative) logits of tokens "
          "already in the text by this (1: off)");
ABSL_FLAG(bool, print_ids, false,
          "generate: end stdout with a line of the generated ids, "
          "comma-separated");
ABSL_FLAG(bool, chat, false,
          "generate: wrap the prompt in MiniMind's chat template; without "
          "--prompt on a terminal, talk turn by turn");

namespace minigraph::cli {
namespace {

constexpr char kGenerateUsage[] =
    "minigraph generate --model DIR (--prompt TEXT | --prompt-ids 1,2,3)\n"
    "    [--max-new-tokens N] [--greedy | --temperature T --top-k K\n"
    "    --top-p P] [--repetition-penalty R] [--seed S] [--dtype f32|f64]\n"
    "    [--print-ids] [--chat]\n"
    "\n"
    "Continues the prompt with MiniMind's causal LM from DIR (config.json +\n"
    "model.safetensors, and tokenizer.json for text), decoding one token at\n"
    "a time through the KV cache, and streams the text to stdout as it is\n"
    "produced, then a newline. Generation ends at eos (config.json's\n"
    "eos_token_id, else the tokenizer's eos_token; not printed), after N\n"
    "tokens (default 128) or at the last position the model has. Sampling\n"
    "follows MiniMind (defaults temperature 0.85, top-k 50, top-p 0.85);\n"
    "the same --seed (default 0) gives the same text. --print-ids ends\n"
    "stdout with the generated ids (prompt excluded), comma-separated;\n"
    "without a tokenizer only that line is printed. --chat wraps the prompt\n"
    "as a user turn of MiniMind's chat template; with --chat and no prompt\n"
    "on a terminal it asks for turns (\"> \"; an empty line or EOF ends).\n"
    "Speed goes to stderr: prompt and generated tokens, prefill and decode\n"
    "tokens per second.\n";

int BadInput(const std::string& message) {
  std::fprintf(stderr, "minigraph generate: %s\n", message.c_str());
  return kExitBadInput;
}

bool IsFile(const std::string& path) {
  struct stat info;
  return stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode);
}

bool IsDirectory(const std::string& path) {
  struct stat info;
  return stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode);
}

// "1, 2,3" -> {1, 2, 3}; every entry an integer in [0, vocab).
absl::StatusOr<std::vector<int64_t>> ParsePromptIds(absl::string_view text,
                                                    int64_t vocab) {
  std::vector<int64_t> ids;
  int position = 0;
  for (absl::string_view piece : absl::StrSplit(text, ',')) {
    const absl::string_view entry = absl::StripAsciiWhitespace(piece);
    int64_t id = 0;
    if (!absl::SimpleAtoi(entry, &id)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--prompt-ids: entry ", position, " '", entry,
                       "' is not an integer (expected ids like 1,2,3)"));
    }
    if (id < 0 || id >= vocab) {
      return absl::OutOfRangeError(
          absl::StrCat("--prompt-ids: entry ", position, " is id ", id,
                       ", outside the model's vocabulary [0, ", vocab, ")"));
    }
    ids.push_back(id);
    ++position;
  }
  return ids;
}

// Whether DIR/config.json names eos_token_id itself (ReadConfigJson fills in
// MiniMind's default when it does not).
absl::StatusOr<bool> ConfigHasEos(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr)
    return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  std::string json;
  char buffer[4096];
  for (size_t n; (n = std::fread(buffer, 1, sizeof(buffer), file)) > 0;) {
    json.append(buffer, n);
  }
  std::fclose(file);
  google::protobuf::Struct root;
  if (!google::protobuf::util::JsonStringToMessage(json, &root).ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not a JSON object"));
  }
  return root.fields().count("eos_token_id") > 0;
}

// Writes token bytes to stdout as they come: a character split across
// tokens is held back until its last byte arrives, and ill-formed bytes
// become U+FFFD one maximal ill-formed subpart at a time (Unicode's
// recommended practice, which the tokenizer's Decode follows), so the
// streamed text is the decoded text.
class Utf8Stream {
 public:
  void Write(absl::string_view bytes) {
    pending_.append(bytes.data(), bytes.size());
    Emit(/*final=*/false);
  }
  // A character still incomplete at the end is ill-formed.
  void Finish() { Emit(/*final=*/true); }

 private:
  enum class Kind { kCharacter, kIllFormed, kIncomplete };
  struct Unit {
    Kind kind;
    size_t length;
  };

  // What starts at bytes[0] (non-empty). Well-formed sequences: 00-7F;
  // C2-DF 80-BF; E0 A0-BF 80-BF; E1-EC,EE-EF (80-BF)x2; ED 80-9F 80-BF;
  // F0 90-BF (80-BF)x2; F1-F3 (80-BF)x3; F4 80-8F (80-BF)x2.
  static Unit Next(absl::string_view bytes) {
    const unsigned char lead = bytes[0];
    if (lead < 0x80) return {Kind::kCharacter, 1};
    size_t length = 0;
    unsigned char low = 0x80, high = 0xBF;  // the second byte's range
    if (lead >= 0xC2 && lead <= 0xDF) {
      length = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      length = 3;
      if (lead == 0xE0) low = 0xA0;
      if (lead == 0xED) high = 0x9F;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      length = 4;
      if (lead == 0xF0) low = 0x90;
      if (lead == 0xF4) high = 0x8F;
    } else {
      return {Kind::kIllFormed, 1};
    }
    for (size_t i = 1; i < length; ++i) {
      if (i >= bytes.size()) return {Kind::kIncomplete, i};
      const unsigned char b = bytes[i];
      const bool fits =
          i == 1 ? (b >= low && b <= high) : (b >= 0x80 && b <= 0xBF);
      if (!fits) return {Kind::kIllFormed, i};
    }
    return {Kind::kCharacter, length};
  }

  void Emit(bool final) {
    std::string out;
    size_t at = 0;
    while (at < pending_.size()) {
      const Unit unit = Next(absl::string_view(pending_).substr(at));
      if (unit.kind == Kind::kIncomplete && !final) break;
      if (unit.kind == Kind::kCharacter) {
        out.append(pending_, at, unit.length);
      } else {
        out.append("\xEF\xBF\xBD");  // U+FFFD
      }
      at += unit.length;
    }
    pending_.erase(0, at);
    if (!out.empty()) {
      std::fwrite(out.data(), 1, out.size(), stdout);
      std::fflush(stdout);
    }
  }

  std::string pending_;
};

// MiniMind's chat template for one user turn, ready for the reply.
std::string UserTurn(absl::string_view text) {
  return absl::StrCat("<|im_start|>user\n", text,
                      "<|im_end|>\n<|im_start|>assistant\n");
}

struct Session {
  std::string dir;
  MiniMindForCausalLM* model = nullptr;
  const Tokenizer* tokenizer = nullptr;  // null: ids only
  GenerateOptions options;
  bool print_ids = false;
};

void PrintStats(const GenerateOutput& out, int64_t prompt_tokens) {
  const int64_t generated = static_cast<int64_t>(out.ids[0].size());
  const std::string prefill =
      out.prefill_seconds > 0
          ? absl::StrFormat("%.1f", prompt_tokens / out.prefill_seconds)
          : std::string("-");
  const std::string decode =
      out.decode_steps > 0 && out.decode_seconds > 0
          ? absl::StrFormat("%.1f", out.decode_steps / out.decode_seconds)
          : std::string("-");
  std::fprintf(
      stderr,
      "prompt tokens %lld, generated tokens %lld, prefill %s tok/s, "
      "decode %s tok/s%s\n",
      static_cast<long long>(prompt_tokens), static_cast<long long>(generated),
      prefill.c_str(), decode.c_str(),
      out.reached_position_limit ? " (stopped at max_position_embeddings)"
                                 : "");
}

// Generates from `prompt`, streaming text when there is a tokenizer; the
// generated ids on success.
absl::StatusOr<std::vector<int64_t>> RunOnce(
    const Session& session, const std::vector<int64_t>& prompt) {
  GenerateOptions options = session.options;
  Utf8Stream stream;
  absl::Status token_error;
  // Without the ByteLevel decoder the tokenizer joins token texts with
  // spaces; the stream does as Decode does.
  const bool join_with_spaces = session.tokenizer != nullptr &&
                                !session.tokenizer->spec().byte_level_decoder;
  bool first_token = true;
  if (session.tokenizer != nullptr) {
    options.on_token = [&](int64_t, int64_t id) {
      absl::StatusOr<std::string> bytes = session.tokenizer->TokenBytes(id);
      if (!bytes.ok()) {
        token_error = absl::OutOfRangeError(
            absl::StrCat("generated id ", id, " has no text in ", session.dir,
                         "/tokenizer.json (", bytes.status().message(), ")"));
        return false;
      }
      if (join_with_spaces && !first_token) stream.Write(" ");
      first_token = false;
      stream.Write(*bytes);
      return true;
    };
  }
  absl::StatusOr<GenerateOutput> out =
      Generate(*session.model, {prompt}, options);
  if (!out.ok()) return out.status();
  if (session.tokenizer != nullptr) {
    stream.Finish();
    std::fputs("\n", stdout);
  }
  MG_RETURN_IF_ERROR(token_error);
  if (session.print_ids || session.tokenizer == nullptr) {
    std::printf("%s\n", absl::StrJoin(out->ids[0], ",").c_str());
  }
  std::fflush(stdout);
  PrintStats(*out, static_cast<int64_t>(prompt.size()));
  return out->ids[0];
}

// Turn by turn on a terminal; the whole conversation is the prompt of each
// reply.
absl::Status RunChatLoop(const Session& session) {
  std::string conversation;
  std::string line;
  while (true) {
    std::fputs("> ", stdout);
    std::fflush(stdout);
    if (!std::getline(std::cin, line) || line.empty()) break;
    absl::StrAppend(&conversation, UserTurn(line));
    MG_ASSIGN_OR_RETURN(
        const std::vector<int64_t> reply,
        RunOnce(session, session.tokenizer->Encode(conversation)));
    MG_ASSIGN_OR_RETURN(const std::string text,
                        session.tokenizer->Decode(reply));
    absl::StrAppend(&conversation, text, "<|im_end|>\n");
  }
  return absl::OkStatus();
}

int RunGenerateVerb(const std::vector<std::string>& positional) {
  if (!positional.empty()) {
    return BadInput(absl::StrCat("unexpected argument '", positional.back(),
                                 "' (the prompt goes in --prompt)"));
  }
  Session session;
  session.dir = absl::GetFlag(FLAGS_model);
  if (session.dir.empty()) return BadInput("--model DIR is required");
  if (!IsDirectory(session.dir)) {
    return BadInput(absl::StrCat("--model ", session.dir,
                                 ": no such directory (expected a checkpoint "
                                 "with config.json and model.safetensors)"));
  }
  const bool has_text = FlagGiven("prompt");
  const bool has_ids = FlagGiven("prompt_ids");
  const bool chat = absl::GetFlag(FLAGS_chat);
  const bool interactive =
      chat && !has_text && !has_ids && isatty(STDIN_FILENO);
  if (has_text && has_ids) {
    return BadInput("give --prompt TEXT or --prompt-ids 1,2,3, not both");
  }
  if (!has_text && !has_ids && !interactive) {
    return BadInput(
        "a prompt is required: --prompt TEXT or --prompt-ids 1,2,3"
        " (or --chat on a terminal)");
  }
  if (chat && has_ids) {
    return BadInput("--chat wraps text: give --prompt, not --prompt-ids");
  }

  SamplingOptions& sampling = session.options.sampling;
  sampling.do_sample = !absl::GetFlag(FLAGS_greedy);
  if (!sampling.do_sample) {
    for (const char* flag : {"temperature", "top_k", "top_p"}) {
      if (FlagGiven(flag)) {
        return BadInput(absl::StrCat("--greedy takes the most likely token; --",
                                     absl::StrReplaceAll(flag, {{"_", "-"}}),
                                     " is for sampling"));
      }
    }
  }
  sampling.temperature = absl::GetFlag(FLAGS_temperature);
  sampling.top_k = absl::GetFlag(FLAGS_top_k);
  sampling.top_p = absl::GetFlag(FLAGS_top_p);
  sampling.repetition_penalty = absl::GetFlag(FLAGS_repetition_penalty);
  sampling.seed = absl::GetFlag(FLAGS_seed);
  if (absl::Status status = ValidateSamplingOptions(sampling); !status.ok()) {
    return BadInput(std::string(status.message()));
  }
  session.options.max_new_tokens = absl::GetFlag(FLAGS_max_new_tokens);
  if (session.options.max_new_tokens < 0) {
    return BadInput(absl::StrCat("--max-new-tokens must be >= 0, got ",
                                 session.options.max_new_tokens));
  }
  session.print_ids = absl::GetFlag(FLAGS_print_ids);
  DType dtype = DType::kFloat32;
  const std::string dtype_flag = absl::GetFlag(FLAGS_dtype);
  if (!dtype_flag.empty()) {
    absl::StatusOr<DType> parsed = ParseDType(dtype_flag);
    if (!parsed.ok() || !IsFloating(*parsed)) {
      return BadInput(
          absl::StrCat("--dtype must be f32 or f64, got '", dtype_flag, "'"));
    }
    dtype = *parsed;
  }

  // The tokenizer first: a missing one is an error only for text.
  const std::string tokenizer_path =
      absl::StrCat(session.dir, "/tokenizer.json");
  std::optional<Tokenizer> tokenizer;
  if (IsFile(tokenizer_path)) {
    absl::StatusOr<Tokenizer> loaded = Tokenizer::Load(session.dir);
    if (!loaded.ok()) return BadInput(std::string(loaded.status().message()));
    tokenizer = *std::move(loaded);
    session.tokenizer = &*tokenizer;
  } else if (has_text || chat) {
    return BadInput(absl::StrCat(
        has_text ? "--prompt" : "--chat", " needs a tokenizer, and ",
        tokenizer_path, " does not exist (give --prompt-ids instead)"));
  }
  absl::StatusOr<MiniMindForCausalLM> model =
      MiniMindForCausalLM::LoadDir(session.dir, dtype);
  if (!model.ok()) return BadInput(std::string(model.status().message()));
  session.model = &*model;
  const MiniMindConfig& config = model->config();

  // eos: config.json's, else the tokenizer's eos_token, else MiniMind's.
  const std::string config_path = absl::StrCat(session.dir, "/config.json");
  absl::StatusOr<bool> config_has_eos = ConfigHasEos(config_path);
  if (!config_has_eos.ok()) {
    return BadInput(std::string(config_has_eos.status().message()));
  }
  session.options.eos_token_id = config.eos_token_id;
  if (!*config_has_eos && tokenizer.has_value() &&
      tokenizer->config().eos_token.has_value()) {
    const std::optional<int64_t> id =
        tokenizer->TokenToId(*tokenizer->config().eos_token);
    if (id.has_value()) session.options.eos_token_id = *id;
  }
  // Only ids the tokenizer can print (the model may have more).
  if (tokenizer.has_value() && tokenizer->vocab_size() < config.vocab_size) {
    session.options.token_limit = tokenizer->vocab_size();
  }

  if (interactive) {
    const absl::Status status = RunChatLoop(session);
    return status.ok() ? kExitOk : BadInput(std::string(status.message()));
  }
  std::vector<int64_t> prompt;
  if (has_ids) {
    absl::StatusOr<std::vector<int64_t>> ids =
        ParsePromptIds(absl::GetFlag(FLAGS_prompt_ids), config.vocab_size);
    if (!ids.ok()) return BadInput(std::string(ids.status().message()));
    prompt = *std::move(ids);
  } else {
    const std::string text = absl::GetFlag(FLAGS_prompt);
    prompt = tokenizer->Encode(chat ? UserTurn(text) : text);
    if (prompt.empty()) return BadInput("--prompt is empty (no tokens)");
    for (size_t i = 0; i < prompt.size(); ++i) {
      if (prompt[i] >= config.vocab_size) {
        return BadInput(absl::StrCat("--prompt: token ", i, " is id ",
                                     prompt[i], " from ", tokenizer_path,
                                     ", outside the model's vocabulary [0, ",
                                     config.vocab_size, ")"));
      }
    }
  }
  absl::StatusOr<std::vector<int64_t>> generated = RunOnce(session, prompt);
  if (!generated.ok())
    return BadInput(std::string(generated.status().message()));
  return kExitOk;
}

}  // namespace

MG_REGISTER_VERB(generate) {
  Verb verb;
  verb.name = "generate";
  verb.summary =
      "continue a prompt with a MiniMind checkpoint (KV cache, MiniMind's "
      "sampling), streaming the text";
  verb.usage = kGenerateUsage;
  verb.run = RunGenerateVerb;
  return verb;
}

}  // namespace minigraph::cli
