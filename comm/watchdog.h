// The collective watchdog shared by the MPI and NCCL communicators: poll a nonblocking
// collective until it finishes or its deadline passes; on timeout, name the collective and
// abort the whole job (a collective that never finishes otherwise hangs every rank silently).
#pragma once
#include <mpi.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <string>
#include <thread>
#include <vector>

#include "core/dtype.h"
#include "comm/mpi_check.h"
#include "core/error.h"

namespace sr {

// "all_reduce(1024 f32)", or "barrier" for a collective without data.
inline std::string collective_label(const char* name, int64_t count, DType dtype) {
  if (count < 0) return name;
  return std::string(name) + "(" + std::to_string(count) + " " + dtype_name(dtype) + ")";
}

// Calls done() until it returns true or `seconds` pass (seconds <= 0: no deadline).
// Returns false on timeout.
//
// Open MPI progresses a nonblocking collective only inside MPI calls: while the data moves,
// every pause between polls stalls it (sleeping up to 1 ms between polls made a 64 MiB f32
// all_reduce of 2 ranks over shared memory take 1.56 s instead of 0.09 s). So done() is polled without sleeping for the first kBusyPollSeconds, yielding
// the core to other processes after a short spin (ranks often outnumber cores). A wait longer
// than that is a slow or missing peer, not data in flight: then it sleeps between polls with
// growing pauses (up to 1 ms), so a waiting rank does not hold a core.
constexpr double kBusyPollSeconds = 0.25;

template <typename Done>
bool poll_until(Done done, double seconds) {
  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  auto pause = std::chrono::microseconds(20);
  for (int64_t i = 0;; ++i) {
    if (done()) return true;
    if (i < 1000) continue;
    const double waited = std::chrono::duration<double>(clock::now() - start).count();
    if (seconds > 0 && waited > seconds) return false;
    if (waited < kBusyPollSeconds) {
      std::this_thread::yield();
      continue;
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(1000));
  }
}

// The one line a rank prints when its collective times out.
// `detail` says who is missing when the waiter could find out.
inline void print_watchdog_message(const std::string& what, int ranks, double seconds,
                                   const std::string& detail = "a rank has died or is stuck") {
  const ErrorContext& ctx = error_context();
  char host[256] = "?";
  if (ctx.host.empty()) gethostname(host, sizeof host);
  std::fprintf(stderr,
               "smoothread: collective %s on %d ranks did not finish in %g s: %s (this is rank %d, "
               "host %s, device %d)\n",
               what.c_str(), ranks, seconds, detail.c_str(), ctx.rank, ctx.host.empty() ? host : ctx.host.c_str(),
               ctx.device);
  std::fflush(stderr);
}

// MPI_Abort after the message: mpirun / Slurm then stop every other rank.
[[noreturn]] inline void abort_job() {
  MPI_Abort(MPI_COMM_WORLD, kExitInternal);
  std::_Exit(kExitInternal);
}

// Waits on the nonblocking collectives of one MPI communicator under the watchdog, and on a
// timeout names the ranks that did not arrive. Every wait is the next collective of the
// communicator's sequence (all ranks call the same ones in the same order). While a rank
// waits it answers questions on a duplicate communicator; a rank whose collective times out
// asks every other rank which collective it waits in. A rank that does not answer within a
// grace period never arrived (stopped, dead, or busy outside any collective of this
// communicator); one that answers with another number waits in another collective.
class CollectiveWaiter {
 public:
  CollectiveWaiter(MPI_Comm comm, double seconds) : seconds_(seconds) {
    if (MPI_Comm_dup(comm, &probe_) != MPI_SUCCESS) probe_ = MPI_COMM_NULL;
    MPI_Comm_rank(comm, &rank_);
    MPI_Comm_size(comm, &size_);
    world_rank_.resize(size_t(size_));
    MPI_Group group, world;
    MPI_Comm_group(comm, &group);
    MPI_Comm_group(MPI_COMM_WORLD, &world);
    std::vector<int> mine(static_cast<size_t>(size_));
    for (int r = 0; r < size_; ++r) mine[size_t(r)] = r;
    MPI_Group_translate_ranks(group, size_, mine.data(), world, world_rank_.data());
    MPI_Group_free(&group);
    MPI_Group_free(&world);
  }
  ~CollectiveWaiter() {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized && probe_ != MPI_COMM_NULL) MPI_Comm_free(&probe_);
  }
  CollectiveWaiter(const CollectiveWaiter&) = delete;
  CollectiveWaiter& operator=(const CollectiveWaiter&) = delete;

  double seconds() const { return seconds_; }
  int size() const { return size_; }

  // Waits for the n requests of the collective `label`; on timeout prints the message on this
  // rank and aborts the job.
  void wait(int n, MPI_Request* reqs, const std::string& label) {
    begin();
    if (n == 0) return;
    if (seconds_ <= 0 || size_ == 1) {
      SR_CHECK_MPI(MPI_Waitall(n, reqs, MPI_STATUSES_IGNORE));
      return;
    }
    int64_t polls = 0;
    const bool done = poll_until(
        [&] {
          if ((++polls & 63) == 0) answer_questions();
          int flag = 0;
          SR_CHECK_MPI(MPI_Testall(n, reqs, &flag, MPI_STATUSES_IGNORE));
          return flag != 0;
        },
        seconds_);
    if (done) return;
    print_watchdog_message(label, size_, seconds_, absent_ranks());
    abort_job();
  }

  // For a communicator that waits its own way (NCCL): begin() as each collective starts,
  // answer_questions() now and then while waiting, absent_ranks() on timeout for the message.
  void begin() { ++seq_; }

  // Answers every question that arrived: "which collective do you wait in?".
  void answer_questions(std::vector<int64_t>* answers = nullptr) {
    if (probe_ == MPI_COMM_NULL) return;
    for (;;) {
      int flag = 0;
      MPI_Status st;
      if (MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, probe_, &flag, &st) != MPI_SUCCESS || !flag) return;
      int64_t value = 0;
      MPI_Recv(&value, 1, MPI_INT64_T, st.MPI_SOURCE, st.MPI_TAG, probe_, MPI_STATUS_IGNORE);
      if (st.MPI_TAG == kAsk) {
        outbox_.push_back(seq_);
        requests_.emplace_back();
        MPI_Isend(&outbox_.back(), 1, MPI_INT64_T, st.MPI_SOURCE, kAnswer, probe_, &requests_.back());
      } else if (answers) {
        (*answers)[size_t(st.MPI_SOURCE)] = value;
      }
    }
  }

  // "rank 3 did not arrive (...)", or why else the collective is stuck.
  std::string absent_ranks() {
    if (probe_ == MPI_COMM_NULL) return "a rank has died or is stuck";
    std::vector<int64_t> answers(size_t(size_), -1);
    answers[size_t(rank_)] = seq_;
    for (int r = 0; r < size_; ++r) {
      if (r == rank_) continue;
      outbox_.push_back(seq_);
      requests_.emplace_back();
      MPI_Isend(&outbox_.back(), 1, MPI_INT64_T, r, kAsk, probe_, &requests_.back());
    }
    poll_until(
        [&] {
          answer_questions(&answers);
          return std::find(answers.begin(), answers.end(), -1) == answers.end();
        },
        kGraceSeconds);
    std::string missing, elsewhere;
    int n_missing = 0;
    for (int r = 0; r < size_; ++r) {
      const std::string who = std::to_string(world_rank_[size_t(r)]);
      if (answers[size_t(r)] < 0) {
        missing += (n_missing++ ? ", " : "") + who;
      } else if (answers[size_t(r)] != seq_) {
        elsewhere += "; rank " + who + " waits in collective #" + std::to_string(answers[size_t(r)]) +
                     " of this group, this rank in #" + std::to_string(seq_);
      }
    }
    std::string out;
    if (n_missing)
      out = std::string("rank") + (n_missing > 1 ? "s " : " ") + missing +
            " did not arrive (stopped, dead or stuck outside this collective)";
    else if (elsewhere.empty())
      out = "every rank arrived but it did not complete (a network or MPI problem)";
    else
      elsewhere.erase(0, 2);
    return out + elsewhere;
  }

 private:
  static constexpr int kAsk = 1, kAnswer = 2;
  static constexpr double kGraceSeconds = 1.5;

  MPI_Comm probe_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1;
  double seconds_;
  int64_t seq_ = 0;                 // collectives waited for so far, this one included
  std::vector<int> world_rank_;     // [size] rank in MPI_COMM_WORLD of each rank here
  std::deque<int64_t> outbox_;      // buffers of the sends below (stable addresses)
  std::deque<MPI_Request> requests_;
};

}  // namespace sr
