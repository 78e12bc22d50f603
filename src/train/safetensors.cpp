#include "train/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/error.h"
#include "core/json.h"

namespace sr {

namespace {

// The header may not exceed this (the reference implementation's limit).
constexpr uint64_t kMaxHeader = 100ull << 20;

// Bytes per element of every dtype the format names; 0 for a name it does not.
uint64_t dtype_bytes(const std::string& d) {
  static const std::map<std::string, uint64_t> sizes = {
      {"BOOL", 1}, {"U8", 1},  {"I8", 1},   {"F8_E5M2", 1}, {"F8_E4M3", 1}, {"I16", 2},
      {"U16", 2},  {"F16", 2}, {"BF16", 2}, {"I32", 4},     {"U32", 4},     {"F32", 4},
      {"F64", 8},  {"I64", 8}, {"U64", 8}};
  const auto it = sizes.find(d);
  return it == sizes.end() ? 0 : it->second;
}

std::string range_text(uint64_t b, uint64_t e) {
  return "[" + std::to_string(b) + ", " + std::to_string(e) + "]";
}

}  // namespace

int64_t SafetensorsEntry::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path) {
  auto bad = [&](const std::string& why) -> UserError { return UserError(path + ": " + why); };
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw bad(std::string("cannot open: ") + std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    throw bad(std::string("cannot stat: ") + std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw bad("not a regular file");
  }
  size_ = uint64_t(st.st_size);
  if (size_ < 8) {
    ::close(fd);
    throw bad("truncated safetensors file: " + std::to_string(size_) +
              " bytes, fewer than the 8-byte header length");
  }
  map_ = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
  const int err = errno;
  ::close(fd);
  if (map_ == MAP_FAILED) {
    map_ = nullptr;
    throw bad(std::string("cannot map: ") + std::strerror(err));
  }
  try {
    const auto* bytes = static_cast<const unsigned char*>(map_);
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | bytes[i];
    if (n > size_ - 8)
      throw bad("header length " + std::to_string(n) + " runs past the end of the file (" +
                std::to_string(size_) + " bytes): truncated or not a safetensors file");
    if (n > kMaxHeader) throw bad("header length " + std::to_string(n) + " exceeds the 100 MB limit");
    if (n < 2 || bytes[8] != '{') throw bad("the header is not a JSON object");
    data_start_ = 8 + n;
    Json header;
    try {
      header = parse_json(std::string_view(reinterpret_cast<const char*>(bytes + 8), size_t(n)));
    } catch (const JsonError& e) {
      throw bad(std::string("invalid JSON header: ") + e.what());
    }
    if (!header.is_object()) throw bad("the header is not a JSON object");
    const uint64_t data_size = size_ - data_start_;
    for (auto it = header.begin(); it != header.end(); ++it) {
      const std::string& key = it.key();
      const Json& v = it.value();
      if (key == "__metadata__") {
        if (!v.is_object()) throw bad("__metadata__ is " + std::string(json_type_name(v)) + ", not an object");
        for (auto m = v.begin(); m != v.end(); ++m) {
          if (!m.value().is_string())
            throw bad("__metadata__ key '" + m.key() + "' is " + json_type_name(m.value()) + ", not a string");
          metadata_[m.key()] = m.value().get<std::string>();
        }
        continue;
      }
      const std::string where = "tensor '" + key + "': ";
      if (!v.is_object()) throw bad(where + "header entry is " + json_type_name(v) + ", not an object");
      for (auto f = v.begin(); f != v.end(); ++f)
        if (f.key() != "dtype" && f.key() != "shape" && f.key() != "data_offsets")
          throw bad(where + "unknown header field '" + f.key() + "'");
      if (!v.contains("dtype") || !v["dtype"].is_string()) throw bad(where + "missing or non-string dtype");
      if (!v.contains("shape") || !v["shape"].is_array()) throw bad(where + "missing or non-array shape");
      if (!v.contains("data_offsets") || !v["data_offsets"].is_array() || v["data_offsets"].size() != 2 ||
          !v["data_offsets"][0].is_number_unsigned() || !v["data_offsets"][1].is_number_unsigned())
        throw bad(where + "data_offsets must be two non-negative integers");
      SafetensorsEntry e;
      e.name = key;
      e.dtype = v["dtype"].get<std::string>();
      const uint64_t esize = dtype_bytes(e.dtype);
      if (esize == 0) throw bad(where + "unknown dtype '" + e.dtype + "'");
      uint64_t numel = 1;
      for (const Json& d : v["shape"]) {
        if (!d.is_number_unsigned()) throw bad(where + "shape entries must be non-negative integers");
        const uint64_t x = d.get<uint64_t>();
        if (x > (uint64_t(1) << 48) || (x && numel > (uint64_t(1) << 48) / x))
          throw bad(where + "shape is too large");
        numel *= x;
        e.shape.push_back(int64_t(x));
      }
      e.begin = v["data_offsets"][0].get<uint64_t>();
      e.end = v["data_offsets"][1].get<uint64_t>();
      const std::string offsets = "data_offsets " + range_text(e.begin, e.end);
      if (e.end < e.begin) throw bad(where + offsets + " end before they begin");
      if (e.end - e.begin != numel * esize)
        throw bad(where + offsets + " hold " + std::to_string(e.end - e.begin) + " bytes but " +
                  e.dtype + " of that shape needs " + std::to_string(numel * esize));
      if (e.end > data_size)
        throw bad(where + offsets + " run past the end of the data section (" +
                  std::to_string(data_size) + " bytes): truncated file or a header that lies");
      index_[key] = tensors_.size();
      tensors_.push_back(std::move(e));
    }
    // The data section is covered exactly: sorted by offset, each tensor starts where the
    // previous one ended, and the last one ends at the end of the file.
    std::vector<const SafetensorsEntry*> order;
    for (const auto& e : tensors_) order.push_back(&e);
    std::sort(order.begin(), order.end(), [](const SafetensorsEntry* a, const SafetensorsEntry* b) {
      return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
    });
    uint64_t cursor = 0;
    const SafetensorsEntry* prev = nullptr;
    for (const SafetensorsEntry* e : order) {
      if (e->begin < cursor)
        throw bad("tensor '" + e->name + "' data_offsets " + range_text(e->begin, e->end) +
                  " overlap tensor '" + prev->name + "' " + range_text(prev->begin, prev->end));
      if (e->begin > cursor)
        throw bad("bytes " + range_text(cursor, e->begin) + " of the data section belong to no tensor (a gap before '" +
                  e->name + "')");
      cursor = e->end;
      prev = e;
    }
    if (cursor != data_size)
      throw bad("the data section has " + std::to_string(data_size - cursor) +
                " bytes after the last tensor that belong to no tensor");
  } catch (...) {
    ::munmap(map_, size_);
    map_ = nullptr;
    throw;
  }
}

SafetensorsFile::~SafetensorsFile() {
  if (map_) ::munmap(map_, size_);
}

const SafetensorsEntry* SafetensorsFile::find(const std::string& name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

std::vector<float> SafetensorsFile::read_f32(const SafetensorsEntry& e) const {
  const auto* p = static_cast<const unsigned char*>(map_) + data_start_ + e.begin;
  const size_t n = size_t(e.numel());
  std::vector<float> out(n);
  if (e.dtype == "F32") {
    // Little-endian host, as the format. An empty tensor has no buffer: memcpy of a null
    // pointer is undefined even for 0 bytes.
    if (n > 0) std::memcpy(out.data(), p, n * 4);
  } else if (e.dtype == "BF16" || e.dtype == "F16") {
    const bool bf = e.dtype == "BF16";
    for (size_t i = 0; i < n; ++i) {
      const uint16_t h = uint16_t(p[2 * i] | (p[2 * i + 1] << 8));
      out[i] = bf ? bf16_to_f32(h) : f16_to_f32(h);
    }
  } else {
    throw UserError(path_ + ": tensor '" + e.name + "' has dtype " + e.dtype +
                    ", which is not supported for weights (expected BF16, F16 or F32)");
  }
  return out;
}

namespace {

std::string header_text(const std::vector<SafetensorsTensor>& tensors, SafetensorsDType dtype,
                        const std::map<std::string, std::string>& metadata, uint64_t* data_bytes) {
  Json h = Json::object();
  if (!metadata.empty()) {
    Json m = Json::object();
    for (const auto& [k, v] : metadata) m[k] = v;
    h["__metadata__"] = m;
  }
  const uint64_t esize = dtype == SafetensorsDType::bf16 ? 2 : 4;
  uint64_t offset = 0;
  for (const SafetensorsTensor& t : tensors) {
    uint64_t n = 1;
    Json shape = Json::array();
    for (int64_t d : t.shape) {
      n *= uint64_t(d);
      shape.push_back(d);
    }
    Json e = Json::object();
    e["dtype"] = dtype == SafetensorsDType::bf16 ? "BF16" : "F32";
    e["shape"] = shape;
    e["data_offsets"] = Json::array({offset, offset + n * esize});
    h[t.name] = e;
    offset += n * esize;
  }
  std::string text = h.dump();
  while ((8 + text.size()) % 8 != 0) text.push_back(' ');
  if (data_bytes) *data_bytes = offset;
  return text;
}

}  // namespace

uint64_t safetensors_file_size(const std::vector<SafetensorsTensor>& tensors, SafetensorsDType dtype,
                               const std::map<std::string, std::string>& metadata) {
  uint64_t data = 0;
  const std::string header = header_text(tensors, dtype, metadata, &data);
  return 8 + header.size() + data;
}

void write_safetensors(const std::string& path, const std::vector<SafetensorsTensor>& tensors,
                       SafetensorsDType dtype, const std::map<std::string, std::string>& metadata) {
  const std::string header = header_text(tensors, dtype, metadata, nullptr);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw UserError(path + ": cannot create: " + std::strerror(errno));
  auto put = [&](const void* data, size_t bytes) {
    const char* p = static_cast<const char*>(data);
    while (bytes > 0) {
      const ssize_t w = ::write(fd, p, bytes);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        const int err = w < 0 ? errno : EIO;
        ::close(fd);
        throw UserError(path + ": cannot write: " + std::strerror(err));
      }
      p += w;
      bytes -= size_t(w);
    }
  };
  unsigned char len[8];
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) len[i] = (unsigned char)(n >> (8 * i));
  put(len, 8);
  put(header.data(), header.size());
  std::vector<uint16_t> buf;
  for (const SafetensorsTensor& t : tensors) {
    int64_t numel = 1;
    for (int64_t d : t.shape) numel *= d;
    if (dtype == SafetensorsDType::f32) {
      put(t.data, size_t(numel) * 4);
      continue;
    }
    constexpr int64_t kChunk = 1 << 20;
    for (int64_t b = 0; b < numel; b += kChunk) {
      const int64_t m = std::min(kChunk, numel - b);
      buf.resize(size_t(m));
      for (int64_t i = 0; i < m; ++i) buf[size_t(i)] = f32_to_bf16(t.data[b + i]);
      put(buf.data(), size_t(m) * 2);
    }
  }
  if (::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    throw UserError(path + ": cannot sync: " + std::strerror(err));
  }
  if (::close(fd) != 0) throw UserError(path + ": cannot close: " + std::strerror(errno));
}

}  // namespace sr
