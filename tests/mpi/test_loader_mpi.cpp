// The loader under real MPI: every rank reads its own share; gathered over the ranks, each step
// is the one-rank global batch and each epoch holds every sample exactly once.
#include <gtest/gtest.h>
#include <mpi.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>

#include "dataset/loader.h"
#include "dataset/tokenizer.h"

namespace sr {
namespace {

namespace fs = std::filesystem;

int64_t length_of(uint64_t i) { return 3 + int64_t((i * 53) % 71); }

// Gathers every rank's vector to every rank: result[r] is rank r's.
std::vector<std::vector<uint64_t>> allgather(const std::vector<uint64_t>& mine, MPI_Comm comm) {
  int size = 0;
  MPI_Comm_size(comm, &size);
  int n = int(mine.size());
  std::vector<int> counts(size), displs(size);
  MPI_Allgather(&n, 1, MPI_INT, counts.data(), 1, MPI_INT, comm);
  int total = 0;
  for (int r = 0; r < size; ++r) {
    displs[r] = total;
    total += counts[r];
  }
  std::vector<uint64_t> all(size_t(total) + 1);  // [total] (+1: never a null buffer)
  MPI_Allgatherv(mine.data(), n, MPI_UINT64_T, all.data(), counts.data(), displs.data(),
                 MPI_UINT64_T, comm);
  std::vector<std::vector<uint64_t>> out(size);
  for (int r = 0; r < size; ++r)
    out[r].assign(all.begin() + displs[r], all.begin() + displs[r] + counts[r]);
  return out;
}

TEST(LoaderMpi, RanksTogetherSeeTheOneRankGlobalBatches) {
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  // One file for the job, named after rank 0's pid.
  int pid = int(getpid());
  MPI_Bcast(&pid, 1, MPI_INT, 0, MPI_COMM_WORLD);
  const std::string path =
      (fs::temp_directory_path() / ("sr_loader_mpi_" + std::to_string(pid) + ".h5")).string();
  const uint64_t n_samples = 131;
  if (rank == 0) {
    TokenDatasetWriter w(path, ByteTokenizer::kVocabSize, ByteTokenizer::name());
    for (uint64_t i = 0; i < n_samples; ++i) {
      std::vector<uint32_t> ids(size_t(length_of(i)), uint32_t(i % 256));
      w.add_sample(ids, std::vector<uint8_t>(ids.size(), 1));
    }
    w.close();
  }
  MPI_Barrier(MPI_COMM_WORLD);

  LoaderConfig c;
  c.path = path;
  c.seed = 5;
  c.global_batch_tokens = 300;
  c.micro_batch_tokens = 100;
  c.model_vocab_size = ByteTokenizer::kVocabSize;
  {
    Loader mine(c, rank, size, LoaderState{});
    Loader reference(c, 0, 1, LoaderState{});  // what one rank alone would read
    std::map<uint64_t, std::vector<uint64_t>> seen;  // epoch -> sample ids over all ranks
    while (reference.state().epoch < 2) {
      const uint64_t epoch = reference.state().epoch;
      std::vector<uint64_t> global;
      for (const Batch& b : reference.next_step())
        global.insert(global.end(), b.sample_ids.begin(), b.sample_ids.end());
      std::vector<uint64_t> ids;
      for (const Batch& b : mine.next_step()) {
        // This rank read the tokens of its own samples (EXPECT: ranks must not leave early).
        for (size_t j = 0; j < b.sample_ids.size(); ++j)
          EXPECT_EQ(b.tokens[size_t(b.cu_seqlens[j])], int32_t(b.sample_ids[j] % 256));
        ids.insert(ids.end(), b.sample_ids.begin(), b.sample_ids.end());
      }
      auto per_rank = allgather(ids, MPI_COMM_WORLD);
      // Sample k of the global batch is on rank k % size.
      for (int r = 0; r < size; ++r) {
        std::vector<uint64_t> expect;
        for (size_t k = size_t(r); k < global.size(); k += size_t(size)) expect.push_back(global[k]);
        ASSERT_EQ(per_rank[r], expect) << "rank " << r;
        seen[epoch].insert(seen[epoch].end(), per_rank[r].begin(), per_rank[r].end());
      }
      ASSERT_EQ(mine.state(), reference.state());
    }
    ASSERT_EQ(seen.size(), 2u);
    for (auto& [epoch, ids] : seen) {
      std::sort(ids.begin(), ids.end());
      ASSERT_EQ(ids.size(), n_samples) << "epoch " << epoch;
      for (uint64_t i = 0; i < n_samples; ++i) ASSERT_EQ(ids[i], i) << "epoch " << epoch;
    }
  }
  MPI_Barrier(MPI_COMM_WORLD);
  if (rank == 0) fs::remove(path);
}

}  // namespace
}  // namespace sr
