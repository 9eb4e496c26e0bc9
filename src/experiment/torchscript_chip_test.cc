#include <gtest/gtest.h>
#include <torch/torch.h>

#include "aimc/common/error.h"
#include "aimc/device/card.h"
#include "aimc/device/two_state.h"
#include "aimc/experiment/chip.h"
#include "aimc/experiment/evaluate_chips.h"
#include "aimc/nn/evaluate.h"
#include "aimc/nn/torchscript.h"
#include "../nn/torchscript_testing.h"
#include "chip_tiles.h"

namespace aimc::experiment {
namespace {

namespace fs = std::filesystem;

// Labels: the digital network's own predictions, so that the digital accuracy is 1 and a chip's
// accuracy says how far it moves the network.
nn::Dataset Labeled(nn::NetworkImpl& net, std::int64_t n, std::uint64_t seed) {
  nn::Dataset d = nn::testing::RandomImages(n, seed);
  torch::NoGradGuard no_grad;
  // Brightness from 0 to 1 over the set, and a bright band at a row that moves with n: images
  // that the networks tell apart (uniform noise alone gets one class).
  d.images = (d.images.to(torch::kFloat) * torch::linspace(0, 1, n).view({n, 1, 1, 1}))
                 .to(torch::kUInt8);
  for (std::int64_t i = 0; i < n; ++i) d.images[i][0][(i * 5) % 28].fill_(255);
  d.labels = net.forward(nn::ToInput(d.images)).argmax(1);
  return d;
}

// SOT-MRAM devices without the card's physics (its spread only), 2-ohm wires, tiles of
// `tile_rows` rows.
ChipSpec SotMramWithWires(std::int64_t tile_rows) {
  std::shared_ptr<device::DeviceCard> card = device::LoadCard(device::PresetCardPath("sot_mram"));
  card->set_physics({});
  ChipOptions options;
  options.tile_rows = tile_rows;
  options.crossbar.wire_row_ohm = options.crossbar.wire_col_ohm = 2.0;
  return ChipSpec::Devices(card, options);
}

// The imported LeNet-5 on chips with devices and wires (exact IR drop, tiles of 128 rows so that
// layers split) against aimc's own LeNet-5 with the same weights: the same chip seed draws the
// same devices for the same ternary layers, so logits agree to float rounding (1e-4 of the
// largest: the effective weights are identical doubles, only BatchNorm folding's float
// products may round differently), and every chip's accuracy is the same.
TEST(TorchScriptChip, ImportedLeNetOnChipsWithWiresEqualsTheBuiltInOne) {
  AIMC_REQUIRE_TORCHSCRIPT_MODELS();
  nn::Network builtin = nn::testing::BuiltInLeNetLike(models / "lenet.pt");
  const nn::ImportResult r =
      nn::ImportTorchScript(models / "lenet.pt", nn::testing::LikeBuiltIn(), nn::testing::RandomImages(16, 1));
  const nn::Dataset test = Labeled(*builtin, 200, 7);

  const ChipSpec spec = SotMramWithWires(128);

  const torch::Tensor x = nn::ToInput(test.images);
  torch::Tensor digital, a, b;
  {
    torch::NoGradGuard no_grad;
    digital = builtin->forward(x);
    Chip on_builtin(*builtin, spec, 11);
    a = builtin->forward(x);
  }
  {
    torch::NoGradGuard no_grad;
    Chip on_imported(*r.network, spec, 11);
    b = r.network->forward(x);
  }
  const double scale = a.abs().max().item<double>();
  EXPECT_LE((a - b).abs().max().item<double>(), 1e-4 * scale);
  // The chip matters: wires and device spread move the logits well beyond that bound.
  EXPECT_GT((a - digital).abs().max().item<double>(), 1e-2 * scale);

  const ChipStats s1 = TestChips(*builtin, test, spec, 3, 21);
  const ChipStats s2 = TestChips(*r.network, test, spec, 3, 21);
  EXPECT_EQ(s1.accuracies, s2.accuracies);
  EXPECT_LT(s1.mean, 1.0);
  EXPECT_GT(std::get<0>(at::_unique(test.labels)).numel(), 1);  // not one class for all
}

// mixed.pt has float steps outside AnalogLayers (a dilated conv, a Linear after a BatchNorm,
// an unfolded BatchNorm): chips side by side must give each chip what it gets alone (the
// results do not depend on chips_per_pass), and noise-free chips the digital accuracy.
TEST(TorchScriptChip, DigitalStepsWorkWithChipsSideBySide) {
  AIMC_REQUIRE_TORCHSCRIPT_MODELS();
  const nn::ImportResult r =
      nn::ImportTorchScript(models / "mixed.pt", {}, nn::testing::RandomImages(16, 5));
  const nn::Dataset test = Labeled(*r.network, 100, 8);
  EXPECT_EQ(nn::Evaluate(*r.network, test), 1.0);
  EXPECT_GT(std::get<0>(at::_unique(test.labels)).numel(), 1);  // not one class for all
  const ChipSpec noisy = ChipSpec::WeightNoise(nn::LevelNoise::Uniform(1.0));
  const std::vector<std::uint64_t> seeds = {1, 2, 3};
  const std::vector<double> one = EvaluateChips(*r.network, test, noisy, seeds, 1);
  const std::vector<double> three = EvaluateChips(*r.network, test, noisy, seeds, 3);
  EXPECT_EQ(one, three);
  EXPECT_LT(*std::min_element(one.begin(), one.end()), 1.0);  // the noise acts
  const ChipSpec clean = ChipSpec::WeightNoise(nn::LevelNoise::Uniform(0.0));
  for (const double acc : EvaluateChips(*r.network, test, clean, seeds, 3)) EXPECT_EQ(acc, 1.0);
}

// The module form on chips. LeNet-5 run as its module holds the same layers as its steps form:
// on chips with devices and wires (same seed, same devices) their logits agree to float
// rounding (the steps fold BatchNorm into the chip product, the module runs it digitally).
// A module with operations the steps lack (se.pt: a sigmoid gate, Hardswish, SiLU) runs its
// chips side by side as one at a time, and noise-free chips keep its digital accuracy.
TEST(TorchScriptChip, ModuleFormRunsOnChipsLikeTheStepsForm) {
  AIMC_REQUIRE_TORCHSCRIPT_MODELS();
  nn::ImportOptions o = nn::testing::LikeBuiltIn();
  const nn::Dataset calib = nn::testing::RandomImages(16, 1);
  const nn::ImportResult steps = nn::ImportTorchScript(models / "lenet.pt", o, calib);
  o.execution = "module";
  const nn::ImportResult module = nn::ImportTorchScript(models / "lenet.pt", o, calib);
  ASSERT_EQ(module.network->options().arch, "torchscript");
  const ChipSpec spec = SotMramWithWires(128);
  const nn::Dataset test = Labeled(*steps.network, 100, 7);
  const torch::Tensor x = nn::ToInput(test.images);
  torch::Tensor a, b;
  {
    torch::NoGradGuard no_grad;
    Chip on_steps(*steps.network, spec, 11);
    a = steps.network->forward(x);
  }
  {
    torch::NoGradGuard no_grad;
    Chip on_module(*module.network, spec, 11);
    b = module.network->forward(x);
  }
  ASSERT_EQ(a.sizes(), b.sizes());
  EXPECT_LE((a - b).abs().max().item<double>(), 1e-4 * a.abs().max().item<double>());
  const std::vector<std::uint64_t> seeds = {1, 2, 3};
  EXPECT_EQ(EvaluateChips(*steps.network, test, spec, seeds, 3),
            EvaluateChips(*module.network, test, spec, seeds, 3));

  const nn::ImportResult se = nn::ImportTorchScript(models / "se.pt", {}, calib);
  ASSERT_EQ(se.network->options().arch, "torchscript");
  const nn::Dataset se_test = Labeled(*se.network, 100, 8);
  EXPECT_GT(std::get<0>(at::_unique(se_test.labels)).numel(), 1);
  const ChipSpec noisy = ChipSpec::WeightNoise(nn::LevelNoise::Uniform(1.0));
  const std::vector<double> one = EvaluateChips(*se.network, se_test, noisy, seeds, 1);
  EXPECT_EQ(one, EvaluateChips(*se.network, se_test, noisy, seeds, 3));
  EXPECT_LT(*std::min_element(one.begin(), one.end()), 1.0);  // the noise acts
  const ChipSpec clean = ChipSpec::WeightNoise(nn::LevelNoise::Uniform(0.0));
  for (const double acc : EvaluateChips(*se.network, se_test, clean, seeds, 3)) EXPECT_EQ(acc, 1.0);
}

// Signed inputs on chips: a small vision transformer run as its module, its attention and MLP
// Linear layers on arrays with signed DACs, on SOT-MRAM chips with the card's bias-dependent
// TMR (an I-V whose conductance is even in V, so a device's current is odd) and 2-ohm wires.
// A signed layer's chip product is then odd in its drive: y(x) + y(-x) = 2 bias to float
// rounding (1e-4 of the largest output); a sign error in the drive or in the non-linear term
// would break it by O(1). Chips side by side give what chips one at a time give.
TEST(TorchScriptChip, SignedInputsDriveChipsWithBothPolarities) {
  AIMC_REQUIRE_TORCHSCRIPT_MODELS();
  const nn::ImportResult r =
      nn::ImportTorchScript(models / "attention.pt", {}, nn::testing::RandomImages(32, 3));
  ASSERT_EQ(r.network->options().arch, "torchscript");
  std::shared_ptr<device::DeviceCard> card = device::LoadCard(device::PresetCardPath("sot_mram"));
  device::Physics iv_only;
  iv_only.iv = card->physics().iv;
  ASSERT_FALSE(iv_only.iv.linear());
  card->set_physics(iv_only);
  ChipOptions options;
  options.crossbar.wire_row_ohm = options.crossbar.wire_col_ohm = 2.0;
  const ChipSpec spec = ChipSpec::Devices(card, options);
  const nn::Dataset test = Labeled(*r.network, 60, 9);
  int checked = 0;
  {
    torch::NoGradGuard no_grad;
    Chip chip(*r.network, spec, 5);
    for (nn::AnalogLayer layer : r.network->layers()) {
      if (!layer->signed_input()) continue;
      const torch::Tensor x =
          (torch::rand({16, layer->options().in}) * 2 - 1) * layer->input_full_scale();
      const torch::Tensor y = layer->forward(x), y_neg = layer->forward(-x);
      const torch::Tensor bias =
          layer->Bias().defined() ? layer->Bias() : torch::zeros({layer->options().out});
      const double tol = 1e-4 * std::max(1.0, y.abs().max().item<double>());
      EXPECT_LE((y + y_neg - 2 * bias).abs().max().item<double>(), tol);
      EXPECT_GT((y - bias).abs().max().item<double>(), 100 * tol);  // not trivially 0
      ++checked;
    }
  }
  EXPECT_EQ(checked, 7);  // q, k, v, proj, fc1, fc2, head
  const std::vector<std::uint64_t> seeds = {1, 2};
  const ChipSpec noisy = ChipSpec::WeightNoise(nn::LevelNoise::Uniform(0.5));
  EXPECT_EQ(EvaluateChips(*r.network, test, noisy, seeds, 1),
            EvaluateChips(*r.network, test, noisy, seeds, 2));
}

// Any conv geometry on tiles: geometry.pt's 1x5 kernel, dilated 3x3, 3x1 kernel with stride
// (2, 1) and Conv1d (a 1x3 conv of height 1), on SOT-MRAM devices with 2-ohm wires and tiles of
// 64 rows (so that layers split into row blocks). Each layer's chip product (the tiles' effective
// matrices cut into per-row-block kernels of kh x kw) against the per-MVM reference route (im2col
// with the layer's dilation, one circuit solve per MVM): the same outputs to 1e-4 of the largest.
TEST(TorchScriptChip, AnyConvGeometryOnTilesEqualsThePerMvmRoute) {
  AIMC_REQUIRE_TORCHSCRIPT_MODELS();
  const nn::ImportResult r =
      nn::ImportTorchScript(models / "geometry.pt", {}, nn::testing::RandomImages(16, 4));
  torch::NoGradGuard no_grad;
  Chip chip(*r.network, SotMramWithWires(64), 3);
  chip.UseMvmHooks();
  auto layers = r.network->AnalogLayers();
  ASSERT_EQ(layers.size(), 5u);
  torch::manual_seed(10);
  for (std::size_t k = 0; k < layers.size(); ++k) {
    const auto& lo = layers[k]->options();
    const bool conv = lo.kind == nn::LayerKind::kConv;
    const torch::Tensor in =
        torch::rand(conv ? std::vector<std::int64_t>{2, lo.in, 12, 12}
                         : std::vector<std::int64_t>{8, lo.in}) *
        layers[k]->input_full_scale();
    const torch::Tensor hooks = layers[k]->forward(in);
    layers[k]->SetChipProduct(chip.products()[k]);
    const torch::Tensor mine = layers[k]->forward(in);
    layers[k]->ClearChipProduct();
    ASSERT_EQ(mine.sizes(), hooks.sizes()) << k;
    EXPECT_LE((mine - hooks).abs().max().item<double>(), 1e-4 * hooks.abs().max().item<double>())
        << k;
  }
  EXPECT_GT(chip.layers()[3].tiles.size(), 1u);  // the Conv1d's 168 rows: 3 row blocks
}

// A depthwise conv on tiles (depthwise.pt's conv 2: 8 groups of one channel, 3x3): its groups
// on the diagonal blocks of a 72 x 8 array, the other pairs at weight 0, cut into tiles of 32 x
// 4; of the 6 tiles, the 2 that would hold no group (rows 0-31 x outputs 4-7, rows 64-71 x
// outputs 0-3) are not placed. With SOT-MRAM devices and 2-ohm wires, the chip product (dense
// kernels cut from the tiles' effective matrices) against the per-MVM route: the same outputs
// to 1e-4 of the largest. IR drop and the zero pairs' spread couple the groups within a tile:
// the chip's weights off the diagonal blocks are not zero there, as on the array.
TEST(TorchScriptChip, GroupedConvOnTilesEqualsThePerMvmRoute) {
  AIMC_REQUIRE_TORCHSCRIPT_MODELS();
  const nn::ImportResult r =
      nn::ImportTorchScript(models / "depthwise.pt", {}, nn::testing::RandomImages(16, 4));
  torch::NoGradGuard no_grad;
  auto layers = r.network->AnalogLayers();
  ASSERT_EQ(layers.size(), 4u);
  nn::AnalogLayer dw = layers[1];
  ASSERT_EQ(dw->options().groups, 8);
  ASSERT_EQ(dw->rows(), 72);
  ChipSpec spec = SotMramWithWires(32);
  spec.options.tile_cols = 4;
  Chip chip(*r.network, spec, 3);
  const auto& tiles = chip.layers()[1].tiles;
  ASSERT_EQ(tiles.size(), 4u);
  const std::vector<std::pair<std::int64_t, std::int64_t>> placed = {{0, 0}, {32, 0}, {32, 4},
                                                                      {64, 4}};
  for (std::size_t t = 0; t < tiles.size(); ++t)
    EXPECT_EQ(std::make_pair(tiles[t].row0, tiles[t].col0), placed[t]) << t;
  const torch::Tensor product = chip.products()[1].parts[0].weight;  // (8, 8, 3, 3) per block
  chip.UseMvmHooks();
  torch::manual_seed(11);
  const torch::Tensor in = torch::rand({2, 8, 10, 10}) * dw->input_full_scale();
  const torch::Tensor hooks = dw->forward(in);
  dw->SetChipProduct(chip.products()[1]);
  const torch::Tensor mine = dw->forward(in);
  dw->ClearChipProduct();
  ASSERT_EQ(mine.sizes(), hooks.sizes());
  EXPECT_LE((mine - hooks).abs().max().item<double>(), 1e-4 * hooks.abs().max().item<double>());
  EXPECT_GT(product.narrow(0, 0, 1).narrow(1, 1, 1).abs().max().item<double>(), 0.0);
  EXPECT_EQ(product.narrow(0, 4, 1).narrow(1, 0, 1).abs().max().item<double>(), 0.0);  // no tile
}

// Continuous weights (weight_levels 0) on cards with analog states. An exact PCM-like card
// (no spread) without wires holds every weight as it is: each layer's chip product is its
// digital product to float rounding (1e-5 of the largest output). On the PCM card (its 7 %
// lognormal programming spread, physics left out) each of FC1's 48,000 weights is read as its
// target plus the pair's spread, sqrt(sigma(G at |w|)^2 + sigma(G_off)^2) / dG (FractionStats):
// the errors over that sigma have mean 0 (within 5 standard errors) and standard deviation 1
// (3 %; the standard error of a sigma from 48,000 draws is 0.3 %). An MTJ card refuses the
// network, naming the layer and why.
TEST(TorchScriptChip, ContinuousWeightsOnAnalogCards) {
  AIMC_REQUIRE_TORCHSCRIPT_MODELS();
  nn::ImportOptions o;
  o.weight_levels = nn::kContinuousWeights;
  const nn::ImportResult r =
      nn::ImportTorchScript(models / "lenet.pt", o, nn::testing::RandomImages(16, 1));
  auto layers = r.network->AnalogLayers();
  ASSERT_EQ(layers.size(), 5u);
  for (const auto& l : layers) EXPECT_TRUE(l->continuous());
  torch::NoGradGuard no_grad;
  device::TwoStateOptions exact;
  exact.name = "exact analog";
  exact.r_on_ohm = exact.r_on_min_ohm = exact.r_on_max_ohm = 1e6;
  exact.on_off_ratio = 100;
  exact.cv_on = exact.cv_off = 0.0;
  exact.analog = true;
  {
    torch::manual_seed(12);
    std::vector<torch::Tensor> in, want;
    for (nn::AnalogLayer l : layers) {
      const auto& lo = l->options();
      in.push_back(torch::rand(lo.kind == nn::LayerKind::kConv
                                   ? std::vector<std::int64_t>{2, lo.in, 12, 12}
                                   : std::vector<std::int64_t>{4, lo.in}) *
                   l->input_full_scale());
      want.push_back(l->forward(in.back()));
    }
    Chip chip(*r.network, ChipSpec::Devices(std::make_shared<device::TwoStateCard>(exact), {}), 1);
    for (std::size_t k = 0; k < layers.size(); ++k) {
      layers[k]->SetChipProduct(chip.products()[k]);
      EXPECT_LE((layers[k]->forward(in[k]) - want[k]).abs().max().item<double>(),
                1e-5 * want[k].abs().max().item<double>())
          << k;
    }
  }
  {
    std::shared_ptr<device::DeviceCard> pcm = device::LoadCard(device::PresetCardPath("pcm"));
    pcm->set_physics({});
    Chip chip(*r.network, ChipSpec::Devices(pcm, {}), 5);
    const torch::Tensor target = layers[2]->LevelMatrix().t().to(torch::kDouble);  // (120, 400)
    const torch::Tensor read = chip.products()[2].parts[0].weight.to(torch::kDouble);
    ASSERT_EQ(read.sizes(), target.sizes());
    const device::StateStats stats = pcm->Stats();
    const double dg = stats.on.mean_s - stats.off.mean_s;
    const torch::Tensor on = target.abs();
    // The interpolated spread of TwoStateOptions::levels, checked against FractionStats below.
    const torch::Tensor sigma_on = stats.off.stddev_s + on * (stats.on.stddev_s - stats.off.stddev_s);
    EXPECT_NEAR(pcm->FractionStats(0.3).stddev_s,
                stats.off.stddev_s + 0.3 * (stats.on.stddev_s - stats.off.stddev_s),
                1e-12 * stats.on.stddev_s);
    const torch::Tensor z =
        (read - target) / ((sigma_on.square() + stats.off.stddev_s * stats.off.stddev_s).sqrt() / dg);
    EXPECT_NEAR(z.mean().item<double>(), 0.0, 5.0 / std::sqrt(static_cast<double>(z.numel())));
    EXPECT_NEAR(z.std().item<double>(), 1.0, 0.03);
  }
  const ChipSpec mtj = ChipSpec::Devices(device::LoadCard(device::PresetCardPath("sot_mram")), {});
  try {
    Chip chip(*r.network, mtj, 1);
    ADD_FAILURE() << "an MTJ card took continuous weights";
  } catch (const Error& e) {
    const std::string why = e.what();
    EXPECT_NE(why.find("analog layer 0 (continuous weights): card 'SOT-MRAM' has no analog "
                       "states"),
              std::string::npos)
        << why;
  }
}

}  // namespace
}  // namespace aimc::experiment
