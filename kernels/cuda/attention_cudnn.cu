// Attention through NVIDIA cuDNN's fused flash attention (the cuDNN frontend's SDPA graphs):
// tensor cores, bf16 in, f32 accumulation. Built only where cuDNN and its frontend are found
// (SMOOTHREAD_HAVE_CUDNN); attention.cu calls it first and runs its own kernels when it declines.
//
// Packed samples use cuDNN's ragged (THD) layout: the graph sees [B, heads, S, hd] tensors
// whose sample b starts at a per-sample element offset, with per-sample lengths as a padding
// mask, so no attention crosses samples and no padding is stored. Graphs are compiled once per
// (B, S) bucket (powers of two; unused samples have length 0), so changing packings reuse a few.
//
// The softmax statistics cuDNN writes are ragged [T, nh]; the op contract (and the own kernels)
// keep lse[nh, T], so forward transposes them out and backward transposes them back in.
#include "kernels/cuda/attention_cudnn.h"

#include <cudnn.h>
#include <cudnn_frontend.h>

#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <unordered_map>

#include "core/log.h"
#include "kernels/cuda/common.cuh"

namespace fe = cudnn_frontend;

#define SR_CHECK_CUDNN(call)                                                                  \
  do {                                                                                        \
    cudnnStatus_t _s = (call);                                                                \
    if (_s != CUDNN_STATUS_SUCCESS)                                                           \
      ::sr::fatal(#call, __FILE__, __LINE__, std::string("cuDNN error: ") + cudnnGetErrorString(_s), \
                  "check that libcudnn.so.9 matches the cuDNN headers the build used");       \
  } while (0)

namespace sr::cuda {
namespace {

// Tensor uids of the graphs' variant packs.
enum Uid : int64_t {
  kQ = 1, kK, kV, kO, kStats, kDO, kDQ, kDK, kDV,
  kSeqLen, kQOffset, kKVOffset, kStatsOffset
};

struct GraphKey {
  bool backward;
  int64_t B, S, nh, nkv, hd;
  int window;
  bool deterministic;
  bool operator<(const GraphKey& o) const {
    return std::tie(backward, B, S, nh, nkv, hd, window, deterministic) <
           std::tie(o.backward, o.B, o.S, o.nh, o.nkv, o.hd, o.window, o.deterministic);
  }
};

int64_t pow2_at_least(int64_t n, int64_t floor) {
  int64_t p = floor;
  while (p < n) p *= 2;
  return p;
}

// Device buffers grown on demand and kept: the graphs' workspace, the ragged metadata, and the
// cuDNN-layout statistics.
struct Buffer {
  void* p = nullptr;
  size_t bytes = 0;
  void* at_least(size_t n) {
    if (n <= bytes) return p;
    if (p) SR_CHECK_CUDA(cudaFree(p));  // synchronises: earlier users of the old buffer are done
    SR_CHECK_CUDA(cudaMalloc(&p, n));
    bytes = n;
    return p;
  }
};

struct State {
  cudnnHandle_t handle = nullptr;
  std::map<GraphKey, std::shared_ptr<fe::graph::Graph>> graphs;  // nullptr: cuDNN declined
  Buffer workspace, meta, stats;
};

State& state() {
  static State s;
  if (!s.handle) {
    SR_CHECK_CUDNN(cudnnCreate(&s.handle));
    SR_CHECK_CUDNN(cudnnSetStream(s.handle, kStream));
  }
  return s;
}

// Per-sample lengths and element offsets of the ragged layout, for B real samples padded to Bg:
// seqlen[Bg], q_off/kv_off/st_off[Bg+1] (sample b's first element in q/out, k/v, stats).
__global__ void ragged_meta_kernel(const int32_t* cu, int B, int Bg, int nh, int nkv, int hd,
                                   int32_t* seqlen, int32_t* q_off, int32_t* kv_off,
                                   int32_t* st_off) {
  const int b = blockIdx.x * blockDim.x + threadIdx.x;
  if (b > Bg) return;
  const int start = cu[b < B ? b : B];
  q_off[b] = start * nh * hd;
  kv_off[b] = start * nkv * hd;
  st_off[b] = start * nh;
  if (b < Bg) seqlen[b] = b < B ? cu[b + 1] - cu[b] : 0;
}

// lse[nh,T] <-> stats[T,nh]
__global__ void stats_to_lse_kernel(float* lse, const float* stats, int T, int nh) {
  SR_FOR_EACH(i, int64_t(T) * nh) {
    const int64_t t = i / nh, h = i % nh;
    lse[h * T + t] = stats[i];
  }
}
__global__ void lse_to_stats_kernel(float* stats, const float* lse, int T, int nh) {
  SR_FOR_EACH(i, int64_t(T) * nh) {
    const int64_t t = i / nh, h = i % nh;
    stats[i] = lse[h * T + t];
  }
}

using TensorPtr = std::shared_ptr<fe::graph::Tensor_attributes>;

struct Ragged {
  TensorPtr seqlen, q_off, kv_off, st_off;
};

TensorPtr io_tensor(fe::graph::Graph& g, const char* name, Uid uid, int64_t B, int64_t heads,
                    int64_t S, int64_t hd, const TensorPtr& offset) {
  return g.tensor(fe::graph::Tensor_attributes()
                      .set_name(name)
                      .set_uid(uid)
                      .set_dim({B, heads, S, hd})
                      .set_stride({S * heads * hd, hd, heads * hd, 1})
                      .set_ragged_offset(offset));
}

void set_io(const TensorPtr& t, const char* name, Uid uid, int64_t B, int64_t heads, int64_t S,
            int64_t hd, const TensorPtr& offset) {
  t->set_output(true)
      .set_name(name)
      .set_uid(uid)
      .set_dim({B, heads, S, hd})
      .set_stride({S * heads * hd, hd, heads * hd, 1})
      .set_ragged_offset(offset);
}

TensorPtr int_tensor(fe::graph::Graph& g, const char* name, Uid uid, int64_t n) {
  return g.tensor(fe::graph::Tensor_attributes()
                      .set_name(name)
                      .set_uid(uid)
                      .set_dim({n, 1, 1, 1})
                      .set_stride({1, 1, 1, 1})
                      .set_data_type(fe::DataType_t::INT32));
}

Ragged ragged_tensors(fe::graph::Graph& g, int64_t B) {
  return {int_tensor(g, "seq_len", kSeqLen, B), int_tensor(g, "q_offset", kQOffset, B + 1),
          int_tensor(g, "kv_offset", kKVOffset, B + 1),
          int_tensor(g, "stats_offset", kStatsOffset, B + 1)};
}

// Stats: [B, nh, S, 1] stored token-major ([T, nh]) at ragged offsets.
TensorPtr& stats_layout(TensorPtr& t, int64_t B, int64_t nh, int64_t S, const TensorPtr& offset) {
  t->set_name("stats")
      .set_uid(kStats)
      .set_dim({B, nh, S, 1})
      .set_stride({S * nh, 1, nh, 1})
      .set_data_type(fe::DataType_t::FLOAT)
      .set_ragged_offset(offset);
  return t;
}

// Validates and compiles a graph for the device; the first failure's message, or "".
std::string build(fe::graph::Graph& g) {
  cudnnHandle_t h = state().handle;
  if (fe::error_t e = g.validate(); !e.is_good()) return e.get_message();
  if (fe::error_t e = g.build_operation_graph(h); !e.is_good()) return e.get_message();
  if (fe::error_t e = g.create_execution_plans({fe::HeurMode_t::A}); !e.is_good())
    return e.get_message();
  if (fe::error_t e = g.check_support(h); !e.is_good()) return e.get_message();
  if (fe::error_t e = g.build_plans(h); !e.is_good()) return e.get_message();
  return "";
}

template <typename Attr>
void set_mask(Attr& a, const Ragged& r, int window, float scale) {
  a.set_attn_scale(scale)
      .set_padding_mask(true)
      .set_seq_len_q(r.seqlen)
      .set_seq_len_kv(r.seqlen)
      .set_diagonal_alignment(fe::DiagonalAlignment_t::TOP_LEFT)
      .set_diagonal_band_right_bound(0);  // causal: keys j <= i
  // cuDNN keeps key j of query i where j + window > i: Hugging Face's i - W < j.
  if (window > 0) a.set_diagonal_band_left_bound(window);
}

std::shared_ptr<fe::graph::Graph> make_graph(const GraphKey& k) {
  auto g = std::make_shared<fe::graph::Graph>();
  g->set_io_data_type(fe::DataType_t::BFLOAT16)
      .set_intermediate_data_type(fe::DataType_t::FLOAT)
      .set_compute_data_type(fe::DataType_t::FLOAT);
  const Ragged r = ragged_tensors(*g, k.B);
  auto Q = io_tensor(*g, "q", kQ, k.B, k.nh, k.S, k.hd, r.q_off);
  auto K = io_tensor(*g, "k", kK, k.B, k.nkv, k.S, k.hd, r.kv_off);
  auto V = io_tensor(*g, "v", kV, k.B, k.nkv, k.S, k.hd, r.kv_off);
  const float scale = 1.0f / std::sqrt(float(k.hd));
  if (!k.backward) {
    auto opts = fe::graph::SDPA_attributes().set_name("attention_forward").set_generate_stats(true);
    set_mask(opts, r, k.window, scale);
    auto [O, stats] = g->sdpa(Q, K, V, opts);
    set_io(O, "o", kO, k.B, k.nh, k.S, k.hd, r.q_off);
    stats_layout(stats, k.B, k.nh, k.S, r.st_off)->set_output(true);
  } else {
    auto O = io_tensor(*g, "o", kO, k.B, k.nh, k.S, k.hd, r.q_off);
    auto dO = io_tensor(*g, "do", kDO, k.B, k.nh, k.S, k.hd, r.q_off);
    auto stats = g->tensor(fe::graph::Tensor_attributes());
    stats_layout(stats, k.B, k.nh, k.S, r.st_off);
    auto opts = fe::graph::SDPA_backward_attributes()
                    .set_name("attention_backward")
                    .set_max_total_seq_len_q(k.S)
                    .set_max_total_seq_len_kv(k.S)
                    .set_deterministic_algorithm(k.deterministic);
    set_mask(opts, r, k.window, scale);
    auto [dQ, dK, dV] = g->sdpa_backward(Q, K, V, O, dO, stats, opts);
    set_io(dQ, "dq", kDQ, k.B, k.nh, k.S, k.hd, r.q_off);
    set_io(dK, "dk", kDK, k.B, k.nkv, k.S, k.hd, r.kv_off);
    set_io(dV, "dv", kDV, k.B, k.nkv, k.S, k.hd, r.kv_off);
  }
  const std::string error = build(*g);
  if (!error.empty()) {
    warn("cuDNN attention %s (B %lld, S %lld, heads %lld/%lld, hd %lld, window %d%s) not supported: "
         "%s; using smoothread's own kernel",
         k.backward ? "backward" : "forward", (long long)k.B, (long long)k.S, (long long)k.nh,
         (long long)k.nkv, (long long)k.hd, k.window, k.deterministic ? ", deterministic" : "",
         error.c_str());
    return nullptr;
  }
  return g;
}

// The graph of this key, built on first use (nullptr where cuDNN declines the case).
fe::graph::Graph* graph_for(const GraphKey& k) {
  auto& graphs = state().graphs;
  auto it = graphs.find(k);
  if (it == graphs.end()) it = graphs.emplace(k, make_graph(k)).first;
  return it->second.get();
}

// Shapes the fused kernels take: bf16, head dim a multiple of 8 up to 256, 32-bit offsets.
bool eligible(const Tensor& q, const Tensor& k, const Tensor& cu) {
  const int64_t T = q.dim(0), nh = q.dim(1), hd = q.dim(2);
  return q.dtype == DType::bf16 && k.dtype == DType::bf16 && hd % 8 == 0 && hd <= 256 &&
         T * nh * hd < (int64_t(1) << 31) && cu.numel() >= 2;
}

GraphKey key_for(const Tensor& q, const Tensor& k, const Tensor& cu, int window, bool backward,
                 bool deterministic) {
  return GraphKey{backward, pow2_at_least(cu.numel() - 1, 1), pow2_at_least(q.dim(0), 64),
                  q.dim(1), k.dim(1), q.dim(2), window, backward && deterministic};
}

// The ragged metadata of this batch on the device (a few ints per sample, no host round trip).
struct RaggedMeta {
  int32_t *seqlen, *q_off, *kv_off, *st_off;
};

RaggedMeta ragged_meta(const GraphKey& key, const Tensor& cu) {
  const int Bg = int(key.B), B = int(cu.numel() - 1);
  auto* m = static_cast<int32_t*>(state().meta.at_least(sizeof(int32_t) * (4 * size_t(Bg) + 3)));
  RaggedMeta r{m, m + Bg, m + 2 * Bg + 1, m + 3 * Bg + 2};
  ragged_meta_kernel<<<(Bg + 1 + 127) / 128, 128, 0, kStream>>>(
      static_cast<const int32_t*>(cu.data), B, Bg, int(key.nh), int(key.nkv), int(key.hd),
      r.seqlen, r.q_off, r.kv_off, r.st_off);
  SR_CHECK_LAUNCH();
  return r;
}

void execute(fe::graph::Graph& g, std::unordered_map<int64_t, void*>& pack) {
  int64_t ws = 0;
  fe::error_t se = g.get_workspace_size(ws);
  if (!se.is_good()) fatal("get_workspace_size", __FILE__, __LINE__, se.get_message(), "");
  void* workspace = state().workspace.at_least(size_t(ws > 0 ? ws : 1));
  fe::error_t e = g.execute(state().handle, pack, workspace);
  if (!e.is_good())
    fatal("cudnn_frontend::graph::Graph::execute", __FILE__, __LINE__,
          "cuDNN attention failed: " + e.get_message(),
          "set attention.cudnn = false to use smoothread's own kernels");
}

}  // namespace

bool cudnn_attention_forward(Tensor out, Tensor lse, Tensor q, Tensor k, Tensor v, Tensor cu,
                             int window) {
  if (!eligible(q, k, cu) || out.dtype != DType::bf16) return false;
  const int64_t T = q.dim(0), nh = q.dim(1);
  const GraphKey key = key_for(q, k, cu, window, false, false);
  fe::graph::Graph* g = graph_for(key);
  if (!g) return false;
  const RaggedMeta l = ragged_meta(key, cu);
  auto* stats = static_cast<float*>(state().stats.at_least(sizeof(float) * size_t(T * nh)));
  std::unordered_map<int64_t, void*> pack = {
      {kQ, q.data},        {kK, k.data},          {kV, v.data},           {kO, out.data},
      {kStats, stats},     {kSeqLen, l.seqlen},   {kQOffset, l.q_off},    {kKVOffset, l.kv_off},
      {kStatsOffset, l.st_off}};
  execute(*g, pack);
  stats_to_lse_kernel<<<grid_for(T * nh, 256), 256, 0, kStream>>>(
      static_cast<float*>(lse.data), stats, int(T), int(nh));
  SR_CHECK_LAUNCH();
  return true;
}

bool cudnn_attention_backward(Tensor dq, Tensor dk, Tensor dv, Tensor dout, Tensor out, Tensor lse,
                              Tensor q, Tensor k, Tensor v, Tensor cu, int window,
                              bool deterministic) {
  if (!eligible(q, k, cu) || dq.dtype != DType::bf16 || dk.dtype != DType::bf16 ||
      dv.dtype != DType::bf16 || dout.dtype != DType::bf16 || out.dtype != DType::bf16)
    return false;
  const int64_t T = q.dim(0), nh = q.dim(1);
  const GraphKey key = key_for(q, k, cu, window, true, deterministic);
  fe::graph::Graph* g = graph_for(key);
  if (!g) return false;
  const RaggedMeta l = ragged_meta(key, cu);
  auto* stats = static_cast<float*>(state().stats.at_least(sizeof(float) * size_t(T * nh)));
  lse_to_stats_kernel<<<grid_for(T * nh, 256), 256, 0, kStream>>>(
      stats, static_cast<const float*>(lse.data), int(T), int(nh));
  SR_CHECK_LAUNCH();
  std::unordered_map<int64_t, void*> pack = {
      {kQ, q.data},       {kK, k.data},        {kV, v.data},         {kO, out.data},
      {kDO, dout.data},   {kStats, stats},     {kDQ, dq.data},       {kDK, dk.data},
      {kDV, dv.data},     {kSeqLen, l.seqlen}, {kQOffset, l.q_off},  {kKVOffset, l.kv_off},
      {kStatsOffset, l.st_off}};
  execute(*g, pack);
  return true;
}

}  // namespace sr::cuda
