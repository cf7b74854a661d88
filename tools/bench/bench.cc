#include "tools/bench/bench.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "framework/memory_stats.h"
#include "tools/bench/fma_peak.h"

namespace minigraph::bench {
namespace {

std::map<std::string, Group>& Groups() {
  static auto* groups = new std::map<std::string, Group>();
  return *groups;
}

std::string JsonString(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += absl::StrFormat("\\u%04x", static_cast<int>(c));
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
  return out;
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
  // Only two positive finite figures have a meaningful ratio.
  if (ours > 0 && baseline > 0 && std::isfinite(ours) &&
      std::isfinite(baseline)) {
    r.ratio = higher_is_better ? ours / baseline : baseline / ours;
  }
  r.baseline_name = std::move(baseline_name);
  r.note = std::move(note);
  return r;
}

double PeakGflops(int threads) {
  static std::mutex mutex;
  static auto* peaks = new std::map<int, double>();
  std::lock_guard<std::mutex> lock(mutex);
  auto it = peaks->find(threads);
  if (it == peaks->end()) {
    it = peaks->emplace(threads, MeasureFmaPeak(threads).gflops).first;
  }
  return it->second;
}

double PercentOfPeak(double gflops, int threads) {
  return 100.0 * gflops / PeakGflops(threads);
}

double PeakMiB(const std::function<void()>& fn) {
  ResetPeakAllocatedBytes();
  const int64_t before = CurrentAllocatedBytes();
  fn();
  return static_cast<double>(PeakAllocatedBytes() - before) / (1 << 20);
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
  if (filter.empty()) return true;
  for (const std::string& term : filter) {
    if (name.find(term) != std::string::npos ||
        group.find(term) != std::string::npos) {
      return true;
    }
  }
  return false;
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

std::string FormatFigure(double value, int digits, bool fixed,
                         const char* missing) {
  if (!std::isfinite(value)) return missing;
  return fixed ? absl::StrFormat("%.*f", digits, value)
               : absl::StrFormat("%.*g", digits, value);
}

std::string RecordsToJson(const std::vector<Record>& records) {
  std::string out = "[\n";
  for (size_t i = 0; i < records.size(); ++i) {
    const Record& r = records[i];
    absl::StrAppend(
        &out, "  {\"name\": ", JsonString(r.name),
        ", \"ours\": ", FormatFigure(r.ours, 6, false, "null"),
        ", \"baseline\": ", FormatFigure(r.baseline, 6, false, "null"),
        ", \"unit\": ", JsonString(r.unit),
        ", \"ratio\": ", FormatFigure(r.ratio, 4, true, "null"),
        ", \"baseline_name\": ", JsonString(r.baseline_name),
        ", \"note\": ", JsonString(r.note));
    if (std::isfinite(r.pct_peak)) {
      absl::StrAppend(
          &out, ", \"pct_peak\": ", FormatFigure(r.pct_peak, 2, true, "null"));
    }
    if (std::isfinite(r.faults_per_iter)) {
      absl::StrAppend(&out, ", \"faults_per_iter\": ",
                      FormatFigure(r.faults_per_iter, 6, false, "null"));
    }
    if (std::isfinite(r.peak_rss_mib)) {
      absl::StrAppend(&out, ", \"peak_rss_mib\": ",
                      FormatFigure(r.peak_rss_mib, 6, false, "null"));
    }
    absl::StrAppend(&out, "}", i + 1 < records.size() ? "," : "", "\n");
  }
  out += "]\n";
  return out;
}

bool WriteRecordsJson(const std::string& path,
                      const std::vector<Record>& records) {
  // Beside the target, so that the rename stays on one file system.
  const std::string temporary = absl::StrCat(path, ".tmp.", getpid());
  {
    std::ofstream out(temporary);
    if (!out) return false;
    out << RecordsToJson(records);
    out.flush();
    if (!out) {
      std::remove(temporary.c_str());
      return false;
    }
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    std::remove(temporary.c_str());
    return false;
  }
  return true;
}

std::string ResolveOutputPath(const std::string& path) {
  if (path.empty() || path[0] == '/') return path;
  const char* dir = std::getenv("BUILD_WORKING_DIRECTORY");
  if (dir == nullptr || *dir == '\0') return path;
  return absl::StrCat(dir, "/", path);
}

}  // namespace minigraph::bench
