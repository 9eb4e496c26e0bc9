// Imported modules that run as they are (arch "torchscript"): each structural kind against the
// module's own forward, routing between the two forms, model files.

#include <cstdio>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/script.h>
#include <torch/torch.h>

#include "aimc/common/error.h"
#include "aimc/nn/evaluate.h"
#include "aimc/nn/model_io.h"
#include "sequential.h"
#include "torchscript_testing.h"
#include "../common/test_error.h"

namespace aimc::nn {
namespace {

namespace fs = std::filesystem;

// The module's tensor attribute at a dotted path ("features.0.weight").
torch::Tensor TensorAt(torch::jit::Module m, const std::string& path) {
  std::size_t begin = 0;
  for (std::size_t dot = path.find('.'); dot != std::string::npos; dot = path.find('.', begin)) {
    m = m.attr(path.substr(begin, dot - begin)).toModule();
    begin = dot + 1;
  }
  return m.attr(path.substr(begin)).toTensor();
}

// The reference: the module's own forward in LibTorch, with each analog layer's weights replaced
// by what its array holds (scale * levels) and its bias.
torch::Tensor ModuleWithArrayWeights(const fs::path& file, NetworkImpl& net,
                                     const torch::Tensor& x) {
  torch::jit::Module m = torch::jit::load(file.string());
  m.eval();
  torch::NoGradGuard no_grad;
  for (const SequentialStep& s : net.options().steps) {
    if (!s.is_crossbar()) continue;
    const auto& names = net.layer_names();
    const auto it = std::find(names.begin(), names.end(), StepModuleName(s));
    EXPECT_NE(it, names.end()) << s.name;
    if (it == names.end()) continue;
    AnalogLayer layer = net.layers()[static_cast<std::size_t>(it - names.begin())];
    torch::Tensor w = TensorAt(m, s.name + ".weight");
    w.copy_(layer->EffectiveWeight().reshape(w.sizes()));  // a Conv1d's: height 1 dropped
    if (layer->Bias().defined()) TensorAt(m, s.name + ".bias").copy_(layer->Bias());
  }
  return m.forward({x}).toTensor();
}

struct Kind {
  std::string file;
  std::vector<std::string> analog;   // the layers on arrays, in forward order
  std::map<std::string, std::string> digital;  // layer -> a word of its reason
  std::vector<std::string> signed_inputs = {};  // analog layers with a signed DAC
};

// One small module of each structural kind, run as it is: with float inputs (act_bits 0: a
// plain ReLU before each unsigned analog layer, which its non-negative input passes unchanged,
// and a signed layer's input as it is) the network is the module with the arrays' weights put
// in: equal to float rounding (1e-5 of the largest logit; a flipped level or a misplaced
// operation moves logits by 1e-2 or more). Which layers go on arrays, which of them take
// signed inputs, and why the others stay digital, is checked by name; without signed inputs
// the layers after a normalization, GELU or attention product stay digital, saying why.
TEST(TorchScriptModule, EveryStructuralKindRunsAsTheModuleDoes) {
  AIMC_REQUIRE_TORCHSCRIPT_MODELS();
  const Dataset calib = testing::RandomImages(32, 21);
  ImportOptions o;
  o.act_bits = 0;
  o.execution = "module";
  const std::vector<Kind> kinds = {
      {"cat.pt", {"stem", "a", "b", "head"}, {}},
      {"se.pt", {"conv", "fc1", "fc2", "conv2", "head"}, {}, {"head"}},
      {"depthwise.pt", {"0", "2", "5", "9"}, {}},
      {"attention.pt",
       {"embed", "q", "k", "v", "proj", "fc1", "fc2", "head"},
       {},
       {"q", "k", "v", "proj", "fc1", "fc2", "head"}},
      {"attr_if.pt", {"conv1", "conv2", "head"}, {}, {"conv1"}},
      {"shared.pt", {"stem", "c", "head"}, {}},
      {"geometry.pt", {"a", "b", "c", "d", "head"}, {}},
      // Without signed inputs.
      {"attention.pt",
       {"embed"},
       {{"q", "negative"}, {"k", "negative"}, {"v", "negative"}, {"proj", "negative"},
        {"fc1", "negative"}, {"fc2", "negative"}, {"head", "negative"}}},
  };
  for (std::size_t i = 0; i < kinds.size(); ++i) {
    const Kind& k = kinds[i];
    SCOPED_TRACE(k.file);
    o.signed_inputs = i + 1 < kinds.size();
    const ImportResult r = ImportTorchScript(models / k.file, o, calib);
    std::vector<std::string> with_sign;
    for (const SequentialStep& s : r.network->options().steps)
      if (s.signed_input) with_sign.push_back(s.name);
    EXPECT_EQ(with_sign, k.signed_inputs);
    EXPECT_EQ(r.network->options().arch, "torchscript");
    std::vector<std::string> analog;
    for (const ImportedLayer& l : r.layers) {
      if (l.analog) {
        analog.push_back(l.name);
        continue;
      }
      const auto it = k.digital.find(l.name);
      ASSERT_NE(it, k.digital.end()) << l.name << ": " << l.reason;
      EXPECT_NE(l.reason.find(it->second), std::string::npos) << l.name << ": " << l.reason;
    }
    EXPECT_EQ(analog, k.analog);
    EXPECT_EQ(r.network->AnalogLayers().size(), k.analog.size());
    torch::NoGradGuard no_grad;
    // Images of brightness 0 to 1, as the modules' last layers were centered on.
    const torch::Tensor x =
        ToInput(testing::RandomImages(16, 22).images) * torch::linspace(0, 1, 16).view({16, 1, 1, 1});
    const torch::Tensor ref = ModuleWithArrayWeights(models / k.file, *r.network, x);
    const torch::Tensor y = r.network->forward(x);
    ASSERT_EQ(y.sizes(), ref.sizes());
    const double scale = std::max(1.0, ref.abs().max().item<double>());
    EXPECT_LE((y - ref).abs().max().item<double>(), 1e-5 * scale);
    // Not trivially equal: the logits differ between images.
    EXPECT_GT((y - y.mean(0)).abs().max().item<double>(), 1e-2 * scale);
  }
}

// What the steps cannot express runs as the module (auto), and is refused where the steps are
// asked for, with the reason they always gave; a module the steps express stays steps.
TEST(TorchScriptModule, AutoRunsAsTheModuleWhatStepsCannotExpress) {
  AIMC_REQUIRE_TORCHSCRIPT_MODELS();
  const Dataset calib = testing::RandomImages(8, 23);
  for (const std::string file : {"custom.pt", "branchy.pt", "sigmoid.pt", "reflect.pt", "se.pt"}) {
    SCOPED_TRACE(file);
    EXPECT_EQ(ImportTorchScript(models / file, {}, calib).network->options().arch, "torchscript");
    ImportOptions steps;
    steps.execution = "steps";
    const std::string e = ErrorMessage([&] { ImportTorchScript(models / file, steps, calib); });
    EXPECT_NE(e.find(file + ": "), std::string::npos) << e;
  }
  ImportOptions steps;
  steps.execution = "steps";
  EXPECT_NE(ErrorMessage([&] { ImportTorchScript(models / "custom.pt", steps, calib); })
                .find("uses aten::mul, which aimc does not import"),
            std::string::npos);
  EXPECT_EQ(ImportTorchScript(models / "lenet.pt", {}, calib).network->options().arch,
            "sequential");
  // reflect.pt: the reflection padding runs in LibTorch, the convolution (padding 0) on arrays.
  const ImportResult reflect = ImportTorchScript(models / "reflect.pt", {}, calib);
  ASSERT_FALSE(reflect.layers.empty());
  EXPECT_TRUE(reflect.layers[0].analog) << reflect.layers[0].reason;
}

// The same LeNet-5 as steps and as the module: equal logits, digital and on chips side by side
// (weight noise drawn per chip), since both hold the same layers with the same weights.
TEST(TorchScriptModule, ModuleAndStepsFormsOfOneNetworkAgree) {
  AIMC_REQUIRE_TORCHSCRIPT_MODELS();
  const Dataset calib = testing::RandomImages(16, 24);
  ImportOptions o = testing::LikeBuiltIn();
  const ImportResult steps = ImportTorchScript(models / "lenet.pt", o, calib);
  o.execution = "module";
  const ImportResult module = ImportTorchScript(models / "lenet.pt", o, calib);
  ASSERT_EQ(module.network->options().arch, "torchscript");
  ASSERT_EQ(steps.network->AnalogLayers().size(), module.network->AnalogLayers().size());
  torch::NoGradGuard no_grad;
  const torch::Tensor x = ToInput(testing::RandomImages(20, 25).images);
  const torch::Tensor a = steps.network->forward(x), b = module.network->forward(x);
  EXPECT_LE((a - b).abs().max().item<double>(), 1e-4 * a.abs().max().item<double>());
  for (std::size_t i = 0; i < steps.layers.size(); ++i) {
    EXPECT_EQ(steps.layers[i].threshold_ratio, module.layers[i].threshold_ratio);
    EXPECT_EQ(steps.layers[i].input_alpha, module.layers[i].input_alpha);
  }
}

// A module network saves and loads as a model (its TorchScript inside the file), computes the
// same after loading, and a file whose module does not match its hash is refused naming it.
TEST(TorchScriptModule, ModelFilesKeepTheModule) {
  AIMC_REQUIRE_TORCHSCRIPT_MODELS();
  const Dataset calib = testing::RandomImages(16, 26);
  const ImportResult r = ImportTorchScript(models / "se.pt", {}, calib);
  ModelInfo info;
  info.network = r.network->options();
  const fs::path file = models / "se_model.pt";
  SaveModel(file, *r.network, info);
  const Model loaded = LoadModel(file);
  EXPECT_EQ(loaded.info.network.arch, "torchscript");
  EXPECT_EQ(loaded.info.network.script_hash, r.network->options().script_hash);
  torch::NoGradGuard no_grad;
  const torch::Tensor x = ToInput(testing::RandomImages(8, 27).images);
  EXPECT_TRUE(torch::equal(loaded.network->forward(x), r.network->forward(x)));
  // Another module under the same hash.
  NetworkOptions other = r.network->options();
  other.script_hash = "0000000000000000";
  info.network = other;
  const fs::path bad = models / "se_bad.pt";
  SaveModel(bad, *r.network, info);
  const std::string e = ErrorMessage([&] { LoadModel(bad); });
  EXPECT_NE(e.find(bad.string() + ": its TorchScript module has hash"), std::string::npos) << e;
}

// An import says what it lost: the float module's accuracy beside the imported one on the same
// images and, past 2 points, a warning naming the layers of largest output error and the
// remedies. Labels are the float module's own predictions (its accuracy is 1); 1-bit inputs
// lose far more than 2 points, 16-bit ones with float first and last layers lose little.
TEST(TorchScriptModule, AnImportThatLosesAccuracySaysSo) {
  AIMC_REQUIRE_TORCHSCRIPT_MODELS();
  DataSplit split;
  split.train = testing::RandomImages(32, 30);
  split.test = testing::RandomImages(64, 31);
  split.test.images = (split.test.images.to(torch::kFloat) *
                       torch::linspace(0, 1, 64).view({64, 1, 1, 1}))
                          .to(torch::kUInt8);
  {
    torch::jit::Module m = torch::jit::load((models / "cat.pt").string());
    m.eval();
    torch::NoGradGuard no_grad;
    split.test.labels = m.forward({ToInput(split.test.images)}).toTensor().argmax(1);
  }
  for (const int bits : {1, 16}) {
    SCOPED_TRACE(bits);
    ImportOptions o;
    o.act_bits = bits;
    o.float_first_last = bits == 16;
    const ImportedModel m = ImportAsModel(models / "cat.pt", o, "fashion-mnist", "", split);
    EXPECT_EQ(m.float_accuracy, 1.0);
    const double lost = 100.0 * (1.0 - m.info.history.front().test_accuracy);
    if (bits == 1) {
      EXPECT_GT(lost, 2.0);
    }
    EXPECT_EQ(m.warning.empty(), lost <= 2.0) << m.warning;
    if (lost > 2.0) {
      EXPECT_NE(m.warning.find("cat.pt: the import loses"), std::string::npos) << m.warning;
      EXPECT_NE(m.warning.find("largest relative output errors: "), std::string::npos);
      EXPECT_NE(m.warning.find("--float-first-last"), std::string::npos);
    }
  }
}

// A zero-initialized layer (ViT's classifier head is) has TWN scale 0: the import keeps it at
// 0 instead of dividing by it (its network's logits were NaN, refused as "not finite"), in the
// steps form and as the module.
TEST(TorchScriptModule, AZeroInitializedLayerImports) {
  AIMC_REQUIRE_TORCHSCRIPT_MODELS();
  const Dataset calib = testing::RandomImages(16, 40);
  for (const auto& [file, head] : std::vector<std::pair<std::string, std::string>>{
           {"cat.pt", "head"}, {"lenet.pt", "15"}}) {
    SCOPED_TRACE(file);
    torch::jit::Module m = torch::jit::load((models / file).string());
    {
      torch::NoGradGuard no_grad;
      TensorAt(m, head + ".weight").zero_();
      TensorAt(m, head + ".bias").zero_();
    }
    const fs::path zeroed = models / ("zero_head_" + file);
    m.save(zeroed.string());
    const ImportResult r = ImportTorchScript(zeroed, {}, calib);
    ASSERT_FALSE(r.layers.empty());
    EXPECT_EQ(r.layers.back().name, head);
    EXPECT_TRUE(r.layers.back().analog);
    torch::NoGradGuard no_grad;
    const torch::Tensor y = r.network->forward(ToInput(calib.images));
    EXPECT_TRUE(torch::isfinite(y).all().item<bool>());
    EXPECT_EQ(y.abs().max().item<double>(), 0.0);  // a zero head gives zero logits
  }
}

}  // namespace
}  // namespace aimc::nn
