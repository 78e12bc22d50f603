#include "train/run_config.h"

#include "core/error.h"
#include "model/transformer.h"
#include "train/optimizer.h"

namespace sr {

Precision parse_precision(const std::string& s) {
  if (s == "auto") return Precision::automatic;
  if (s == "f32") return Precision::f32;
  if (s == "bf16") return Precision::bf16;
  throw UserError("train.precision = " + s + ": expected auto, f32 or bf16");
}

const char* precision_name(Precision p) {
  return p == Precision::automatic ? "auto" : p == Precision::f32 ? "f32" : "bf16";
}

Device parse_device(const std::string& s) {
  if (s == "cpu") return Device::cpu;
  if (s == "cuda") return Device::cuda;
  throw UserError("parallel.device = " + s + ": expected cpu or cuda");
}

RunShape run_shape(const RunConfig& c) {
  RunShape shape;
  shape.max_tokens = c.micro_batch_tokens;
  shape.lm_head_chunk = c.lm_head_chunk;
  shape.recompute = c.recompute;
  shape.device = c.device;
  shape.compute = computes_in_bf16(c) ? DType::bf16 : DType::f32;
  shape.attention = {c.cudnn_attention, c.deterministic};
  return shape;
}

AdamWConfig adamw_config(const RunConfig& c) {
  AdamWConfig oc;
  oc.beta1 = float(c.beta1);
  oc.beta2 = float(c.beta2);
  oc.eps = float(c.adam_eps);
  oc.weight_decay = float(c.weight_decay);
  return oc;
}

}  // namespace sr
