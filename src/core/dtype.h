// Element types and devices a Tensor can describe.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace sr {

enum class DType : uint8_t { f32, bf16, i32, u32, u8, u64 };
enum class Device : uint8_t { cpu, cuda };

inline size_t dtype_size(DType t) {
  switch (t) {
    case DType::f32: return 4;
    case DType::bf16: return 2;
    case DType::i32: return 4;
    case DType::u32: return 4;
    case DType::u8: return 1;
    case DType::u64: return 8;
  }
  return 0;
}

inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "f32";
    case DType::bf16: return "bf16";
    case DType::i32: return "i32";
    case DType::u32: return "u32";
    case DType::u8: return "u8";
    case DType::u64: return "u64";
  }
  return "?";
}

inline const char* device_name(Device d) { return d == Device::cpu ? "cpu" : "cuda"; }

}  // namespace sr
