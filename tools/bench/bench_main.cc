// Runs every registered benchmark group, prints one table, and with --json
// writes the records (through a temporary file and a rename, so a failed run
// leaves no partial file).
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "tools/bench/bench.h"

ABSL_FLAG(std::string, filter, "", "run only records whose name contains this");
ABSL_FLAG(std::string, json, "", "also write the records as JSON to this file");
ABSL_FLAG(bool, quick, false, "fewer and smaller cases (a smoke run)");
ABSL_FLAG(std::vector<std::string>, threads,
          std::vector<std::string>({"1", "2"}),
          "comma-separated thread counts for the per-thread-count records");

namespace minigraph::bench {
namespace {

std::string JsonEscape(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

bool WriteJson(const std::string& path, const std::vector<Record>& records) {
  const std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary);
    if (!out) return false;
    out << "[\n";
    for (size_t i = 0; i < records.size(); ++i) {
      const Record& r = records[i];
      out << absl::StrFormat(
          "  {\"name\": \"%s\", \"ours\": %.6g, \"baseline\": %.6g, "
          "\"unit\": \"%s\", \"ratio\": %.4f, \"baseline_name\": \"%s\", "
          "\"note\": \"%s\"}%s\n",
          JsonEscape(r.name), r.ours, r.baseline, JsonEscape(r.unit), r.ratio,
          JsonEscape(r.baseline_name), JsonEscape(r.note),
          i + 1 < records.size() ? "," : "");
    }
    out << "]\n";
    if (!out.flush()) return false;
  }
  return std::rename(temporary.c_str(), path.c_str()) == 0;
}

int Main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "minigraph benchmarks: each row against a baseline from the same run.\n"
      "  bench [--filter SUBSTRING] [--json FILE] [--quick] [--threads 1,2]");
  absl::ParseCommandLine(argc, argv);
  Context context;
  context.filter = absl::GetFlag(FLAGS_filter);
  context.quick = absl::GetFlag(FLAGS_quick);
  context.threads.clear();
  for (const std::string& text : absl::GetFlag(FLAGS_threads)) {
    int threads = 0;
    if (!absl::SimpleAtoi(text, &threads) || threads < 1 || threads > 1024) {
      std::fprintf(stderr,
                   "bench: --threads: '%s' is not a thread count (1 to 1024)\n",
                   text.c_str());
      return 2;
    }
    context.threads.push_back(threads);
  }
  std::vector<Record> records;
  std::printf("%-32s %12s %12s %-9s %7s  %-10s %s\n", "name", "ours",
              "baseline", "unit", "ratio", "baseline", "note");
  for (const Group* group : AllGroups()) {
    std::vector<Record> group_records;
    group->run(context, &group_records);
    for (const Record& r : group_records) {
      std::printf("%-32s %12.4g %12.4g %-9s %7.3f  %-10s %s\n", r.name.c_str(),
                  r.ours, r.baseline, r.unit.c_str(), r.ratio,
                  r.baseline_name.c_str(), r.note.c_str());
      std::fflush(stdout);
    }
    records.insert(records.end(), group_records.begin(), group_records.end());
  }
  const std::string json = absl::GetFlag(FLAGS_json);
  if (!json.empty() && !WriteJson(json, records)) {
    std::fprintf(stderr, "bench: cannot write %s\n", json.c_str());
    return 2;
  }
  return 0;
}

}  // namespace
}  // namespace minigraph::bench

int main(int argc, char** argv) { return minigraph::bench::Main(argc, argv); }
