// The training data sources: byte-level ids, deterministic windows, the
// held-out split, ready-made batches in order, and every bad input.
#include "models/train/training_data.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "framework/safetensors.h"
#include "gtest/gtest.h"
#include "models/train/byte_tokenizer.h"

namespace minigraph {
namespace {

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/" + name;
}

void WriteText(const std::string& path, const std::string& text) {
  FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  std::fwrite(text.data(), 1, text.size(), f);
  std::fclose(f);
}

DataOptions Options(const std::string& path) {
  DataOptions options;
  options.path = path;
  options.batch = 3;
  options.seq = 8;
  options.seed = 7;
  options.vocab_size = kByteVocabSize;
  options.eval_batches = 2;
  return options;
}

TEST(ByteTokenizerTest, EveryByteRoundTrips) {
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  const std::vector<int64_t> ids = EncodeBytes(all);
  ASSERT_EQ(ids.size(), 256u);
  EXPECT_EQ(ids[0], 3);
  EXPECT_EQ(ids[255], 258);
  EXPECT_EQ(DecodeBytes(ids), all);
  EXPECT_EQ(DecodeBytes({1, 3 + 'h', 3 + 'i', 2, 0}),
            "<|im_start|>hi<|im_end|><|endoftext|>");
  EXPECT_EQ(DecodeBytes({259}), "\xEF\xBF\xBD");
}

TEST(TrainingDataTest, TextWindowsAreDeterministicAndFromTheText) {
  std::string text;
  for (int i = 0; i < 400; ++i) text += "line " + std::to_string(i) + "\n";
  const std::string path = TempPath("corpus.txt");
  WriteText(path, text);
  auto data = OpenTrainingData(Options(path));
  ASSERT_TRUE(data.ok()) << data.status();
  auto again = OpenTrainingData(Options(path));
  ASSERT_TRUE(again.ok());
  const TokenBatch a = *(*data)->TrainBatch(5, 0);
  const TokenBatch b = *(*again)->TrainBatch(5, 0);
  ASSERT_EQ(a.input_ids.shape(), (Shape{3, 8}));
  EXPECT_EQ(a.input_ids.ToVector<int64_t>(), b.input_ids.ToVector<int64_t>());
  EXPECT_EQ(a.labels.ToVector<int64_t>(), a.input_ids.ToVector<int64_t>());
  EXPECT_NE(a.input_ids.ToVector<int64_t>(),
            (*data)->TrainBatch(6, 0)->input_ids.ToVector<int64_t>());
  // Each row is a substring of the training part (the first 95%).
  const std::vector<int64_t> ids = a.input_ids.ToVector<int64_t>();
  const std::string train_part = text.substr(0, text.size() - text.size() / 20);
  for (int row = 0; row < 3; ++row) {
    const std::string window = DecodeBytes(
        std::vector<int64_t>(ids.begin() + row * 8, ids.begin() + row * 8 + 8));
    EXPECT_NE(train_part.find(window), std::string::npos) << window;
  }
  // The held-out batches are the same on every call and come from the end.
  ASSERT_EQ((*data)->NumEvalBatches(), 2);
  const TokenBatch e = (*data)->EvalBatch(1);
  EXPECT_EQ(e.input_ids.ToVector<int64_t>(),
            (*again)->EvalBatch(1).input_ids.ToVector<int64_t>());
  const std::vector<int64_t> eval_ids = e.input_ids.ToVector<int64_t>();
  const std::string window =
      DecodeBytes(std::vector<int64_t>(eval_ids.begin(), eval_ids.begin() + 8));
  EXPECT_NE(text.substr(train_part.size()).find(window), std::string::npos);
}

TEST(TrainingDataTest, JsonlDocumentsAreWrappedInBosAndEos) {
  std::string jsonl;
  for (int i = 0; i < 40; ++i) {
    jsonl += "{\"text\": \"document number " + std::to_string(i) +
             "\", \"other\": 1}\n";
  }
  const std::string path = TempPath("corpus.jsonl");
  WriteText(path, jsonl);
  DataOptions options = Options(path);
  options.seq = 64;
  options.batch = 1;
  auto data = OpenTrainingData(options);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_NE((*data)->Describe().find("40 documents"), std::string::npos);
  EXPECT_NE((*data)->Describe().find("2 held out"), std::string::npos);
  const std::string decoded =
      DecodeBytes((*data)->TrainBatch(1, 0)->input_ids.ToVector<int64_t>());
  EXPECT_NE(decoded.find("<|im_end|><|im_start|>document number "),
            std::string::npos)
      << decoded;
}

TEST(TrainingDataTest, JsonlErrorsNameTheLine) {
  const std::string path = TempPath("bad.jsonl");
  WriteText(path, "{\"text\": \"fine\"}\n{\"txt\": \"no\"}\n");
  auto data = OpenTrainingData(Options(path));
  ASSERT_FALSE(data.ok());
  EXPECT_NE(data.status().message().find("bad.jsonl: line 2 has no \"text\""),
            std::string::npos)
      << data.status();
  WriteText(path, "{\"text\": \"fine\"}\nnot json\n");
  data = OpenTrainingData(Options(path));
  ASSERT_FALSE(data.ok());
  EXPECT_NE(data.status().message().find("line 2 is not a JSON object"),
            std::string::npos)
      << data.status();
}

TEST(TrainingDataTest, ShortEmptyAndMissingDataAreErrors) {
  const std::string path = TempPath("short.txt");
  WriteText(path, "abc");
  auto data = OpenTrainingData(Options(path));
  ASSERT_FALSE(data.ok());
  EXPECT_NE(data.status().message().find(
                "3 tokens for training, shorter than one window of --seq 8"),
            std::string::npos)
      << data.status();
  WriteText(path, "");
  data = OpenTrainingData(Options(path));
  ASSERT_FALSE(data.ok());
  EXPECT_NE(data.status().message().find("empty"), std::string::npos);
  data = OpenTrainingData(Options(TempPath("no_such_file.txt")));
  ASSERT_FALSE(data.ok());
  EXPECT_NE(data.status().message().find("no_such_file.txt"),
            std::string::npos);
  DataOptions small_vocab = Options(path);
  small_vocab.vocab_size = 100;
  data = OpenTrainingData(small_vocab);
  ASSERT_FALSE(data.ok());
  EXPECT_NE(data.status().message().find("vocab_size 100"), std::string::npos);
}

TEST(TrainingDataTest, SafetensorsBatchesInOrder) {
  std::vector<int64_t> ids(4 * 2 * 5);
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int64_t>(i % 50);
  std::vector<int64_t> labels = ids;
  labels[0] = -100;
  SafetensorsFile file;
  file.tensors["input_ids"] = Tensor::FromData(ids, {4, 2, 5});
  file.tensors["labels"] = Tensor::FromData(labels, {4, 2, 5});
  const std::string path = TempPath("batches.safetensors");
  ASSERT_TRUE(WriteSafetensors(path, file).ok());
  DataOptions options = Options(path);
  options.accum = 2;
  auto data = OpenTrainingData(options);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ((*data)->NumSteps(), 2);
  EXPECT_EQ((*data)->NumEvalBatches(), 0);
  // Step 2, micro-batch 1 is batch index 3.
  const TokenBatch b = *(*data)->TrainBatch(2, 1);
  EXPECT_EQ(b.input_ids.ToVector<int64_t>(),
            std::vector<int64_t>(ids.begin() + 30, ids.begin() + 40));
  EXPECT_EQ((*data)->TrainBatch(1, 0)->labels.ToVector<int64_t>()[0], -100);
  EXPECT_FALSE((*data)->TrainBatch(3, 0).ok());

  ids[17] = 300;  // >= vocab
  file.tensors["input_ids"] = Tensor::FromData(ids, {4, 2, 5});
  ASSERT_TRUE(WriteSafetensors(path, file).ok());
  data = OpenTrainingData(options);
  ASSERT_FALSE(data.ok());
  EXPECT_NE(data.status().message().find("input_ids[1, 1, 2] is 300"),
            std::string::npos)
      << data.status();
  file.tensors.erase("input_ids");
  ASSERT_TRUE(WriteSafetensors(path, file).ok());
  data = OpenTrainingData(options);
  ASSERT_FALSE(data.ok());
  EXPECT_NE(data.status().message().find("no tensor 'input_ids'"),
            std::string::npos);
}

}  // namespace
}  // namespace minigraph

namespace minigraph {
namespace {

// The byte-level tokenizer plus a few merges, so that pieces of text encode
// into multi-byte tokens.
Tokenizer SmallBpe() {
  TokenizerSpec spec = ByteTokenizerSpec();
  const std::pair<std::string, std::string> merges[] = {
      {"t", "h"},
      {"th", "e"},
      {"\xC4\xA0", "the"},
      {"\xC4\x8A", "\xC4\x8A"},
      {"a", "t"},
      {"\xC4\xA0", "c"},
      {"\xC4\xA0"
       "c",
       "at"}};
  for (const auto& [left, right] : merges) {
    spec.merges.emplace_back(left, right);
    spec.vocab.push_back(left + right);
  }
  auto tokenizer = Tokenizer::FromSpec(spec);
  EXPECT_TRUE(tokenizer.ok()) << tokenizer.status();
  return std::move(*tokenizer);
}

TEST(ByteTokenizerTest, TheSpecEncodesLikeEncodeBytes) {
  auto tokenizer = Tokenizer::FromSpec(ByteTokenizerSpec());
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  EXPECT_EQ(tokenizer->vocab_size(), kByteVocabSize);
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  all += "héllo wörld 你好 \n\n  x";
  EXPECT_EQ(tokenizer->Encode(all), EncodeBytes(all));
  // As HF does, a special token's text is that token.
  EXPECT_EQ(tokenizer->Encode("a<|im_end|>"),
            (std::vector<int64_t>{3 + 'a', kImEndId}));
  const std::vector<int64_t> ids = EncodeBytes("round trip");
  EXPECT_EQ(*tokenizer->Decode(ids), "round trip");
}

TEST(TrainingDataTest, TextInPiecesEncodesAsAWhole) {
  const Tokenizer bpe = SmallBpe();
  std::string text;
  const char* const words[] = {"the", "cat", " ",  "\n", "\n\n", "  ",
                               "sat", "é",   "\t", ".",  "x"};
  uint64_t state = 5;
  while (text.size() < 60000) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    text += words[(state >> 33) % 11];
  }
  const std::vector<int64_t> whole = bpe.Encode(text);
  ASSERT_LT(whole.size(), text.size());  // the merges were used
  std::vector<int32_t> pieces;
  AppendTextIds(text, &bpe, &pieces, /*piece_bytes=*/1000);
  EXPECT_EQ(std::vector<int64_t>(pieces.begin(), pieces.end()), whole);
  std::vector<int32_t> bytes;
  AppendTextIds(text, nullptr, &bytes, /*piece_bytes=*/1000);
  const std::vector<int64_t> expected = EncodeBytes(text);
  EXPECT_EQ(std::vector<int64_t>(bytes.begin(), bytes.end()), expected);
}

TEST(TrainingDataTest, TextWindowsComeFromTheTokenizersIds) {
  const Tokenizer bpe = SmallBpe();
  std::string text;
  for (int i = 0; i < 300; ++i) text += "the cat sat at the mat\n";
  const std::string path = TempPath("bpe_corpus.txt");
  WriteText(path, text);
  DataOptions options = Options(path);
  options.tokenizer = &bpe;
  options.vocab_size = bpe.vocab_size();
  auto data = OpenTrainingData(options);
  ASSERT_TRUE(data.ok()) << data.status();
  const std::vector<int64_t> ids = bpe.Encode(text);
  for (int64_t step = 1; step <= 3; ++step) {
    auto batch = data.value()->TrainBatch(step, 0);
    ASSERT_TRUE(batch.ok()) << batch.status();
    const std::vector<int64_t> window = batch->input_ids.ToVector<int64_t>();
    for (int64_t b = 0; b < options.batch; ++b) {
      auto begin = window.begin() + b * options.seq;
      EXPECT_NE(std::search(ids.begin(), ids.end(), begin, begin + options.seq),
                ids.end())
          << "window " << b << " of step " << step << " is not in the text";
    }
  }
  // A model whose vocabulary is smaller than the tokenizer's is refused.
  options.vocab_size = kByteVocabSize;
  auto small = OpenTrainingData(options);
  ASSERT_FALSE(small.ok());
  EXPECT_NE(small.status().message().find("smaller than the tokenizer's"),
            std::string::npos)
      << small.status();
}

}  // namespace
}  // namespace minigraph
