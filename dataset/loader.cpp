#include "dataset/loader.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>
#include <utility>

#include "core/error.h"
#include "core/hdf5.h"
#include "core/rng.h"

namespace sr {

std::vector<uint64_t> epoch_order(uint64_t n, uint64_t seed, uint64_t epoch, bool shuffle) {
  std::vector<uint64_t> order(n);  // [n]
  for (uint64_t i = 0; i < n; ++i) order[i] = i;
  if (!shuffle) return order;
  Rng rng(seed, hash_name("sr.loader.epoch_order") + epoch);
  for (uint64_t i = n; i > 1; --i) std::swap(order[i - 1], order[rng.below(i)]);
  return order;
}

namespace {

struct Step {
  std::vector<Batch> batches;  // this rank's micro-batches
  LoaderState after;           // the state once this step is consumed
  std::exception_ptr error;
};

}  // namespace

struct Loader::Impl {
  LoaderConfig config;
  int dp_rank = 0, dp_size = 1;
  TokenDataset data;

  // Producer side (the prefetch thread, or next_step when prefetch_steps == 0).
  LoaderState planned;                 // state after the last produced step
  uint64_t order_epoch = UINT64_MAX;   // epoch whose order is cached
  std::vector<uint64_t> order;         // [n_samples]
  std::vector<uint32_t> ids;           // [sample length] read buffer
  std::vector<uint8_t> mask;           // [sample length]

  // Consumer side.
  LoaderState consumed;
  std::exception_ptr failed;  // without prefetching: the error met, reported on every call

  // The queue between them.
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Step> queue;  // [<= prefetch_steps]
  bool stop = false;
  std::thread thread;

  Impl(const LoaderConfig& c, int rank, int size) : config(c), dp_rank(rank), dp_size(size),
                                                    data(c.path) {}

  uint64_t length(uint64_t sample) const {
    uint64_t n = data.sample_length(sample);
    if (config.truncate_long) n = std::min<uint64_t>(n, uint64_t(config.micro_batch_tokens));
    return n;
  }

  Step produce() {
    if (order_epoch != planned.epoch) {
      order = epoch_order(data.num_samples(), config.seed, planned.epoch, config.shuffle);
      order_epoch = planned.epoch;
    }
    // The global batch: the same on every rank, whatever dp_size.
    std::vector<uint64_t> global;  // [samples in this global batch]
    uint64_t tokens = 0;
    uint64_t& next = planned.samples_consumed;
    while (next < order.size()) {
      uint64_t n = length(order[next]);
      if (!global.empty() && tokens + n > uint64_t(config.global_batch_tokens)) break;
      global.push_back(order[next++]);
      tokens += n;
    }
    if (next == order.size()) planned = LoaderState{planned.epoch + 1, 0};

    Step step;
    for (size_t k = size_t(dp_rank); k < global.size(); k += size_t(dp_size)) {
      uint64_t sample = global[k];
      uint64_t n = length(sample);
      data.read_sample(sample, ids, mask);
      if (step.batches.empty() ||
          step.batches.back().num_tokens() + int64_t(n) > config.micro_batch_tokens)
        step.batches.emplace_back();
      step.batches.back().append_sample(sample, ids.data(), mask.data(), int64_t(n));
    }
    step.after = planned;
    return step;
  }

  void prefetch_loop() {
    h5::init();  // HDF5's error printing is per thread: off here too (errors come back as messages)
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return stop || int(queue.size()) < config.prefetch_steps; });
        if (stop) return;
      }
      Step step;
      try {
        step = produce();
      } catch (...) {
        step.error = std::current_exception();
      }
      bool failed = bool(step.error);
      {
        std::lock_guard<std::mutex> lock(mu);
        queue.push_back(std::move(step));
      }
      cv.notify_all();
      if (failed) return;
    }
  }
};

Loader::Loader(const LoaderConfig& config, int dp_rank, int dp_size, LoaderState start)
    : impl_(std::make_unique<Impl>(config, dp_rank, dp_size)) {
  SR_ASSERT(dp_size >= 1 && dp_rank >= 0 && dp_rank < dp_size, "bad DP rank/size");
  Impl& m = *impl_;
  const TokenDataset& d = m.data;
  const std::string& path = d.path();
  if (config.global_batch_tokens <= 0)
    throw UserError("global_batch_tokens is " + std::to_string(config.global_batch_tokens) +
                    ", expected a positive number");
  if (config.micro_batch_tokens <= 0)
    throw UserError("micro_batch_tokens is " + std::to_string(config.micro_batch_tokens) +
                    ", expected a positive number");
  if (config.prefetch_steps < 0)
    throw UserError("prefetch_steps is " + std::to_string(config.prefetch_steps) +
                    ", expected 0 or more");
  if (d.vocab_size() > config.model_vocab_size)
    throw UserError(path + ": vocab_size " + std::to_string(d.vocab_size()) +
                    " exceeds the model's vocab_size " + std::to_string(config.model_vocab_size));
  if (d.num_samples() == 0) throw UserError(path + ": the dataset has no samples");
  if (!config.truncate_long)
    for (uint64_t i = 0; i < d.num_samples(); ++i)
      if (d.sample_length(i) > uint64_t(config.micro_batch_tokens))
        throw UserError(path + ": sample " + std::to_string(i) + " has " +
                        std::to_string(d.sample_length(i)) +
                        " tokens, more than micro_batch_tokens " +
                        std::to_string(config.micro_batch_tokens) +
                        " (raise micro_batch_tokens or set truncate_long)");
  if (start.samples_consumed >= d.num_samples())
    throw UserError(path + ": the loader state has consumed " +
                    std::to_string(start.samples_consumed) + " samples of an epoch but the " +
                    "dataset has " + std::to_string(d.num_samples()) +
                    " (a different dataset than the checkpoint's?)");
  m.planned = m.consumed = start;
  if (config.prefetch_steps > 0) m.thread = std::thread([&m] { m.prefetch_loop(); });
}

Loader::~Loader() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stop = true;
  }
  impl_->cv.notify_all();
  if (impl_->thread.joinable()) impl_->thread.join();
}

std::vector<Batch> Loader::next_step() {
  Impl& m = *impl_;
  Step step;
  if (m.config.prefetch_steps == 0) {
    if (m.failed) std::rethrow_exception(m.failed);
    try {
      step = m.produce();
    } catch (...) {
      m.failed = std::current_exception();
      throw;
    }
  } else {
    std::unique_lock<std::mutex> lock(m.mu);
    m.cv.wait(lock, [&] { return !m.queue.empty(); });
    // A failed step stays at the front: the thread has stopped and every call reports it.
    if (m.queue.front().error) std::rethrow_exception(m.queue.front().error);
    step = std::move(m.queue.front());
    m.queue.pop_front();
    lock.unlock();
    m.cv.notify_all();
  }
  m.consumed = step.after;
  return std::move(step.batches);
}

LoaderState Loader::state() const { return impl_->consumed; }
const TokenDataset& Loader::dataset() const { return impl_->data; }

}  // namespace sr
