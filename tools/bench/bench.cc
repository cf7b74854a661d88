#include "tools/bench/bench.h"

#include <algorithm>
#include <chrono>
#include <map>

namespace minigraph::bench {
namespace {

std::map<std::string, Group>& Groups() {
  static auto* groups = new std::map<std::string, Group>();
  return *groups;
}

}  // namespace

Record MakeRecord(std::string name, double ours, double baseline,
                  std::string unit, bool higher_is_better,
                  std::string baseline_name, std::string note) {
  Record r;
  r.name = std::move(name);
  r.ours = ours;
  r.baseline = baseline;
  r.unit = std::move(unit);
  if (ours > 0 && baseline > 0) {
    r.ratio = higher_is_better ? ours / baseline : baseline / ours;
  }
  r.baseline_name = std::move(baseline_name);
  r.note = std::move(note);
  return r;
}

double MedianSeconds(const std::function<void()>& fn, int min_runs,
                     double min_seconds) {
  using Clock = std::chrono::steady_clock;
  fn();  // warm-up: first-touch page faults, dispatch, caches
  std::vector<double> times;
  const auto start = Clock::now();
  while (static_cast<int>(times.size()) < min_runs ||
         std::chrono::duration<double>(Clock::now() - start).count() <
             min_seconds) {
    const auto t0 = Clock::now();
    fn();
    times.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
    if (times.size() >= 1000) break;
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

bool Context::Wants(const std::string& name) const {
  return filter.empty() || name.find(filter) != std::string::npos;
}

bool RegisterGroup(Group group) {
  const std::string name = group.name;
  return Groups().emplace(name, std::move(group)).second;
}

std::vector<const Group*> AllGroups() {
  std::vector<const Group*> groups;
  for (const auto& [name, group] : Groups()) groups.push_back(&group);
  return groups;
}

}  // namespace minigraph::bench
