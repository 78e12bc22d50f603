// cuDNN's fused flash attention for the attention ops (only in builds with cuDNN). Each call
// returns false, having done nothing, where cuDNN does not take the case (f32 tensors, a head
// dim it lacks, a graph it cannot build); the caller then runs smoothread's own kernels.
#pragma once
#include "core/tensor.h"

namespace sr::cuda {

// The contracts of ops::attention_forward / ops::attention_backward (lse[nh,T] in both).
bool cudnn_attention_forward(Tensor out, Tensor lse, Tensor q, Tensor k, Tensor v, Tensor cu_seqlens,
                             int window);
// deterministic: cuDNN's bitwise-reproducible backward algorithm.
bool cudnn_attention_backward(Tensor dq, Tensor dk, Tensor dv, Tensor dout, Tensor out, Tensor lse,
                              Tensor q, Tensor k, Tensor v, Tensor cu_seqlens, int window,
                              bool deterministic);

}  // namespace sr::cuda
