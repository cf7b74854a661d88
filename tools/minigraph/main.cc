// minigraph VERB [flags] [args]: dispatches to the verbs registered with
// MG_REGISTER_VERB. Flags may be written --a-b or --a_b, --no-x or --nox;
// `minigraph VERB --help` prints the verb's usage and only its flags.
//
// Flags are parsed here rather than by absl::ParseCommandLine so that every
// mistake (unknown flag, bad value, a flag the verb does not use) is a clear
// message with exit code 2, like any other bad input.
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "tools/minigraph/verb.h"

namespace minigraph::cli {
namespace {

std::string Dashed(absl::string_view name) {
  return absl::StrReplaceAll(name, {{"_", "-"}});
}

std::string Underscored(absl::string_view name) {
  return absl::StrReplaceAll(name, {{"-", "_"}});
}

std::string Basename(absl::string_view path) {
  const size_t slash = path.rfind('/');
  return std::string(slash == absl::string_view::npos ? path
                                                      : path.substr(slash + 1));
}

// The flags a verb uses: those its usage text mentions (--name, either
// spelling) and those defined in its own file (<verb>_verb.cc).
std::vector<absl::CommandLineFlag*> VerbFlags(const Verb& verb) {
  std::vector<absl::CommandLineFlag*> flags;
  const std::string own_file = absl::StrCat(verb.name, "_verb");
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    if (flag->IsRetired()) continue;
    const std::string dashed = absl::StrCat("--", Dashed(name));
    const std::string plain = absl::StrCat("--", name);
    auto mentioned = [&](const std::string& spelled) {
      // A whole-word mention: not the prefix of a longer flag name.
      for (size_t at = verb.usage.find(spelled); at != std::string::npos;
           at = verb.usage.find(spelled, at + 1)) {
        const size_t end = at + spelled.size();
        if (end == verb.usage.size() ||
            !(std::isalnum(static_cast<unsigned char>(verb.usage[end])) ||
              verb.usage[end] == '_' || verb.usage[end] == '-')) {
          return true;
        }
      }
      return false;
    };
    if (mentioned(dashed) || mentioned(plain) ||
        absl::StartsWith(Basename(flag->Filename()), own_file)) {
      flags.push_back(flag);
    }
  }
  std::sort(flags.begin(), flags.end(),
            [](const absl::CommandLineFlag* a, const absl::CommandLineFlag* b) {
              return a->Name() < b->Name();
            });
  return flags;
}

void PrintVerbs() {
  std::printf(
      "usage: minigraph VERB [flags] [args]\n\n"
      "verbs:\n");
  for (const Verb* verb : AllVerbs()) {
    std::printf("  %-11s %s\n", verb->name.c_str(), verb->summary.c_str());
  }
  std::printf(
      "\n`minigraph VERB --help` shows a verb's usage and flags. Flags may be "
      "written --a-b or --a_b; boolean flags take --x, --x=false or --no-x.\n");
}

void PrintVerbHelp(const Verb& verb) {
  std::printf("%s\n", verb.usage.c_str());
  const std::vector<absl::CommandLineFlag*> flags = VerbFlags(verb);
  if (flags.empty()) return;
  std::printf("\nflags:\n");
  for (const absl::CommandLineFlag* flag : flags) {
    const std::string default_value = flag->DefaultValue();
    std::printf("  --%s%s\n      %s\n", Dashed(flag->Name()).c_str(),
                default_value.empty()
                    ? ""
                    : absl::StrCat(" (default: ", default_value, ")").c_str(),
                flag->Help().c_str());
  }
}

int BadUsage(const Verb& verb, const std::string& message) {
  std::fprintf(stderr, "minigraph %s: %s\n(see `minigraph %s --help`)\n",
               verb.name.c_str(), message.c_str(), verb.name.c_str());
  return kExitBadInput;
}

}  // namespace

int Main(int argc, char** argv) {
  // Under `bazel run` relative paths mean the caller's directory.
  if (const char* dir = std::getenv("BUILD_WORKING_DIRECTORY")) {
    if (chdir(dir) != 0) {
      std::fprintf(stderr, "minigraph: cannot enter %s\n", dir);
      return kExitBadInput;
    }
  }
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    PrintVerbs();
    return kExitBadInput;
  }
  if (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    PrintVerbs();
    return kExitOk;
  }
  const Verb* verb = FindVerb(args[0]);
  if (verb == nullptr) {
    std::fprintf(stderr,
                 "minigraph: unknown verb '%s' (`minigraph --help` lists "
                 "them)\n",
                 args[0].c_str());
    return kExitBadInput;
  }
  const std::vector<absl::CommandLineFlag*> allowed = VerbFlags(*verb);
  std::vector<std::string> positional;
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") {
      positional.insert(positional.end(), args.begin() + i + 1, args.end());
      break;
    }
    if (arg == "--help" || arg == "-h") {
      PrintVerbHelp(*verb);
      return kExitOk;
    }
    if (!absl::StartsWith(arg, "--") || arg.size() == 2) {
      positional.push_back(arg);
      continue;
    }
    const size_t eq = arg.find('=');
    const std::string spelled =
        arg.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
    const bool has_value = eq != std::string::npos;
    std::string name = Underscored(spelled);
    if (name == "out") name = "output";
    std::string value = has_value ? arg.substr(eq + 1) : "";
    absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    bool negated = false;
    if (flag == nullptr && absl::StartsWith(name, "no")) {
      // --no-x and --nox turn a boolean flag x off.
      std::string base = name.substr(2);
      if (absl::StartsWith(base, "_")) base = base.substr(1);
      flag = absl::FindCommandLineFlag(base);
      negated = flag != nullptr;
      if (negated) name = base;
    }
    if (flag == nullptr ||
        std::find(allowed.begin(), allowed.end(), flag) == allowed.end()) {
      return BadUsage(*verb, absl::StrCat("unknown flag --", spelled));
    }
    const bool is_bool = flag->IsOfType<bool>();
    if (negated) {
      if (!is_bool || has_value) {
        return BadUsage(*verb, absl::StrCat("--", spelled,
                                            ": only a boolean flag can be "
                                            "negated, and takes no value"));
      }
      value = "false";
    } else if (!has_value) {
      if (is_bool) {
        value = "true";
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        return BadUsage(*verb, absl::StrCat("--", spelled, " needs a value"));
      }
    }
    std::string error;
    if (!flag->ParseFrom(value, &error)) {
      return BadUsage(*verb,
                      absl::StrCat("--", spelled, "=", value, ": ", error));
    }
    NoteFlagGiven(name);
  }
  return verb->run(positional);
}

}  // namespace minigraph::cli

int main(int argc, char** argv) { return minigraph::cli::Main(argc, argv); }
