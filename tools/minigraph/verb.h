// The `minigraph` command line: each verb registers itself from its own file,
// so adding a verb touches one .cc and this folder's BUILD.
#ifndef MINIGRAPH_TOOLS_MINIGRAPH_VERB_H_
#define MINIGRAPH_TOOLS_MINIGRAPH_VERB_H_

#include <functional>
#include <string>
#include <vector>

namespace minigraph::cli {

// Exit codes shared by every verb.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // a check failed (gradcheck)
inline constexpr int kExitBadInput = 2;  // bad flags, files or tensors

struct Verb {
  std::string name;
  std::string summary;  // one line for `minigraph --help`
  std::string usage;    // the synopsis printed by `minigraph VERB --help`
  // Receives the positional arguments after the verb; flags were already
  // parsed into the absl flags the verb's file defines.
  std::function<int(const std::vector<std::string>& positional)> run;
};

bool RegisterVerb(Verb verb);

// Whether flag `name` (underscored) was given on this command line: a verb
// whose default differs from a shared flag's uses its own when it was not.
bool FlagGiven(const std::string& name);
// Called by the command-line parser for every flag it sets.
void NoteFlagGiven(const std::string& name);
const Verb* FindVerb(const std::string& name);
std::vector<const Verb*> AllVerbs();

}  // namespace minigraph::cli

#define MG_REGISTER_VERB(identifier)                                      \
  static ::minigraph::cli::Verb MgMakeVerb_##identifier();                \
  [[maybe_unused]] static const bool mg_verb_registered_##identifier =    \
      ::minigraph::cli::RegisterVerb(MgMakeVerb_##identifier());          \
  static ::minigraph::cli::Verb MgMakeVerb_##identifier()

#endif  // MINIGRAPH_TOOLS_MINIGRAPH_VERB_H_
