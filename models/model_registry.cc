#include "models/model_registry.h"

namespace minigraph {
namespace {

std::map<std::string, ModelEntry>& Models() {
  static auto* models = new std::map<std::string, ModelEntry>();
  return *models;
}

}  // namespace

bool RegisterModel(ModelEntry entry) {
  const std::string name = entry.name;
  return Models().emplace(name, std::move(entry)).second;
}

const ModelEntry* FindModel(const std::string& name) {
  auto it = Models().find(name);
  return it == Models().end() ? nullptr : &it->second;
}

std::vector<const ModelEntry*> AllModels() {
  std::vector<const ModelEntry*> models;
  for (const auto& [name, entry] : Models()) models.push_back(&entry);
  return models;
}

}  // namespace minigraph
