// Host conversions between f32 and the 16-bit float formats (bf16, f16) as bit patterns: for
// files (safetensors) and for filling or reading device bf16 buffers from the host.
#pragma once
#include <cstdint>

namespace sr {

// bf16/f16 bit patterns to f32 (exact) and f32 to bf16 (round to nearest even; NaN stays NaN).
float bf16_to_f32(uint16_t h);
float f16_to_f32(uint16_t h);
uint16_t f32_to_bf16(float f);

}  // namespace sr
