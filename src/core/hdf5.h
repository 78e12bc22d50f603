// A thin RAII layer over the HDF5 C API (numbered calls such as H5Dcreate2, H5Acreate2).
//
// Two ways a call can fail:
// - SR_CHECK_H5(call): an internal failure (creating a memory dataspace, writing our own file);
//   aborts every rank through sr::fatal with the call, file:line and HDF5's innermost message.
// - h5::user_check(call, path, what): a failure on a file the user gave us (missing, not HDF5,
//   truncated, damaged); throws sr::UserError "path: what (HDF5's message)".
// HDF5's own error-stack printing is switched off (h5::init), so nothing else reaches stderr.
#pragma once
#include <hdf5.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"

// The loader reads in a background thread while other code may write checkpoints.
#if !defined(H5_HAVE_THREADSAFE)
#error "smoothread needs a thread-safe HDF5 build (Debian's libhdf5-dev is one)"
#endif

namespace sr::h5 {

// Turns HDF5's automatic error printing off for the calling thread (HDF5 keeps it per thread);
// called by every function that opens a file, by SR_CHECK_H5, and by threads that read.
void init();
// HDF5's innermost error message of the current thread's stack ("" if none).
std::string last_error();

template <class T>
T check(T result, const char* call, const char* file, int line) {
  if (result < 0) ::sr::fatal(call, file, line, "HDF5 call failed: " + last_error(),
                              "check free disk space and the file's permissions");
  return result;
}

template <class T>
T user_check(T result, const std::string& path, const std::string& what) {
  if (result < 0) {
    std::string detail = last_error();
    throw UserError(path + ": " + what + (detail.empty() ? "" : " (" + detail + ")"));
  }
  return result;
}

// Owns one HDF5 identifier and closes it with the matching H5*close.
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle() = default;
  Handle(hid_t id, Closer closer) : id_(id), closer_(closer) {}
  Handle(Handle&& o) noexcept : id_(o.id_), closer_(o.closer_) { o.id_ = H5I_INVALID_HID; }
  Handle& operator=(Handle&& o) noexcept;
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() { reset(); }

  hid_t id() const { return id_; }
  explicit operator bool() const { return id_ >= 0; }
  void reset();  // closes now

 private:
  hid_t id_ = H5I_INVALID_HID;
  Closer closer_ = nullptr;
};

// Files. create_file replaces an existing file; a failure is a UserError naming the path.
Handle create_file(const std::string& path);
// Read-only open; UserError for a missing file, a file that is not HDF5, or a damaged one.
Handle open_file_read(const std::string& path);

// Objects, property lists, dataspaces and types (each checked with SR_CHECK_H5).
Handle open_dataset(hid_t loc, const char* name, const std::string& path, hid_t dapl = H5P_DEFAULT);
Handle create_plist(hid_t cls);
Handle dataset_space(hid_t dataset);
Handle dataset_type(hid_t dataset);
Handle simple_space(const std::vector<hsize_t>& dims, const std::vector<hsize_t>& maxdims = {});
Handle scalar_space();
Handle utf8_string_type();  // variable-length UTF-8 (h5py reads it as str)

// True if `name` is a link in `loc` (a UserError if the file's structure cannot be read).
bool exists(hid_t loc, const char* name, const std::string& path);

// Attributes on a file, group or dataset; writing replaces an existing one of the same name.
void write_attr(hid_t obj, const std::string& name, const std::string& value);
void write_attr(hid_t obj, const std::string& name, int64_t value);
void write_attr(hid_t obj, const std::string& name, uint32_t value);
std::vector<std::string> attr_names(hid_t obj, const std::string& path);
// Any scalar or 1-D attribute as text: strings as they are, numbers printed, arrays as
// "[a, b]"; nullopt if missing.
std::optional<std::string> attr_as_string(hid_t obj, const std::string& name,
                                          const std::string& path);
// An integer attribute; nullopt if missing; UserError if present but not a scalar integer.
std::optional<int64_t> attr_as_int(hid_t obj, const std::string& name, const std::string& path);

// "uint32", "int64", "float32", "string", ... for messages about a dataset's type.
std::string type_name(hid_t type);

}  // namespace sr::h5

#define SR_CHECK_H5(call) ::sr::h5::check((::sr::h5::init(), (call)), #call, __FILE__, __LINE__)
