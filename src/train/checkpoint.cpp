#include "train/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "core/log.h"
#include "core/version.h"
#include "core/hdf5.h"
#include "core/device_memory.h"

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

void fsync_path(const std::string& path, bool directory) {
  const int fd = ::open(path.c_str(), directory ? O_RDONLY | O_DIRECTORY : O_RDONLY);
  SR_CHECK_SYS(fd, "open " + path + " for fsync");
  SR_CHECK_SYS(::fsync(fd), "fsync " + path);
  ::close(fd);
}

void write_text_durably(const std::string& path, const std::string& text) {
  {
    std::ofstream out(path, std::ios::trunc);
    out << text;
    out.flush();
    if (!out) fatal("write", __FILE__, __LINE__, "cannot write " + path, "check free disk space");
  }
  fsync_path(path, false);
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
  MPI_Allreduce(MPI_IN_PLACE, &partial, 1, MPI_INT, MPI_MAX, g.dp_comm);
  return partial != 0;
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
      MPI_Allreduce(MPI_IN_PLACE, v.data(), int(v.size()), MPI_FLOAT, MPI_SUM, g.dp_comm);
  return out;
}

void write_tensor(hid_t file, const std::string& name, const ParamSpec& s,
                  const std::vector<float>& host) {
  const hsize_t n = hsize_t(host.size());
  h5::Handle space = h5::simple_space({n});
  h5::Handle dcpl = h5::create_plist(H5P_DATASET_CREATE);
  const hsize_t chunk = std::min<hsize_t>(n, hsize_t(1) << 20);
  SR_CHECK_H5(H5Pset_chunk(dcpl.id(), 1, &chunk));
  SR_CHECK_H5(H5Pset_fletcher32(dcpl.id()));
  h5::Handle lcpl = h5::create_plist(H5P_LINK_CREATE);
  SR_CHECK_H5(H5Pset_create_intermediate_group(lcpl.id(), 1));
  h5::Handle ds(SR_CHECK_H5(H5Dcreate2(file, name.c_str(), H5T_IEEE_F32LE, space.id(), lcpl.id(),
                                       dcpl.id(), H5P_DEFAULT)),
                H5Dclose);
  SR_CHECK_H5(H5Dwrite(ds.id(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, host.data()));
  h5::write_attr(ds.id(), "rank", int64_t(s.global_shape.size()));
  for (size_t d = 0; d < s.global_shape.size(); ++d) {
    h5::write_attr(ds.id(), "global_" + std::to_string(d), s.global_shape[d]);
    h5::write_attr(ds.id(), "local_" + std::to_string(d), s.local_shape[d]);
  }
  h5::write_attr(ds.id(), "split_dim", int64_t(s.split_dim));
  h5::write_attr(ds.id(), "offset", s.offset);
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

// Loads one checkpoint directory into model and optimizer; throws UserError on any problem.
void load_from(const std::string& dir, Transformer& model, AdamW& optimizer, TrainState& state) {
  auto kv = read_manifest(dir);
  if (manifest_int(kv, "version", dir) != kVersion)
    throw UserError(dir + "/manifest: version " + kv["version"] + " is not " + std::to_string(kVersion));
  for (const auto& [key, value] : shape_keys(model.config())) {
    if (kv[key] != value)
      throw ShapeMismatch(dir + ": checkpoint has " + key + " = " + kv[key] + " but the config says " + value);
  }
  state.step = manifest_int(kv, "step", dir);
  state.data.epoch = uint64_t(manifest_int(kv, "data_epoch", dir));
  state.data.samples_consumed = uint64_t(manifest_int(kv, "data_samples_consumed", dir));
  state.seed = uint64_t(manifest_int(kv, "seed", dir));
  optimizer.set_steps_taken(manifest_int(kv, "optimizer_steps", dir));

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
    for (int k = 0; k < 3; ++k) {
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
      const auto& moments = k == 1 ? optimizer.first_moments() : optimizer.second_moments();
      for (size_t g = 0; g < optimizer.segments().size(); ++g) {
        const ParamSegment& seg = optimizer.segments()[g];
        if (seg.param != i) continue;
        device_copy(moments[g].device, moments[g].data, Device::cpu, local.data() + seg.begin,
                    size_t(seg.count) * sizeof(float));
      }
    }
  }
}

std::vector<int64_t> list_steps(const std::string& root) {
  std::vector<int64_t> steps;
  if (!fs::exists(root)) return steps;
  for (const auto& e : fs::directory_iterator(root)) {
    const std::string n = e.path().filename().string();
    if (e.is_directory() && n.rfind("step_", 0) == 0) steps.push_back(std::stoll(n.substr(5)));
  }
  std::sort(steps.rbegin(), steps.rend());
  return steps;
}

}  // namespace

std::string checkpoints_dir(const std::string& out_dir) { return out_dir + "/checkpoints"; }

std::string save_checkpoint(const std::string& out_dir, const ProcessGrid& grid,
                            const Transformer& model, const AdamW& optimizer,
                            const TrainState& state, const CheckpointPolicy& policy) {
  const std::string root = checkpoints_dir(out_dir);
  const std::string name = step_name(state.step);
  const std::string tmp = root + "/.tmp_" + name, final_dir = root + "/" + name;
  if (grid.world_rank == 0) {
    fs::create_directories(root);
    fs::remove_all(tmp);
    fs::create_directory(tmp);
  }
  MPI_Barrier(grid.world);

  // One copy of each tensor: DP rank 0 of every TP group writes; replicated tensors only once.
  const auto& specs = model.specs();
  const bool sharded = moments_sharded(optimizer, specs, grid);
  const auto first = full_moments(optimizer, specs, false, sharded, grid);
  const auto second = full_moments(optimizer, specs, true, sharded, grid);
  const int writes = grid.dp_rank == 0;
  if (writes) {
    const std::string path = tmp + "/" + shard_name(grid.world_rank);
    {
      h5::Handle file = h5::create_file(path);
      h5::write_attr(file.id(), "format", std::string(kFormat));
      for (size_t i = 0; i < specs.size(); ++i) {
        if (specs[i].split_dim < 0 && grid.tp_rank != 0) continue;
        write_tensor(file.id(), std::string("param/") + specs[i].name, specs[i], to_host(model.params().all[i]));
        write_tensor(file.id(), std::string("adam_m/") + specs[i].name, specs[i], first[i]);
        write_tensor(file.id(), std::string("adam_v/") + specs[i].name, specs[i], second[i]);
      }
    }
    fsync_path(path, false);
  }
  std::vector<int> writers(size_t(grid.world_size));
  MPI_Gather(&writes, 1, MPI_INT, writers.data(), 1, MPI_INT, 0, grid.world);

  if (grid.world_rank == 0) {
    std::ostringstream m;
    m << "format = " << kFormat << "\nversion = " << kVersion << "\nsmoothread = " << smoothread_version()
      << " (" << smoothread_git_sha() << ")\nstep = " << state.step
      << "\noptimizer_steps = " << optimizer.steps_taken() << "\ndata_epoch = " << state.data.epoch
      << "\ndata_samples_consumed = " << state.data.samples_consumed << "\nseed = " << state.seed
      << "\ndp = " << grid.dp << "\ntp = " << grid.tp << "\nshards =";
    for (int r = 0; r < grid.world_size; ++r)
      if (writers[size_t(r)]) m << " " << shard_name(r);
    m << "\n";
    for (const auto& [key, value] : shape_keys(model.config())) m << key << " = " << value << "\n";
    write_text_durably(tmp + "/manifest", m.str());
    fsync_path(tmp, true);
    fs::remove_all(final_dir);
    fs::rename(tmp, final_dir);
    fsync_path(root, true);
    write_text_durably(root + "/latest.tmp", name + "\n");
    fs::rename(root + "/latest.tmp", root + "/latest");
    fsync_path(root, true);
    // Prune: keep the newest keep_last, and every keep_every-th step.
    const std::vector<int64_t> steps = list_steps(root);
    for (size_t i = 0; i < steps.size(); ++i) {
      const bool newest = int64_t(i) < std::max<int64_t>(1, policy.keep_last);
      const bool milestone = policy.keep_every > 0 && steps[i] % policy.keep_every == 0;
      if (!newest && !milestone) fs::remove_all(root + "/" + step_name(steps[i]));
    }
  }
  MPI_Barrier(grid.world);
  return final_dir;
}

bool load_checkpoint(const std::string& out_dir, const std::string& resume, const ProcessGrid& grid,
                     Transformer& model, AdamW& optimizer, TrainState& state) {
  if (resume == "none") return false;
  std::vector<std::string> candidates;
  const bool automatic = resume == "auto";
  if (automatic) {
    const std::string root = checkpoints_dir(out_dir);
    std::ifstream latest(root + "/latest");
    std::string name;
    int64_t newest = INT64_MAX;
    if (latest >> name) {
      candidates.push_back(root + "/" + name);
      newest = name.size() > 5 ? std::stoll(name.substr(5)) : INT64_MAX;
    }
    for (int64_t s : list_steps(root))
      if (s < newest) candidates.push_back(root + "/" + step_name(s));
    if (candidates.empty()) return false;
  } else {
    if (!fs::is_directory(resume)) throw UserError("checkpoint.resume = " + resume + ": not a checkpoint directory");
    candidates.push_back(resume);
  }
  for (const std::string& dir : candidates) {
    int ok = 1;
    std::string why;
    try {
      load_from(dir, model, optimizer, state);
    } catch (const ShapeMismatch&) {
      throw;
    } catch (const UserError& e) {
      ok = 0;
      why = e.what();
    }
    MPI_Allreduce(MPI_IN_PLACE, &ok, 1, MPI_INT, MPI_MIN, grid.world);
    if (ok) {
      info("resumed from %s (step %lld)", dir.c_str(), (long long)state.step);
      return true;
    }
    if (!why.empty()) {
      if (!automatic) throw UserError(why);
      warn("checkpoint %s cannot be loaded: %s; falling back to the previous one", dir.c_str(), why.c_str());
    }
    if (!automatic) throw UserError(dir + ": cannot be loaded on another rank (see its message)");
  }
  throw UserError(checkpoints_dir(out_dir) + ": no checkpoint could be loaded (see the messages above)");
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
      << kv["data_samples_consumed"] << " samples consumed\nwritten by  smoothread " << kv["smoothread"]
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
