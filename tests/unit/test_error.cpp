// The top-level error policy: which exceptions are the user's to fix (exit 2) and which are
// internal (exit 1), and the temporary files that a failure must not leave behind.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <new>
#include <stdexcept>
#include <vector>

#include "core/error.h"

namespace sr {
namespace {

ExitReport explain(const std::exception_ptr& e) { return explain_exception(e); }

TEST(ExplainException, UserErrorKeepsItsMessage) {
  const ExitReport r = explain(std::make_exception_ptr(UserError("x.ini: train.lr = -1: expected > 0")));
  EXPECT_EQ(r.code, kExitUserError);
  EXPECT_EQ(r.message, "x.ini: train.lr = -1: expected > 0");
}

TEST(ExplainException, FileSystemRefusalNamesThePathAndTheReason) {
  const std::string file = std::filesystem::temp_directory_path() / ("sr_error_" + std::to_string(::getpid()));
  std::ofstream(file) << "x";
  ExitReport r;
  try {
    std::filesystem::create_directories(file + "/run");
  } catch (...) {
    r = explain(std::current_exception());
  }
  std::filesystem::remove(file);
  EXPECT_EQ(r.code, kExitUserError);
  EXPECT_NE(r.message.find(file + "/run"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("Not a directory"), std::string::npos) << r.message;
  EXPECT_EQ(r.message.find("filesystem error: "), std::string::npos) << r.message;
  EXPECT_EQ(r.message.find('\n'), std::string::npos) << r.message;
}

TEST(ExplainException, AllocationsTooLargeAreTheUsers) {
  ExitReport r;
  try {
    std::vector<char> v(size_t(-1) / 2);
  } catch (...) {
    r = explain(std::current_exception());
  }
  EXPECT_EQ(r.code, kExitUserError);
  EXPECT_NE(r.message.find("check the sizes"), std::string::npos) << r.message;
  EXPECT_EQ(explain(std::make_exception_ptr(std::bad_alloc())).code, kExitUserError);
}

TEST(ExplainException, AnythingElseIsInternal) {
  const ExitReport r = explain(std::make_exception_ptr(std::invalid_argument("stoll")));
  EXPECT_EQ(r.code, kExitInternal);
  EXPECT_EQ(r.message, "internal error: stoll (please report this)");
  EXPECT_EQ(explain(std::make_exception_ptr(42)).code, kExitInternal);
}

TEST(Temporaries, RemovedWhenRegisteredOnly) {
  const std::string base = std::filesystem::temp_directory_path() / ("sr_tmp_" + std::to_string(::getpid()));
  const std::string kept = base + "_kept.tmp", dropped = base + "_dropped.tmp", done = base + "_done.tmp";
  for (const std::string& p : {kept, dropped, done}) std::ofstream(p) << "x";
  register_temporary(dropped);
  register_temporary(done);
  unregister_temporary(done);  // renamed into place: no longer a temporary
  remove_temporaries();
  EXPECT_TRUE(std::filesystem::exists(kept));
  EXPECT_FALSE(std::filesystem::exists(dropped));
  EXPECT_TRUE(std::filesystem::exists(done));
  unregister_temporary(dropped);
  std::filesystem::remove(kept);
  std::filesystem::remove(done);
}

}  // namespace
}  // namespace sr
