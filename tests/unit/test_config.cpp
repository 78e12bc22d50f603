// Configuration loading: precedence, includes, and a clear error for every bad input.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "cli/config_loader.h"
#include "core/error.h"

namespace sr {
namespace {

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("sr_config_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& text) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path) << text;
    return path;
  }
  std::string error_of(const std::vector<std::string>& args) {
    try {
      load_run_config("train", args);
    } catch (const UserError& e) {
      return e.what();
    }
    return "";
  }
  std::filesystem::path dir_;
};

TEST_F(ConfigTest, CommandLineOverridesFileOverridesInclude) {
  write("model.ini", "[model]\nhidden_size = 64\nnum_hidden_layers = 2\nsliding_window = 8\n");
  const std::string run = write("run.ini", "include = model.ini\n[model]\nnum_hidden_layers = 3\n[train]\nlr = 0.5\n");
  LoadedConfig c = load_run_config("train", {"--config", run, "--model.sliding_window", "16"});
  EXPECT_EQ(c.run.model.hidden_size, 64);       // from the include
  EXPECT_EQ(c.run.model.num_hidden_layers, 3);  // the file beats its include
  EXPECT_EQ(c.run.model.sliding_window, 16);    // the command line beats both
  EXPECT_DOUBLE_EQ(c.run.lr, 0.5);
}

TEST_F(ConfigTest, PrintedConfigReadsBackTheSame) {
  const std::string run = write("run.ini", "[model]\nhidden_size = 48\n[data]\nshuffle = false\n");
  LoadedConfig a = load_run_config("train", {"--config", run});
  const std::string again = write("again.ini", format_run_config(a.run));
  LoadedConfig b = load_run_config("train", {"--config", again});
  EXPECT_EQ(format_run_config(a.run), format_run_config(b.run));
  EXPECT_FALSE(b.run.shuffle);
}

TEST_F(ConfigTest, UnknownKeyInFileNamesFileAndKey) {
  const std::string run = write("run.ini", "[model]\nhiden_size = 64\n");
  const std::string e = error_of({"--config", run});
  EXPECT_NE(e.find("run.ini"), std::string::npos) << e;
  EXPECT_NE(e.find("unknown key 'model.hiden_size'"), std::string::npos) << e;
}

TEST_F(ConfigTest, UnknownOptionOnCommandLine) {
  EXPECT_NE(error_of({"--train.stepz", "3"}).find("train.stepz"), std::string::npos);
}

TEST_F(ConfigTest, NonNumericValueNamesKeyValueAndType) {
  const std::string run = write("run.ini", "[model]\nhidden_size = sixty\n");
  const std::string e = error_of({"--config", run});
  EXPECT_NE(e.find("model.hidden_size = 'sixty': expected an integer"), std::string::npos) << e;
  EXPECT_NE(e.find("run.ini"), std::string::npos) << e;
  EXPECT_NE(error_of({"--train.lr", "fast"}).find("train.lr = 'fast': expected a number"), std::string::npos);
  EXPECT_NE(error_of({"--data.shuffle", "maybe"}).find("expected true or false"), std::string::npos);
}

TEST_F(ConfigTest, MissingFileAndBadValues) {
  EXPECT_NE(error_of({"--config", (dir_ / "nope.ini").string()}).find("cannot open"), std::string::npos);
  EXPECT_NE(error_of({"--parallel.device", "tpu"}).find("expected cpu or cuda"), std::string::npos);
  EXPECT_NE(error_of({"--train.micro_batch_tokens", "0"}).find("train.micro_batch_tokens"), std::string::npos);
}

}  // namespace
}  // namespace sr
