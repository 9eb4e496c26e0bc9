#include "aimc/nn/torchscript.h"

#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "aimc/common/error.h"
#include "aimc/nn/train.h"
#include "torchscript_testing.h"

namespace aimc::nn {
namespace {

namespace fs = std::filesystem;

std::string ErrorOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

#define REQUIRE_MODELS()                                                                  \
  const fs::path models = testing::TorchScriptModels();                                   \
  if (models.empty()) GTEST_SKIP() << "no Python interpreter that imports torch (python3-torch)"

// The options under which an import is aimc's LeNet-5: 4-bit inputs clipped at the initial
// PACT alpha 4, threshold ratio 0.7, scale per channel.
ImportOptions LikeBuiltIn() {
  ImportOptions o;
  o.act_bits = 4;
  o.input_alpha = 4.0;
  o.threshold_ratios = {0.7};
  o.calibration_images = 16;
  return o;
}

// Reference: aimc's LeNet-5 with lenet.pt's weights copied in. Both run the same operations in
// the same order (ternarize, quantize, conv/linear, BatchNorm, pool) on the same tensors, so the
// logits agree to float rounding; 1e-5 of their largest magnitude bounds a different summation
// order, while one flipped ternary level or activation step moves logits by ~1e-2.
TEST(TorchScript, ImportedLeNetEqualsTheBuiltInOne) {
  REQUIRE_MODELS();
  const Network builtin = testing::BuiltInLeNetLike(models / "lenet.pt");
  const Dataset calib = testing::RandomImages(16, 1);
  const ImportResult r = ImportTorchScript(models / "lenet.pt", LikeBuiltIn(), calib);
  ASSERT_EQ(r.layers.size(), 5u);
  for (const ImportedLayer& l : r.layers) {
    EXPECT_TRUE(l.analog) << l.name << ": " << l.reason;
    EXPECT_EQ(l.threshold_ratio, 0.7);
  }
  EXPECT_EQ(r.network->AnalogLayers().size(), 5u);
  EXPECT_EQ(r.network->options().arch, "torchscript");
  EXPECT_EQ(r.network->options().classes, 10);

  torch::NoGradGuard no_grad;
  const torch::Tensor x = ToInput(testing::RandomImages(64, 2).images);
  const torch::Tensor a = builtin->forward(x);
  const torch::Tensor b = r.network->forward(x);
  ASSERT_EQ(a.sizes(), b.sizes());
  const double scale = a.abs().max().item<double>();
  ASSERT_GT(scale, 0.1);
  EXPECT_LE((a - b).abs().max().item<double>(), 1e-5 * scale);
  // The ternary weights are the built-in ones level for level.
  for (std::size_t i = 0; i < 5; ++i)
    EXPECT_TRUE(torch::equal(builtin->layers()[i]->TernaryMatrix(),
                             r.network->layers()[i]->TernaryMatrix()));
  // Not trivially equal: the float module (no ternary weights) gives other logits.
  torch::jit::Module m = torch::jit::load((models / "lenet.pt").string());
  const torch::Tensor f = m.forward({x}).toTensor();
  EXPECT_GT((f - b).abs().max().item<double>(), 1e-2 * scale);
}

// Post-training quantization: each layer's ratio is the candidate with the least output error
// on the calibration inputs (checked against every candidate alone), inputs clipped at their
// 99.9th percentile.
TEST(TorchScript, CalibrationPicksTheRatioOfLeastOutputError) {
  REQUIRE_MODELS();
  const Dataset calib = testing::RandomImages(32, 3);
  ImportOptions o;
  o.calibration_images = 32;
  const ImportResult best = ImportTorchScript(models / "lenet.pt", o, calib);
  ASSERT_EQ(best.layers.size(), 5u);
  EXPECT_EQ(best.layers[0].input_alpha, 1.0);  // the image
  for (const double r : o.threshold_ratios) {
    ImportOptions fixed = o;
    fixed.threshold_ratios = {r};
    const ImportResult one = ImportTorchScript(models / "lenet.pt", fixed, calib);
    for (std::size_t i = 0; i < 5; ++i) {
      EXPECT_LE(best.layers[i].relative_error, one.layers[i].relative_error + 1e-12)
          << best.layers[i].name << " ratio " << r;
      EXPECT_EQ(best.layers[i].input_alpha, one.layers[i].input_alpha);
    }
  }
  for (const ImportedLayer& l : best.layers) {
    EXPECT_GT(l.input_alpha, 0.0);
    EXPECT_LT(l.relative_error, 0.8) << l.name;
  }
  EXPECT_NE(best.Describe().find("9 (Linear): analog"), std::string::npos) << best.Describe();
}

TEST(TorchScript, RefusesWhatItCannotImportNamingIt) {
  REQUIRE_MODELS();
  const Dataset calib = testing::RandomImages(4, 4);
  const fs::path text = models / "notes.pt";
  std::ofstream(text) << "not a model\n";
  const fs::path corrupt = models / "corrupt.pt";
  {
    std::ifstream in(models / "lenet.pt", std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ofstream(corrupt, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  }
  const auto error = [&](const fs::path& p) {
    return ErrorOf([&] { ImportTorchScript(p, {}, calib); });
  };
  for (const fs::path& p : {text, corrupt}) {
    const std::string e = error(p);
    EXPECT_NE(e.find(p.string() + ": not a TorchScript model ("), std::string::npos) << e;
    EXPECT_EQ(e.find("Exception raised from"), std::string::npos) << e;  // no backtrace
  }
  EXPECT_NE(error(models / "missing.pt").find("missing.pt: no such file"), std::string::npos);
  const std::string custom = error(models / "custom.pt");
  EXPECT_NE(custom.find("custom.pt: the module is __torch__.Custom"), std::string::npos) << custom;
  const std::string sigmoid = error(models / "sigmoid.pt");
  EXPECT_NE(sigmoid.find("submodule '2' is __torch__.torch.nn.modules.activation.Sigmoid"),
            std::string::npos)
      << sigmoid;
  const std::string traced = error(models / "lenet_traced.pt");
  EXPECT_NE(traced.find("lenet_traced.pt: submodule '0' (Conv2d) keeps no stride"),
            std::string::npos)
      << traced;
  EXPECT_NE(traced.find("torch.jit.script"), std::string::npos) << traced;
  const std::string reflect = error(models / "reflect.pt");
  EXPECT_NE(reflect.find("reflect.pt: submodule '0' (Conv2d): padding_mode 'reflect' is not "
                         "supported"),
            std::string::npos)
      << reflect;
  // padding='same' of a 3x3 kernel is padding 1.
  const ImportResult same = ImportTorchScript(models / "same.pt", {}, calib);
  ASSERT_EQ(same.network->layers().size(), 2u);
  EXPECT_TRUE(same.layers[0].analog);
  EXPECT_EQ(same.network->layers()[0]->options().padding, 1);
  // Data the module cannot take: 10 classes expected.
  Dataset three = calib;
  three.classes = 3;
  EXPECT_NE(ErrorOf([&] { ImportTorchScript(models / "lenet.pt", {}, three); })
                .find("gives 10 outputs, the data 'random' has 3 classes"),
            std::string::npos);
}

// mixed.pt: conv 0 (analog), a dilated conv 2 (digital: no crossbar layer takes dilation), conv
// 5 (analog), Linear 8 after a BatchNorm without ReLU (digital: negative inputs). The digital
// ones are computed as the float module computes them.
TEST(TorchScript, UnsupportedLayersStayDigitalAndNamed) {
  REQUIRE_MODELS();
  const Dataset calib = testing::RandomImages(16, 5);
  const ImportResult r = ImportTorchScript(models / "mixed.pt", {}, calib);
  ASSERT_EQ(r.layers.size(), 4u);
  EXPECT_EQ(r.layers[0].name, "0");
  EXPECT_TRUE(r.layers[0].analog);
  EXPECT_EQ(r.layers[1].name, "2");
  EXPECT_FALSE(r.layers[1].analog);
  EXPECT_NE(r.layers[1].reason.find("dilation"), std::string::npos) << r.layers[1].reason;
  EXPECT_TRUE(r.layers[2].analog);
  EXPECT_EQ(r.layers[3].name, "8");
  EXPECT_FALSE(r.layers[3].analog);
  EXPECT_NE(r.layers[3].reason.find("negative"), std::string::npos) << r.layers[3].reason;
  EXPECT_NE(r.Describe().find("2 (Conv2d): digital (float): a crossbar layer takes no dilation"),
            std::string::npos)
      << r.Describe();
  EXPECT_EQ(r.network->AnalogLayers().size(), 2u);

  // Reference: the float module with conv 5's weights replaced by the imported ternary ones.
  // With float first/last (conv 0 and Linear 8 float) and 16-bit inputs clipped at their
  // maximum, the imported network differs from it only by input rounding (2^-17 of alpha per
  // input): 1e-3 of the largest logit bounds it, while a wrong digital step would be off by O(1).
  ImportOptions f;
  f.float_first_last = true;
  f.act_bits = 16;
  f.input_percentile = 100.0;
  const ImportResult nearly_float = ImportTorchScript(models / "mixed.pt", f, calib);
  EXPECT_NE(nearly_float.layers[0].reason.find("float_first_last"), std::string::npos);
  ASSERT_EQ(nearly_float.network->AnalogLayers().size(), 1u);
  torch::NoGradGuard no_grad;
  const torch::Tensor x = ToInput(calib.images);
  torch::jit::Module m = torch::jit::load((models / "mixed.pt").string());
  m.eval();
  m.attr("5").toModule().attr("weight").toTensor().copy_(
      nearly_float.network->AnalogLayers()[0]->EffectiveWeight());
  const torch::Tensor ref = m.forward({x}).toTensor();
  const torch::Tensor y = nearly_float.network->forward(x);
  ASSERT_EQ(y.sizes(), ref.sizes());
  EXPECT_LE((y - ref).abs().max().item<double>(), 1e-3 * ref.abs().max().item<double>());
}

}  // namespace
}  // namespace aimc::nn
