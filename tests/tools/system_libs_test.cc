// Link-and-run test for the system libraries wrapped in tools/bazel/system:
// the parts of Abseil a typical project uses, Highway's contrib and test
// libraries, and OpenBLAS.

#include <cblas.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/hash/hash.h"
#include "absl/random/random.h"
#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "hwy/contrib/sort/vqsort.h"
#include "hwy/tests/test_util.h"

ABSL_FLAG(int, smoke_repeats, 1, "How often to repeat something.");
ABSL_FLAG(std::string, smoke_name, "default", "A name.");

namespace minigraph {
namespace {

TEST(SystemLibsTest, AbslStrings) {
  EXPECT_EQ(absl::StrCat("conv", 2, "d_", 3.5), "conv2d_3.5");
  EXPECT_EQ(absl::StrFormat("%s:%05.2f:%d", "x", 3.14159, 7), "x:03.14:7");
  std::vector<std::string> parts = absl::StrSplit("a,b,,c", ',');
  EXPECT_EQ(absl::StrJoin(parts, "|"), "a|b||c");

  absl::Cord cord("hello ");
  cord.Append(std::string(1000, 'x'));
  EXPECT_EQ(cord.size(), 1006u);
  EXPECT_TRUE(cord.StartsWith("hello"));
}

TEST(SystemLibsTest, AbslContainersAndHash) {
  absl::flat_hash_map<std::string, int> counts;
  for (const char* word : {"add", "mul", "add", "relu", "add"}) {
    ++counts[word];
  }
  EXPECT_EQ(counts.size(), 3u);
  EXPECT_EQ(counts["add"], 3);
  EXPECT_EQ(absl::Hash<std::string>()("add"),
            absl::Hash<std::string>()(std::string("add")));
}

TEST(SystemLibsTest, AbslMutexAcrossThreads) {
  absl::Mutex mutex;
  int64_t total = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&mutex, &total] {
      for (int i = 0; i < 1000; ++i) {
        absl::MutexLock lock(&mutex);
        ++total;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  absl::MutexLock lock(&mutex);
  EXPECT_EQ(total, 4000);
}

TEST(SystemLibsTest, AbslTimeAndRandom) {
  const absl::Time start = absl::Now();
  EXPECT_GE(absl::Now() - start, absl::ZeroDuration());
  EXPECT_EQ(absl::FormatDuration(absl::Milliseconds(1500)), "1.5s");

  absl::BitGen gen;
  for (int i = 0; i < 100; ++i) {
    const int value = absl::Uniform(gen, 0, 10);
    EXPECT_GE(value, 0);
    EXPECT_LT(value, 10);
  }
}

TEST(SystemLibsTest, AbslFlagsParseCommandLine) {
  std::vector<char*> argv = {
      const_cast<char*>("system_libs_test"),
      const_cast<char*>("--smoke_repeats=3"),
      const_cast<char*>("--smoke_name=relu"),
      const_cast<char*>("positional"),
  };
  std::vector<char*> rest =
      absl::ParseCommandLine(static_cast<int>(argv.size()), argv.data());
  ASSERT_EQ(rest.size(), 2u);
  EXPECT_EQ(std::string(rest[1]), "positional");
  EXPECT_EQ(absl::GetFlag(FLAGS_smoke_repeats), 3);
  EXPECT_EQ(absl::GetFlag(FLAGS_smoke_name), "relu");
}

TEST(SystemLibsTest, HighwayContribSortAndTestUtil) {
  std::vector<int32_t> keys = {5, -1, 9, 0, 3, 3, -7, 100, 2};
  std::vector<int32_t> expected = keys;
  std::sort(expected.begin(), expected.end());
  const hwy::Sorter sorter;
  sorter(keys.data(), keys.size(), hwy::SortAscending());
  EXPECT_EQ(keys, expected);

  size_t pos = 0;
  EXPECT_TRUE(hwy::BytesEqual(keys.data(), expected.data(),
                              keys.size() * sizeof(int32_t), &pos));
}

TEST(SystemLibsTest, OpenBlasDotAndGemm) {
  const std::vector<float> x = {1, 2, 3, 4};
  const std::vector<float> y = {5, 6, 7, 8};
  EXPECT_EQ(cblas_sdot(4, x.data(), 1, y.data(), 1), 70.0f);

  // [2x2] * [2x2], row major.
  const float a[] = {1, 2, 3, 4};
  const float b[] = {5, 6, 7, 8};
  float c[4] = {};
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 2, 2, 2, 1.0f, a, 2, b,
              2, 0.0f, c, 2);
  EXPECT_EQ(c[0], 19.0f);
  EXPECT_EQ(c[1], 22.0f);
  EXPECT_EQ(c[2], 43.0f);
  EXPECT_EQ(c[3], 50.0f);
}

}  // namespace
}  // namespace minigraph
