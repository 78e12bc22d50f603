// Configuration loading: precedence, includes, and a clear error for every bad input.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "cli/config_loader.h"
#include "core/error.h"
#include "model/transformer.h"
#include "train/optimizer.h"

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
  EXPECT_NE(error_of({"--train.lr", "fast"}).find("train.lr = 'fast': expected a finite number"), std::string::npos);
  EXPECT_NE(error_of({"--data.shuffle", "maybe"}).find("expected true or false"), std::string::npos);
}

TEST_F(ConfigTest, MissingFileAndBadValues) {
  EXPECT_NE(error_of({"--config", (dir_ / "nope.ini").string()}).find("cannot open"), std::string::npos);
  EXPECT_NE(error_of({"--parallel.device", "tpu"}).find("expected cpu or cuda"), std::string::npos);
  EXPECT_NE(error_of({"--train.micro_batch_tokens", "0"}).find("train.micro_batch_tokens"), std::string::npos);
}

// Values that parse but that no run could mean: each is an error naming the key and the value.
TEST_F(ConfigTest, ValuesNobodyCouldMeanNameTheKey) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--train.lr", "nan"}, "train.lr = 'nan': expected a finite number"},
      {{"--train.lr", "inf"}, "train.lr = 'inf': expected a finite number"},
      {{"--train.lr", "-1e-3"}, "train.lr = -0.001: expected a learning rate > 0"},
      {{"--train.lr", "0"}, "train.lr = 0: expected a learning rate > 0"},
      {{"--train.min_lr", "-1"}, "train.min_lr = -1: expected 0 <= min_lr <= train.lr"},
      {{"--train.min_lr", "1"}, "train.min_lr = 1: expected 0 <= min_lr <= train.lr"},
      {{"--train.beta1", "1"}, "train.beta1 = 1: expected a number in [0, 1)"},
      {{"--train.beta1", "-0.1"}, "train.beta1 = -0.1: expected a number in [0, 1)"},
      {{"--train.beta2", "1.5"}, "train.beta2 = 1.5: expected a number in [0, 1)"},
      {{"--train.adam_eps", "0"}, "train.adam_eps = 0: expected a number > 0"},
      {{"--train.adam_eps", "-1e-8"}, "train.adam_eps = -1e-08: expected a number > 0"},
      {{"--train.grad_clip", "-1"}, "train.grad_clip = -1: expected a number >= 0"},
      {{"--train.weight_decay", "-0.1"}, "train.weight_decay = -0.1: expected a number >= 0"},
      {{"--train.init_std", "-0.02"}, "train.init_std = -0.02: expected a number >= 0"},
      {{"--train.warmup_steps", "-1"}, "train.warmup_steps = -1: expected 0 or more steps"},
      {{"--train.threads", "-2"}, "train.threads = -2: expected 0 (cores / local ranks)"},
      {{"--train.seed", "-1"}, "train.seed = '-1': expected a non-negative integer"},
      {{"--data.prefetch_steps", "-1"}, "data.prefetch_steps = -1: expected 0"},
      {{"--parallel.watchdog_seconds", "-5"}, "parallel.watchdog_seconds = -5: expected"},
      {{"--checkpoint.every", "-10"}, "checkpoint.every = -10: expected 0 (only at the end)"},
      {{"--checkpoint.keep_last", "0"}, "checkpoint.keep_last = 0: expected a positive count"},
      {{"--checkpoint.keep_last", "-1"}, "checkpoint.keep_last = -1: expected a positive count"},
      {{"--checkpoint.keep_every", "-3"}, "checkpoint.keep_every = -3: expected 0 (none)"},
      {{"--train.log_every", "0"}, "train.log_every = 0: expected a positive integer"},
      {{"--train.peak_tflops", "0"}, "train.peak_tflops = 0: expected a number > 0"},
  };
  for (const auto& [args, want] : cases) {
    const std::string e = error_of(args);
    EXPECT_NE(e.find(want), std::string::npos) << args[0] << " " << args[1] << ": got '" << e << "'";
    EXPECT_NE(e.find("command line: "), std::string::npos) << e;  // where the value came from
  }
}

TEST_F(ConfigTest, RangeErrorNamesTheFileThatSetTheValue) {
  const std::string run = write("run.ini", "[train]\nbeta2 = 1.0\n");
  const std::string e = error_of({"--config", run});
  EXPECT_NE(e.find(run + ": train.beta2 = 1: expected a number in [0, 1)"), std::string::npos) << e;
}

TEST_F(ConfigTest, LimitsThemselvesAreAccepted) {
  LoadedConfig c = load_run_config("train", {"--train.beta1", "0", "--train.beta2", "0.999999", "--train.grad_clip", "0",
                                             "--train.weight_decay", "0", "--checkpoint.every", "0",
                                             "--checkpoint.keep_last", "1", "--train.threads", "0",
                                             "--train.min_lr", "0"});
  EXPECT_DOUBLE_EQ(c.run.beta2, 0.999999);
  EXPECT_EQ(c.run.keep_last, 1);
}

// Boost would take `--train.step` for the only key it starts, train.steps.
TEST_F(ConfigTest, AbbreviatedKeysAreNotGuessed) {
  const std::string e = error_of({"--train.step", "5"});
  EXPECT_NE(e.find("unknown option"), std::string::npos) << e;
  EXPECT_NE(e.find("train.step"), std::string::npos) << e;
  EXPECT_NE(error_of({"--print-conf"}).find("unknown option"), std::string::npos);
  const std::string run = write("run.ini", "[train]\nstep = 5\n");
  EXPECT_NE(error_of({"--config", run}).find(run + ": unknown key 'train.step'"), std::string::npos);
}

TEST_F(ConfigTest, KeyRepeatedInOneFileIsAnError) {
  const std::string run = write("run.ini", "[train]\nlr = 0.1\nsteps = 3\nlr = 0.2\n");
  const std::string e = error_of({"--config", run});
  EXPECT_NE(e.find(run + ": key 'train.lr' is set twice ('0.1' and '0.2')"), std::string::npos) << e;
  // The same key in two files, or twice on the command line, is precedence, not an error.
  const std::string other = write("other.ini", "[train]\nlr = 0.3\n");
  write("one.ini", "[train]\nlr = 0.1\n");
  LoadedConfig c = load_run_config("train", {"--config", (dir_ / "one.ini").string(), "--config", other,
                                             "--train.steps", "4", "--train.steps", "5"});
  EXPECT_DOUBLE_EQ(c.run.lr, 0.3);
  EXPECT_EQ(c.run.steps, 5);
}

TEST_F(ConfigTest, PositionalArgumentIsAnError) {
  const std::string run = write("run.ini", "[train]\nsteps = 3\n");
  const std::string e = error_of({run});
  EXPECT_NE(e.find("train: unexpected argument '" + run + "'"), std::string::npos) << e;
  EXPECT_NE(error_of({"--train.steps", "3", "extra"}).find("unexpected argument 'extra'"), std::string::npos);
}

TEST_F(ConfigTest, EnumsAreParsedOnceAndPrintedBack) {
  LoadedConfig c = load_run_config("train", {"--model.recompute", "attn", "--train.precision", "f32"});
  EXPECT_EQ(c.run.recompute, Recompute::attn);
  EXPECT_EQ(c.run.precision, Precision::f32);
  EXPECT_EQ(c.run.device, Device::cpu);
  const std::string text = format_run_config(c.run);
  EXPECT_NE(text.find("recompute = attn"), std::string::npos) << text;
  EXPECT_NE(text.find("precision = f32"), std::string::npos) << text;
  EXPECT_NE(text.find("device = cpu"), std::string::npos) << text;
  EXPECT_NE(error_of({"--model.recompute", "most"}).find("model.recompute = most: expected none, attn, full or except_attention"),
            std::string::npos);
}

// bench train and the trainer build the model and the optimizer from the same two functions.
TEST_F(ConfigTest, RunShapeAndAdamWConfigCarryEverySetting) {
  LoadedConfig c = load_run_config(
      "train", {"--train.micro_batch_tokens", "256", "--train.global_batch_tokens", "512", "--model.lm_head_chunk",
                "64", "--model.recompute", "full", "--train.beta1", "0.8", "--train.beta2", "0.9",
                "--train.adam_eps", "1e-6", "--train.weight_decay", "0.05", "--train.deterministic",
                "true", "--train.cudnn_attention", "false"});
  const RunShape shape = run_shape(c.run);
  EXPECT_TRUE(shape.attention.deterministic);
  EXPECT_FALSE(shape.attention.use_cudnn);
  EXPECT_TRUE(run_shape(load_run_config("train", {}).run).attention.use_cudnn);  // the defaults
  EXPECT_FALSE(run_shape(load_run_config("train", {}).run).attention.deterministic);
  EXPECT_EQ(shape.max_tokens, 256);
  EXPECT_EQ(shape.lm_head_chunk, 64);
  EXPECT_EQ(shape.recompute, Recompute::full);
  EXPECT_EQ(shape.device, Device::cpu);
  EXPECT_EQ(shape.compute, DType::f32);
  const AdamWConfig oc = adamw_config(c.run);
  EXPECT_FLOAT_EQ(oc.beta1, 0.8f);
  EXPECT_FLOAT_EQ(oc.beta2, 0.9f);
  EXPECT_FLOAT_EQ(oc.eps, 1e-6f);
  EXPECT_FLOAT_EQ(oc.weight_decay, 0.05f);
  RunConfig cuda = c.run;
  cuda.device = Device::cuda;
  EXPECT_EQ(run_shape(cuda).compute, DType::bf16);
  cuda.precision = Precision::f32;
  EXPECT_EQ(run_shape(cuda).compute, DType::f32);
}

TEST_F(ConfigTest, SlidingWindowMustFitTheKernelsInt) {
  ModelConfig m;
  m.hidden_size = 64;
  m.num_hidden_layers = 1;
  m.num_attention_heads = 4;
  m.num_key_value_heads = 2;
  m.intermediate_size = 128;
  m.vocab_size = 256;
  m.sliding_window = int64_t(1) << 31;
  try {
    m.validate();
    ADD_FAILURE() << "a window of 2^31 was accepted";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("model.sliding_window = 2147483648"), std::string::npos) << e.what();
  }
  m.sliding_window = 4096;
  EXPECT_NO_THROW(m.validate());
}

}  // namespace
}  // namespace sr
