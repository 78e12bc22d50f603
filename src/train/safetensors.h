// safetensors files (Hugging Face's weight format): an 8-byte little-endian header length N,
// N bytes of JSON header ({"name": {"dtype", "shape", "data_offsets": [begin, end]}, ...,
// optionally "__metadata__": {string: string}}), then the data section, which the tensors'
// byte ranges (relative to its start) must cover exactly: no gap, no overlap, nothing after.
// Reading maps the file (mmap) and checks all of that before any tensor is used; BF16, F16
// and F32 tensors read as f32. Writing stores BF16 or F32 data with the header padded by
// spaces to a multiple of 8 bytes, as the format allows.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/half.h"  // the bf16/f16 conversions the files use

namespace sr {

struct SafetensorsEntry {
  std::string name;
  std::string dtype;            // as in the header: "BF16", "F32", "I64", ...
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // byte range inside the data section
  int64_t numel() const;
};

class SafetensorsFile {
 public:
  // Maps and checks the file; a UserError naming the path and what is wrong otherwise.
  explicit SafetensorsFile(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  const std::vector<SafetensorsEntry>& tensors() const { return tensors_; }  // header order
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const SafetensorsEntry* find(const std::string& name) const;  // nullptr when absent
  // The tensor's values as f32 (BF16 and F16 widened exactly); UserError for other dtypes.
  std::vector<float> read_f32(const SafetensorsEntry& e) const;

 private:
  std::string path_;
  void* map_ = nullptr;
  uint64_t size_ = 0;
  uint64_t data_start_ = 0;  // 8 + header length
  std::vector<SafetensorsEntry> tensors_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
};

enum class SafetensorsDType { f32, bf16 };

struct SafetensorsTensor {
  std::string name;
  std::vector<int64_t> shape;
  const float* data = nullptr;  // numel(shape) values
};

// The size in bytes of the file write_safetensors would write.
uint64_t safetensors_file_size(const std::vector<SafetensorsTensor>& tensors, SafetensorsDType dtype,
                               const std::map<std::string, std::string>& metadata);

// Writes `path` (created or truncated; every write checked, fsynced): the tensors in the
// given order, converted to dtype (bf16: round to nearest even; NaN stays NaN).
void write_safetensors(const std::string& path, const std::vector<SafetensorsTensor>& tensors,
                       SafetensorsDType dtype, const std::map<std::string, std::string>& metadata);

}  // namespace sr
