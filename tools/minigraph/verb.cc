#include "tools/minigraph/verb.h"

#include <map>
#include <set>
#include <string>

namespace minigraph::cli {
namespace {

std::map<std::string, Verb>& Verbs() {
  static auto* verbs = new std::map<std::string, Verb>();
  return *verbs;
}

}  // namespace

bool RegisterVerb(Verb verb) {
  const std::string name = verb.name;
  return Verbs().emplace(name, std::move(verb)).second;
}

const Verb* FindVerb(const std::string& name) {
  auto it = Verbs().find(name);
  return it == Verbs().end() ? nullptr : &it->second;
}

std::vector<const Verb*> AllVerbs() {
  std::vector<const Verb*> verbs;
  for (const auto& [name, verb] : Verbs()) verbs.push_back(&verb);
  return verbs;
}

std::set<std::string>& GivenFlags() {
  static std::set<std::string>* given = new std::set<std::string>();
  return *given;
}

bool FlagGiven(const std::string& name) { return GivenFlags().count(name) > 0; }

void NoteFlagGiven(const std::string& name) { GivenFlags().insert(name); }

}  // namespace minigraph::cli
