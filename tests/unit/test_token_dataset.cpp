// The token dataset file: writer/reader round trip, attributes, the temporary-name protocol,
// and one test per class of malformed file (each made with the HDF5 C API or by cutting bytes).
#include <gtest/gtest.h>
#include <hdf5.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>

#include "core/error.h"
#include "dataset/token_dataset.h"
#include "dataset/tokenizer.h"

namespace sr {
namespace {

namespace fs = std::filesystem;

// A fresh directory per test, removed afterwards.
class TokenDatasetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("sr_tokds_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

// Expects a UserError whose message contains every one of `parts`.
template <class F>
void expect_user_error(F&& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "no UserError thrown";
  } catch (const UserError& e) {
    std::string msg = e.what();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "not one line: " << msg;
    for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << msg << " lacks " << p;
  }
}

// Writes a file by hand through the C API, so each field can be wrong on purpose.
struct RawFile {
  std::optional<std::string> format = std::string(kTokenFormat);
  std::optional<int64_t> vocab_size = 265;
  std::optional<std::vector<uint32_t>> tokens;
  hid_t tokens_type = H5T_STD_U32LE;
  std::optional<std::vector<uint8_t>> loss_mask;
  std::optional<std::vector<uint64_t>> offsets;

  void write(const std::string& path) const {
    hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    ASSERT_GE(f, 0);
    hid_t scalar = H5Screate(H5S_SCALAR);
    if (format) {
      hid_t t = H5Tcopy(H5T_C_S1);
      H5Tset_size(t, H5T_VARIABLE);
      hid_t a = H5Acreate2(f, "format", t, scalar, H5P_DEFAULT, H5P_DEFAULT);
      const char* p = format->c_str();
      H5Awrite(a, t, &p);
      H5Aclose(a);
      H5Tclose(t);
    }
    int64_t version = 1;
    hid_t a = H5Acreate2(f, "version", H5T_STD_I64LE, scalar, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, H5T_NATIVE_INT64, &version);
    H5Aclose(a);
    if (vocab_size) {
      a = H5Acreate2(f, "vocab_size", H5T_STD_I64LE, scalar, H5P_DEFAULT, H5P_DEFAULT);
      H5Awrite(a, H5T_NATIVE_INT64, &*vocab_size);
      H5Aclose(a);
    }
    H5Sclose(scalar);
    if (tokens) write_1d(f, "tokens", tokens_type, H5T_NATIVE_UINT32, tokens->data(), tokens->size());
    if (loss_mask)
      write_1d(f, "loss_mask", H5T_STD_U8LE, H5T_NATIVE_UINT8, loss_mask->data(), loss_mask->size());
    if (offsets)
      write_1d(f, "offsets", H5T_STD_U64LE, H5T_NATIVE_UINT64, offsets->data(), offsets->size());
    H5Fclose(f);
  }

  static void write_1d(hid_t f, const char* name, hid_t file_type, hid_t mem_type, const void* data,
                       size_t n) {
    hsize_t dims = n;
    hid_t s = H5Screate_simple(1, &dims, nullptr);
    hid_t d = H5Dcreate2(f, name, file_type, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
    H5Dclose(d);
    H5Sclose(s);
  }
};

// A valid two-sample file: sample 0 = tokens[0:3], sample 1 = tokens[3:5].
RawFile good_raw() {
  RawFile r;
  r.tokens = std::vector<uint32_t>{256, 72, 105, 256, 33};
  r.loss_mask = std::vector<uint8_t>{0, 1, 1, 0, 1};
  r.offsets = std::vector<uint64_t>{0, 3, 5};
  return r;
}

TEST_F(TokenDatasetTest, RoundTripKeepsTokensMasksOffsetsAndAttributes) {
  const std::string p = path("rt.h5");
  std::vector<std::vector<uint32_t>> samples = {{256, 1, 2, 3, 257}, {256, 200}, {7, 8, 9, 10, 11, 264}};
  std::vector<std::vector<uint8_t>> masks = {{0, 1, 1, 0, 1}, {0, 1}, {1, 1, 1, 1, 1, 0}};
  {
    TokenDatasetWriter w(p, ByteTokenizer::kVocabSize, ByteTokenizer::name());
    w.set_attribute("task_mix", "passkey=0.5,needle=0.5");
    for (size_t i = 0; i < samples.size(); ++i) w.add_sample(samples[i], masks[i]);
    EXPECT_EQ(w.num_samples(), 3u);
    EXPECT_EQ(w.num_tokens(), 13u);
    w.close();
  }
  TokenDataset d(p);
  EXPECT_EQ(d.path(), p);
  EXPECT_EQ(d.num_samples(), 3u);
  EXPECT_EQ(d.num_tokens(), 13u);
  EXPECT_EQ(d.vocab_size(), 265u);
  EXPECT_EQ(d.tokenizer(), "byte");
  EXPECT_EQ(d.offsets(), (std::vector<uint64_t>{0, 5, 7, 13}));
  EXPECT_EQ(d.sample_length(2), 6u);
  std::vector<uint32_t> ids;
  std::vector<uint8_t> mask;
  for (size_t i = 0; i < samples.size(); ++i) {
    d.read_sample(i, ids, mask);
    EXPECT_EQ(ids, samples[i]);
    EXPECT_EQ(mask, masks[i]);
  }
  d.read_range(3, 6, ids, mask);  // across samples 0, 1 and 2
  EXPECT_EQ(ids, (std::vector<uint32_t>{3, 257, 256, 200, 7, 8}));
  EXPECT_EQ(mask, (std::vector<uint8_t>{0, 1, 0, 1, 1, 1}));
  auto attrs = d.attributes();
  EXPECT_EQ(attrs["format"], "smoothread-tokens");
  EXPECT_EQ(attrs["version"], "1");
  EXPECT_EQ(attrs["vocab_size"], "265");
  EXPECT_EQ(attrs["tokenizer"], "byte");
  EXPECT_EQ(attrs["task_mix"], "passkey=0.5,needle=0.5");
  for (const auto& [name, id] : ByteTokenizer::specials())
    EXPECT_EQ(attrs[std::string(kSpecialTokenAttrPrefix) + name], std::to_string(id)) << name;
}

TEST_F(TokenDatasetTest, UncompressedAndMultiBlockFilesReadBack) {
  // 3 samples of 600k tokens cross the writer's 1M-token append blocks and many chunks.
  for (bool compress : {false, true}) {
    const std::string p = path(compress ? "big_z.h5" : "big.h5");
    std::vector<std::vector<uint32_t>> samples(3);
    {
      TokenDatasetWriter w(p, 1000, "test", compress);
      for (int s = 0; s < 3; ++s) {
        samples[s].resize(600000);
        for (size_t t = 0; t < samples[s].size(); ++t) samples[s][t] = uint32_t((t * 7 + s) % 1000);
        w.add_sample(samples[s], std::vector<uint8_t>(samples[s].size(), uint8_t(s % 2)));
      }
      w.close();
    }
    TokenDataset d(p);
    ASSERT_EQ(d.num_tokens(), 1800000u);
    EXPECT_EQ(d.tokenizer(), "test");
    EXPECT_EQ(d.attributes().count("token_id.<bos>"), 0u);  // specials only for the byte tokenizer
    std::vector<uint32_t> ids;
    std::vector<uint8_t> mask;
    for (int s = 0; s < 3; ++s) {
      d.read_sample(s, ids, mask);
      EXPECT_EQ(ids, samples[s]) << "compress " << compress << " sample " << s;
      EXPECT_EQ(mask, std::vector<uint8_t>(600000, uint8_t(s % 2)));
    }
  }
}

TEST_F(TokenDatasetTest, WriterUsesTemporaryNameUntilClose) {
  const std::string p = path("t.h5");
  TokenDatasetWriter w(p, 265, "byte");
  w.add_sample({256, 1}, {0, 1});
  EXPECT_FALSE(fs::exists(p));
  EXPECT_TRUE(fs::exists(p + ".tmp"));
  w.close();
  EXPECT_TRUE(fs::exists(p));
  EXPECT_FALSE(fs::exists(p + ".tmp"));
}

TEST_F(TokenDatasetTest, WriterWithoutCloseRemovesTmpAndKeepsTheOldFile) {
  const std::string p = path("keep.h5");
  {
    TokenDatasetWriter w(p, 265, "byte");
    w.add_sample({256, 1, 2}, {0, 1, 1});
    w.close();
  }
  {
    TokenDatasetWriter w(p, 265, "byte");  // abandoned, e.g. by an exception
    w.add_sample({256, 9}, {0, 1});
  }
  EXPECT_FALSE(fs::exists(p + ".tmp"));
  TokenDataset d(p);
  EXPECT_EQ(d.num_tokens(), 3u);
}

TEST_F(TokenDatasetTest, WriterRejectsBadSamples) {
  const std::string p = path("w.h5");
  TokenDatasetWriter w(p, 265, "byte");
  expect_user_error([&] { w.add_sample({}, {}); }, {p, "sample 0", "empty"});
  expect_user_error([&] { w.add_sample({1, 2}, {1}); }, {p, "sample 0", "loss-mask"});
  expect_user_error([&] { w.add_sample({1, 265}, {1, 1}); }, {p, "sample 0", "265", "vocab_size"});
  EXPECT_EQ(w.num_samples(), 0u);
}

TEST_F(TokenDatasetTest, GoodRawFileReads) {
  // The hand-made file the bad-input tests start from is itself valid.
  const std::string p = path("raw.h5");
  good_raw().write(p);
  TokenDataset d(p);
  EXPECT_EQ(d.num_samples(), 2u);
  std::vector<uint32_t> ids;
  std::vector<uint8_t> mask;
  d.read_sample(1, ids, mask);
  EXPECT_EQ(ids, (std::vector<uint32_t>{256, 33}));
}

// ---- bad inputs: each a UserError naming the file and what is wrong ----

TEST_F(TokenDatasetTest, MissingFile) {
  const std::string p = path("nope.h5");
  expect_user_error([&] { TokenDataset d(p); }, {p, "no such file"});
}

TEST_F(TokenDatasetTest, NotHdf5) {
  const std::string p = path("text.h5");
  std::ofstream(p) << "just some text, not HDF5\n";
  expect_user_error([&] { TokenDataset d(p); }, {p, "not an HDF5 file"});
}

TEST_F(TokenDatasetTest, TruncatedFile) {
  const std::string p = path("cut.h5");
  {
    TokenDatasetWriter w(p, 265, "byte", false);
    for (int s = 0; s < 50; ++s) w.add_sample(std::vector<uint32_t>(1000, 65), std::vector<uint8_t>(1000, 1));
    w.close();
  }
  fs::resize_file(p, fs::file_size(p) / 2);
  expect_user_error([&] { TokenDataset d(p); }, {p, "truncated"});
}

TEST_F(TokenDatasetTest, MissingOffsets) {
  const std::string p = path("no_offsets.h5");
  RawFile r = good_raw();
  r.offsets.reset();
  r.write(p);
  expect_user_error([&] { TokenDataset d(p); }, {p, "missing dataset /offsets"});
}

TEST_F(TokenDatasetTest, MissingTokens) {
  const std::string p = path("no_tokens.h5");
  RawFile r = good_raw();
  r.tokens.reset();
  r.write(p);
  expect_user_error([&] { TokenDataset d(p); }, {p, "missing dataset /tokens"});
}

TEST_F(TokenDatasetTest, MissingFormatAttribute) {
  const std::string p = path("no_format.h5");
  RawFile r = good_raw();
  r.format.reset();
  r.write(p);
  expect_user_error([&] { TokenDataset d(p); }, {p, "missing attribute 'format'"});
}

TEST_F(TokenDatasetTest, WrongFormatAttribute) {
  const std::string p = path("other_format.h5");
  RawFile r = good_raw();
  r.format = "something-else";
  r.write(p);
  expect_user_error([&] { TokenDataset d(p); }, {p, "something-else", "smoothread-tokens"});
}

TEST_F(TokenDatasetTest, MissingVocabSize) {
  const std::string p = path("no_vocab.h5");
  RawFile r = good_raw();
  r.vocab_size.reset();
  r.write(p);
  expect_user_error([&] { TokenDataset d(p); }, {p, "missing attribute 'vocab_size'"});
}

TEST_F(TokenDatasetTest, TokensOfWrongType) {
  const std::string p = path("int64_tokens.h5");
  RawFile r = good_raw();
  r.tokens_type = H5T_STD_I64LE;
  r.write(p);
  expect_user_error([&] { TokenDataset d(p); }, {p, "/tokens has type int64, expected uint32"});
}

TEST_F(TokenDatasetTest, OffsetsNotStartingAtZero) {
  const std::string p = path("offsets0.h5");
  RawFile r = good_raw();
  r.offsets = std::vector<uint64_t>{1, 3, 5};
  r.write(p);
  expect_user_error([&] { TokenDataset d(p); }, {p, "/offsets[0] is 1, expected 0"});
}

TEST_F(TokenDatasetTest, OffsetsNotIncreasing) {
  const std::string p = path("flat.h5");
  RawFile r = good_raw();
  r.offsets = std::vector<uint64_t>{0, 3, 3, 5};  // sample 1 empty
  r.write(p);
  expect_user_error([&] { TokenDataset d(p); }, {p, "/offsets must increase", "sample 1"});
  r.offsets = std::vector<uint64_t>{0, 4, 2, 5};
  r.write(p);
  expect_user_error([&] { TokenDataset d(p); }, {p, "/offsets must increase", "offsets[1] = 4"});
}

TEST_F(TokenDatasetTest, OffsetsBeyondTokens) {
  const std::string p = path("beyond.h5");
  RawFile r = good_raw();
  r.offsets = std::vector<uint64_t>{0, 3, 9};
  r.write(p);
  expect_user_error([&] { TokenDataset d(p); }, {p, "/offsets ends at 9", "5 tokens"});
}

TEST_F(TokenDatasetTest, OffsetsShortOfTokens) {
  const std::string p = path("short.h5");
  RawFile r = good_raw();
  r.offsets = std::vector<uint64_t>{0, 3};
  r.write(p);
  expect_user_error([&] { TokenDataset d(p); }, {p, "/offsets ends at 3", "5 tokens"});
}

TEST_F(TokenDatasetTest, LossMaskOfWrongLength) {
  const std::string p = path("mask.h5");
  RawFile r = good_raw();
  r.loss_mask = std::vector<uint8_t>{0, 1, 1, 0};
  r.write(p);
  expect_user_error([&] { TokenDataset d(p); }, {p, "/loss_mask has 4 entries", "/tokens has 5"});
}

TEST_F(TokenDatasetTest, IdsBeyondVocabSize) {
  const std::string p = path("ids.h5");
  RawFile r = good_raw();
  (*r.tokens)[4] = 300;  // in sample 1
  r.write(p);
  TokenDataset d(p);  // opening does not read the tokens
  std::vector<uint32_t> ids;
  std::vector<uint8_t> mask;
  d.read_sample(0, ids, mask);
  expect_user_error([&] { d.read_sample(1, ids, mask); },
                    {p, "sample 1", "token id 300", "vocab_size 265"});
  expect_user_error([&] { d.read_range(0, 5, ids, mask); }, {p, "sample 1", "token id 300"});
}

}  // namespace
}  // namespace sr
