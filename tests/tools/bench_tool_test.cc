// The benchmark binary end to end in its quick mode, on small filters: it
// exits 0 and writes a JSON list of records with the promised keys, where a
// relative --json path means the directory `bazel run` was called from; %
// of peak is relative to the FMA peak measured in the same run; the
// allocator comparison has a row per allocator; the graph group compares
// each graph variant with eager and reports no error; and the JSON writer on
// figures that do not exist. No timing is compared with anything: this is
// not a timed test.
#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tools/bench/bench.h"

namespace minigraph {
namespace {

using ::google::protobuf::ListValue;
using ::google::protobuf::Struct;
using ::google::protobuf::Value;

std::string TempDir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir != nullptr ? dir : "/tmp";
}

bool Exists(const std::string& path) {
  struct stat info;
  return stat(path.c_str(), &info) == 0;
}

// Names of the entries of `dir` (without "." and "..").
std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> names;
  DIR* handle = opendir(dir.c_str());
  if (handle == nullptr) return names;
  while (const dirent* entry = readdir(handle)) {
    const std::string name = entry->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  closedir(handle);
  return names;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Runs the bench binary with `args` (and `env` prefixed, "NAME=value ..."),
// its output going to a file; returns the exit code.
int RunBench(const std::string& env, const std::vector<std::string>& args) {
  const std::string binary =
      absl::StrCat(std::getenv("TEST_SRCDIR"), "/minigraph/tools/bench/bench");
  std::string command = absl::StrCat(env, " '", binary, "'");
  for (const std::string& a : args) absl::StrAppend(&command, " '", a, "'");
  absl::StrAppend(&command, " >'", TempDir(), "/bench_stdout.txt' 2>&1");
  const int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// The file is a JSON list; every element an object with a string name and
// unit, and ours, baseline and ratio each a number or null. Appends the names
// to `names` and, when given, the objects to `objects`.
void ReadRecords(const std::string& path, std::vector<std::string>* names,
                 std::vector<Struct>* objects = nullptr) {
  ListValue list;
  const std::string text = ReadFile(path);
  const auto status = google::protobuf::util::JsonStringToMessage(text, &list);
  ASSERT_TRUE(status.ok()) << status.ToString() << "\n" << text;
  for (const Value& element : list.values()) {
    ASSERT_EQ(element.kind_case(), Value::kStructValue) << text;
    const auto& fields = element.struct_value().fields();
    for (const char* key : {"name", "unit"}) {
      ASSERT_EQ(fields.count(key), 1u) << key;
      EXPECT_EQ(fields.at(key).kind_case(), Value::kStringValue) << key;
    }
    for (const char* key : {"ours", "baseline", "ratio"}) {
      ASSERT_EQ(fields.count(key), 1u) << key;
      const Value::KindCase kind = fields.at(key).kind_case();
      EXPECT_TRUE(kind == Value::kNumberValue || kind == Value::kNullValue)
          << key;
    }
    names->push_back(fields.at("name").string_value());
    if (objects != nullptr) objects->push_back(element.struct_value());
  }
}

// The record called `name` among `objects` (fails the test when absent).
const Struct* FindRecord(const std::vector<Struct>& objects,
                         const std::string& name) {
  for (const Struct& object : objects) {
    if (object.fields().at("name").string_value() == name) return &object;
  }
  ADD_FAILURE() << "no record " << name;
  return nullptr;
}

bool IsNumber(const Struct& object, const std::string& key) {
  const auto it = object.fields().find(key);
  return it != object.fields().end() &&
         it->second.kind_case() == Value::kNumberValue;
}

double Number(const Struct& object, const std::string& key) {
  return object.fields().at(key).number_value();
}

TEST(BenchToolTest, QuickRunWritesJsonRecords) {
  const std::string dir = TempDir() + "/absolute";
  ASSERT_EQ(std::system(absl::StrCat("mkdir -p '", dir, "'").c_str()), 0);
  const std::string json = dir + "/out.json";
  ASSERT_EQ(RunBench("", {"--quick", "--filter=matmul_64", "--threads=1,2",
                          "--json=" + json}),
            0)
      << ReadFile(TempDir() + "/bench_stdout.txt");
  std::vector<std::string> names;
  ASSERT_NO_FATAL_FAILURE(ReadRecords(json, &names));
  EXPECT_EQ(std::set<std::string>(names.begin(), names.end()),
            (std::set<std::string>{"matmul_64_t1", "matmul_64_t2"}));
  // The temporary file was renamed, not left beside the result.
  EXPECT_EQ(ListDir(dir), std::vector<std::string>{"out.json"});
}

// fma_peak_t<n> is the measured peak on n threads, and every matmul
// record's pct_peak is its GFLOP/s over that same figure (recomputed here
// from the JSON, so within the JSON's rounding).
TEST(BenchToolTest, PercentOfPeakIsRelativeToTheMeasuredPeak) {
  const std::string json = TempDir() + "/peak.json";
  ASSERT_EQ(RunBench("", {"--quick", "--filter=matmul_64,fma_peak",
                          "--threads=1,2", "--json=" + json}),
            0)
      << ReadFile(TempDir() + "/bench_stdout.txt");
  std::vector<std::string> names;
  std::vector<Struct> objects;
  ASSERT_NO_FATAL_FAILURE(ReadRecords(json, &names, &objects));
  EXPECT_EQ(std::set<std::string>(names.begin(), names.end()),
            (std::set<std::string>{"matmul_64_t1", "matmul_64_t2",
                                   "fma_peak_t1", "fma_peak_t2"}));
  for (int threads : {1, 2}) {
    const Struct* peak =
        FindRecord(objects, absl::StrCat("fma_peak_t", threads));
    const Struct* matmul =
        FindRecord(objects, absl::StrCat("matmul_64_t", threads));
    ASSERT_TRUE(peak != nullptr && matmul != nullptr);
    ASSERT_TRUE(IsNumber(*peak, "ours"));
    EXPECT_GT(Number(*peak, "ours"), 0.0);
    EXPECT_FALSE(IsNumber(*peak, "pct_peak"));
    ASSERT_TRUE(IsNumber(*matmul, "ours"));
    ASSERT_TRUE(IsNumber(*matmul, "pct_peak"));
    const double expected =
        100.0 * Number(*matmul, "ours") / Number(*peak, "ours");
    // pct_peak has 2 decimals, the figures 6 significant digits.
    EXPECT_NEAR(Number(*matmul, "pct_peak"), expected, 0.006 + expected * 2e-5)
        << threads;
  }
}

// The generation group in quick mode (the tiny preset stands in for the 26M
// model): memory bandwidth, decode, prefill and tokenizer records, each with
// a positive figure; decode is set against the bandwidth limit it names.
TEST(BenchToolTest, GenerateGroupHasItsRecords) {
  const std::string json = TempDir() + "/generate.json";
  ASSERT_EQ(RunBench("", {"--quick", "--filter=generate", "--threads=1",
                          "--json=" + json}),
            0)
      << ReadFile(TempDir() + "/bench_stdout.txt");
  std::vector<std::string> names;
  std::vector<Struct> objects;
  ASSERT_NO_FATAL_FAILURE(ReadRecords(json, &names, &objects));
  for (const char* name : {"mem_bw_read_t1", "generate_tiny_tok_s_t1",
                           "prefill_tiny_tok_s_t1", "tokenize_mb_s"}) {
    const Struct* record = FindRecord(objects, name);
    ASSERT_NE(record, nullptr) << name;
    ASSERT_TRUE(IsNumber(*record, "ours")) << name;
    EXPECT_GT(Number(*record, "ours"), 0.0) << name;
  }
  const Struct* decode = FindRecord(objects, "generate_tiny_tok_s_t1");
  EXPECT_NE(decode->fields().at("note").string_value().find("bandwidth limit"),
            std::string::npos);
}

// The graph group in quick mode: for the attention module at two sizes and
// the tiny LM, each graph variant's time and peak memory against eager's from
// the same run, with no record reporting an error (a graph output that
// differs from eager's bits leaves its figures out and says so). Releasing
// dead values can only lower the peak, so the optimized graph's peak is at
// most the unoptimized one's, and the memory plan's at most keeping every
// value; no pass adds nodes.
TEST(BenchToolTest, GraphGroupHasItsRecords) {
  const std::string json = TempDir() + "/graph.json";
  ASSERT_EQ(RunBench("", {"--quick", "--filter=graph", "--threads=1",
                          "--json=" + json}),
            0)
      << ReadFile(TempDir() + "/bench_stdout.txt");
  const std::string stdout_text = ReadFile(TempDir() + "/bench_stdout.txt");
  EXPECT_NE(stdout_text.find("planned peak memory"), std::string::npos)
      << stdout_text;
  std::vector<std::string> names;
  std::vector<Struct> objects;
  ASSERT_NO_FATAL_FAILURE(ReadRecords(json, &names, &objects));
  for (const Struct& object : objects) {
    EXPECT_EQ(object.fields().at("note").string_value().find("ERROR"),
              std::string::npos)
        << object.fields().at("note").string_value();
  }
  for (const char* prefix :
       {"graph_attn_b1_t64", "graph_attn_b2_t32", "graph_lm_tiny_b2_t32"}) {
    for (const char* variant : {"nopass", "passes"}) {
      for (const char* unit : {"ms", "mib"}) {
        const std::string name = absl::StrCat(prefix, "_", variant, "_", unit);
        const Struct* record = FindRecord(objects, name);
        ASSERT_NE(record, nullptr) << name;
        ASSERT_TRUE(IsNumber(*record, "ours")) << name;
        ASSERT_TRUE(IsNumber(*record, "baseline")) << name;
        EXPECT_GT(Number(*record, "ours"), 0.0) << name;
        EXPECT_GT(Number(*record, "baseline"), 0.0) << name;
        EXPECT_EQ(record->fields().at("baseline_name").string_value(), "eager");
        EXPECT_EQ(record->fields().at("unit").string_value(),
                  std::string(unit) == "ms" ? "ms" : "MiB");
      }
    }
    const Struct* kept =
        FindRecord(objects, absl::StrCat(prefix, "_nopass_mib"));
    const Struct* released =
        FindRecord(objects, absl::StrCat(prefix, "_passes_mib"));
    ASSERT_TRUE(kept != nullptr && released != nullptr);
    EXPECT_LE(Number(*released, "ours"), Number(*kept, "ours")) << prefix;
  }
  const Struct* plan = FindRecord(objects, "graph_lm_tiny_b2_t32_plan_mib");
  ASSERT_NE(plan, nullptr);
  ASSERT_TRUE(IsNumber(*plan, "ours") && IsNumber(*plan, "baseline"));
  EXPECT_GT(Number(*plan, "ours"), 0.0);
  EXPECT_LE(Number(*plan, "ours"), Number(*plan, "baseline"));
  int passes = 0;
  for (const Struct& object : objects) {
    const std::string& name = object.fields().at("name").string_value();
    if (name.rfind("graph_lm_tiny_pass", 0) != 0) continue;
    ++passes;
    EXPECT_EQ(object.fields().at("unit").string_value(), "nodes") << name;
    EXPECT_LE(Number(object, "ours"), Number(object, "baseline")) << name;
  }
  EXPECT_GE(passes, 3);  // dce, cse, fold_constants at least
}

// The allocator comparison in quick mode: one row per allocator, each from
// a child process, against glibc; a row either has its figures (time, page
// faults per iteration, peak RSS) or says why not (a library that is not
// installed, or a preload that ASan rules out).
TEST(BenchToolTest, AllocatorComparisonHasARowPerAllocator) {
  const std::string json = TempDir() + "/alloc.json";
  ASSERT_EQ(RunBench("", {"--quick", "--filter=alloc_attn_fused", "--threads=1",
                          "--json=" + json}),
            0)
      << ReadFile(TempDir() + "/bench_stdout.txt");
  std::vector<std::string> names;
  std::vector<Struct> objects;
  ASSERT_NO_FATAL_FAILURE(ReadRecords(json, &names, &objects));
  const std::vector<std::string> allocators = {
      "cache", "glibc", "glibc_tuned", "tcmalloc", "jemalloc", "mimalloc"};
  ASSERT_EQ(names.size(), allocators.size());
  for (const std::string& allocator : allocators) {
    const Struct* record = FindRecord(
        objects, absl::StrCat("alloc_attn_fused_", allocator, "_t1"));
    ASSERT_NE(record, nullptr);
    EXPECT_EQ(record->fields().at("unit").string_value(), "ms");
    EXPECT_EQ(record->fields().at("baseline_name").string_value(), "glibc");
    const std::string note = record->fields().at("note").string_value();
    if (!IsNumber(*record, "ours")) {
      // Only a preloaded library can be missing or skipped.
      EXPECT_TRUE(allocator != "cache" && allocator != "glibc" &&
                  allocator != "glibc_tuned")
          << allocator << ": " << note;
      EXPECT_TRUE(note.rfind("missing: ", 0) == 0 ||
                  note.rfind("skipped: ", 0) == 0)
          << note;
      continue;
    }
    EXPECT_GT(Number(*record, "ours"), 0.0) << allocator;
    ASSERT_TRUE(IsNumber(*record, "faults_per_iter")) << allocator;
    EXPECT_GE(Number(*record, "faults_per_iter"), 0.0) << allocator;
    ASSERT_TRUE(IsNumber(*record, "peak_rss_mib")) << allocator;
    EXPECT_GT(Number(*record, "peak_rss_mib"), 0.0) << allocator;
    EXPECT_NE(note.find("iterations"), std::string::npos) << note;
  }
  // glibc is its own baseline.
  const Struct* glibc = FindRecord(objects, "alloc_attn_fused_glibc_t1");
  ASSERT_NE(glibc, nullptr);
  ASSERT_TRUE(IsNumber(*glibc, "ours"));
  EXPECT_EQ(Number(*glibc, "ours"), Number(*glibc, "baseline"));
}

TEST(BenchToolTest, FilterMatchingNothingFails) {
  EXPECT_EQ(RunBench("", {"--quick", "--filter=no_such_record"}), 2);
}

TEST(BenchToolTest, RelativeJsonPathIsTheCallersDirectory) {
  const std::string dir = TempDir() + "/caller";
  ASSERT_EQ(std::system(absl::StrCat("mkdir -p '", dir, "'").c_str()), 0);
  ASSERT_EQ(RunBench(absl::StrCat("BUILD_WORKING_DIRECTORY='", dir, "'"),
                     {"--quick", "--filter=matmul_64", "--threads=1",
                      "--json=relative.json"}),
            0)
      << ReadFile(TempDir() + "/bench_stdout.txt");
  ASSERT_TRUE(Exists(dir + "/relative.json"));
  std::vector<std::string> names;
  ASSERT_NO_FATAL_FAILURE(ReadRecords(dir + "/relative.json", &names));
  EXPECT_EQ(names, std::vector<std::string>{"matmul_64_t1"});
}

TEST(BenchToolTest, UnwritableJsonPathFailsWithoutPartialFile) {
  const std::string json = TempDir() + "/missing_dir/out.json";
  EXPECT_EQ(RunBench("", {"--quick", "--filter=matmul_64", "--threads=1",
                          "--json=" + json}),
            2);
  EXPECT_FALSE(Exists(json));
}

// NaN and infinite figures become null; pct_peak, faults_per_iter and
// peak_rss_mib appear only where set.
TEST(BenchJsonTest, MissingFiguresAreNullAndOptionalFiguresAreNumeric) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  bench::Record timed = bench::MakeRecord("a \"quoted\" name", 2.0, 4.0,
                                          "GFLOP/s", true, "openblas");
  timed.pct_peak = 50.0;
  bench::Record loop =
      bench::MakeRecord("no_baseline", 1.5, nan, "us", false, "none");
  loop.faults_per_iter = 0.25;
  loop.peak_rss_mib = 123.5;
  const std::vector<bench::Record> records = {
      timed,
      loop,
      bench::MakeRecord("infinite", inf, 3.0, "GB/s", true, "naive"),
  };
  ListValue list;
  const std::string text = bench::RecordsToJson(records);
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(text, &list).ok())
      << text;
  ASSERT_EQ(list.values_size(), 3);
  const auto& first = list.values(0).struct_value().fields();
  EXPECT_EQ(first.at("name").string_value(), "a \"quoted\" name");
  EXPECT_DOUBLE_EQ(first.at("ratio").number_value(), 0.5);
  EXPECT_DOUBLE_EQ(first.at("pct_peak").number_value(), 50.0);
  EXPECT_EQ(first.count("faults_per_iter"), 0u);
  EXPECT_EQ(first.count("peak_rss_mib"), 0u);
  const auto& second = list.values(1).struct_value().fields();
  EXPECT_EQ(second.at("baseline").kind_case(), Value::kNullValue);
  EXPECT_EQ(second.at("ratio").kind_case(), Value::kNullValue);
  EXPECT_EQ(second.count("pct_peak"), 0u);
  EXPECT_DOUBLE_EQ(second.at("faults_per_iter").number_value(), 0.25);
  EXPECT_DOUBLE_EQ(second.at("peak_rss_mib").number_value(), 123.5);
  const auto& third = list.values(2).struct_value().fields();
  EXPECT_EQ(third.at("ours").kind_case(), Value::kNullValue);
  EXPECT_EQ(third.at("ratio").kind_case(), Value::kNullValue);
  EXPECT_DOUBLE_EQ(third.at("baseline").number_value(), 3.0);
}

}  // namespace
}  // namespace minigraph
