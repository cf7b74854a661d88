#include "framework/safetensors.h"

#include <dirent.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace minigraph {
namespace {

using ::testing::HasSubstr;

// The 8-byte little-endian header length, written out byte by byte.
std::string LengthField(uint64_t n) {
  std::string out;
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>(n >> (8 * i)));
  return out;
}

std::string MakeFile(const std::string& header, const std::string& data) {
  return LengthField(header.size()) + header + data;
}

std::string Bytes(std::initializer_list<uint8_t> bytes) {
  return std::string(bytes.begin(), bytes.end());
}

std::string TempDir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir != nullptr ? dir : "/tmp";
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

void WriteAll(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
}

std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return names;
  while (dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

std::string MakeEmptyDir(const std::string& name) {
  const std::string dir = TempDir() + "/" + name;
  mkdir(dir.c_str(), 0755);
  for (const std::string& entry : ListDir(dir)) {
    std::remove((dir + "/" + entry).c_str());
  }
  return dir;
}

void ExpectSameTensor(const Tensor& expected, const Tensor& actual) {
  ASSERT_TRUE(actual.defined());
  EXPECT_EQ(actual.dtype(), expected.dtype());
  EXPECT_EQ(actual.shape(), expected.shape());
  // Empty tensors are skipped: Tensor::is_contiguous() reports false for a
  // fresh Tensor::Empty({2, 0, 3}).
  if (actual.numel() > 0) EXPECT_TRUE(actual.is_contiguous());
  if (expected.dtype() == DType::kInt64) {
    EXPECT_EQ(actual.ToVector<int64_t>(), expected.ToVector<int64_t>());
  } else {
    EXPECT_EQ(actual.ToVector<double>(), expected.ToVector<double>());
  }
}

// ---- round trips ----------------------------------------------------------

SafetensorsFile MixedFile() {
  Generator gen(7);
  SafetensorsFile file;
  file.tensors["f32"] = Tensor::Randn({3, 4}, gen, DType::kFloat32);
  file.tensors["f64"] = Tensor::Randn({2, 3, 2}, gen, DType::kFloat64);
  file.tensors["i64"] =
      Tensor::FromData<int64_t>({0, -1, std::numeric_limits<int64_t>::max(),
                                 std::numeric_limits<int64_t>::min(), 42, 7},
                                {2, 3});
  file.tensors["scalar"] = Tensor::Scalar(-3.25, DType::kFloat64);
  file.tensors["empty"] = Tensor::Zeros({0}, DType::kFloat32);
  file.tensors["empty_2d"] = Tensor::Zeros({2, 0, 3}, DType::kInt64);
  // Non-contiguous views: a transpose, a strided slice with an offset, and an
  // expanded (stride 0) dimension.
  Tensor base = Tensor::Arange(0, 24, 1, DType::kFloat64);
  file.tensors["transposed"] = MakeView(base, {4, 6}, {1, 4}, 0);
  file.tensors["sliced"] = MakeView(base, {2, 3}, {12, 2}, 5);
  file.tensors["expanded"] =
      MakeView(Tensor::FromData<float>({1.5f, -2.5f}, {2}), {3, 2}, {0, 1}, 0);
  file.metadata["format"] = "pt";
  file.metadata["note"] =
      "quotes \" backslash \\ newline \n tab \t \x01 \u00fc";
  return file;
}

TEST(SafetensorsTest, SerializeParseRoundTrip) {
  const SafetensorsFile file = MixedFile();
  ASSERT_FALSE(file.tensors.at("transposed").is_contiguous());
  ASSERT_FALSE(file.tensors.at("sliced").is_contiguous());
  absl::StatusOr<std::string> bytes = SerializeSafetensors(file);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  absl::StatusOr<SafetensorsFile> parsed = ParseSafetensors(*bytes, "mem");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->metadata, file.metadata);
  ASSERT_EQ(parsed->tensors.size(), file.tensors.size());
  for (const auto& [name, tensor] : file.tensors) {
    SCOPED_TRACE(name);
    ExpectSameTensor(tensor, parsed->tensors.at(name));
  }
  // Spot-check values against independently known ones.
  EXPECT_EQ(parsed->tensors.at("transposed").ToVector<double>()[1], 4.0);
  EXPECT_EQ(parsed->tensors.at("sliced").ToVector<double>(),
            (std::vector<double>{5, 7, 9, 17, 19, 21}));
  EXPECT_EQ(parsed->tensors.at("expanded").ToVector<float>(),
            (std::vector<float>{1.5f, -2.5f, 1.5f, -2.5f, 1.5f, -2.5f}));
  EXPECT_EQ(parsed->tensors.at("scalar").dim(), 0);
  EXPECT_EQ(parsed->tensors.at("scalar").item(), -3.25);
}

TEST(SafetensorsTest, NamesAreJsonEscaped) {
  SafetensorsFile file;
  const std::string names[] = {"a\"b",        "back\\slash",   "new\nline",
                               "ctl\x01\x1f", "\u00e9t\u00e9", ""};
  for (const std::string& name : names) {
    file.tensors[name] = Tensor::Scalar(1.0);
  }
  absl::StatusOr<std::string> bytes = SerializeSafetensors(file);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_THAT(*bytes, HasSubstr("\"a\\\"b\""));
  EXPECT_THAT(*bytes, HasSubstr("\"ctl\\u0001\\u001f\""));
  absl::StatusOr<SafetensorsFile> parsed = ParseSafetensors(*bytes, "mem");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  for (const std::string& name : names) {
    EXPECT_EQ(parsed->tensors.count(name), 1u) << name;
  }
}

TEST(SafetensorsTest, SerializeRejectsBadInput) {
  SafetensorsFile undefined;
  undefined.tensors["w"] = Tensor();
  EXPECT_THAT(SerializeSafetensors(undefined).status().message(),
              HasSubstr("'w' is undefined"));
  SafetensorsFile reserved;
  reserved.tensors["__metadata__"] = Tensor::Scalar(1.0);
  EXPECT_THAT(SerializeSafetensors(reserved).status().message(),
              HasSubstr("reserved"));
  SafetensorsFile bad_utf8;
  bad_utf8.tensors["\xff"] = Tensor::Scalar(1.0);
  EXPECT_THAT(SerializeSafetensors(bad_utf8).status().message(),
              HasSubstr("not valid UTF-8"));
}

TEST(SafetensorsTest, WriteReadRoundTripThroughFile) {
  const std::string dir = MakeEmptyDir("round_trip");
  const std::string path = dir + "/model.safetensors";
  const SafetensorsFile file = MixedFile();
  ASSERT_TRUE(WriteSafetensors(path, file).ok());
  EXPECT_EQ(ListDir(dir), std::vector<std::string>{"model.safetensors"});
  absl::StatusOr<SafetensorsFile> read = ReadSafetensors(path);
  ASSERT_TRUE(read.ok()) << read.status();
  for (const auto& [name, tensor] : file.tensors) {
    SCOPED_TRACE(name);
    ExpectSameTensor(tensor, read->tensors.at(name));
  }
  // Overwriting replaces the file.
  SafetensorsFile small;
  small.tensors["only"] = Tensor::Scalar(2.0);
  ASSERT_TRUE(WriteSafetensors(path, small).ok());
  read = ReadSafetensors(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->tensors.size(), 1u);
  EXPECT_EQ(ListDir(dir), std::vector<std::string>{"model.safetensors"});
}

// ---- byte-exact reference file --------------------------------------------

// What safetensors.torch.save_file({"a": torch.tensor([1., -2.]),
// "b": torch.tensor([[.5]])}, path, metadata={"format": "pt"}) writes:
// compact JSON with "__metadata__" first, then the tensors in data order, each
// as dtype/shape/data_offsets; the header padded with spaces to a multiple
// of 8 bytes (141 + 3 = 144 = 0x90); then little-endian float32 data.
const char kReferenceHeader[] =
    "{\"__metadata__\":{\"format\":\"pt\"},"
    "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
    "\"b\":{\"dtype\":\"F32\",\"shape\":[1,1],\"data_offsets\":[8,12]}}"
    "   ";

std::string ReferenceFile() {
  static_assert(sizeof(kReferenceHeader) - 1 == 144, "hand-counted length");
  return Bytes({0x90, 0, 0, 0, 0, 0, 0, 0}) +
         std::string(kReferenceHeader, 144) +
         Bytes({0x00, 0x00, 0x80, 0x3F,    // 1.0f
                0x00, 0x00, 0x00, 0xC0,    // -2.0f
                0x00, 0x00, 0x00, 0x3F});  // 0.5f
}

TEST(SafetensorsTest, ParsesReferenceWriterBytes) {
  absl::StatusOr<SafetensorsFile> parsed =
      ParseSafetensors(ReferenceFile(), "reference.safetensors");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->metadata,
            (std::map<std::string, std::string>{{"format", "pt"}}));
  ASSERT_EQ(parsed->tensors.size(), 2u);
  const Tensor& a = parsed->tensors.at("a");
  EXPECT_EQ(a.dtype(), DType::kFloat32);
  EXPECT_EQ(a.shape(), Shape({2}));
  EXPECT_EQ(a.ToVector<float>(), (std::vector<float>{1.0f, -2.0f}));
  const Tensor& b = parsed->tensors.at("b");
  EXPECT_EQ(b.shape(), Shape({1, 1}));
  EXPECT_EQ(b.ToVector<float>(), std::vector<float>{0.5f});
}

TEST(SafetensorsTest, SerializesReferenceWriterBytes) {
  SafetensorsFile file;
  file.metadata["format"] = "pt";
  file.tensors["a"] = Tensor::FromData<float>({1.0f, -2.0f}, {2});
  file.tensors["b"] = Tensor::FromData<float>({0.5f}, {1, 1});
  absl::StatusOr<std::string> bytes = SerializeSafetensors(file);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_EQ(*bytes, ReferenceFile());
}

TEST(SafetensorsTest, ParsesFloat64AndInt64InAnyHeaderOrder) {
  // Tensors listed out of data order, with whitespace, as other writers do.
  const std::string header =
      "{ \"ids\": {\"dtype\": \"I64\", \"shape\": [2], "
      "\"data_offsets\": [8, 24]},\n"
      "  \"x\": {\"shape\": [], \"data_offsets\": [0, 8], \"dtype\": \"F64\"} "
      "}";
  const std::string data =
      Bytes({0,    0,    0,    0,    0,    0,    0xF8, 0x3F,  // 1.5
             0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
             0xFF,                                           // -2
             0x00, 0x01, 0,    0,    0,    0,    0,    0});  // 256
  absl::StatusOr<SafetensorsFile> parsed =
      ParseSafetensors(MakeFile(header, data), "mixed.safetensors");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->tensors.at("x").dtype(), DType::kFloat64);
  EXPECT_EQ(parsed->tensors.at("x").dim(), 0);
  EXPECT_EQ(parsed->tensors.at("x").item(), 1.5);
  EXPECT_EQ(parsed->tensors.at("ids").ToVector<int64_t>(),
            (std::vector<int64_t>{-2, 256}));
}

// ---- F16 / BF16 -----------------------------------------------------------

// Independent of the bit manipulation under test: the value formula of
// IEEE binary16 evaluated in double.
double HalfValue(uint16_t bits) {
  const double sign = (bits & 0x8000) ? -1.0 : 1.0;
  const int exponent = (bits >> 10) & 0x1F;
  const int mantissa = bits & 0x3FF;
  if (exponent == 0x1F) {
    return mantissa == 0 ? sign * std::numeric_limits<double>::infinity()
                         : std::numeric_limits<double>::quiet_NaN();
  }
  if (exponent == 0) return sign * std::ldexp(mantissa, -24);
  return sign * std::ldexp(1024 + mantissa, exponent - 25);
}

TEST(SafetensorsTest, HalfToFloatMatchesFormulaForEveryBitPattern) {
  for (uint32_t bits = 0; bits <= 0xFFFF; ++bits) {
    const float got = HalfToFloat(static_cast<uint16_t>(bits));
    const double want = HalfValue(static_cast<uint16_t>(bits));
    if (std::isnan(want)) {
      ASSERT_TRUE(std::isnan(got)) << std::hex << bits;
      // The payload is kept: the 10 mantissa bits land at the top of f32's.
      uint32_t got_bits;
      std::memcpy(&got_bits, &got, 4);
      ASSERT_EQ((got_bits >> 13) & 0x3FF, bits & 0x3FF) << std::hex << bits;
      ASSERT_EQ(got_bits >> 31, bits >> 15) << std::hex << bits;
    } else {
      ASSERT_EQ(static_cast<double>(got), want) << std::hex << bits;
      ASSERT_EQ(std::signbit(got), (bits & 0x8000) != 0) << std::hex << bits;
    }
  }
}

TEST(SafetensorsTest, ParsesHalfAndBFloat16KnownPatterns) {
  const std::string header =
      "{\"h\":{\"dtype\":\"F16\",\"shape\":[9],\"data_offsets\":[0,18]},"
      "\"bf\":{\"dtype\":\"BF16\",\"shape\":[6],\"data_offsets\":[18,30]}}";
  const std::string data = Bytes({
      0x00, 0x3C,  // 1.0
      0x00, 0xC0,  // -2.0
      0xFF, 0x7B,  // 65504, the largest half
      0x01, 0x00,  // 2^-24, the smallest subnormal
      0xFF, 0x03,  // 1023 * 2^-24, the largest subnormal
      0x00, 0x7C,  // +inf
      0x00, 0xFC,  // -inf
      0x00, 0x7E,  // NaN
      0x00, 0x80,  // -0
      0x80, 0x3F,  // bf16 1.0
      0x00, 0xC0,  // bf16 -2.0
      0x80, 0x7F,  // bf16 +inf
      0xC0, 0x7F,  // bf16 NaN
      0x01, 0x00,  // bf16 2^-133 (an f32 subnormal)
      0x49, 0x40,  // bf16 3.140625
  });
  absl::StatusOr<SafetensorsFile> parsed =
      ParseSafetensors(MakeFile(header, data), "half.safetensors");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const Tensor& h = parsed->tensors.at("h");
  EXPECT_EQ(h.dtype(), DType::kFloat32);
  const std::vector<float> hv = h.ToVector<float>();
  EXPECT_EQ(hv[0], 1.0f);
  EXPECT_EQ(hv[1], -2.0f);
  EXPECT_EQ(hv[2], 65504.0f);
  EXPECT_EQ(hv[3], 5.9604644775390625e-08f);
  EXPECT_EQ(hv[4], 6.097555160522461e-05f);
  EXPECT_EQ(hv[5], std::numeric_limits<float>::infinity());
  EXPECT_EQ(hv[6], -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(hv[7]));
  EXPECT_EQ(hv[8], 0.0f);
  EXPECT_TRUE(std::signbit(hv[8]));
  const std::vector<float> bv = parsed->tensors.at("bf").ToVector<float>();
  EXPECT_EQ(bv[0], 1.0f);
  EXPECT_EQ(bv[1], -2.0f);
  EXPECT_EQ(bv[2], std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(bv[3]));
  EXPECT_EQ(bv[4], std::ldexp(1.0f, -133));
  EXPECT_EQ(bv[5], 3.140625f);
}

// ---- corrupt files ----------------------------------------------------------

struct Corruption {
  std::string what;
  std::string bytes;
  std::vector<std::string> expected;  // substrings of the error message
};

std::string OneTensor(const std::string& entry, size_t data_bytes) {
  return MakeFile("{\"w\":" + entry + "}", std::string(data_bytes, '\0'));
}

std::vector<Corruption> Corruptions() {
  const std::string good_entry =
      "{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}";
  std::vector<Corruption> cases = {
      {"shorter than the length field",
       std::string("\x05\0\0", 3),
       {"has 3 bytes"}},
      {"header longer than 100 MB",
       LengthField(100'000'001) + "{}",
       {"header length 100000001 exceeds the limit"}},
      {"header longer than the file",
       LengthField(50) + "{}",
       {"header length 50 exceeds the 2 bytes"}},
      {"header length near 2^64",
       LengthField(~uint64_t{0}) + "{}",
       {"exceeds the limit"}},
      {"header not an object",
       MakeFile("[1]", ""),
       {"does not start with '{'"}},
      {"empty header", MakeFile("", ""), {"does not start with '{'"}},
      {"not JSON", MakeFile("{\"w\": }", ""), {"not valid JSON"}},
      {"not UTF-8",
       MakeFile("{\"w\xff\": 1}", ""),
       {"not valid JSON: Encountered non UTF-8 code points. near \"\\xff"}},
      {"duplicate name",
       MakeFile("{\"w\":" + good_entry + ",\"w\":" + good_entry + "}",
                std::string(8, '\0')),
       {"not valid JSON", "'w' is already set"}},
      {"name with a newline, escaped in the message",
       MakeFile("{\"w\\nx\":5}", ""),
       {"tensor 'w\\nx': entry is a number"}},
      {"entry not an object", OneTensor("5", 0), {"'w'", "expected an object"}},
      {"unknown dtype",
       OneTensor("{\"dtype\":\"F99\",\"shape\":[2],\"data_offsets\":[0,8]}", 8),
       {"'w'", "unknown dtype \"F99\"", "F32, F64, I64, F16, BF16"}},
      {"unsupported dtype",
       OneTensor("{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}", 2),
       {"'w'", "unsupported dtype \"U8\""}},
      {"dtype not a string",
       OneTensor("{\"dtype\":4,\"shape\":[2],\"data_offsets\":[0,8]}", 8),
       {"'w'", "\"dtype\" is a number"}},
      {"negative shape entry",
       OneTensor("{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}",
                 8),
       {"'w'", "shape[0] is -2", "non-negative integer"}},
      {"fractional shape entry",
       OneTensor("{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}",
                 8),
       {"'w'", "shape[0] is 2.5"}},
      {"shape entry beyond 2^53",
       OneTensor("{\"dtype\":\"F32\",\"shape\":[18446744073709551616],"
                 "\"data_offsets\":[0,8]}",
                 8),
       {"'w'", "shape[0]", "below 2^53"}},
      {"shape entry a string",
       OneTensor("{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}",
                 8),
       {"'w'", "shape[0] is a string"}},
      {"shape not an array",
       OneTensor("{\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":[0,8]}", 8),
       {"'w'", "\"shape\" is a number"}},
      {"too many elements",
       OneTensor("{\"dtype\":\"F32\",\"shape\":[1048576,2097152],"
                 "\"data_offsets\":[0,8]}",
                 8),
       {"'w'", "more than 2^40 elements"}},
      {"absurd rank",
       OneTensor("{\"dtype\":\"F32\",\"shape\":[" +
                     absl::StrJoin(std::vector<int>(65, 1), ",") +
                     "],\"data_offsets\":[0,4]}",
                 4),
       {"'w'", "65 dimensions, expected at most 64"}},
      {"one data offset",
       OneTensor("{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8]}", 8),
       {"'w'", "an array of 1 values, expected [begin, end]"}},
      {"negative data offset",
       OneTensor("{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}",
                 8),
       {"'w'", "data_offsets[0] is -8"}},
      {"offsets reversed",
       OneTensor("{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}", 8),
       {"'w'", "end before they begin"}},
      {"offsets past the buffer",
       OneTensor("{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}", 4),
       {"'w'", "run past the end of the data buffer (4 bytes)"}},
      {"byte count does not match shape",
       OneTensor("{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}", 8),
       {"'w'", "hold 8 bytes", "need 12"}},
      {"byte count does not match dtype",
       OneTensor("{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,8]}", 8),
       {"'w'", "dtype F64 and shape [2] need 16"}},
      {"extra key",
       OneTensor("{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],"
                 "\"stride\":[1]}",
                 8),
       {"'w'", "unexpected key \"stride\""}},
      {"missing key",
       OneTensor("{\"dtype\":\"F32\",\"shape\":[2]}", 8),
       {"'w'", "missing key \"data_offsets\""}},
      {"overlapping tensors",
       MakeFile("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,"
                "8]},\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":["
                "4,12]}}",
                std::string(12, '\0')),
       {"'w'", "overlap tensor 'a' at [0, 8]"}},
      {"hole between tensors",
       MakeFile("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,"
                "4]},\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":["
                "8,12]}}",
                std::string(12, '\0')),
       {"'w'", "leave bytes [4, 8) of the data buffer unused"}},
      {"hole at the start",
       OneTensor("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}", 8),
       {"'w'", "leave bytes [0, 4)"}},
      {"bytes after the last tensor",
       OneTensor("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}", 8),
       {"'w'", "end at byte 4, but the data buffer holds 8 bytes"}},
      {"data but no tensors",
       MakeFile("{}", "xyz"),
       {"there are no tensors, but the data buffer holds 3 bytes"}},
      {"metadata not an object",
       MakeFile("{\"__metadata__\":[1]}", ""),
       {"\"__metadata__\" is an array"}},
      {"metadata value not a string",
       MakeFile("{\"__metadata__\":{\"format\":1}}", ""),
       {"\"__metadata__\" entry \"format\" is a number"}},
  };
  return cases;
}

TEST(SafetensorsTest, CorruptFilesGiveClearErrors) {
  for (const Corruption& c : Corruptions()) {
    SCOPED_TRACE(c.what);
    absl::StatusOr<SafetensorsFile> parsed =
        ParseSafetensors(c.bytes, "bad.safetensors");
    ASSERT_FALSE(parsed.ok());
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(parsed.status().message(), HasSubstr("bad.safetensors"));
    for (const std::string& part : c.expected) {
      EXPECT_THAT(parsed.status().message(), HasSubstr(part));
    }
  }
}

TEST(SafetensorsTest, EveryTruncationOfAGoodFileIsAnError) {
  const std::string bytes = ReferenceFile();
  for (size_t n = 0; n < bytes.size(); ++n) {
    absl::StatusOr<SafetensorsFile> parsed =
        ParseSafetensors(bytes.substr(0, n), "cut.safetensors");
    ASSERT_FALSE(parsed.ok()) << n;
    EXPECT_THAT(parsed.status().message(), HasSubstr("cut.safetensors"));
  }
}

// ---- files ------------------------------------------------------------------

TEST(SafetensorsTest, ReadMissingFileNamesIt) {
  const std::string path = TempDir() + "/no_such.safetensors";
  absl::StatusOr<SafetensorsFile> read = ReadSafetensors(path);
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(read.status().message(), HasSubstr(path));
}

TEST(SafetensorsTest, ReadNonRegularFileFailsCleanly) {
  const std::string dir = MakeEmptyDir("a_directory");
  absl::StatusOr<SafetensorsFile> read = ReadSafetensors(dir);
  ASSERT_FALSE(read.ok());
  EXPECT_THAT(read.status().message(), HasSubstr(dir + ": not a regular file"));
  // A FIFO without a writer must not block the open.
  const std::string fifo = dir + "/fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  read = ReadSafetensors(fifo);
  ASSERT_FALSE(read.ok());
  EXPECT_THAT(read.status().message(), HasSubstr("fifo: not a regular file"));
  std::remove(fifo.c_str());
  // A device that never ends is refused before reading.
  read = ReadSafetensors("/dev/zero");
  ASSERT_FALSE(read.ok());
  EXPECT_THAT(read.status().message(),
              HasSubstr("/dev/zero: not a regular file"));
}

TEST(SafetensorsTest, ReadCorruptFileNamesPathAndTensor) {
  const std::string path = TempDir() + "/corrupt.safetensors";
  WriteAll(
      path,
      OneTensor("{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}", 8));
  absl::StatusOr<SafetensorsFile> read = ReadSafetensors(path);
  ASSERT_FALSE(read.ok());
  EXPECT_THAT(read.status().message(), HasSubstr(path + ": "));
  EXPECT_THAT(read.status().message(), HasSubstr("tensor 'w'"));
}

TEST(SafetensorsTest, WriteIntoMissingDirectoryFailsAndLeavesNothing) {
  const std::string dir = TempDir() + "/does_not_exist";
  const std::string path = dir + "/model.safetensors";
  absl::Status status = WriteSafetensors(path, MixedFile());
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr(path));
  struct stat info;
  EXPECT_NE(stat(dir.c_str(), &info), 0);
}

TEST(SafetensorsTest, WriteUnderARegularFileFails) {
  const std::string dir = MakeEmptyDir("under_file");
  WriteAll(dir + "/plain", "x");
  absl::Status status =
      WriteSafetensors(dir + "/plain/model.safetensors", MixedFile());
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(ListDir(dir), std::vector<std::string>{"plain"});
  EXPECT_EQ(ReadAll(dir + "/plain"), "x");
}

TEST(SafetensorsTest, WriteOntoADirectoryFailsAndRemovesTheTemporary) {
  // The temporary is written in full; only the rename fails.
  const std::string dir = MakeEmptyDir("onto_dir");
  const std::string target = dir + "/model.safetensors";
  mkdir(target.c_str(), 0755);
  absl::Status status = WriteSafetensors(target, MixedFile());
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr("cannot rename"));
  EXPECT_EQ(ListDir(dir), std::vector<std::string>{"model.safetensors"});
  EXPECT_TRUE(ListDir(target).empty());
}

TEST(SafetensorsTest, FailedWriteLeavesExistingFileIntact) {
  const std::string dir = MakeEmptyDir("intact");
  const std::string path = dir + "/model.safetensors";
  SafetensorsFile old_file;
  old_file.tensors["old"] = Tensor::Scalar(1.0);
  ASSERT_TRUE(WriteSafetensors(path, old_file).ok());
  const std::string old_bytes = ReadAll(path);

  // A file-size limit makes write() fail half way (EFBIG; SIGXFSZ ignored).
  SafetensorsFile big;
  big.tensors["big"] = Tensor::Zeros({1 << 16}, DType::kFloat64);
  rlimit saved;
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &saved), 0);
  void (*saved_handler)(int) = std::signal(SIGXFSZ, SIG_IGN);
  rlimit limited = saved;
  limited.rlim_cur = 4096;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &limited), 0);
  absl::Status status = WriteSafetensors(path, big);
  setrlimit(RLIMIT_FSIZE, &saved);
  std::signal(SIGXFSZ, saved_handler);

  ASSERT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr("cannot write"));
  EXPECT_THAT(status.message(), HasSubstr(path));
  EXPECT_EQ(ReadAll(path), old_bytes);
  EXPECT_EQ(ListDir(dir), std::vector<std::string>{"model.safetensors"});

  // A serialisation error also leaves the old file.
  SafetensorsFile undefined;
  undefined.tensors["w"] = Tensor();
  EXPECT_FALSE(WriteSafetensors(path, undefined).ok());
  EXPECT_EQ(ReadAll(path), old_bytes);
  EXPECT_EQ(ListDir(dir), std::vector<std::string>{"model.safetensors"});
}

}  // namespace
}  // namespace minigraph
