#include "core/hdf5.h"

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>

namespace sr::h5 {

void init() {
  // HDF5's error-stack settings are per thread in a thread-safe build: every thread that calls
  // HDF5 (the loader's prefetch thread too) turns the printing off for itself.
  thread_local bool done = false;
  if (!done) {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    done = true;
  }
}

std::string last_error() {
  std::string out;
  // Walking upward starts at the function that detected the problem: the most specific message.
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_UPWARD,
      [](unsigned n, const H5E_error2_t* e, void* data) -> herr_t {
        if (n == 0 && e->desc) *static_cast<std::string*>(data) = e->desc;
        return 0;
      },
      &out);
  return out;
}

Handle& Handle::operator=(Handle&& o) noexcept {
  if (this != &o) {
    reset();
    id_ = o.id_;
    closer_ = o.closer_;
    o.id_ = H5I_INVALID_HID;
  }
  return *this;
}

void Handle::reset() {
  if (id_ >= 0 && closer_) closer_(id_);
  id_ = H5I_INVALID_HID;
}

Handle create_file(const std::string& path) {
  init();
  hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  user_check(f, path, "cannot create the file (does the directory exist and is it writable?)");
  return Handle(f, H5Fclose);
}

Handle open_file_read(const std::string& path) {
  init();
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(path, ec)) throw UserError(path + ": no such file");
  if (fs::is_directory(path, ec)) throw UserError(path + ": is a directory, expected an HDF5 file");
  htri_t is_h5 = user_check(H5Fis_hdf5(path.c_str()), path, "cannot read the file");
  if (is_h5 == 0) throw UserError(path + ": not an HDF5 file");
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  user_check(f, path, "damaged HDF5 file");
  return Handle(f, H5Fclose);
}

Handle open_dataset(hid_t loc, const char* name, const std::string& path, hid_t dapl) {
  hid_t d = H5Dopen2(loc, name, dapl);
  user_check(d, path, std::string("cannot open dataset ") + name);
  return Handle(d, H5Dclose);
}

Handle create_plist(hid_t cls) { return Handle(SR_CHECK_H5(H5Pcreate(cls)), H5Pclose); }
Handle dataset_space(hid_t dataset) { return Handle(SR_CHECK_H5(H5Dget_space(dataset)), H5Sclose); }
Handle dataset_type(hid_t dataset) { return Handle(SR_CHECK_H5(H5Dget_type(dataset)), H5Tclose); }

Handle simple_space(const std::vector<hsize_t>& dims, const std::vector<hsize_t>& maxdims) {
  hid_t s = H5Screate_simple(int(dims.size()), dims.data(),
                             maxdims.empty() ? nullptr : maxdims.data());
  return Handle(SR_CHECK_H5(s), H5Sclose);
}

Handle scalar_space() { return Handle(SR_CHECK_H5(H5Screate(H5S_SCALAR)), H5Sclose); }

Handle utf8_string_type() {
  Handle t(SR_CHECK_H5(H5Tcopy(H5T_C_S1)), H5Tclose);
  SR_CHECK_H5(H5Tset_size(t.id(), H5T_VARIABLE));
  SR_CHECK_H5(H5Tset_cset(t.id(), H5T_CSET_UTF8));
  return t;
}

bool exists(hid_t loc, const char* name, const std::string& path) {
  htri_t r = H5Lexists(loc, name, H5P_DEFAULT);
  return user_check(r, path, std::string("cannot look up ") + name) > 0;
}

namespace {

// Creates attribute `name` (replacing an old one) of `file_type` and writes `mem` into it.
void write_scalar_attr(hid_t obj, const std::string& name, hid_t file_type, hid_t mem_type,
                       const void* value) {
  if (SR_CHECK_H5(H5Aexists(obj, name.c_str())) > 0) SR_CHECK_H5(H5Adelete(obj, name.c_str()));
  Handle space = scalar_space();
  Handle a(SR_CHECK_H5(H5Acreate2(obj, name.c_str(), file_type, space.id(), H5P_DEFAULT,
                                  H5P_DEFAULT)),
           H5Aclose);
  SR_CHECK_H5(H5Awrite(a.id(), mem_type, value));
}

std::string join_list(const std::vector<std::string>& items, bool scalar) {
  if (scalar && items.size() == 1) return items[0];
  std::string s = "[";
  for (size_t i = 0; i < items.size(); ++i) s += (i ? ", " : "") + items[i];
  return s + "]";
}

}  // namespace

void write_attr(hid_t obj, const std::string& name, const std::string& value) {
  Handle t = utf8_string_type();
  const char* p = value.c_str();
  write_scalar_attr(obj, name, t.id(), t.id(), &p);
}

void write_attr(hid_t obj, const std::string& name, int64_t value) {
  write_scalar_attr(obj, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &value);
}

void write_attr(hid_t obj, const std::string& name, uint32_t value) {
  write_scalar_attr(obj, name, H5T_STD_U32LE, H5T_NATIVE_UINT32, &value);
}

std::vector<std::string> attr_names(hid_t obj, const std::string& path) {
  std::vector<std::string> names;
  hsize_t idx = 0;
  herr_t r = H5Aiterate2(
      obj, H5_INDEX_NAME, H5_ITER_INC, &idx,
      [](hid_t, const char* name, const H5A_info_t*, void* data) -> herr_t {
        static_cast<std::vector<std::string>*>(data)->push_back(name);
        return 0;
      },
      &names);
  user_check(r, path, "cannot list attributes");
  return names;
}

std::optional<std::string> attr_as_string(hid_t obj, const std::string& name,
                                          const std::string& path) {
  const std::string what = "cannot read attribute '" + name + "'";
  if (user_check(H5Aexists(obj, name.c_str()), path, what) == 0) return std::nullopt;
  Handle a(user_check(H5Aopen(obj, name.c_str(), H5P_DEFAULT), path, what), H5Aclose);
  Handle t(user_check(H5Aget_type(a.id()), path, what), H5Tclose);
  Handle s(user_check(H5Aget_space(a.id()), path, what), H5Sclose);
  hssize_t n = user_check(H5Sget_simple_extent_npoints(s.id()), path, what);
  bool scalar = H5Sget_simple_extent_ndims(s.id()) == 0;
  std::vector<std::string> items;
  switch (H5Tget_class(t.id())) {
    case H5T_STRING: {
      Handle mem(user_check(H5Tget_native_type(t.id(), H5T_DIR_DEFAULT), path, what), H5Tclose);
      if (H5Tis_variable_str(t.id()) > 0) {
        std::vector<char*> buf(static_cast<size_t>(n), nullptr);  // [n] strings HDF5 allocates
        user_check(H5Aread(a.id(), mem.id(), buf.data()), path, what);
        for (char* p : buf) {
          items.emplace_back(p ? p : "");
          if (p) H5free_memory(p);
        }
      } else {
        size_t size = H5Tget_size(t.id());
        std::vector<char> buf(size_t(n) * size);  // [n][size] fixed-length, maybe unterminated
        user_check(H5Aread(a.id(), mem.id(), buf.data()), path, what);
        for (hssize_t i = 0; i < n; ++i) {
          const char* p = buf.data() + size_t(i) * size;
          items.emplace_back(p, strnlen(p, size));
        }
      }
      break;
    }
    case H5T_INTEGER: {
      if (H5Tget_sign(t.id()) == H5T_SGN_NONE) {
        std::vector<uint64_t> v(static_cast<size_t>(n));  // [n]
        user_check(H5Aread(a.id(), H5T_NATIVE_UINT64, v.data()), path, what);
        for (uint64_t x : v) items.push_back(std::to_string(x));
      } else {
        std::vector<int64_t> v(static_cast<size_t>(n));  // [n]
        user_check(H5Aread(a.id(), H5T_NATIVE_INT64, v.data()), path, what);
        for (int64_t x : v) items.push_back(std::to_string(x));
      }
      break;
    }
    case H5T_FLOAT: {
      std::vector<double> v(static_cast<size_t>(n));  // [n]
      user_check(H5Aread(a.id(), H5T_NATIVE_DOUBLE, v.data()), path, what);
      for (double x : v) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.10g", x);
        items.push_back(buf);
      }
      break;
    }
    default:
      return "<" + type_name(t.id()) + ">";
  }
  return join_list(items, scalar);
}

std::optional<int64_t> attr_as_int(hid_t obj, const std::string& name, const std::string& path) {
  const std::string what = "cannot read attribute '" + name + "'";
  if (user_check(H5Aexists(obj, name.c_str()), path, what) == 0) return std::nullopt;
  Handle a(user_check(H5Aopen(obj, name.c_str(), H5P_DEFAULT), path, what), H5Aclose);
  Handle t(user_check(H5Aget_type(a.id()), path, what), H5Tclose);
  Handle s(user_check(H5Aget_space(a.id()), path, what), H5Sclose);
  if (H5Tget_class(t.id()) != H5T_INTEGER || H5Sget_simple_extent_npoints(s.id()) != 1)
    throw UserError(path + ": attribute '" + name + "' is " + type_name(t.id()) +
                    ", expected one integer");
  int64_t v = 0;
  user_check(H5Aread(a.id(), H5T_NATIVE_INT64, &v), path, what);
  return v;
}

std::string type_name(hid_t type) {
  size_t bits = H5Tget_size(type) * 8;
  switch (H5Tget_class(type)) {
    case H5T_INTEGER:
      return (H5Tget_sign(type) == H5T_SGN_NONE ? "uint" : "int") + std::to_string(bits);
    case H5T_FLOAT:
      return "float" + std::to_string(bits);
    case H5T_STRING:
      return "string";
    case H5T_COMPOUND:
      return "compound";
    case H5T_ARRAY:
      return "array";
    default:
      return "an unsupported type";
  }
}

}  // namespace sr::h5
