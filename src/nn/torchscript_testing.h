#pragma once

// Test helpers for the TorchScript import (torchscript_test.cc, torchscript_chip_test.cc).

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>

#include <unistd.h>

#include <fmt/format.h>
#include <torch/script.h>
#include <torch/torch.h>

#include "aimc/nn/data.h"
#include "aimc/nn/network.h"
#include "aimc/nn/torchscript.h"

namespace aimc::nn::testing {

/// The models of src/nn/testdata/make_torchscript.py, written once per test program into a
/// temporary folder (removed at exit); empty when no interpreter can import torch (the tests
/// then skip).
inline std::filesystem::path TorchScriptModels() {
  struct Folder {
    std::filesystem::path path;
    ~Folder() {
      std::error_code ec;
      if (!path.empty()) std::filesystem::remove_all(path, ec);
    }
  };
  static const Folder folder{[] {
    const std::filesystem::path out =
        std::filesystem::temp_directory_path() /
        fmt::format("aimc_torchscript_{}", static_cast<long>(::getpid()));
    const std::string script = std::string(AIMC_SOURCE_DIR) + "/src/nn/testdata/make_torchscript.py";
    for (const std::string& python : {std::string(AIMC_PYTHON_EXECUTABLE), std::string("python3")}) {
      if (python.empty()) continue;
      if (std::system(fmt::format("'{}' -c 'import torch' 2>/dev/null", python).c_str()) != 0)
        continue;
      if (std::system(fmt::format("'{}' '{}' '{}'", python, script, out.string()).c_str()) == 0)
        return out;
    }
    return std::filesystem::path();
  }()};
  return folder.path;
}

/// Skips the test where TorchScriptModels() has none; else `models` is their folder.
#define AIMC_REQUIRE_TORCHSCRIPT_MODELS()                                              \
  const std::filesystem::path models = ::aimc::nn::testing::TorchScriptModels();      \
  if (models.empty()) GTEST_SKIP() << "no Python interpreter that imports torch (python3-torch)"

/// The options under which an import of lenet.pt is aimc's LeNet-5 (BuiltInLeNetLike): 4-bit
/// inputs clipped at the initial PACT alpha 4, threshold ratio 0.7, TWN's scale per channel.
inline ImportOptions LikeBuiltIn() {
  ImportOptions o;
  o.act_bits = 4;
  o.input_alpha = 4.0;
  o.threshold_ratios = {0.7};
  o.calibration_images = 16;
  o.refit = false;  // TWN's scale, as aimc's training has
  return o;
}

/// Images in [0, 255] (uint8, (n, 1, 28, 28)) from `seed`, labels all 0 (callers set them).
inline Dataset RandomImages(std::int64_t n, std::uint64_t seed) {
  torch::manual_seed(seed);
  Dataset d;
  d.images = torch::randint(0, 256, {n, 1, 28, 28}).to(torch::kUInt8);
  d.labels = torch::zeros({n}, torch::kInt64);
  d.classes = 10;
  d.name = "random";
  return d;
}

/// aimc's own LeNet-5 (act_bits 4, threshold 0.7, PACT alphas at their initial 4) with the
/// weights and BatchNorm statistics of make_torchscript.py's lenet.pt: its Sequential's
/// submodules 0, 1, 4, 5, 9, 10, 12, 13, 15 are conv1, bn1, conv2, bn2, fc1, bn3, fc2, bn4, fc3.
inline Network BuiltInLeNetLike(const std::filesystem::path& lenet_pt) {
  NetworkOptions o;
  Network net = MakeNetwork(o, 1);
  torch::jit::Module m = torch::jit::load(lenet_pt.string());
  const std::vector<std::pair<std::string, std::string>> names = {
      {"0", "conv1"}, {"1", "bn1"}, {"4", "conv2"}, {"5", "bn2"}, {"9", "fc1"},
      {"10", "bn3"},  {"12", "fc2"}, {"13", "bn4"}, {"15", "fc3"}};
  torch::NoGradGuard no_grad;
  auto params = net->named_parameters();
  auto buffers = net->named_buffers();
  for (const auto& [from, to] : names) {
    const torch::jit::Module sub = m.attr(from).toModule();
    for (const char* key : {"weight", "bias"}) params[to + "." + key].copy_(sub.attr(key).toTensor());
    if (to.rfind("bn", 0) == 0)
      for (const char* key : {"running_mean", "running_var"})
        buffers[to + "." + key].copy_(sub.attr(key).toTensor());
  }
  net->eval();
  return net;
}

}  // namespace aimc::nn::testing
