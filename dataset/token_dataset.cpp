#include "dataset/token_dataset.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "core/hdf5.h"
#include "dataset/tokenizer.h"

namespace sr {

namespace {

// 16 Ki elements per chunk: 64 KiB of tokens. Reading one sample in a shuffled order
// decompresses little beyond the sample (2.5x faster than 64 Ki chunks on 4k-8k token samples,
// 8% slower in file order, same file size), and the chunk index stays small.
constexpr hsize_t kChunkElems = hsize_t(1) << 14;
// The writer appends to the file in blocks of this many tokens.
constexpr size_t kWriteBlock = size_t(1) << 20;
// Reader's chunk cache per dataset: sequential reads reuse a decompressed chunk.
constexpr size_t kChunkCacheBytes = size_t(8) << 20;

h5::Handle create_extendible(hid_t file, const char* name, hid_t file_type, bool compress) {
  h5::Handle space = h5::simple_space({0}, {H5S_UNLIMITED});
  h5::Handle dcpl = h5::create_plist(H5P_DATASET_CREATE);
  SR_CHECK_H5(H5Pset_chunk(dcpl.id(), 1, &kChunkElems));
  if (compress) {
    SR_CHECK_H5(H5Pset_shuffle(dcpl.id()));
    SR_CHECK_H5(H5Pset_deflate(dcpl.id(), 1));  // level 1: most of the gain, fast to write
  }
  return h5::Handle(SR_CHECK_H5(H5Dcreate2(file, name, file_type, space.id(), H5P_DEFAULT,
                                           dcpl.id(), H5P_DEFAULT)),
                    H5Dclose);
}

// Appends n elements of `mem_type` at element `at` of a 1-D extendible dataset.
void append(hid_t dset, hid_t mem_type, const void* data, hsize_t at, hsize_t n) {
  hsize_t size = at + n;
  SR_CHECK_H5(H5Dset_extent(dset, &size));
  h5::Handle fspace = h5::dataset_space(dset);
  SR_CHECK_H5(H5Sselect_hyperslab(fspace.id(), H5S_SELECT_SET, &at, nullptr, &n, nullptr));
  h5::Handle mspace = h5::simple_space({n});
  SR_CHECK_H5(H5Dwrite(dset, mem_type, mspace.id(), fspace.id(), H5P_DEFAULT, data));
}

// Reads elements [first, first + n) of a 1-D dataset from a user's file.
void read_slab(hid_t dset, hid_t mem_type, void* out, hsize_t first, hsize_t n,
               const std::string& path, const char* name) {
  h5::Handle fspace = h5::dataset_space(dset);
  SR_CHECK_H5(H5Sselect_hyperslab(fspace.id(), H5S_SELECT_SET, &first, nullptr, &n, nullptr));
  h5::Handle mspace = h5::simple_space({n});
  h5::user_check(H5Dread(dset, mem_type, mspace.id(), fspace.id(), H5P_DEFAULT, out), path,
                 std::string("cannot read ") + name + " (damaged file?)");
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Writer

struct TokenDatasetWriter::Impl {
  std::string path, tmp_path;
  uint32_t vocab_size = 0;
  bool compress = true;
  bool closed = false;
  h5::Handle file, tokens, mask;
  std::vector<uint32_t> token_buf;  // [<= kWriteBlock] not yet in the file
  std::vector<uint8_t> mask_buf;    // [<= kWriteBlock]
  std::vector<uint64_t> offsets{0};  // [n_samples + 1]
  uint64_t flushed = 0;              // tokens already in the file

  void flush() {
    if (token_buf.empty()) return;
    append(tokens.id(), H5T_NATIVE_UINT32, token_buf.data(), flushed, token_buf.size());
    append(mask.id(), H5T_NATIVE_UINT8, mask_buf.data(), flushed, mask_buf.size());
    flushed += token_buf.size();
    token_buf.clear();
    mask_buf.clear();
  }
};

TokenDatasetWriter::TokenDatasetWriter(const std::string& path, uint32_t vocab_size,
                                       const std::string& tokenizer, bool compress)
    : TokenDatasetWriter(path, vocab_size, tokenizer,
                         tokenizer == ByteTokenizer::name() ? ByteTokenizer::specials()
                                                            : std::vector<std::pair<std::string, uint32_t>>(),
                         compress) {}

TokenDatasetWriter::TokenDatasetWriter(const std::string& path, const Tokenizer& tokenizer,
                                       bool compress)
    : TokenDatasetWriter(path, tokenizer.vocab_size(), tokenizer.name(), tokenizer.specials(),
                         compress) {}

TokenDatasetWriter::TokenDatasetWriter(const std::string& path, uint32_t vocab_size,
                                       const std::string& tokenizer,
                                       const std::vector<std::pair<std::string, uint32_t>>& specials,
                                       bool compress)
    : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.path = path;
  m.tmp_path = path + ".tmp";
  m.vocab_size = vocab_size;
  m.compress = compress;
  m.file = h5::create_file(m.tmp_path);
  register_temporary(m.tmp_path);  // removed on a signal or fatal error before close()
  try {
    m.tokens = create_extendible(m.file.id(), "tokens", H5T_STD_U32LE, compress);
    m.mask = create_extendible(m.file.id(), "loss_mask", H5T_STD_U8LE, compress);
    h5::write_attr(m.file.id(), "format", std::string(kTokenFormat));
    h5::write_attr(m.file.id(), "version", int64_t(kTokenFormatVersion));
    h5::write_attr(m.file.id(), "vocab_size", vocab_size);
    h5::write_attr(m.file.id(), "tokenizer", tokenizer);
    for (const auto& [name, id] : specials)
      if (id < vocab_size) h5::write_attr(m.file.id(), kSpecialTokenAttrPrefix + name, id);
  } catch (...) {
    // No destructor runs for a constructor that throws: the temporary goes here.
    m.tokens.reset();
    m.mask.reset();
    m.file.reset();
    std::remove(m.tmp_path.c_str());
    unregister_temporary(m.tmp_path);
    throw;
  }
}

TokenDatasetWriter::~TokenDatasetWriter() {
  if (impl_->closed) return;
  impl_->tokens.reset();
  impl_->mask.reset();
  impl_->file.reset();
  std::remove(impl_->tmp_path.c_str());
  unregister_temporary(impl_->tmp_path);
}

void TokenDatasetWriter::set_attribute(const std::string& key, const std::string& value) {
  SR_ASSERT(!impl_->closed, "set_attribute after close()");
  h5::write_attr(impl_->file.id(), key, value);
}

void TokenDatasetWriter::add_sample(const std::vector<uint32_t>& tokens,
                                    const std::vector<uint8_t>& loss_mask) {
  Impl& m = *impl_;
  SR_ASSERT(!m.closed, "add_sample after close()");
  const uint64_t index = num_samples();
  const std::string where = m.path + ": sample " + std::to_string(index);
  if (tokens.empty()) throw UserError(where + " is empty");
  if (loss_mask.size() != tokens.size())
    throw UserError(where + " has " + std::to_string(tokens.size()) + " tokens but " +
                    std::to_string(loss_mask.size()) + " loss-mask entries");
  for (size_t t = 0; t < tokens.size(); ++t)
    if (tokens[t] >= m.vocab_size)
      throw UserError(where + " has token id " + std::to_string(tokens[t]) + " at position " +
                      std::to_string(t) + ", outside vocab_size " + std::to_string(m.vocab_size));
  m.token_buf.insert(m.token_buf.end(), tokens.begin(), tokens.end());
  m.mask_buf.insert(m.mask_buf.end(), loss_mask.begin(), loss_mask.end());
  m.offsets.push_back(m.offsets.back() + tokens.size());
  if (m.token_buf.size() >= kWriteBlock) m.flush();
}

void TokenDatasetWriter::close() {
  Impl& m = *impl_;
  SR_ASSERT(!m.closed, "close() called twice");
  m.flush();
  {
    h5::Handle space = h5::simple_space({hsize_t(m.offsets.size())});
    h5::Handle dcpl = h5::create_plist(H5P_DATASET_CREATE);
    if (m.compress) {
      hsize_t chunk = std::min<hsize_t>(m.offsets.size(), kChunkElems);
      SR_CHECK_H5(H5Pset_chunk(dcpl.id(), 1, &chunk));
      SR_CHECK_H5(H5Pset_shuffle(dcpl.id()));
      SR_CHECK_H5(H5Pset_deflate(dcpl.id(), 1));
    }
    h5::Handle offsets(SR_CHECK_H5(H5Dcreate2(m.file.id(), "offsets", H5T_STD_U64LE, space.id(),
                                              H5P_DEFAULT, dcpl.id(), H5P_DEFAULT)),
                       H5Dclose);
    SR_CHECK_H5(H5Dwrite(offsets.id(), H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                         m.offsets.data()));
  }
  m.tokens.reset();
  m.mask.reset();
  SR_CHECK_H5(H5Fflush(m.file.id(), H5F_SCOPE_LOCAL));
  m.file.reset();
  // On disk before it takes the real name: a crash leaves either the old file or the new one.
  int fd = ::open(m.tmp_path.c_str(), O_RDONLY);
  SR_CHECK_SYS(fd, "open " + m.tmp_path);
  SR_CHECK_SYS(::fsync(fd), "fsync " + m.tmp_path);
  ::close(fd);
  SR_CHECK_SYS(std::rename(m.tmp_path.c_str(), m.path.c_str()), "rename to " + m.path);
  unregister_temporary(m.tmp_path);
  m.closed = true;
}

uint64_t TokenDatasetWriter::num_samples() const { return impl_->offsets.size() - 1; }
uint64_t TokenDatasetWriter::num_tokens() const { return impl_->offsets.back(); }

// ---------------------------------------------------------------------------------------------
// Reader

struct TokenDataset::Impl {
  std::string path;
  h5::Handle file, tokens, mask;
  std::vector<uint64_t> offsets;  // [n_samples + 1]
  uint32_t vocab_size = 0;
  std::map<std::string, std::string> attributes;
  int fd = -1;             // the file as HDF5 opened it (sec2 driver), for its size
  int64_t file_bytes = -1; // at open

  [[noreturn]] void fail(const std::string& what) const { throw UserError(path + ": " + what); }

  // HDF5 reads a file cut short in place as zeros (no error), so a dataset truncated or
  // rewritten during a run would be trained on silently: its size must not change.
  int64_t current_bytes() const {
    struct stat st;
    return fd >= 0 && ::fstat(fd, &st) == 0 ? int64_t(st.st_size) : -1;
  }
  void check_unchanged() const {
    if (fd < 0) return;
    const int64_t now = current_bytes();
    if (now != file_bytes)
      fail("the file changed size from " + std::to_string(file_bytes) + " to " +
           std::to_string(now) + " bytes while it was being read (truncated or rewritten in " +
           "place?): a dataset must not change during a run");
  }

  // Opens /name, checks it is 1-D of the expected integer type, returns it and its length.
  h5::Handle open_1d(const char* name, size_t bytes, bool is_signed, hsize_t& length) const {
    if (!h5::exists(file.id(), name, path)) fail(std::string("missing dataset /") + name);
    h5::Handle dapl = h5::create_plist(H5P_DATASET_ACCESS);
    SR_CHECK_H5(H5Pset_chunk_cache(dapl.id(), 521, kChunkCacheBytes, H5D_CHUNK_CACHE_W0_DEFAULT));
    h5::Handle d = h5::open_dataset(file.id(), name, path, dapl.id());
    h5::Handle type = h5::dataset_type(d.id());
    bool ok = H5Tget_class(type.id()) == H5T_INTEGER && H5Tget_size(type.id()) == bytes &&
              (H5Tget_sign(type.id()) != H5T_SGN_NONE) == is_signed;
    if (!ok)
      fail(std::string("/") + name + " has type " + h5::type_name(type.id()) + ", expected " +
           (is_signed ? "int" : "uint") + std::to_string(bytes * 8));
    h5::Handle space = h5::dataset_space(d.id());
    if (H5Sget_simple_extent_ndims(space.id()) != 1)
      fail(std::string("/") + name + " must be one-dimensional");
    SR_CHECK_H5(H5Sget_simple_extent_dims(space.id(), &length, nullptr));
    return d;
  }

  void check_ids(uint64_t first, const std::vector<uint32_t>& ids) const {
    for (size_t t = 0; t < ids.size(); ++t) {
      if (ids[t] < vocab_size) continue;
      uint64_t pos = first + t;
      uint64_t sample = uint64_t(std::upper_bound(offsets.begin(), offsets.end(), pos) -
                                 offsets.begin()) - 1;
      fail("sample " + std::to_string(sample) + " has token id " + std::to_string(ids[t]) +
           " at position " + std::to_string(pos - offsets[sample]) + ", outside vocab_size " +
           std::to_string(vocab_size));
    }
  }
};

TokenDataset::TokenDataset(const std::string& path) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.path = path;
  m.file = h5::open_file_read(path);
  const hid_t root = m.file.id();
  {
    void* handle = nullptr;
    hid_t driver = H5Fget_access_plist(root);
    if (driver >= 0) {
      if (H5Pget_driver(driver) == H5FD_SEC2 && H5Fget_vfd_handle(root, H5P_DEFAULT, &handle) >= 0 && handle)
        m.fd = *static_cast<int*>(handle);
      H5Pclose(driver);
    }
    m.file_bytes = m.current_bytes();
  }

  for (const std::string& name : h5::attr_names(root, path))
    m.attributes[name] = h5::attr_as_string(root, name, path).value_or("");
  auto format = m.attributes.find("format");
  if (format == m.attributes.end())
    m.fail("missing attribute 'format' (not a smoothread token dataset)");
  if (format->second != kTokenFormat)
    m.fail("attribute format is '" + format->second + "', expected '" + kTokenFormat + "'");
  std::optional<int64_t> version = h5::attr_as_int(root, "version", path);
  if (!version) m.fail("missing attribute 'version'");
  if (*version < 1 || *version > kTokenFormatVersion)
    m.fail("format version " + std::to_string(*version) + " is not supported (this smoothread " +
           "reads version " + std::to_string(kTokenFormatVersion) + ")");
  std::optional<int64_t> vocab = h5::attr_as_int(root, "vocab_size", path);
  if (!vocab) m.fail("missing attribute 'vocab_size'");
  if (*vocab <= 0 || *vocab > int64_t(UINT32_MAX))
    m.fail("attribute vocab_size is " + std::to_string(*vocab) + ", expected 1.." +
           std::to_string(UINT32_MAX));
  m.vocab_size = uint32_t(*vocab);

  hsize_t n_tokens = 0, n_mask = 0, n_offsets = 0;
  m.tokens = m.open_1d("tokens", 4, false, n_tokens);
  m.mask = m.open_1d("loss_mask", 1, false, n_mask);
  h5::Handle offsets = m.open_1d("offsets", 8, false, n_offsets);
  if (n_mask != n_tokens)
    m.fail("/loss_mask has " + std::to_string(n_mask) + " entries but /tokens has " +
           std::to_string(n_tokens));
  if (n_offsets == 0) m.fail("/offsets is empty, expected n_samples + 1 entries starting at 0");
  m.offsets.resize(n_offsets);
  read_slab(offsets.id(), H5T_NATIVE_UINT64, m.offsets.data(), 0, n_offsets, path, "/offsets");
  if (m.offsets[0] != 0) m.fail("/offsets[0] is " + std::to_string(m.offsets[0]) + ", expected 0");
  for (size_t i = 0; i + 1 < m.offsets.size(); ++i)
    if (m.offsets[i + 1] <= m.offsets[i])
      m.fail("/offsets must increase: offsets[" + std::to_string(i) + "] = " +
             std::to_string(m.offsets[i]) + ", offsets[" + std::to_string(i + 1) + "] = " +
             std::to_string(m.offsets[i + 1]) + " (sample " + std::to_string(i) +
             " would be empty or negative)");
  if (m.offsets.back() != n_tokens)
    m.fail("/offsets ends at " + std::to_string(m.offsets.back()) + " but /tokens has " +
           std::to_string(n_tokens) + " tokens");
}

TokenDataset::~TokenDataset() = default;
TokenDataset::TokenDataset(TokenDataset&&) noexcept = default;

const std::string& TokenDataset::path() const { return impl_->path; }
uint64_t TokenDataset::num_samples() const { return impl_->offsets.size() - 1; }
uint64_t TokenDataset::num_tokens() const { return impl_->offsets.back(); }
uint32_t TokenDataset::vocab_size() const { return impl_->vocab_size; }

std::string TokenDataset::tokenizer() const {
  auto it = impl_->attributes.find("tokenizer");
  return it == impl_->attributes.end() ? std::string() : it->second;
}

std::map<std::string, std::string> TokenDataset::attributes() const { return impl_->attributes; }
const std::vector<uint64_t>& TokenDataset::offsets() const { return impl_->offsets; }

uint64_t TokenDataset::sample_length(uint64_t i) const {
  SR_ASSERT(i < num_samples(), "sample index out of range");
  return impl_->offsets[i + 1] - impl_->offsets[i];
}

void TokenDataset::read_sample(uint64_t i, std::vector<uint32_t>& tokens,
                               std::vector<uint8_t>& loss_mask) const {
  SR_ASSERT(i < num_samples(), "sample index out of range");
  read_range(impl_->offsets[i], sample_length(i), tokens, loss_mask);
}

void TokenDataset::read_range(uint64_t first, uint64_t count, std::vector<uint32_t>& tokens,
                              std::vector<uint8_t>& loss_mask) const {
  const Impl& m = *impl_;
  SR_ASSERT(first + count <= num_tokens(), "token range out of range");
  tokens.resize(count);
  loss_mask.resize(count);
  if (count == 0) return;
  read_slab(m.tokens.id(), H5T_NATIVE_UINT32, tokens.data(), first, count, m.path, "/tokens");
  read_slab(m.mask.id(), H5T_NATIVE_UINT8, loss_mask.data(), first, count, m.path, "/loss_mask");
  m.check_unchanged();
  m.check_ids(first, tokens);
}

}  // namespace sr
