#include "train/checkpoint.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <random>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>

#include "comm/host_communicator.h"
#include "core/log.h"
#include "core/version.h"
#include "core/hdf5.h"
#include "core/device_memory.h"
#include "train/hf.h"

namespace fs = std::filesystem;

namespace sr {

namespace {

constexpr const char* kFormat = "smoothread-checkpoint";
constexpr int kVersion = 1;

// A model shape that differs from the checkpoint's: a configuration error, never a reason to
// fall back to an older checkpoint.
class ShapeMismatch : public UserError {
 public:
  using UserError::UserError;
};

std::string step_name(int64_t step) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "step_%08lld", (long long)step);
  return buf;
}

// A failed file operation of a checkpoint write: a UserError (exit 2) naming the path and the
// system's reason; the caller makes every rank agree on it.
[[noreturn]] void io_failed(const std::string& what, int err) {
  throw UserError(what + ": " + std::strerror(err));
}

void fsync_path(const std::string& path, bool directory) {
  const int fd = ::open(path.c_str(), directory ? O_RDONLY | O_DIRECTORY : O_RDONLY);
  if (fd < 0) io_failed("cannot open " + path + " to sync it", errno);
  if (::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    io_failed("cannot sync " + path, err);
  }
  if (::close(fd) != 0) io_failed("cannot close " + path, errno);
}

// Writes the whole text with checked write/fsync/close.
void write_text_durably(const std::string& path, const std::string& text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) io_failed("cannot create " + path, errno);
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n < 0 ? errno : EIO;
      ::close(fd);
      io_failed("cannot write " + path, err);
    }
    done += size_t(n);
  }
  if (::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    io_failed("cannot sync " + path, err);
  }
  if (::close(fd) != 0) io_failed("cannot close " + path, errno);
}

void rename_checked(const std::string& from, const std::string& to) {
  if (std::rename(from.c_str(), to.c_str()) != 0) io_failed("cannot rename " + from + " to " + to, errno);
}

// The step of a directory name step_NNNNNNNN (8 or more digits); -1 for any other name.
int64_t parse_step_name(const std::string& n) {
  if (n.size() < 13 || n.compare(0, 5, "step_") != 0 || n.size() > 5 + 18) return -1;
  for (size_t i = 5; i < n.size(); ++i)
    if (n[i] < '0' || n[i] > '9') return -1;
  return std::stoll(n.substr(5));
}

std::map<std::string, std::string> read_manifest(const std::string& dir) {
  const std::string path = dir + "/manifest";
  std::ifstream in(path);
  if (!in) throw UserError(path + ": missing or unreadable (an incomplete checkpoint?)");
  std::map<std::string, std::string> kv;
  std::string line;
  while (std::getline(in, line)) {
    const size_t eq = line.find(" = ");
    if (eq != std::string::npos) kv[line.substr(0, eq)] = line.substr(eq + 3);
  }
  if (kv["format"] != kFormat) throw UserError(path + ": not a smoothread checkpoint manifest");
  return kv;
}

int64_t manifest_int(std::map<std::string, std::string>& kv, const std::string& key,
                     const std::string& dir) {
  const std::string& v = kv[key];
  char* end = nullptr;
  const long long x = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end) throw UserError(dir + "/manifest: key '" + key + "' missing or not an integer");
  return x;
}

// The model-shape keys a checkpoint must agree on with the run that loads it.
std::vector<std::pair<std::string, std::string>> shape_keys(const ModelConfig& c) {
  auto d = [](double x) {
    std::ostringstream s;
    s.precision(17);
    s << x;
    return s.str();
  };
  return {{"model.hidden_size", std::to_string(c.hidden_size)},
          {"model.num_hidden_layers", std::to_string(c.num_hidden_layers)},
          {"model.num_attention_heads", std::to_string(c.num_attention_heads)},
          {"model.num_key_value_heads", std::to_string(c.num_key_value_heads)},
          {"model.intermediate_size", std::to_string(c.intermediate_size)},
          {"model.vocab_size", std::to_string(c.vocab_size)},
          {"model.tie_word_embeddings", c.tie_word_embeddings ? "true" : "false"},
          {"model.attention_bias", c.attention_bias ? "true" : "false"},
          {"model.rope_theta", d(c.rope_theta)},
          {"model.sliding_window", std::to_string(c.sliding_window)}};
}

// The three tensors a checkpoint stores per parameter.
const char* const kKinds[] = {"param", "adam_m", "adam_v"};

std::vector<float> to_host(const Tensor& t) {
  std::vector<float> host(static_cast<size_t>(t.numel()));
  device_copy(Device::cpu, host.data(), t.device, t.data, t.bytes());
  return host;
}

// Whether the optimizer state is sharded over DP ranks (ZeRO-1); collective over the DP group.
bool moments_sharded(const AdamW& opt, const std::vector<ParamSpec>& specs, const ProcessGrid& g) {
  int partial = opt.segments().size() != specs.size();
  for (const ParamSegment& s : opt.segments()) partial |= s.count != specs[s.param].local_numel();
  int64_t any = partial;
  g.host_dp->all_reduce(&any, 1, ReduceOp::max, "checkpoint: whether AdamW state is sharded");
  return any != 0;
}

// The whole local moment (first or second) of every parameter, on the host. Sharded moments
// are summed over DP ranks: each element is held by exactly one rank and is 0 elsewhere, so
// the sum is exact.
std::vector<std::vector<float>> full_moments(const AdamW& opt, const std::vector<ParamSpec>& specs,
                                             bool second, bool sharded, const ProcessGrid& g) {
  std::vector<std::vector<float>> out(specs.size());
  for (size_t i = 0; i < specs.size(); ++i) out[i].assign(size_t(specs[i].local_numel()), 0.0f);
  const auto& moments = second ? opt.second_moments() : opt.first_moments();
  for (size_t k = 0; k < opt.segments().size(); ++k) {
    const ParamSegment& s = opt.segments()[k];
    device_copy(Device::cpu, out[s.param].data() + s.begin, moments[k].device, moments[k].data,
                size_t(s.count) * sizeof(float));
  }
  if (sharded)
    for (auto& v : out)
      g.host_dp->all_reduce(v.data(), int64_t(v.size()), ReduceOp::sum,
                            "checkpoint: gathering sharded AdamW moments");
  return out;
}

// Every call checked: a failure (disk full, file size limit, I/O error) is a UserError naming
// the shard and the dataset, so that the checkpoint is abandoned on every rank.
void write_tensor(hid_t file, const std::string& path, const std::string& name, const ParamSpec& s,
                  const std::vector<float>& host) {
  const std::string what = "cannot write dataset " + name;
  const hsize_t n = hsize_t(host.size());
  h5::Handle space = h5::simple_space({n});
  h5::Handle dcpl = h5::create_plist(H5P_DATASET_CREATE);
  const hsize_t chunk = std::min<hsize_t>(n, hsize_t(1) << 20);
  SR_CHECK_H5(H5Pset_chunk(dcpl.id(), 1, &chunk));
  SR_CHECK_H5(H5Pset_fletcher32(dcpl.id()));
  h5::Handle lcpl = h5::create_plist(H5P_LINK_CREATE);
  SR_CHECK_H5(H5Pset_create_intermediate_group(lcpl.id(), 1));
  h5::Handle ds(h5::user_check(H5Dcreate2(file, name.c_str(), H5T_IEEE_F32LE, space.id(),
                                          lcpl.id(), dcpl.id(), H5P_DEFAULT),
                               path, what),
                H5Dclose);
  h5::user_check(H5Dwrite(ds.id(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, host.data()),
                 path, what);
  auto attr = [&](const std::string& key, int64_t value) {
    h5::Handle sp = h5::scalar_space();
    h5::Handle a(h5::user_check(H5Acreate2(ds.id(), key.c_str(), H5T_STD_I64LE, sp.id(),
                                           H5P_DEFAULT, H5P_DEFAULT),
                                path, what),
                 H5Aclose);
    h5::user_check(H5Awrite(a.id(), H5T_NATIVE_INT64, &value), path, what);
  };
  attr("rank", int64_t(s.global_shape.size()));
  for (size_t d = 0; d < s.global_shape.size(); ++d) {
    attr("global_" + std::to_string(d), s.global_shape[d]);
    attr("local_" + std::to_string(d), s.local_shape[d]);
  }
  attr("split_dim", int64_t(s.split_dim));
  attr("offset", s.offset);
  // The chunk cache writes on close, where a failure would go unseen: flush (checked) first.
  h5::user_check(H5Dflush(ds.id()), path, what);
}

// One piece of a tensor as a shard stores it.
struct Piece {
  std::vector<int64_t> global, local;
  int64_t split_dim = -1, offset = 0;
  std::vector<float> data;
};

bool read_piece(hid_t file, const std::string& path, const std::string& name, Piece& p) {
  if (!h5::exists(file, name.substr(0, name.find('/')).c_str(), path)) return false;
  if (!h5::exists(file, name.c_str(), path)) return false;
  h5::Handle ds = h5::open_dataset(file, name.c_str(), path);
  auto attr = [&](const std::string& a) {
    auto v = h5::attr_as_int(ds.id(), a, path);
    if (!v) throw UserError(path + ": dataset " + name + " lacks attribute " + a);
    return *v;
  };
  const int64_t rank = attr("rank");
  p.global.clear();
  p.local.clear();
  int64_t n = 1;
  for (int64_t d = 0; d < rank; ++d) {
    p.global.push_back(attr("global_" + std::to_string(d)));
    p.local.push_back(attr("local_" + std::to_string(d)));
    n *= p.local.back();
  }
  p.split_dim = attr("split_dim");
  p.offset = attr("offset");
  p.data.resize(size_t(n));
  h5::user_check(H5Dread(ds.id(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, p.data.data()),
                 path, "cannot read dataset " + name + " (checksum mismatch or damaged file)");
  // Checksums say the bytes are those written; a model that had diverged when it was saved
  // (or a file rewritten with valid checksums) still cannot be trained on from here.
  const bool second_moment = name.rfind("adam_v/", 0) == 0;
  for (size_t i = 0; i < p.data.size(); ++i) {
    const float x = p.data[i];
    if (!std::isfinite(x) || (second_moment && x < 0))
      throw UserError(path + ": dataset " + name + " holds " +
                      (std::isnan(x) ? "NaN" : std::isinf(x) ? "infinite" : "negative") +
                      " values (element " + std::to_string(i) + "): not a usable checkpoint");
  }
  return true;
}

// Copies between a piece (rows × cols slice at `offset` along split_dim) and the global tensor.
template <class F>
void for_each_row(const std::vector<int64_t>& global, const std::vector<int64_t>& local,
                  int64_t split_dim, int64_t offset, F&& f) {
  const int64_t grows = global[0], gcols = global.size() > 1 ? global[1] : 1;
  const int64_t lrows = local[0], lcols = local.size() > 1 ? local[1] : 1;
  (void)grows;
  for (int64_t r = 0; r < lrows; ++r) {
    const int64_t gr = r + (split_dim == 0 ? offset : 0);
    const int64_t gc = split_dim == 1 ? offset : 0;
    f(gr * gcols + gc, r * lcols, lcols);
  }
}

std::string shard_name(int rank) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "rank_%05d.h5", rank);
  return buf;
}

// The checkpoint's tokenizer: the manifest key and, when the directory has one, tokenizer.json,
// whose identity must be the key's (the file alone cannot say which vocabulary the weights use).
void read_tokenizer(const std::string& dir, std::map<std::string, std::string>& kv, TrainState& state) {
  state.tokenizer = kv.count("tokenizer") ? kv["tokenizer"] : "";
  state.tokenizer_json.clear();
  const std::string path = dir + "/tokenizer.json";
  std::error_code ec;
  // A run from scratch on BPE data records the data's identity only: it never had the file.
  if (!fs::exists(path, ec)) return;
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in || in.bad()) throw UserError(path + ": cannot read");
  state.tokenizer_json = text.str();
  const std::string id = tokenizer_identity_of_json(state.tokenizer_json);
  if (id != state.tokenizer)
    throw UserError(path + ": its identity is " + id + " but the manifest names tokenizer '" + state.tokenizer +
                    "' (a damaged or edited checkpoint)");
}

// Loads one checkpoint directory into model and optimizer (without one: the parameters only,
// and the window, which no tensor depends on, may differ); throws UserError on any problem.
void load_from(const std::string& dir, Transformer& model, AdamW* optimizer, TrainState& state) {
  auto kv = read_manifest(dir);
  if (manifest_int(kv, "version", dir) != kVersion)
    throw UserError(dir + "/manifest: version " + kv["version"] + " is not " + std::to_string(kVersion));
  for (const auto& [key, value] : shape_keys(model.config())) {
    if (!optimizer && key == "model.sliding_window") continue;
    if (kv[key] != value)
      throw ShapeMismatch(dir + ": checkpoint has " + key + " = " + kv[key] + " but the config says " + value);
  }
  state.step = manifest_int(kv, "step", dir);
  state.data.epoch = uint64_t(manifest_int(kv, "data_epoch", dir));
  state.data.samples_consumed = uint64_t(manifest_int(kv, "data_samples_consumed", dir));
  state.seed = uint64_t(manifest_int(kv, "seed", dir));
  state.run_id = kv.count("run_id") ? kv["run_id"] : "";
  if (optimizer) optimizer->set_steps_taken(manifest_int(kv, "optimizer_steps", dir));
  read_tokenizer(dir, kv, state);

  std::vector<std::string> paths;
  std::vector<h5::Handle> files;
  std::istringstream shards(kv["shards"]);
  for (std::string s; shards >> s;) {
    paths.push_back(dir + "/" + s);
    files.push_back(h5::open_file_read(paths.back()));
  }
  if (files.empty()) throw UserError(dir + "/manifest: lists no shard files");

  const auto& specs = model.specs();
  Piece piece;
  std::vector<float> global, local;
  for (size_t i = 0; i < specs.size(); ++i) {
    const ParamSpec& s = specs[i];
    for (int k = 0; k < (optimizer ? 3 : 1); ++k) {
      const std::string name = std::string(kKinds[k]) + "/" + s.name;
      global.assign(size_t(s.global_numel()), 0.0f);
      int64_t covered = 0;
      for (size_t f = 0; f < files.size(); ++f) {
        if (!read_piece(files[f].id(), paths[f], name, piece)) continue;
        if (piece.global != s.global_shape)
          throw ShapeMismatch(paths[f] + ": " + name + " has another global shape than the model's");
        for_each_row(piece.global, piece.local, piece.split_dim, piece.offset,
                     [&](int64_t g, int64_t l, int64_t n) {
                       std::copy_n(piece.data.begin() + l, n, global.begin() + g);
                     });
        covered += int64_t(piece.data.size());
        if (piece.split_dim < 0) break;  // a replicated tensor is whole in one shard
      }
      if (covered != s.global_numel())
        throw UserError(dir + ": tensor " + name + " is incomplete in the shards");
      local.resize(size_t(s.local_numel()));
      for_each_row(s.global_shape, s.local_shape, s.split_dim, s.offset,
                   [&](int64_t g, int64_t l, int64_t n) {
                     std::copy_n(global.begin() + g, n, local.begin() + l);
                   });
      if (k == 0) {
        const Tensor& p = model.params().all[i];
        device_copy(p.device, p.data, Device::cpu, local.data(), local.size() * sizeof(float));
        continue;
      }
      // Moments go to the optimizer segments of this parameter that this rank owns.
      const auto& moments = k == 1 ? optimizer->first_moments() : optimizer->second_moments();
      for (size_t g = 0; g < optimizer->segments().size(); ++g) {
        const ParamSegment& seg = optimizer->segments()[g];
        if (seg.param != i) continue;
        device_copy(moments[g].device, moments[g].data, Device::cpu, local.data() + seg.begin,
                    size_t(seg.count) * sizeof(float));
      }
    }
  }
}

std::vector<int64_t> list_steps(const std::string& root) {
  std::vector<int64_t> steps;
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return steps;
  for (const auto& e : fs::directory_iterator(root, ec)) {
    const std::string n = e.path().filename().string();
    const int64_t step = parse_step_name(n);
    if (step >= 0 && e.is_directory()) steps.push_back(step);
  }
  std::sort(steps.rbegin(), steps.rend());
  return steps;
}

// One line: HDF5's write errors span lines ("time = ...\n, filename = ..., errno = 27,
// error message = 'File too large', buf = ..."); only the system's message is kept.
std::string one_line(std::string s) {
  const size_t em = s.find("error message = '");
  if (em != std::string::npos) {
    const size_t b = em + 17, e = s.find('\'', b), open = s.rfind(" (", em);
    if (e != std::string::npos && open != std::string::npos)
      s = s.substr(0, open) + " (" + s.substr(b, e - b) + ")";
  }
  for (char& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  return s;
}

// Runs f; returns "" or the message of what it threw (a UserError or a filesystem error).
template <class F>
std::string catching(F&& f) {
  try {
    f();
  } catch (const UserError& e) {
    return one_line(e.what());
  } catch (const fs::filesystem_error& e) {
    const std::string p = e.path1().string();
    return (p.empty() ? std::string() : p + ": ") + e.code().message();
  } catch (const std::exception& e) {
    return one_line(e.what());
  }
  return "";
}

// Extends `path` to `bytes` of allocated space (checked), so that the HDF5 writes that follow
// land in space the file system already gave: a full disk or a file size limit fails here,
// cleanly, instead of inside HDF5, which cannot close a file whose write failed (its library
// then crashes at exit). HDF5 truncates the file to its real end on close.
void reserve_space(const std::string& path, int64_t bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY);
  if (fd < 0) io_failed("cannot open " + path, errno);
  const int err = ::posix_fallocate(fd, 0, off_t(bytes));
  if (err != 0) {
    ::close(fd);
    io_failed("cannot reserve " + std::to_string(bytes) + " bytes for " + path, err);
  }
  if (::close(fd) != 0) io_failed("cannot close " + path, errno);
}

// Collective: every rank learns whether any rank failed (a non-empty `why`), and then all of
// them throw the same UserError, the first failing rank's message.
void agree(HostCommunicator& comm, const std::string& why, const char* what) {
  constexpr size_t kBytes = 1024;
  std::vector<char> mine(kBytes, 0), all(kBytes * size_t(comm.size()));
  std::strncpy(mine.data(), why.c_str(), kBytes - 1);
  comm.all_gather_bytes(mine.data(), all.data(), kBytes, what);
  for (int r = 0; r < comm.size(); ++r) {
    const char* m = all.data() + size_t(r) * kBytes;
    if (m[0]) throw UserError(std::string(m, strnlen(m, kBytes)));
  }
}

// The run_id of a checkpoint directory: "" for one written before run ids existed, nullopt
// when its manifest cannot be read.
std::optional<std::string> run_id_of(const std::string& dir) {
  try {
    auto kv = read_manifest(dir);
    return kv.count("run_id") ? kv["run_id"] : std::string();
  } catch (const UserError&) {
    return std::nullopt;
  }
}

std::string new_run_id() {
  std::random_device rd;
  const uint64_t t = uint64_t(std::chrono::system_clock::now().time_since_epoch().count());
  const uint64_t x = (uint64_t(rd()) << 32 ^ rd()) ^ t ^ (uint64_t(::getpid()) << 16);
  char buf[24];
  std::snprintf(buf, sizeof buf, "%016llx", (unsigned long long)x);
  return buf;
}

std::string read_latest(const std::string& root) {
  std::ifstream latest(root + "/latest");
  std::string name;
  latest >> name;
  return name;
}

// Rank 0 after a checkpoint is in place and named in `latest`: removes the checkpoints this
// run superseded beyond the policy. Only checkpoints of the same run with a lower step are
// candidates; the one `latest` names, other runs' and unreadable ones are never touched.
// A failure here is a warning: the new checkpoint is complete.
void prune(const std::string& root, const TrainState& state, const CheckpointPolicy& policy) {
  const std::string latest = read_latest(root);
  int64_t kept = 1;  // the new checkpoint
  for (int64_t s : list_steps(root)) {  // newest first
    if (s >= state.step || step_name(s) == latest) continue;
    const std::string dir = root + "/" + step_name(s);
    const auto id = run_id_of(dir);
    if (!id || *id != state.run_id) continue;
    const bool milestone = policy.keep_every > 0 && s % policy.keep_every == 0;
    if (milestone) continue;
    if (kept < std::max<int64_t>(1, policy.keep_last)) {
      ++kept;
      continue;
    }
    std::error_code ec;
    fs::remove_all(dir, ec);
    if (ec) warn("cannot remove the old checkpoint %s: %s", dir.c_str(), ec.message().c_str());
  }
  // Leftovers of interrupted writes (a second run on this out_dir is excluded by the lock).
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(root, ec)) {
    const std::string n = e.path().filename().string();
    if (n.rfind(".tmp_step_", 0) == 0 || n.rfind(".old_step_", 0) == 0) {
      std::error_code ec2;
      fs::remove_all(e.path(), ec2);
    }
  }
}

}  // namespace

std::string checkpoints_dir(const std::string& out_dir) { return out_dir + "/checkpoints"; }

std::string save_checkpoint(const std::string& out_dir, const ProcessGrid& grid,
                            const Transformer& model, const AdamW& optimizer,
                            const TrainState& state, const CheckpointPolicy& policy) {
  const std::string root = checkpoints_dir(out_dir);
  const std::string name = step_name(state.step);
  const std::string tmp = root + "/.tmp_" + name, final_dir = root + "/" + name;
  const std::string failed = "checkpoint " + name + " not written (earlier checkpoints and latest " +
                             "are untouched): ";
  HostCommunicator& world = *grid.host_world;
  auto fail_if = [&](const std::string& why, const char* what) {
    try {
      agree(world, why.empty() ? why : failed + why, what);
    } catch (const UserError&) {
      if (grid.world_rank == 0) {
        std::error_code ec;
        fs::remove_all(tmp, ec);
      }
      throw;
    }
  };

  std::string why;
  if (grid.world_rank == 0) why = catching([&] {
      fs::create_directories(root);
      fs::remove_all(tmp);
      fs::create_directory(tmp);
    });
  fail_if(why, "checkpoint: creating its directory");

  // One copy of each tensor: DP rank 0 of every TP group writes; replicated tensors only once.
  const auto& specs = model.specs();
  const bool sharded = moments_sharded(optimizer, specs, grid);
  const auto first = full_moments(optimizer, specs, false, sharded, grid);
  const auto second = full_moments(optimizer, specs, true, sharded, grid);
  const int writes = grid.dp_rank == 0;
  if (writes) why = catching([&] {
      const std::string path = tmp + "/" + shard_name(grid.world_rank);
      std::vector<std::string> names;
      int64_t bytes = int64_t(1) << 20;  // superblock, groups, and then some
      for (const ParamSpec& spec : specs)
        if (spec.split_dim >= 0 || grid.tp_rank == 0)
          bytes += 3 * (spec.local_numel() * int64_t(sizeof(float)) + (int64_t(64) << 10));
      {
        h5::Handle file = h5::create_file(path);
        h5::write_attr(file.id(), "format", std::string(kFormat));
        h5::user_check(H5Fflush(file.id(), H5F_SCOPE_GLOBAL), path, "cannot write the file");
      }
      reserve_space(path, bytes);
      {
        h5::Handle file(h5::user_check(H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT), path,
                                       "cannot reopen the file to write it"),
                        H5Fclose);
        for (size_t i = 0; i < specs.size(); ++i) {
          if (specs[i].split_dim < 0 && grid.tp_rank != 0) continue;
          const std::vector<float>* data[3] = {nullptr, &first[i], &second[i]};
          const std::vector<float> param = to_host(model.params().all[i]);
          data[0] = &param;
          for (int k = 0; k < 3; ++k) {
            names.push_back(std::string(kKinds[k]) + "/" + specs[i].name);
            write_tensor(file.id(), path, names.back(), specs[i], *data[k]);
          }
        }
        h5::user_check(H5Fflush(file.id(), H5F_SCOPE_GLOBAL), path, "cannot write the file");
      }
      fsync_path(path, false);
      // Read back: checksums, sizes, and finite values, before anything names this checkpoint.
      h5::Handle file = h5::open_file_read(path);
      Piece piece;
      for (const std::string& n : names)
        if (!read_piece(file.id(), path, n, piece))
          throw UserError(path + ": dataset " + n + " is missing after writing it");
    });
  fail_if(why, "checkpoint: writing the shards");
  std::vector<int> writers(size_t(grid.world_size));
  world.all_gather_bytes(&writes, writers.data(), sizeof(int), "checkpoint: which ranks wrote shards");

  if (grid.world_rank == 0) why = catching([&] {
      std::ostringstream m;
      m << "format = " << kFormat << "\nversion = " << kVersion << "\nsmoothread = " << smoothread_version()
        << " (" << smoothread_git_sha() << ")\nstep = " << state.step
        << "\noptimizer_steps = " << optimizer.steps_taken() << "\ndata_epoch = " << state.data.epoch
        << "\ndata_samples_consumed = " << state.data.samples_consumed << "\nseed = " << state.seed
        << "\nrun_id = " << state.run_id;
      if (!state.tokenizer.empty()) m << "\ntokenizer = " << state.tokenizer;
      m << "\ndp = " << grid.dp << "\ntp = " << grid.tp << "\nshards =";
      for (int r = 0; r < grid.world_size; ++r)
        if (writers[size_t(r)]) m << " " << shard_name(r);
      m << "\n";
      for (const auto& [key, value] : shape_keys(model.config())) m << key << " = " << value << "\n";
      {
        std::ostringstream eps;
        eps.precision(17);
        eps << model.config().rms_norm_eps;
        m << "model.rms_norm_eps = " << eps.str() << "\n";
      }
      if (!state.tokenizer_json.empty()) write_text_durably(tmp + "/tokenizer.json", state.tokenizer_json);
      write_text_durably(tmp + "/manifest", m.str());
      fsync_path(tmp, true);
      read_manifest(tmp);
      // Complete, synced and read back: now it may replace an older copy of the same step and
      // be named in latest.
      const std::string aside = root + "/.old_" + name;
      const bool replaces = fs::exists(final_dir);
      if (replaces) {
        fs::remove_all(aside);
        rename_checked(final_dir, aside);
      }
      rename_checked(tmp, final_dir);
      fsync_path(root, true);
      write_text_durably(root + "/latest.tmp", name + "\n");
      rename_checked(root + "/latest.tmp", root + "/latest");
      fsync_path(root, true);
      if (replaces) fs::remove_all(aside);
    });
  fail_if(why, "checkpoint: naming it in latest");
  if (grid.world_rank == 0) prune(root, state, policy);
  world.barrier("checkpoint: done");
  return final_dir;
}

bool load_checkpoint(const std::string& out_dir, const std::string& resume, bool overwrite,
                     const ProcessGrid& grid, Transformer& model, AdamW& optimizer,
                     TrainState& state) {
  HostCommunicator& world = *grid.host_world;
  const std::string root = checkpoints_dir(out_dir);
  std::vector<std::string> candidates;
  const bool automatic = resume == "auto";
  if (automatic) {
    const std::string name = read_latest(root);
    int64_t newest = INT64_MAX;
    if (!name.empty()) {
      const int64_t step = parse_step_name(name);
      if (step >= 0) {
        candidates.push_back(root + "/" + name);
        newest = step;
      } else {
        warn("%s/latest names '%s', not a checkpoint: ignoring it", root.c_str(), name.c_str());
      }
    }
    for (int64_t s : list_steps(root))
      if (s < newest) candidates.push_back(root + "/" + step_name(s));
  } else if (resume != "none") {
    if (!fs::is_directory(resume)) throw UserError("checkpoint.resume = " + resume + ": not a checkpoint directory");
    candidates.push_back(resume);
  }
  bool resumed = false;
  for (const std::string& dir : candidates) {
    std::string why;
    try {
      load_from(dir, model, &optimizer, state);
    } catch (const ShapeMismatch&) {
      throw;
    } catch (const UserError& e) {
      why = e.what();
      if (why.empty()) why = "cannot be loaded";
    }
    if (world.all_true(why.empty(), "checkpoint: loaded on every rank")) {
      info("resumed from %s (step %lld)", dir.c_str(), (long long)state.step);
      resumed = true;
      break;
    }
    if (!why.empty()) {
      if (!automatic) throw UserError(why);
      warn("checkpoint %s cannot be loaded: %s; falling back to the previous one", dir.c_str(), why.c_str());
    }
    if (!automatic) throw UserError(dir + ": cannot be loaded on another rank (see its message)");
  }
  if (!resumed && !candidates.empty())
    throw UserError(root + ": no checkpoint could be loaded (see the messages above)");

  // Whose checkpoints are in out_dir: a run starting from scratch must not mix its own with
  // another run's (pruning, `latest` and resume would then pick between two histories).
  char id[32] = {};
  if (grid.world_rank == 0) {
    std::snprintf(id, sizeof id, "%s", resumed ? state.run_id.c_str() : new_run_id().c_str());
  }
  world.broadcast_bytes(id, sizeof id, 0, "checkpoint: run id");
  if (!resumed) state.run_id = id;
  std::string why;
  if (grid.world_rank == 0) why = catching([&] {
      std::vector<std::string> others;
      for (int64_t s : list_steps(root)) {
        const std::string dir = root + "/" + step_name(s);
        if (!resumed) {
          others.push_back(step_name(s));
          continue;
        }
        const auto other = run_id_of(dir);
        if (other && *other != state.run_id) others.push_back(step_name(s));
      }
      if (others.empty()) return;
      std::string list;
      for (size_t i = 0; i < others.size() && i < 3; ++i) list += (i ? ", " : "") + others[i];
      if (others.size() > 3) list += ", ...";
      if (!overwrite)
        throw UserError("train.out_dir = " + out_dir + " holds checkpoints of another run (" + list +
                        "): resume them with checkpoint.resume = auto, choose another train.out_dir, "
                        "or set checkpoint.overwrite = true to delete them");
      for (const std::string& n : others) fs::remove_all(root + "/" + n);
      if (std::find(others.begin(), others.end(), read_latest(root)) != others.end())
        fs::remove(root + "/latest");
      info("checkpoint.overwrite: deleted %zu checkpoint(s) of another run in %s", others.size(), root.c_str());
    });
  agree(world, why, "checkpoint: checking out_dir for another run's checkpoints");
  return resumed;
}

RunDirLock::RunDirLock(const std::string& out_dir, const ProcessGrid& grid) {
  std::string why;
  if (grid.world_rank == 0) why = catching([&] {
      const std::string key = "train.out_dir = " + out_dir;
      std::error_code ec;
      fs::create_directories(out_dir, ec);
      if (ec) throw UserError(key + ": cannot create the directory (" + ec.message() + ")");
      const std::string path = out_dir + "/.lock";
      fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
      if (fd_ < 0) throw UserError(key + ": cannot create " + path + " (" + std::strerror(errno) + ")");
      if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
        const int err = errno;
        char holder[256] = {};
        if (::pread(fd_, holder, sizeof holder - 1, 0) > 0) holder[strcspn(holder, "\n")] = 0;
        ::close(fd_);
        fd_ = -1;
        if (err == EWOULDBLOCK)
          throw UserError(key + " is in use by another smoothread run (" +
                          (holder[0] ? std::string(holder) : std::string("see ")) + " holding " + path +
                          "): wait for it to end, or choose another train.out_dir");
        throw UserError(key + ": cannot lock " + path + " (" + std::strerror(err) + ")");
      }
      char host[128] = "?";
      ::gethostname(host, sizeof host - 1);
      const std::string me = "pid " + std::to_string(::getpid()) + " on " + host + "\n";
      if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, me.data(), me.size(), 0) < 0)
        throw UserError(key + ": cannot write " + path + " (" + std::strerror(errno) + ")");
    });
  agree(*grid.host_world, why, "locking train.out_dir");
}

RunDirLock::~RunDirLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the lock; the file stays
}

std::string checkpoint_tokenizer_name(const TrainState& state) {
  return state.tokenizer.empty() ? "byte" : state.tokenizer;
}

void load_checkpoint_params(const std::string& path, const ProcessGrid& grid, Transformer& model,
                            TrainState* tokenizer) {
  std::string dir;
  std::string why = catching([&] {
    if (!fs::exists(path)) throw UserError(path + ": no such checkpoint directory");
    dir = fs::exists(path + "/manifest") || fs::exists(path + "/latest") || !fs::exists(path + "/checkpoints")
              ? resolve_checkpoint_dir(path)
              : resolve_checkpoint_dir(path + "/checkpoints");
    TrainState loaded;
    load_from(dir, model, nullptr, loaded);
    if (tokenizer) {
      tokenizer->tokenizer = loaded.tokenizer;
      tokenizer->tokenizer_json = std::move(loaded.tokenizer_json);
    }
  });
  agree(*grid.host_world, why, "checkpoint: loading parameters");
  info("parameters loaded from %s", dir.c_str());
}

std::string resolve_checkpoint_dir(const std::string& dir) {
  if (fs::exists(dir + "/manifest")) return dir;
  std::ifstream latest(dir + "/latest");
  std::string name;
  if (latest >> name) return dir + "/" + name;
  if (!fs::exists(dir)) throw UserError(dir + ": no such checkpoint directory");
  throw UserError(dir + ": neither a checkpoint (no manifest) nor a checkpoints directory (no latest)");
}

std::string describe_checkpoint(const std::string& dir, bool verify) {
  auto kv = read_manifest(dir);
  // A manifest with a garbled number or no shards is a damaged checkpoint (exit 2), like a
  // damaged shard: the same checks as loading, also when only inspecting.
  for (const char* key : {"version", "step", "optimizer_steps", "data_epoch", "data_samples_consumed", "dp", "tp"})
    manifest_int(kv, key, dir);
  if (kv["shards"].find_first_not_of(' ') == std::string::npos)
    throw UserError(dir + "/manifest: key 'shards' lists no shard files (an incomplete checkpoint?)");
  std::ostringstream out;
  out << "checkpoint  " << dir << "\nstep        " << kv["step"] << "\nlayout      dp " << kv["dp"]
      << " x tp " << kv["tp"] << "\ndata state  epoch " << kv["data_epoch"] << ", "
      << kv["data_samples_consumed"] << " samples consumed\ntokenizer   "
      << (kv.count("tokenizer") ? kv["tokenizer"] : std::string("byte"))
      << (fs::exists(dir + "/tokenizer.json") ? " (tokenizer.json)" : "")
      << "\nwritten by  smoothread " << kv["smoothread"]
      << "\nmodel      ";
  for (const auto& [k, v] : kv)
    if (k.rfind("model.", 0) == 0) out << " " << k.substr(6) << "=" << v;
  out << "\nshards      " << kv["shards"] << "\n";
  std::istringstream shards(kv["shards"]);
  for (std::string s; shards >> s;) {
    const std::string path = dir + "/" + s;
    h5::Handle file = h5::open_file_read(path);
    out << s << ":\n";
    for (const char* kind : kKinds) {
      if (!h5::exists(file.id(), kind, path)) continue;
      // A damaged shard is the user's file, not an internal failure: UserErrors, exit 2.
      h5::Handle group(h5::user_check(H5Gopen2(file.id(), kind, H5P_DEFAULT), path,
                                      std::string("damaged shard: cannot open group ") + kind),
                       H5Gclose);
      H5G_info_t ginfo;
      h5::user_check(H5Gget_info(group.id(), &ginfo), path, std::string("damaged shard: group ") + kind);
      for (hsize_t i = 0; i < ginfo.nlinks; ++i) {
        char name[512];
        h5::user_check(H5Lget_name_by_idx(group.id(), ".", H5_INDEX_NAME, H5_ITER_INC, i, name,
                                          sizeof name, H5P_DEFAULT),
                       path, std::string("damaged shard: group ") + kind);
        Piece p;
        if (verify) {
          read_piece(file.id(), path, std::string(kind) + "/" + name, p);
        } else {
          h5::Handle ds = h5::open_dataset(group.id(), name, path);
          const int64_t rank = h5::attr_as_int(ds.id(), "rank", path).value_or(0);
          for (int64_t d = 0; d < rank; ++d) {
            p.global.push_back(h5::attr_as_int(ds.id(), "global_" + std::to_string(d), path).value_or(0));
            p.local.push_back(h5::attr_as_int(ds.id(), "local_" + std::to_string(d), path).value_or(0));
          }
          p.split_dim = h5::attr_as_int(ds.id(), "split_dim", path).value_or(-1);
          p.offset = h5::attr_as_int(ds.id(), "offset", path).value_or(0);
        }
        auto dims = [](const std::vector<int64_t>& v) {
          std::string s = "[";
          for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
          return s + "]";
        };
        if (std::string(kind) == "param")
          out << "  " << name << "  global " << dims(p.global) << "  local " << dims(p.local)
              << (p.split_dim >= 0 ? "  split dim " + std::to_string(p.split_dim) + " at " + std::to_string(p.offset) : "  replicated")
              << "\n";
      }
    }
  }
  if (verify) out << "verified: every tensor read back with its checksums\n";
  return out.str();
}

}  // namespace sr
