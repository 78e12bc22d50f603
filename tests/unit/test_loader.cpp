// The training reader: epoch orders, global batches independent of the DP size, packing into
// micro-batches, exact resume, prefetching, and its errors.
#include <gtest/gtest.h>
#include <hdf5.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "core/error.h"
#include "dataset/loader.h"
#include "dataset/tokenizer.h"

namespace sr {
namespace {

namespace fs = std::filesystem;

// Token t of sample i: a value that names both, so a batch's content can be checked.
uint32_t token_of(uint64_t i, int64_t t) { return uint32_t((i * 31 + uint64_t(t) * 7) % 256); }
uint8_t mask_of(uint64_t i, int64_t t) { return uint8_t((i + uint64_t(t)) % 3 != 0); }

// Sample lengths 5..60, irregular, so global batches hold different numbers of samples.
int64_t length_of(uint64_t i) { return 5 + int64_t((i * 37) % 56); }

class LoaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("sr_loader_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = (dir_ / "data.h5").string();
    write(path_, kSamples, [](uint64_t i) { return length_of(i); });
  }
  void TearDown() override { fs::remove_all(dir_); }

  template <class Len>
  static void write(const std::string& path, uint64_t n, Len len) {
    TokenDatasetWriter w(path, ByteTokenizer::kVocabSize, ByteTokenizer::name());
    for (uint64_t i = 0; i < n; ++i) {
      std::vector<uint32_t> ids(size_t(len(i)));
      std::vector<uint8_t> mask(ids.size());
      for (int64_t t = 0; t < int64_t(ids.size()); ++t) {
        ids[t] = token_of(i, t);
        mask[t] = mask_of(i, t);
      }
      w.add_sample(ids, mask);
    }
    w.close();
  }

  LoaderConfig config() const {
    LoaderConfig c;
    c.path = path_;
    c.seed = 42;
    c.global_batch_tokens = 200;
    c.micro_batch_tokens = 64;
    c.model_vocab_size = ByteTokenizer::kVocabSize;
    return c;
  }

  static constexpr uint64_t kSamples = 97;
  fs::path dir_;
  std::string path_;
};

std::vector<uint64_t> ids_of(const std::vector<Batch>& batches) {
  std::vector<uint64_t> ids;
  for (const auto& b : batches) ids.insert(ids.end(), b.sample_ids.begin(), b.sample_ids.end());
  return ids;
}

// The global batches of `steps` steps as one rank of dp_size ranks sees them.
std::vector<std::vector<uint64_t>> rank_steps(const LoaderConfig& c, int rank, int size,
                                              LoaderState start, int steps) {
  Loader l(c, rank, size, start);
  std::vector<std::vector<uint64_t>> out;
  for (int s = 0; s < steps; ++s) out.push_back(ids_of(l.next_step()));
  return out;
}

TEST(EpochOrder, IsAPermutationDeterministicInSeedAndEpoch) {
  auto a = epoch_order(1000, 7, 3, true);
  EXPECT_EQ(a, epoch_order(1000, 7, 3, true));
  EXPECT_NE(a, epoch_order(1000, 7, 4, true));
  EXPECT_NE(a, epoch_order(1000, 8, 3, true));
  auto sorted = a;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, epoch_order(1000, 7, 3, false));
  for (uint64_t i = 0; i < 1000; ++i) ASSERT_EQ(sorted[i], i);
  EXPECT_NE(a, sorted);
}

TEST_F(LoaderTest, GlobalBatchesFollowTheOrderWithinTheTokenBudget) {
  LoaderConfig c = config();
  Loader l(c, 0, 1, LoaderState{});
  const auto order0 = epoch_order(kSamples, c.seed, 0, true);
  const auto order1 = epoch_order(kSamples, c.seed, 1, true);
  uint64_t consumed = 0;
  int steps_epoch0 = 0;
  while (l.state().epoch == 0) {
    auto ids = ids_of(l.next_step());
    ASSERT_FALSE(ids.empty());
    int64_t tokens = 0;
    for (size_t k = 0; k < ids.size(); ++k) {
      ASSERT_EQ(ids[k], order0[consumed + k]);  // consecutive samples of the epoch's order
      tokens += length_of(ids[k]);
    }
    consumed += ids.size();
    EXPECT_LE(tokens, c.global_batch_tokens);
    // Maximal: the next sample of the order would not have fit (or the epoch ended).
    if (consumed < kSamples) EXPECT_GT(tokens + length_of(order0[consumed]), c.global_batch_tokens);
    ++steps_epoch0;
    if (l.state().epoch == 0) EXPECT_EQ(l.state().samples_consumed, consumed);
  }
  EXPECT_EQ(consumed, kSamples);  // never spans into epoch 1
  EXPECT_EQ(l.state(), (LoaderState{1, 0}));
  auto first1 = ids_of(l.next_step());
  EXPECT_EQ(first1[0], order1[0]);
  EXPECT_GT(steps_epoch0, 5);
}

TEST_F(LoaderTest, EverySampleOncePerEpochForEveryDpSize) {
  for (int size : {1, 2, 3, 4}) {
    std::multiset<uint64_t> seen;
    for (int rank = 0; rank < size; ++rank) {
      Loader l(config(), rank, size, LoaderState{});
      // Every rank takes the same number of steps: the global batches are the same everywhere.
      while (l.state().epoch == 0)
        for (uint64_t id : ids_of(l.next_step())) seen.insert(id);
    }
    ASSERT_EQ(seen.size(), kSamples) << "dp " << size;
    for (uint64_t i = 0; i < kSamples; ++i) EXPECT_EQ(seen.count(i), 1u) << "dp " << size;
  }
}

TEST_F(LoaderTest, GlobalBatchCompositionIndependentOfDpSize) {
  const int steps = 40;  // crosses into epoch 2
  LoaderConfig c = config();
  auto global = rank_steps(c, 0, 1, LoaderState{}, steps);
  for (int size : {2, 3, 4}) {
    std::vector<std::vector<std::vector<uint64_t>>> per_rank;
    for (int rank = 0; rank < size; ++rank) per_rank.push_back(rank_steps(c, rank, size, {}, steps));
    for (int s = 0; s < steps; ++s) {
      // Sample k of the global batch is on rank k % size, in order.
      for (int rank = 0; rank < size; ++rank) {
        std::vector<uint64_t> expect;
        for (size_t k = size_t(rank); k < global[s].size(); k += size_t(size)) expect.push_back(global[s][k]);
        EXPECT_EQ(per_rank[rank][s], expect) << "dp " << size << " rank " << rank << " step " << s;
      }
    }
  }
}

TEST_F(LoaderTest, MicroBatchesHoldWholeSamplesWithinBudget) {
  LoaderConfig c = config();
  Loader l(c, 1, 2, LoaderState{});
  int batches = 0;
  for (int s = 0; s < 10; ++s) {
    auto step = l.next_step();
    for (const Batch& b : step) {
      ++batches;
      ASSERT_LE(b.num_tokens(), c.micro_batch_tokens);
      ASSERT_EQ(b.cu_seqlens.size(), b.sample_ids.size() + 1);
      for (size_t j = 0; j < b.sample_ids.size(); ++j) {
        uint64_t i = b.sample_ids[j];
        int64_t n = b.cu_seqlens[j + 1] - b.cu_seqlens[j];
        ASSERT_EQ(n, length_of(i));
        for (int64_t t = 0; t < n; ++t) {
          int64_t at = b.cu_seqlens[j] + t;
          ASSERT_EQ(uint32_t(b.tokens[at]), token_of(i, t));
          ASSERT_EQ(b.positions[at], t);
          bool last = t + 1 == n;
          ASSERT_EQ(b.targets[at], last ? 0 : int32_t(token_of(i, t + 1)));
          ASSERT_EQ(b.loss_mask[at], !last && mask_of(i, t + 1) ? 1.0f : 0.0f);
        }
      }
    }
    // Greedy packing: a new micro-batch starts only when the next sample would not fit.
    for (size_t k = 0; k + 1 < step.size(); ++k)
      EXPECT_GT(step[k].num_tokens() + (step[k + 1].cu_seqlens[1] - step[k + 1].cu_seqlens[0]),
                c.micro_batch_tokens);
  }
  EXPECT_GT(batches, 10);
}

TEST_F(LoaderTest, ARankMayGetNoSamples) {
  // One sample per global batch: rank 1 of 2 never gets one.
  LoaderConfig c = config();
  c.global_batch_tokens = 1;
  Loader l(c, 1, 2, LoaderState{});
  for (int s = 0; s < 5; ++s) EXPECT_TRUE(l.next_step().empty());
  EXPECT_EQ(l.state(), (LoaderState{0, 5}));
}

TEST_F(LoaderTest, ResumeMidEpochEqualsUninterrupted) {
  LoaderConfig c = config();
  const int total = 30, cut = 11;
  auto whole = rank_steps(c, 0, 1, {}, total);
  LoaderState mid;
  {
    Loader l(c, 0, 1, {});
    for (int s = 0; s < cut; ++s) l.next_step();
    mid = l.state();
  }
  EXPECT_EQ(mid.epoch, 0u);
  EXPECT_GT(mid.samples_consumed, 0u);
  auto rest = rank_steps(c, 0, 1, mid, total - cut);
  for (int s = cut; s < total; ++s) EXPECT_EQ(rest[s - cut], whole[s]) << "step " << s;
  // Resuming under another DP size continues the same global batches.
  std::vector<std::vector<std::vector<uint64_t>>> per_rank;
  for (int rank = 0; rank < 3; ++rank) per_rank.push_back(rank_steps(c, rank, 3, mid, total - cut));
  for (int s = cut; s < total; ++s) {
    std::multiset<uint64_t> got, want(whole[s].begin(), whole[s].end());
    for (const auto& r : per_rank) got.insert(r[s - cut].begin(), r[s - cut].end());
    EXPECT_EQ(got, want) << "step " << s;
  }
}

TEST_F(LoaderTest, StateIsAfterTheLastReturnedStepNotThePrefetchedOnes) {
  LoaderConfig c = config();
  c.prefetch_steps = 3;
  LoaderConfig sync = c;
  sync.prefetch_steps = 0;
  Loader ref(sync, 0, 1, {});
  Loader l(c, 0, 1, {});
  usleep(50000);  // let the thread fill its queue
  EXPECT_EQ(l.state(), LoaderState{});
  for (int s = 0; s < 25; ++s) {
    EXPECT_EQ(ids_of(l.next_step()), ids_of(ref.next_step())) << "step " << s;
    EXPECT_EQ(l.state(), ref.state()) << "step " << s;
  }
}

TEST_F(LoaderTest, NoShuffleReadsInFileOrder) {
  LoaderConfig c = config();
  c.shuffle = false;
  Loader l(c, 0, 1, {});
  std::vector<uint64_t> all;
  while (l.state().epoch == 0) {
    auto ids = ids_of(l.next_step());
    all.insert(all.end(), ids.begin(), ids.end());
  }
  EXPECT_EQ(all, epoch_order(kSamples, 0, 0, false));
}

TEST_F(LoaderTest, TooLongSampleIsAnErrorUnlessTruncated) {
  LoaderConfig c = config();
  c.micro_batch_tokens = 40;  // samples are up to 60 tokens
  uint64_t first_long = 0;
  while (length_of(first_long) <= 40) ++first_long;
  try {
    Loader l(c, 0, 1, {});
    ADD_FAILURE() << "no error";
  } catch (const UserError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find(path_), std::string::npos) << msg;
    EXPECT_NE(msg.find("sample " + std::to_string(first_long) + " has"), std::string::npos) << msg;
    EXPECT_NE(msg.find("micro_batch_tokens 40"), std::string::npos) << msg;
  }
  c.truncate_long = true;
  Loader l(c, 0, 1, {});
  bool cut = false;
  for (int s = 0; s < 10; ++s)
    for (const Batch& b : l.next_step()) {
      EXPECT_LE(b.num_tokens(), 40);
      for (size_t j = 0; j < b.sample_ids.size(); ++j) {
        int64_t n = b.cu_seqlens[j + 1] - b.cu_seqlens[j];
        EXPECT_EQ(n, std::min<int64_t>(40, length_of(b.sample_ids[j])));
        cut |= length_of(b.sample_ids[j]) > 40;
        EXPECT_EQ(uint32_t(b.tokens[b.cu_seqlens[j] + n - 1]), token_of(b.sample_ids[j], n - 1));
      }
    }
  EXPECT_TRUE(cut);
}

TEST_F(LoaderTest, DatasetVocabLargerThanModelIsAnError) {
  LoaderConfig c = config();
  c.model_vocab_size = 200;
  try {
    Loader l(c, 0, 1, {});
    ADD_FAILURE() << "no error";
  } catch (const UserError& e) {
    EXPECT_EQ(std::string(e.what()), path_ + ": vocab_size 265 exceeds the model's vocab_size 200");
  }
}

TEST_F(LoaderTest, StateBeyondTheDatasetIsAnError) {
  EXPECT_THROW(Loader(config(), 0, 1, LoaderState{0, kSamples}), UserError);
  EXPECT_THROW(Loader(config(), 0, 1, LoaderState{3, kSamples + 10}), UserError);
}

TEST_F(LoaderTest, BadBatchSizesAreErrors) {
  LoaderConfig c = config();
  c.micro_batch_tokens = 0;
  EXPECT_THROW(Loader(c, 0, 1, {}), UserError);
  c = config();
  c.global_batch_tokens = -5;
  EXPECT_THROW(Loader(c, 0, 1, {}), UserError);
}

TEST_F(LoaderTest, ReadErrorIsDeliveredToTheCallerWithOrWithoutPrefetching) {
  // Sample 1 holds id 299; the file then declares vocab_size 100, so opening works and reading
  // sample 1 fails.
  const std::string bad = (dir_ / "bad.h5").string();
  {
    TokenDatasetWriter w(bad, 300, "test");
    w.add_sample({1, 2, 3}, {0, 1, 1});
    w.add_sample({1, 299, 3}, {0, 1, 1});
    w.close();
  }
  hid_t f = H5Fopen(bad.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  hid_t a = H5Aopen(f, "vocab_size", H5P_DEFAULT);
  uint32_t vocab = 100;
  H5Awrite(a, H5T_NATIVE_UINT32, &vocab);
  H5Aclose(a);
  H5Fclose(f);

  LoaderConfig c = config();
  c.path = bad;
  c.shuffle = false;
  c.global_batch_tokens = 3;  // one sample a step
  for (int prefetch : {0, 2}) {
    c.prefetch_steps = prefetch;
    Loader l(c, 0, 1, {});
    EXPECT_EQ(ids_of(l.next_step()), std::vector<uint64_t>{0});
    for (int again = 0; again < 2; ++again) {
      try {
        l.next_step();
        ADD_FAILURE() << "no error, prefetch " << prefetch;
      } catch (const UserError& e) {
        std::string msg = e.what();
        EXPECT_NE(msg.find(bad + ": sample 1 has token id 299"), std::string::npos) << msg;
      }
    }
    EXPECT_EQ(l.state(), (LoaderState{0, 1}));
  }
}

}  // namespace
}  // namespace sr
