// Linear layer y = x·Wᵀ + b through cuBLASLt.
//
// Row-major tensors are column-major transposes, so every product is written for cuBLASLt on
// the transposes: out[T,N] row-major is outᵀ[N,T] = W[N,K] · xᵀ[K,T] column-major. f32 uses
// CUBLAS_COMPUTE_32F (true f32, no TF32) so results match the CPU closely; bf16 inputs
// accumulate in f32. One handle and one workspace for the process; the algorithm of each
// shape is chosen once by the heuristic and cached.
#include <cublasLt.h>

#include <map>
#include <tuple>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_ops.h"

namespace sr::cuda {

namespace {

constexpr size_t kWorkspaceBytes = size_t(32) << 20;

struct Gemm {
  bool ta = false, tb = false;  // op(A), op(B) transposed
  int64_t m = 0, n = 0, k = 0;  // D[m,n] = op(A)[m,k] · op(B)[k,n], column-major
  const void* a = nullptr;
  int64_t lda = 0;
  const void* b = nullptr;
  int64_t ldb = 0;
  void* c = nullptr;            // C = D (in place)
  int64_t ldc = 0;
  DType ab = DType::f32, cd = DType::f32;
  float beta = 0.0f;
  const void* bias = nullptr;   // [m] of type cd, added by the epilogue, or null
};

// Largest power of two (≤ 256) dividing the address: the alignment the heuristic may assume.
int alignment(const void* p) {
  const auto v = reinterpret_cast<uintptr_t>(p);
  int a = 1;
  while (a < 256 && v % uintptr_t(a * 2) == 0) a *= 2;
  return a;
}

cudaDataType_t cuda_type(DType t) { return t == DType::bf16 ? CUDA_R_16BF : CUDA_R_32F; }

struct Plan {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulAlgo_t algo{};
};

using PlanKey = std::tuple<bool, bool, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int, int,
                           bool, int, int, int>;

struct Context {
  cublasLtHandle_t handle = nullptr;
  void* workspace = nullptr;
  std::map<PlanKey, Plan> plans;
};

Context& context() {
  static Context ctx = [] {
    Context c;
    SR_CHECK_CUBLAS(cublasLtCreate(&c.handle));
    SR_CHECK_CUDA(cudaMalloc(&c.workspace, kWorkspaceBytes));
    return c;
  }();
  return ctx;
}

const Plan& plan_for(const Gemm& g) {
  Context& ctx = context();
  const PlanKey key{g.ta, g.tb, g.m, g.n, g.k, g.lda, g.ldb, g.ldc, int(g.ab), int(g.cd),
                    g.bias != nullptr, alignment(g.a), alignment(g.b), alignment(g.c)};
  auto it = ctx.plans.find(key);
  if (it != ctx.plans.end()) return it->second;
  Plan p;
  SR_CHECK_CUBLAS(cublasLtMatmulDescCreate(&p.op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t ta = g.ta ? CUBLAS_OP_T : CUBLAS_OP_N, tb = g.tb ? CUBLAS_OP_T : CUBLAS_OP_N;
  SR_CHECK_CUBLAS(cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
  SR_CHECK_CUBLAS(cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
  if (g.bias) {
    const cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_BIAS;
    SR_CHECK_CUBLAS(cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi));
  }
  // Stored shapes: A is op(A)'s transpose when ta.
  SR_CHECK_CUBLAS(cublasLtMatrixLayoutCreate(&p.a, cuda_type(g.ab), g.ta ? g.k : g.m,
                                             g.ta ? g.m : g.k, g.lda));
  SR_CHECK_CUBLAS(cublasLtMatrixLayoutCreate(&p.b, cuda_type(g.ab), g.tb ? g.n : g.k,
                                             g.tb ? g.k : g.n, g.ldb));
  SR_CHECK_CUBLAS(cublasLtMatrixLayoutCreate(&p.c, cuda_type(g.cd), g.m, g.n, g.ldc));
  cublasLtMatmulPreference_t pref = nullptr;
  SR_CHECK_CUBLAS(cublasLtMatmulPreferenceCreate(&pref));
  const size_t ws = kWorkspaceBytes;
  SR_CHECK_CUBLAS(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                       &ws, sizeof ws));
  const uint32_t al[3] = {uint32_t(alignment(g.a)), uint32_t(alignment(g.b)), uint32_t(alignment(g.c))};
  SR_CHECK_CUBLAS(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES,
                                                       &al[0], sizeof al[0]));
  SR_CHECK_CUBLAS(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
                                                       &al[1], sizeof al[1]));
  SR_CHECK_CUBLAS(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES,
                                                       &al[2], sizeof al[2]));
  SR_CHECK_CUBLAS(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES,
                                                       &al[2], sizeof al[2]));
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  SR_CHECK_CUBLAS(cublasLtMatmulAlgoGetHeuristic(ctx.handle, p.op, p.a, p.b, p.c, p.c, pref, 1,
                                                 &result, &found));
  SR_CHECK_CUBLAS(cublasLtMatmulPreferenceDestroy(pref));
  SR_ASSERT(found > 0, "linear: cuBLASLt has no algorithm for m=" + std::to_string(g.m) +
                           " n=" + std::to_string(g.n) + " k=" + std::to_string(g.k) + " " +
                           dtype_name(g.ab) + "->" + dtype_name(g.cd));
  p.algo = result.algo;
  return ctx.plans.emplace(key, p).first->second;
}

void run(const Gemm& g) {
  if (g.m == 0 || g.n == 0) return;
  const Plan& p = plan_for(g);
  if (g.bias)
    SR_CHECK_CUBLAS(cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &g.bias,
                                                   sizeof g.bias));
  const float alpha = 1.0f;
  SR_CHECK_CUBLAS(cublasLtMatmul(context().handle, p.op, &alpha, g.a, p.a, g.b, p.b, &g.beta, g.c,
                                 p.c, g.c, p.c, &p.algo, context().workspace, kWorkspaceBytes,
                                 kStream));
}

// Block of 32×32 threads per 32 columns of dout[T,N]: dbias[n] += Σ_t dout[t,n] in a fixed order.
__global__ void bias_grad_kernel(float* dbias, FloatRef dout, int64_t T, int64_t N) {
  __shared__ float part[32][33];
  const int64_t c = blockIdx.x * 32 + threadIdx.x;
  float acc = 0.0f;
  if (c < N)
    for (int64_t t = threadIdx.y; t < T; t += 32) acc += dout.get(t * N + c);
  part[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && c < N) {
    float s = 0.0f;
    for (int r = 0; r < 32; ++r) s += part[r][threadIdx.x];
    dbias[c] += s;
  }
}

// out[t,n] += bias[n], for a bias whose dtype differs from the output's (no epilogue for it).
__global__ void add_bias_kernel(FloatRef out, FloatRef bias, int64_t T, int64_t N) {
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < T * N;
       e += int64_t(gridDim.x) * blockDim.x)
    out.set(e, out.get(e) + bias.get(e % N));
}

void check_gemm_types(DType ab, DType other, DType cd, const char* op) {
  SR_ASSERT(ab == other, std::string(op) + ": both GEMM inputs must have one dtype, got " +
                             dtype_name(ab) + " and " + dtype_name(other));
  SR_ASSERT((ab == DType::f32 || ab == DType::bf16) && (cd == DType::f32 || cd == ab),
            std::string(op) + ": supported are f32 in/out, and bf16 in with bf16 or f32 out");
}

void check_cuda(const Tensor& t, const char* op) {
  SR_ASSERT(t.device == Device::cuda, std::string(op) + ": expected CUDA tensors");
}

}  // namespace

// out[T,N], x[T,K], weight[N,K], bias[N] or empty
void linear_forward(Tensor out, Tensor x, Tensor weight, Tensor bias) {
  const int64_t T = x.dim(0), K = x.dim(1), N = weight.dim(0);
  SR_ASSERT(weight.dim(1) == K && out.dim(0) == T && out.dim(1) == N, "linear_forward: shapes");
  check_cuda(out, "linear_forward");
  check_cuda(x, "linear_forward");
  check_cuda(weight, "linear_forward");
  check_gemm_types(x.dtype, weight.dtype, out.dtype, "linear_forward");
  const bool epilogue_bias = !bias.empty() && bias.dtype == out.dtype;
  Gemm g;
  g.ta = true;  // outᵀ[N,T] = (W stored [K,N] col-major)ᵀ · (x stored [K,T])
  g.m = N, g.n = T, g.k = K;
  g.a = weight.data, g.lda = K;
  g.b = x.data, g.ldb = K;
  g.c = out.data, g.ldc = N;
  g.ab = x.dtype, g.cd = out.dtype;
  g.bias = epilogue_bias ? bias.data : nullptr;
  run(g);
  if (!bias.empty() && !epilogue_bias && T > 0) {
    add_bias_kernel<<<grid_for(T * N, 256), 256, 0, kStream>>>(
        float_ref(out, "linear_forward"), float_ref(bias, "linear_forward"), T, N);
    SR_CHECK_LAUNCH();
  }
}

// dx[T,K] (= or +=) dout[T,N]·weight[N,K]; dweight[N,K] += doutᵀ·x; dbias[N] += Σ_t dout.
void linear_backward(Tensor dx, Tensor dweight, Tensor dbias, Tensor dout, Tensor x, Tensor weight,
                     bool accumulate_dx) {
  const int64_t T = x.dim(0), K = x.dim(1), N = weight.dim(0);
  SR_ASSERT(weight.dim(1) == K && dout.dim(0) == T && dout.dim(1) == N &&
                dweight.numel() == N * K, "linear_backward: shapes");
  check_cuda(dout, "linear_backward");
  check_cuda(x, "linear_backward");
  check_cuda(weight, "linear_backward");
  check_cuda(dweight, "linear_backward");
  if (T == 0) return;
  if (!dx.empty()) {
    check_cuda(dx, "linear_backward");
    SR_ASSERT(dx.dim(0) == T && dx.numel() == T * K, "linear_backward: dx shape");
    check_gemm_types(dout.dtype, weight.dtype, dx.dtype, "linear_backward (dx)");
    Gemm g;  // dxᵀ[K,T] = (W stored [K,N]) · (dout stored [N,T])
    g.m = K, g.n = T, g.k = N;
    g.a = weight.data, g.lda = K;
    g.b = dout.data, g.ldb = N;
    g.c = dx.data, g.ldc = K;
    g.ab = dout.dtype, g.cd = dx.dtype;
    g.beta = accumulate_dx ? 1.0f : 0.0f;
    run(g);
  }
  check_gemm_types(x.dtype, dout.dtype, dweight.dtype, "linear_backward (dweight)");
  Gemm g;  // dWᵀ[K,N] += (x stored [K,T]) · (dout stored [N,T])ᵀ
  g.tb = true;
  g.m = K, g.n = N, g.k = T;
  g.a = x.data, g.lda = K;
  g.b = dout.data, g.ldb = N;
  g.c = dweight.data, g.ldc = K;
  g.ab = x.dtype, g.cd = dweight.dtype;
  g.beta = 1.0f;
  run(g);
  if (!dbias.empty()) {
    SR_ASSERT(dbias.numel() == N, "linear_backward: dbias shape");
    bias_grad_kernel<<<unsigned((N + 31) / 32), dim3(32, 32), 0, kStream>>>(
        f32_ref(dbias, "linear_backward"), float_ref(dout, "linear_backward"), T, N);
    SR_CHECK_LAUNCH();
  }
}

}  // namespace sr::cuda
