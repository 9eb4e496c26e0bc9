#include "aimc/experiment/chip.h"

#include <cmath>

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "aimc/circuit/dc_solver.h"
#include "aimc/circuit/power.h"
#include "aimc/circuit/wires.h"
#include "aimc/common/error.h"
#include "aimc/common/rng.h"
#include "aimc/device/two_state.h"
#include "aimc/experiment/calibration.h"
#include "aimc/experiment/evaluate_chips.h"
#include "aimc/experiment/ir_aware.h"
#include "aimc/nn/evaluate.h"
#include "aimc/nn/runtime.h"
#include "aimc/nn/train.h"
#include "../common/test_error.h"
#include "chip_tiles.h"

namespace aimc::experiment {
namespace {

// The SOT-MRAM card as a static linear resistor (its physics cleared): the tests of the linear
// circuit and of the chip's routes for it.
std::shared_ptr<device::DeviceCard> StaticSot() {
  std::shared_ptr<device::DeviceCard> card = device::LoadCard(device::PresetCardPath("sot_mram"));
  card->set_physics({});
  return card;
}

nn::Network LeNet(std::uint64_t seed, int weight_levels = 3) {
  nn::NetworkOptions o;
  o.arch = "lenet5";
  o.in_channels = 1;
  o.image_size = 28;
  o.classes = 10;
  o.weight_levels = weight_levels;
  auto net = nn::MakeNetwork(o, seed);
  net->eval();
  return net;
}

// A conductance matrix (rows x cols) as a double tensor of the same shape.
torch::Tensor TransposedG(const Eigen::MatrixXd& m) {
  return torch::from_blob(const_cast<double*>(m.data()), {m.cols(), m.rows()}, torch::kDouble)
      .t()
      .clone();
}

std::size_t LayerWithRows(nn::NetworkImpl& net, std::int64_t rows) {
  const auto layers = net.AnalogLayers();
  for (std::size_t l = 0; l < layers.size(); ++l)
    if (layers[l]->rows() == rows) return l;
  ADD_FAILURE() << "no layer with " << rows << " rows";
  return 0;
}

// The reference of the chip's path: each tile's array solved in full (sparse Cholesky of the
// nodal equations) for every input row of x, column currents in level steps,
// L (I+ - I-) / (V_unit dG).
Eigen::MatrixXd FullSolveReference(const Chip& chip, const LayerTiles& lt, const ChipOptions& o,
                                   const torch::Tensor& x) {
  const Eigen::MatrixXd xe = ToEigen(x);
  Eigen::MatrixXd reference = Eigen::MatrixXd::Zero(xe.rows(), lt.cols);
  const double volts_per_unit = o.read_voltage_v / lt.input_full_scale;
  for (const Tile& tile : lt.tiles) {
    const circuit::Crossbar xbar(
        circuit::InterleavePairs(tile.g_plus, tile.g_minus, circuit::PairLayout::kColumns),
        o.crossbar);
    const circuit::DcSolver solver(xbar);
    for (Eigen::Index n = 0; n < xe.rows(); ++n) {
      const Eigen::VectorXd v =
          xe.row(n).segment(tile.row0, tile.rows).transpose() * volts_per_unit;
      const Eigen::VectorXd i = solver.ColumnCurrents(v);
      for (std::int64_t j = 0; j < tile.cols; ++j)
        reference(n, tile.col0 + j) +=
            lt.max_level * (i(2 * j) - i(2 * j + 1)) / (volts_per_unit * chip.dg_s());
    }
  }
  return reference;
}

// Reference: for sampled MVMs of LeNet-5's FC1 (400 x 120, the paper's Fig. 15b layer), a full
// DC solve of each tile's array (sparse Cholesky of the nodal equations, per input vector)
// against the chip's path (effective matrix, then a dense product). Both are exact solutions of
// the same linear circuit; they differ only by rounding, ~1e-13 relative, so 1e-9 of the largest
// output is a safe bound. Tiles of 256 x 64 split the layer both ways.
TEST(Chip, NetworkPathEqualsFullCircuitSolve) {
  auto net = LeNet(3);
  // The linear circuit: the card's devices as static resistors.
  std::shared_ptr<device::DeviceCard> card = device::LoadCard(device::PresetCardPath("sot_mram"));
  card->set_physics({});
  ChipOptions o;
  o.tile_rows = 256;
  o.tile_cols = 64;
  o.crossbar.wire_row_ohm = 2.0;
  o.crossbar.wire_col_ohm = 4.0;
  o.crossbar.driver_ohm = 100.0;
  o.crossbar.sense_ohm = 50.0;
  const Chip chip(*net, ChipSpec::Devices(card, o), 17);
  const std::size_t l = LayerWithRows(*net, 400);
  const LayerTiles& lt = chip.layers()[l];
  ASSERT_EQ(lt.tiles.size(), 4u);  // 400 = 256 + 144 rows, 120 = 64 + 56 columns

  // Quantized activations: levels 0..15 times the layer's input step.
  torch::manual_seed(5);
  const auto layer = net->AnalogLayers()[l];
  const torch::Tensor x =
      torch::randint(0, 16, {3, 400}, torch::kDouble) * layer->input_step();
  const torch::Tensor y = chip.Mvm(l, x);
  const Eigen::MatrixXd reference = FullSolveReference(chip, lt, o, x);
  const Eigen::MatrixXd ye = ToEigen(y);
  const double scale = reference.cwiseAbs().maxCoeff();
  EXPECT_GT(scale, 1.0);
  EXPECT_LE((ye - reference).cwiseAbs().maxCoeff(), 1e-9 * scale);
}

// Reference: devices without spread and no parasitics make every pair exactly (G+ - G-) / dG =
// the ternary level, so the network on the chip computes what the noise-free ternary network
// computes; only float rounding of the product order differs (outputs ~10, 1e-4 is ~1000 ulps).
TEST(Chip, ExactDevicesWithoutWiresReproduceTheTernaryNetwork) {
  auto net = LeNet(4);
  device::TwoStateOptions ideal;
  ideal.name = "exact";
  ideal.r_on_ohm = ideal.r_on_min_ohm = ideal.r_on_max_ohm = 1e6;
  ideal.on_off_ratio = 2.5;
  ideal.cv_on = ideal.cv_off = 0.0;
  const auto card = std::make_shared<device::TwoStateCard>(ideal);
  torch::manual_seed(1);
  const torch::Tensor images = torch::rand({8, 1, 28, 28});
  const torch::Tensor digital = net->forward(images);
  torch::Tensor analog;
  {
    const Chip chip(*net, ChipSpec::Devices(card), 1);
    analog = net->forward(images);
  }
  EXPECT_LE((analog - digital).abs().max().item<double>(), 1e-4);
  // The chip is gone: the hooks are removed.
  EXPECT_TRUE(torch::equal(net->forward(images), digital));
}

// Physics: with wire resistance the far cells see less voltage (Fig. 15b), so the effective
// weights shrink: |W_eff| < |level| on average, and more so with more resistance.
TEST(Chip, WireResistanceShrinksEffectiveWeights) {
  auto net = LeNet(5);
  std::shared_ptr<const device::DeviceCard> card =
      StaticSot()->WithRon(1.5e6);
  double previous = 1.0;
  for (double wire : {1.0, 10.0, 100.0}) {
    ChipOptions o;
    o.crossbar.wire_row_ohm = o.crossbar.wire_col_ohm = wire;
    const Chip chip(*net, ChipSpec::Devices(card, o), 2);
    const std::size_t l = LayerWithRows(*net, 400);
    const Tile& t = chip.layers()[l].tiles[0];
    const Eigen::MatrixXd levels = ToEigen(net->AnalogLayers()[l]->TernaryMatrix());
    const double ratio =
        t.weight.cwiseProduct(levels).sum() / static_cast<double>((levels.array() != 0).count());
    EXPECT_LT(ratio, previous) << wire;
    previous = ratio;
  }
  EXPECT_LT(previous, 0.99);
}

// One interface, two modes: a weight-noise chip is the network with its noise drawn, removed
// with the chip; the same seed gives the same chip, and zero noise is the digital network.
TEST(Chip, WeightNoiseModeDrawsOnceAndCleansUp) {
  auto net = LeNet(6);
  torch::manual_seed(2);
  const torch::Tensor images = torch::rand({16, 1, 28, 28});
  const torch::Tensor digital = net->forward(images);
  const auto noisy = ChipSpec::WeightNoise(nn::LevelNoise::Uniform(0.3));
  torch::Tensor a, b, c;
  {
    const Chip chip(*net, noisy, 7);
    a = net->forward(images);
    b = net->forward(images);  // fixed over the test set
  }
  {
    const Chip chip(*net, noisy, 7);
    c = net->forward(images);
  }
  EXPECT_TRUE(torch::equal(a, b));
  EXPECT_TRUE(torch::equal(a, c));
  EXPECT_FALSE(torch::allclose(a, digital));
  EXPECT_TRUE(torch::equal(net->forward(images), digital));
  {
    // BatchNorm folded into the weights: the same network up to float rounding.
    const Chip chip(*net, ChipSpec::WeightNoise(nn::LevelNoise::Uniform(0.0)), 7);
    EXPECT_TRUE(torch::allclose(net->forward(images), digital, 1e-4, 1e-4));
  }
}

// Monte-Carlo chips: seeded (the same seed gives the same accuracies), chips differ under noise,
// and noise-free chips are all the digital network.
TEST(Chip, MonteCarloChipsAreSeededAndNoiseFreeChipsAgree) {
  auto net = LeNet(8);
  torch::manual_seed(3);
  nn::Dataset data;
  data.images = torch::randint(0, 256, {200, 1, 28, 28}, torch::kUInt8);
  data.labels = net->forward(nn::ToInput(data.images)).argmax(1);  // the digital network: 100 %
  data.classes = 10;
  const ChipStats clean =
      TestChips(*net, data, ChipSpec::WeightNoise(nn::LevelNoise::Uniform(0.0)), 3, 1);
  EXPECT_EQ(clean.min, clean.max);
  EXPECT_EQ(clean.mean, nn::Evaluate(*net, data));
  const auto noisy = ChipSpec::WeightNoise(nn::LevelNoise::Uniform(0.8));
  const ChipStats a = TestChips(*net, data, noisy, 4, 1);
  const ChipStats b = TestChips(*net, data, noisy, 4, 1);
  EXPECT_EQ(a.accuracies, b.accuracies);
  EXPECT_GT(a.max - a.min, 0.0);  // sigma 0.8: chips differ on 200 images
  EXPECT_LT(a.mean, 1.0);
}

nn::Network Trainedish(const std::string& arch, std::uint64_t seed) {
  nn::NetworkOptions o;
  o.arch = arch;
  auto net = nn::MakeNetwork(o, seed);
  // BatchNorm statistics away from the identity, so that folding them matters.
  torch::NoGradGuard no_grad;
  for (auto& b : net->named_buffers()) {
    if (b.key().find("running_mean") != std::string::npos) b.value().uniform_(-0.3, 0.3);
    if (b.key().find("running_var") != std::string::npos) b.value().uniform_(0.5, 2.0);
  }
  net->eval();
  return net;
}

// Reference: the per-MVM route (each tile's effective matrix applied to im2col columns in double
// precision, partial sums added per tile, the ADC per tile), which the circuit test above ties to
// full DC solves at 1e-9. The effective-weight route (one float product per layer, or one per row
// block with an ADC, BatchNorm folded) must compute the same logits up to float rounding: 1e-4
// of the largest logit, and the same predictions. Tiles of 100 x 24 split every layer both ways.
//
// With an ADC, float and double products can round an output lying on a step boundary to
// neighbouring levels, and through 26 layers such rare flips spread; so with an ADC every layer
// is compared on its own (random activations through the layer's chip product and through its
// hook): fewer than 0.1 % of outputs may differ by more than 1e-4, by one ADC step at most.
TEST(Chip, EffectiveWeightsEqualTheMvmHooksForCnn1AndCnn2) {
  const std::shared_ptr<const device::DeviceCard> card = StaticSot();
  torch::manual_seed(11);
  const torch::Tensor images = torch::rand({6, 1, 28, 28});
  for (const std::string arch : {"lenet5", "resnet26"}) {
    auto net = Trainedish(arch, 12);
    for (const int adc_bits : {0, 6}) {
      ChipOptions o;
      o.tile_rows = 100;
      o.tile_cols = 24;
      o.crossbar.wire_row_ohm = 2.0;
      o.crossbar.wire_col_ohm = 4.0;
      o.adc_bits = adc_bits;
      Chip chip(*net, ChipSpec::Devices(card, o), 5);
      const std::string what = arch + " adc " + std::to_string(adc_bits);
      if (adc_bits == 0) {
        const torch::Tensor fast = net->forward(images);
        chip.UseMvmHooks();
        const torch::Tensor hooks = net->forward(images);
        const double scale = hooks.abs().max().item<double>();
        EXPECT_LE((fast - hooks).abs().max().item<double>(), 1e-4 * scale) << what;
        EXPECT_TRUE(torch::equal(fast.argmax(1), hooks.argmax(1))) << what;
        continue;
      }
      chip.UseMvmHooks();
      const auto layers = net->AnalogLayers();
      for (std::size_t l = 0; l < layers.size(); ++l) {
        nn::AnalogLayer layer = layers[l];
        const auto& lo = layer->options();
        const double alpha = layer->input_step() * ((1 << layer->input_bits()) - 1);
        const torch::Tensor x = lo.kind == nn::LayerKind::kConv
                                    ? torch::rand({2, lo.in, 8, 8}) * 1.2 * alpha
                                    : torch::rand({64, lo.in}) * 1.2 * alpha;
        const torch::Tensor hooks = layer->forward(x);
        layer->SetChipProduct(chip.products()[l]);
        const torch::Tensor fast = layer->forward(x);
        layer->ClearChipProduct();
        const double step =
            AdcStep(AdcFullScale(o, o.tile_rows, alpha), adc_bits) *
            layer->Scale().max().item<double>();
        const torch::Tensor diff = (fast - hooks).abs();
        EXPECT_LT((diff > 1e-4 * hooks.abs().max().item<double>()).to(torch::kDouble).mean().item<double>(),
                  1e-3) << what << " layer " << l;
        EXPECT_LE(diff.max().item<double>(), 1.01 * step) << what << " layer " << l;
      }
    }
  }
}

// CNN 2 at width 4 (Fig. 14a's wide variant): its 3 x 3 convolutions of 256 channels have 2,304
// rows, three row blocks of 1,024-row tiles, so even without an ADC a layer spans several arrays
// along its inputs. Reference as above: the per-MVM route, with the 22 nm layout's wires.
TEST(Chip, WideResNetOnTilesOfDefaultSizeEqualsTheMvmHooks) {
  nn::NetworkOptions o;
  o.arch = "resnet26";
  o.width = 4;
  auto net = nn::MakeNetwork(o, 3);
  net->eval();
  const std::shared_ptr<const device::DeviceCard> card = StaticSot();
  ChipOptions chip_options;
  chip_options.crossbar.UseWires(circuit::Layout22nm());
  Chip chip(*net, ChipSpec::Devices(card, chip_options), 2);
  std::size_t row_split = 0;
  for (const LayerTiles& lt : chip.layers()) row_split += lt.rows > chip_options.tile_rows ? 1 : 0;
  EXPECT_GT(row_split, 0u);
  torch::manual_seed(3);
  const torch::Tensor images = torch::rand({2, 1, 28, 28});
  const torch::Tensor fast = net->forward(images);
  chip.UseMvmHooks();
  const torch::Tensor hooks = net->forward(images);
  EXPECT_LE((fast - hooks).abs().max().item<double>(), 1e-4 * hooks.abs().max().item<double>());
}

// Same seed, same chips: the accuracies do not depend on how many chips share a pass or on the
// thread count, and each chip's effective weights are bit-identical however its tiles were
// built (one thread or two, alone or beside other chips).
TEST(Chip, ChipsPerPassAndThreadsDoNotChangeResults) {
  auto net = Trainedish("lenet5", 13);
  torch::manual_seed(4);
  nn::Dataset data;
  data.images = torch::randint(0, 256, {1200, 1, 28, 28}, torch::kUInt8);  // batches over threads
  data.labels = net->forward(nn::ToInput(data.images)).argmax(1);
  data.classes = 10;
  const std::shared_ptr<const device::DeviceCard> card = StaticSot();
  ChipOptions o;
  o.tile_rows = 128;
  o.crossbar.wire_row_ohm = o.crossbar.wire_col_ohm = 3.0;
  const ChipSpec spec = ChipSpec::Devices(card, o);
  const int threads = torch::get_num_threads();
  nn::SetThreads(1);
  const ChipStats one = TestChips(*net, data, spec, 5, 9, false, 1);
  torch::Tensor w1;
  {
    const Chip chip(*net, spec, Rng::Derive(9, 2));
    w1 = chip.products()[2].parts[0].weight.clone();
  }
  nn::SetThreads(2);
  const ChipStats three = TestChips(*net, data, spec, 5, 9, false, 3);
  const ChipStats all = TestChips(*net, data, spec, 5, 9, false, 5);
  {
    const Chip chip(*net, spec, Rng::Derive(9, 2));
    EXPECT_TRUE(torch::equal(chip.products()[2].parts[0].weight, w1));
  }
  nn::SetThreads(threads);
  EXPECT_EQ(one.accuracies, three.accuracies);
  EXPECT_EQ(one.accuracies, all.accuracies);
  EXPECT_GT(one.max - one.min, 0.0);  // the chips differ: the test compares distinct chips
  const auto noisy = ChipSpec::WeightNoise(nn::LevelNoise::Uniform(0.5));
  EXPECT_EQ(TestChips(*net, data, noisy, 4, 2, false, 1).accuracies,
            TestChips(*net, data, noisy, 4, 2, false, 4).accuracies);
}

// A two-state card (R_ON 1 MOhm, on/off 2.5, 5 % spread) with the given physics.
std::shared_ptr<const device::DeviceCard> TwoStateWith(const device::Physics& physics,
                                                       double cv = 0.05, int levels = 2) {
  device::TwoStateOptions o;
  o.name = "two-state";
  o.cv_on = o.cv_off = cv;
  o.levels = levels;
  auto card = std::make_unique<device::TwoStateCard>(o);
  card->set_physics(physics);
  return card;
}

// Quantized activations of a layer: levels 0..15 times its input step.
torch::Tensor Activations(const nn::AnalogLayer& layer, std::vector<std::int64_t> shape) {
  return torch::randint(0, 16, shape, torch::kFloat) * static_cast<float>(layer->input_step());
}

// Reference: a multi-level network (7 levels, L = 3) on devices of 4 exact conductance levels
// without parasitics: every pair is L (G+ - G-) / dG = its level, so the chip computes what the
// noise-free network computes (float rounding as above). A card of fewer levels, or with an
// I-V stated for two states only, is refused naming what is missing.
TEST(ChipMultiLevel, ExactDevicesWithoutWiresReproduceTheNetwork) {
  auto net = LeNet(4, 7);
  torch::manual_seed(1);
  const torch::Tensor images = torch::rand({8, 1, 28, 28});
  const torch::Tensor digital = net->forward(images);
  torch::Tensor analog;
  {
    const Chip chip(*net, ChipSpec::Devices(TwoStateWith({}, 0.0, 4)), 1);
    analog = net->forward(images);
    // The levels reach L: the test would pass for ternary levels too otherwise.
    EXPECT_EQ(net->AnalogLayers()[0]->TernaryMatrix().abs().max().item<int>(), 3);
  }
  EXPECT_LE((analog - digital).abs().max().item<double>(), 1e-4);
  const std::string few = ErrorMessage(
      [&] { const Chip c(*net, ChipSpec::Devices(TwoStateWith({}, 0.0, 3)), 1); });
  EXPECT_NE(few.find("holds 3 conductance levels per device, 4 needed"), std::string::npos) << few;
  device::Physics sinh;
  sinh.iv.on_v0_v = 0.3;
  const std::string iv = ErrorMessage(
      [&] { const Chip c(*net, ChipSpec::Devices(TwoStateWith(sinh, 0.0, 4)), 1); });
  EXPECT_NE(iv.find("non-linear I-V"), std::string::npos) << iv;
}

// Reference: as Chip.NetworkPathEqualsFullCircuitSolve, for 5-level weights (L = 2) on a card of
// 3 levels with spread and wires: a full DC solve per input of each tile's array against the
// chip's path, in level steps (L I / (V dG)).
TEST(ChipMultiLevel, NetworkPathEqualsFullCircuitSolve) {
  auto net = LeNet(3, 5);
  ChipOptions o;
  o.tile_rows = 256;
  o.tile_cols = 64;
  o.crossbar.wire_row_ohm = 2.0;
  o.crossbar.wire_col_ohm = 4.0;
  o.crossbar.driver_ohm = 100.0;
  const Chip chip(*net, ChipSpec::Devices(TwoStateWith({}, 0.05, 3), o), 17);
  const std::size_t l = LayerWithRows(*net, 400);
  const LayerTiles& lt = chip.layers()[l];
  ASSERT_EQ(lt.max_level, 2);
  torch::manual_seed(5);
  const auto layer = net->AnalogLayers()[l];
  const torch::Tensor x = torch::randint(0, 16, {3, 400}, torch::kDouble) * layer->input_step();
  const Eigen::MatrixXd ye = ToEigen(chip.Mvm(l, x));
  const Eigen::MatrixXd reference = FullSolveReference(chip, lt, o, x);
  const double scale = reference.cwiseAbs().maxCoeff();
  EXPECT_GT(scale, 1.0);
  EXPECT_LE((ye - reference).cwiseAbs().maxCoeff(), 1e-9 * scale);
  // The devices sit at their levels: level 1 of 2 is halfway between OFF and ON in mean.
  const Eigen::MatrixXi levels = ToEigen(layer->TernaryMatrix()).cast<int>();
  const device::StateStats st = TwoStateWith({}, 0.05, 3)->Stats();
  double sum = 0;
  int count = 0;
  for (const Tile& tile : lt.tiles)
    for (std::int64_t i = 0; i < tile.rows; ++i)
      for (std::int64_t j = 0; j < tile.cols; ++j)
        if (levels(tile.row0 + i, tile.col0 + j) == 1) {
          sum += tile.g_plus(i, j);
          ++count;
        }
  ASSERT_GT(count, 1000);
  const double half = 0.5 * (st.on.mean_s + st.off.mean_s);
  // Relative spread 0.05 over > 1000 devices: standard error < 0.16 %; bound 1 %.
  EXPECT_NEAR(sum / count / half, 1.0, 0.01);
}

// Reference: physics that does nothing at time 0 (drift, relaxation, retention: all need time)
// leaves the chip bit-identical to the chip of the same card without physics: aging draws from
// its own stream, not from the programming draws.
TEST(ChipPhysics, AtTimeZeroAChipIsTheChipAsProgrammed) {
  auto net = LeNet(20);
  device::Physics drift;
  drift.drift.on_nu_mean = drift.drift.off_nu_mean = 0.05;
  drift.drift.on_nu_sigma = 0.01;
  drift.retention.delta = 40.0;
  ChipOptions o;
  o.tile_rows = 128;
  // One chip at a time on a network (programming is exclusive): what is compared is copied.
  std::vector<torch::Tensor> before;
  std::vector<LayerTiles> tiles;
  {
    const Chip plain(*net, ChipSpec::Devices(TwoStateWith({}), o), 4);
    for (const auto& p : plain.products()) before.push_back(p.parts[0].weight.clone());
    tiles = plain.layers();
  }
  {
    const Chip aged(*net, ChipSpec::Devices(TwoStateWith(drift), o), 4);
    ASSERT_EQ(aged.products().size(), before.size());
    for (std::size_t l = 0; l < before.size(); ++l) {
      EXPECT_TRUE(torch::equal(aged.products()[l].parts[0].weight, before[l])) << l;
      EXPECT_TRUE(aged.products()[l].parts[0].terms.empty());
      for (std::size_t t = 0; t < tiles[l].tiles.size(); ++t)
        EXPECT_EQ(aged.layers()[l].tiles[t].g_plus, tiles[l].tiles[t].g_plus);
    }
  }
  // Read later, the same chip has drifted: the devices are those of time 0, scaled.
  o.time_s = 1e5;
  const Chip later(*net, ChipSpec::Devices(TwoStateWith(drift), o), 4);
  const Tile& t0 = tiles[0].tiles[0];
  const Tile& t1 = later.layers()[0].tiles[0];
  EXPECT_LT(t1.g_plus.sum(), 0.9 * t0.g_plus.sum());
}

// Reference: the exact sum over devices, computed here from the tiles' conductances and the
// card's own I-V law: y_j = sum_i x_i (G+_ij s+(V_i) - G-_ij s-(V_i)) / dG, V_i = x_i /
// input_full_scale * V_read (double). Without wires the chip's product (low-bias matrix plus one
// term per non-linear state, float) is exact up to float rounding: 1e-4 of the largest output;
// the per-MVM route (double) to 1e-10. Guard: the sinh law at 0.2 V with V0 = 0.1 V changes the
// outputs by more than 10 % of the largest, so the test is not passed by the linear part alone.
TEST(ChipPhysics, NonLinearIvWithoutWiresIsTheExactSumOverDevices) {
  auto net = LeNet(21);
  device::Physics physics;
  physics.iv.on_v0_v = 0.1;
  physics.iv.off_v0_v = 0.15;
  const auto card = TwoStateWith(physics);
  ChipOptions o;
  o.tile_rows = 128;
  o.tile_cols = 64;
  Chip chip(*net, ChipSpec::Devices(card, o), 6);
  chip.UseMvmHooks();
  torch::manual_seed(8);
  const std::size_t l = LayerWithRows(*net, 400);
  nn::AnalogLayer layer = net->AnalogLayers()[l];
  const LayerTiles& lt = chip.layers()[l];
  const torch::Tensor x = Activations(layer, {6, 400});
  const Eigen::MatrixXd xe = ToEigen(x);
  const double volts_per_unit = o.read_voltage_v / lt.input_full_scale;
  Eigen::MatrixXd exact = Eigen::MatrixXd::Zero(6, lt.cols), linear = exact;
  for (const Tile& tile : lt.tiles) {
    for (int n = 0; n < 6; ++n) {
      for (std::int64_t j = 0; j < tile.cols; ++j) {
        for (std::int64_t i = 0; i < tile.rows; ++i) {
          const double xi = xe(n, tile.row0 + i);
          const double v = xi * volts_per_unit;
          const auto s = [&](bool on) {
            return card->Iv(on ? device::State::kOn : device::State::kOff).Shape(v);
          };
          exact(n, tile.col0 + j) += xi * (tile.g_plus(i, j) * s(tile.on_plus(i, j)) -
                                           tile.g_minus(i, j) * s(tile.on_minus(i, j))) /
                                     chip.dg_s();
          linear(n, tile.col0 + j) += xi * (tile.g_plus(i, j) - tile.g_minus(i, j)) / chip.dg_s();
        }
      }
    }
  }
  const double scale = exact.cwiseAbs().maxCoeff();
  EXPECT_GT((exact - linear).cwiseAbs().maxCoeff(), 0.1 * scale);
  EXPECT_LE((ToEigen(chip.Mvm(l, x)) - exact).cwiseAbs().maxCoeff(), 1e-10 * scale);
  nn::ChipProduct product = chip.products()[l];
  ASSERT_EQ(product.parts[0].terms.size(), 2u);  // both states non-linear
  product.out_scale = torch::Tensor();           // outputs in unit weights
  product.bias = torch::Tensor();
  layer->SetChipProduct(product);
  const Eigen::MatrixXd fast = ToEigen(layer->forward(x));
  layer->ClearChipProduct();
  EXPECT_LE((fast - exact).cwiseAbs().maxCoeff(), 1e-4 * scale);
  // Every layer, convolutions with their padding too: the product against the per-MVM route.
  auto layers = net->AnalogLayers();
  for (std::size_t k = 0; k < layers.size(); ++k) {
    const auto& lo = layers[k]->options();
    const torch::Tensor in = lo.kind == nn::LayerKind::kConv ? Activations(layers[k], {2, lo.in, 12, 12})
                                                             : Activations(layers[k], {8, lo.in});
    const torch::Tensor hooks = layers[k]->forward(in);
    layers[k]->SetChipProduct(chip.products()[k]);
    const torch::Tensor mine = layers[k]->forward(in);
    layers[k]->ClearChipProduct();
    EXPECT_LE((mine - hooks).abs().max().item<double>(), 1e-4 * hooks.abs().max().item<double>())
        << k;
  }
}

// Reference: G (1 + sigma xi) per device and read makes the output of column j, in unit weights,
// the noise-free output plus a normal of variance sigma^2 sum_i x_i^2 (G+^2 + G-^2) / dG^2; shot
// noise of Fano factor F, a current variance F q I / t_read per device with I = G x V_unit, makes
// it sum_i x_i F q (G+ + G-) V_unit / t_read / (V_unit dG)^2. 4,000 reads of one input: each
// column's mean lies within 5 standard errors of the noise-free output (the per-MVM route), its
// sample variance within 5 standard errors (sqrt(2 / n) = 2.2 % relative) of the predicted one,
// and the mean ratio over 120 columns within 5 x 2.2 % / sqrt(120) = 1 %.
// With multi-level weights (5 levels: L = 2) every variance is in level steps, dG / L.
TEST(ChipPhysics, ReadNoiseHasTheVarianceOfIndependentDeviceReads) {
 for (const int weight_levels : {3, 5}) {
  auto net = LeNet(22, weight_levels);
  const int top = nn::MaxLevelOf(weight_levels);
  const std::size_t l = LayerWithRows(*net, 400);
  nn::AnalogLayer layer = net->AnalogLayers()[l];
  torch::manual_seed(9);
  const torch::Tensor x = Activations(layer, {1, 400});
  const int reads = 4000;
  for (const bool shot : {false, true}) {
    device::Physics physics;
    if (shot) {
      physics.read_noise.shot_fano = 1.0;
    } else {
      physics.read_noise.sigma_rel = 0.04;
    }
    ChipOptions o;
    o.tile_rows = 256;
    Chip chip(*net, ChipSpec::Devices(TwoStateWith(physics, 0.05, top + 1), o), 7);
    chip.UseMvmHooks();
    nn::ChipProduct product = chip.products()[l];
    ASSERT_EQ(product.parts[0].terms.size(), 1u);
    product.out_scale = torch::Tensor();
    product.bias = torch::Tensor();
    layer->SetChipProduct(product);
    const torch::Tensor y = layer->forward(x.expand({reads, 400}).contiguous()).to(torch::kDouble);
    layer->ClearChipProduct();
    const torch::Tensor noise_free = chip.Mvm(l, x).squeeze(0);
    const LayerTiles& lt = chip.layers()[l];
    const double dg = chip.dg_s() / top;  // one level step
    const double v_unit = o.read_voltage_v / lt.input_full_scale;
    torch::Tensor predicted = torch::zeros({lt.cols}, torch::kDouble);
    for (const Tile& tile : lt.tiles) {
      const torch::Tensor xt = x.to(torch::kDouble).narrow(1, tile.row0, tile.rows);
      if (shot) {
        const Eigen::MatrixXd g = tile.g_plus + tile.g_minus;
        predicted.narrow(0, tile.col0, tile.cols) +=
            xt.matmul(TransposedG(g)).squeeze(0) *
            (1.602176634e-19 * v_unit / physics.read_noise.read_time_s / (v_unit * dg * v_unit * dg));
      } else {
        const Eigen::MatrixXd g2 = tile.g_plus.array().square() + tile.g_minus.array().square();
        const double sigma = physics.read_noise.sigma_rel;
        predicted.narrow(0, tile.col0, tile.cols) +=
            xt.square().matmul(TransposedG(g2)).squeeze(0) * (sigma * sigma / (dg * dg));
      }
    }
    const torch::Tensor mean = y.mean(0), variance = y.var(0);
    const torch::Tensor standard_error = (predicted / reads).sqrt();
    EXPECT_TRUE(((mean - noise_free).abs() <= 5 * standard_error).all().item<bool>()) << shot;
    const torch::Tensor ratio = variance / predicted;
    const double relative_se = std::sqrt(2.0 / (reads - 1));
    EXPECT_TRUE(((ratio - 1).abs() <= 5 * relative_se).all().item<bool>()) << shot;
    EXPECT_NEAR(ratio.mean().item<double>(), 1.0, 5 * relative_se / std::sqrt(120.0)) << shot;
    // Guard: the noise is well above float rounding of outputs ~10 (1e-6).
    EXPECT_GT(predicted.min().item<double>(), 1e-6) << shot;
  }
 }
}

// Reference: a stuck-at-ON fraction of 1 leaves no device OFF, whatever was written.
TEST(ChipPhysics, StuckAtOneFractionMakesEveryDeviceOn) {
  auto net = LeNet(23);
  device::Physics physics;
  physics.stuck.on_fraction = 1.0;
  const Chip chip(*net, ChipSpec::Devices(TwoStateWith(physics)), 2);
  for (const LayerTiles& lt : chip.layers()) {
    for (const Tile& tile : lt.tiles) {
      EXPECT_TRUE(tile.on_plus.all());
      EXPECT_TRUE(tile.on_minus.all());
      // Both devices ON: every weight is a difference of two ON draws, near 0.
      EXPECT_LT(tile.weight.cwiseAbs().mean(), 0.2);
    }
  }
}

// Reference: Neel-Arrhenius with Delta = 10 and tau_0 = 1 ns gives tau = 22 us; read a year
// later every device has flipped (P = 1 - exp(-1.4e12)). On an MTJ both devices of a pair flip,
// so +1 pairs (P, AP) read as (AP, P) = -1 and -1 as +1; at time 0 none has.
TEST(ChipPhysics, CertainRetentionLossTurnsEveryPairOver) {
  auto net = LeNet(24);
  auto mtj = device::LoadCard(device::PresetCardPath("sot_mram"));
  device::Physics physics;
  physics.retention.delta = 10.0;
  mtj->set_physics(physics);
  const std::shared_ptr<const device::DeviceCard> card(std::move(mtj));
  ChipOptions o;
  o.time_s = 3.15e7;
  const Chip chip(*net, ChipSpec::Devices(card, o), 3);
  const auto layers = net->AnalogLayers();
  for (std::size_t l = 0; l < layers.size(); ++l) {
    const Eigen::MatrixXd levels = ToEigen(layers[l]->TernaryMatrix());
    for (const Tile& tile : chip.layers()[l].tiles) {
      const Eigen::MatrixXd w = levels.block(tile.row0, tile.col0, tile.rows, tile.cols);
      // Written ON where the level is +1 (plus) or -1 (minus): now OFF there, ON elsewhere.
      EXPECT_TRUE((tile.on_plus == (w.array() != 1.0)).all()) << l;
      EXPECT_TRUE((tile.on_minus == (w.array() != -1.0)).all()) << l;
      const double flipped = -(tile.weight.array() * w.array()).sum() / (w.array() != 0).count();
      EXPECT_GT(flipped, 0.9) << l;
    }
  }
}

// Reference: drift with one exponent for every device, G(t) = G(0) (t / t0)^-nu, scales every
// conductance by the same factor; the reference read per array (c(0) / c(t)) undoes it, so the
// compensated chip equals the chip at time 0 up to the rounding of sums of ~1e5 conductances
// (1e-12 relative). Guard: uncompensated, the weights have shrunk by (1e4)^-0.1 = 0.40. The
// per-column compensation does the same.
TEST(ChipPhysics, DriftCompensationRestoresAUniformlyDriftedChip) {
  auto net = LeNet(25);
  device::Physics physics;
  physics.drift.on_nu_mean = physics.drift.off_nu_mean = 0.1;
  const auto card = TwoStateWith(physics);
  ChipOptions o;
  o.tile_rows = 200;
  // One chip at a time on a network (programming is exclusive): the tiles compared are copied.
  const auto tiles_of = [&](const ChipOptions& options) {
    const Chip chip(*net, ChipSpec::Devices(card, options), 5);
    return chip.layers();
  };
  const std::vector<LayerTiles> fresh = tiles_of(o);
  o.time_s = 1e4;
  const std::vector<LayerTiles> drifted = tiles_of(o);
  for (const DriftCompensation c : {DriftCompensation::kArray, DriftCompensation::kColumn}) {
    o.drift_compensation = c;
    const std::vector<LayerTiles> compensated = tiles_of(o);
    for (std::size_t l = 0; l < fresh.size(); ++l) {
      for (std::size_t t = 0; t < fresh[l].tiles.size(); ++t) {
        const Eigen::MatrixXd& w0 = fresh[l].tiles[t].weight;
        const double scale = w0.cwiseAbs().maxCoeff();
        EXPECT_LE((compensated[l].tiles[t].weight - w0).cwiseAbs().maxCoeff(), 1e-12 * scale)
            << ToString(c);
        EXPECT_NEAR(drifted[l].tiles[t].weight.cwiseAbs().sum() / w0.cwiseAbs().sum(),
                    std::pow(1e4, -0.1), 1e-9);
      }
    }
  }
}

// Same seed, same chips with read noise: each image draws its own noise from its index in the
// data set, so the accuracies do not depend on chips per pass or threads. Guard: the noise
// (sigma 30 %) changes the accuracies of the same chips.
TEST(ChipPhysics, ReadNoiseDoesNotDependOnChipsPerPassOrThreads) {
  auto net = Trainedish("lenet5", 14);
  torch::manual_seed(4);
  nn::Dataset data;
  data.images = torch::randint(0, 256, {1200, 1, 28, 28}, torch::kUInt8);
  data.labels = net->forward(nn::ToInput(data.images)).argmax(1);
  data.classes = 10;
  device::Physics physics;
  physics.read_noise.sigma_rel = 0.3;
  ChipOptions o;
  o.tile_rows = 128;
  o.adc_bits = 8;  // terms inside ADC parts too
  const ChipSpec spec = ChipSpec::Devices(TwoStateWith(physics), o);
  const int threads = torch::get_num_threads();
  nn::SetThreads(1);
  const ChipStats one = TestChips(*net, data, spec, 4, 9, false, 1);
  nn::SetThreads(2);
  const ChipStats three = TestChips(*net, data, spec, 4, 9, false, 3);
  const ChipStats all = TestChips(*net, data, spec, 4, 9, false, 4);
  const ChipStats quiet = TestChips(*net, data, ChipSpec::Devices(TwoStateWith({}), o), 4, 9, false, 4);
  nn::SetThreads(threads);
  EXPECT_EQ(one.accuracies, three.accuracies);
  EXPECT_EQ(one.accuracies, all.accuracies);
  EXPECT_NE(one.accuracies, quiet.accuracies);
}

TEST(ChipOptions, ReadConditionsAppearInTheJsonOnlyWhenSet) {
  ChipOptions o;
  const std::string plain = o.ToJson().dump();
  EXPECT_EQ(plain.find("time_s"), std::string::npos);
  EXPECT_EQ(plain.find("drift"), std::string::npos);
  o.time_s = 10.0;
  o.drift_compensation = ParseDriftCompensation("column");
  EXPECT_EQ(o.ToJson()["time_s"], 10.0);
  EXPECT_EQ(o.ToJson()["drift_compensation"], "column");
  EXPECT_NE(ChipSpec::Devices(TwoStateWith({}), o).Describe().find("drift compensation"),
            std::string::npos);
  EXPECT_THROW(ParseDriftCompensation("row"), Error);
  o.temperature_k = -3;
  try {
    o.Validate();
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("temperature_k"), std::string::npos);
  }
}

// Monte-Carlo statistics: mean, sample std (n - 1), min, max of the chips' accuracies.
TEST(Chip, SummarizeGivesSampleStatistics) {
  const ChipStats s = Summarize({0.5, 0.7, 0.9});
  EXPECT_DOUBLE_EQ(s.mean, 0.7);
  EXPECT_NEAR(s.stddev, 0.2, 1e-15);
  EXPECT_EQ(s.min, 0.5);
  EXPECT_EQ(s.max, 0.9);
  EXPECT_EQ(Summarize({0.4}).stddev, 0.0);
}

TEST(ChipSpec, DescribesAndValidatesBothModes) {
  EXPECT_NE(ChipSpec::WeightNoise(nn::LevelNoise::Uniform(0.1)).ToJson().dump().find("weight_noise"),
            std::string::npos);
  const auto card = device::LoadCardOrPreset("sot_mram");
  const ChipSpec d = ChipSpec::Devices(std::shared_ptr<const device::DeviceCard>(card->WithRon(6e6)));
  EXPECT_NE(d.Describe().find("SOT-MRAM"), std::string::npos);
  EXPECT_THROW(ChipSpec::WeightNoise(nn::LevelNoise::Uniform(-0.1)).Validate(), Error);
}

TEST(ChipOptions, ValidateNamesTheField) {
  ChipOptions o;
  o.tile_rows = 0;
  try {
    o.Validate();
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tile_rows"), std::string::npos);
  }
}

}  // namespace
}  // namespace aimc::experiment

namespace aimc::experiment {
namespace {

// The exact route of a non-linear chip solves each tile's circuit by Newton (checked against
// ngspice in the circuit tests). Here: (1) with wires of 1 micro-ohm it equals the devices'
// currents at their rows' voltages (what the route without parasitics sums): the wires' own share
// is ~1e-12, but wires that conduct 1e13 times better than the devices leave Newton at the
// rounding floor of their nodes (docs/xbar.md), measured 1.5e-9 relative: checked to 1e-8; (2) with the 22 nm layout's
// wires the fast route (linear IR drop at G0 plus the non-linear correction at ideal voltages)
// differs from it by a second-order amount: above zero, below 1 % of the layer's largest output.
TEST(ChipPhysics, ExactRouteSolvesTheNonlinearCircuitAndTheFastRouteIsClose) {
  auto net = LeNet(3);
  std::shared_ptr<device::DeviceCard> card = device::LoadCard(device::PresetCardPath("sot_mram"));
  device::Physics p;
  p.iv.v_half_v = 0.3;  // strongly non-linear at the read voltage below
  card->set_physics(p);
  ChipOptions o;
  o.tile_rows = 128;
  o.tile_cols = 64;
  o.read_voltage_v = 0.4;
  o.crossbar.wire_row_ohm = o.crossbar.wire_col_ohm = 1e-6;
  const std::size_t l = LayerWithRows(*net, 400);
  const auto layer = net->AnalogLayers()[l];
  torch::manual_seed(5);
  const torch::Tensor x = torch::randint(0, 16, {2, 400}, torch::kDouble) * layer->input_step();
  {
    // One chip at a time on a network (programming is exclusive).
    torch::Tensor exact, sum;
    {
      const Chip chip(*net, ChipSpec::Devices(card, o), 3);
      exact = chip.Mvm(l, x, Chip::MvmRoute::kExact);
    }
    ChipOptions ideal = o;
    ideal.crossbar = {};
    {
      const Chip reference(*net, ChipSpec::Devices(card, ideal), 3);
      sum = reference.Mvm(l, x, Chip::MvmRoute::kExact);
    }
    const double scale = sum.abs().max().item<double>();
    EXPECT_GT(scale, 1.0);
    EXPECT_LE((exact - sum).abs().max().item<double>(), 1e-8 * scale);
  }
  o.crossbar.UseWires(circuit::Layout22nm(), 10.0);
  Chip chip(*net, ChipSpec::Devices(card, o), 3);
  torch::manual_seed(6);
  const Chip::RouteError e = chip.MeasureFastRoute(torch::rand({2, 1, 28, 28}), 4);
  EXPECT_EQ(e.layer_rel.size(), net->AnalogLayers().size());
  EXPECT_GT(e.max_rel, 0.0);
  EXPECT_LT(e.max_rel, 1e-2);
  EXPECT_GE(e.max_newton_iterations, 1);
}

}  // namespace
}  // namespace aimc::experiment

namespace aimc::experiment {
namespace {

nn::Dataset RandomImages(std::int64_t n, std::uint64_t seed) {
  torch::manual_seed(seed);
  nn::Dataset d;
  d.images = torch::randint(0, 256, {n, 1, 28, 28}, torch::kUInt8);
  d.labels = torch::zeros({n}, torch::kLong);
  d.classes = 10;
  d.name = "random";
  return d;
}

// The quantized inputs (as im2col columns, double) every analog layer sees when `net` runs
// `data` on its programmed chip: captured independently of Chip::MeasureCost.
std::vector<torch::Tensor> LayerInputs(nn::NetworkImpl& net, const nn::Dataset& data) {
  auto layers = net.AnalogLayers();
  std::vector<torch::Tensor> seen(layers.size());
  for (std::size_t l = 0; l < layers.size(); ++l) {
    nn::AnalogLayerImpl* layer = layers[l].get();
    layers[l]->SetInputObserver([&seen, l, layer](const torch::Tensor& xq) {
      const torch::Tensor x = layer->InputColumns(xq).to(torch::kDouble);
      seen[l] = seen[l].defined() ? torch::cat({seen[l], x}) : x;
    });
  }
  {
    torch::NoGradGuard no_grad;
    net.forward(nn::ToInput(data.images));
  }
  for (auto& l : layers) l->ClearInputObserver();
  return seen;
}

// Reference for the array read energy of a chip with wires: every MVM of every tile solved in
// full (DcSolver), its power from the node voltages (circuit::PowerOf, checked against ngspice
// in src/circuit), times the read time. The chip's quadratic form V^T Y V over the inputs' Gram
// matrices must give the same sum: both are exact, so they differ by rounding only (1e-9).
// Both pair layouts (kRows drives +x and -x).
TEST(ChipEnergy, ArrayEnergyEqualsFullSolvesOfEveryMvm) {
  for (const circuit::PairLayout layout : {circuit::PairLayout::kColumns, circuit::PairLayout::kRows}) {
    auto net = LeNet(31);
    ChipOptions o;
    o.tile_rows = 128;
    o.tile_cols = 64;
    o.layout = layout;
    o.crossbar.wire_row_ohm = 200.0;
    o.crossbar.wire_col_ohm = 400.0;
    o.crossbar.driver_ohm = 1e3;
    o.crossbar.sense_ohm = 500.0;
    // A low R_ON with spread: the wires matter.
    device::TwoStateOptions t;
    t.name = "low";
    t.r_on_ohm = 1e5;
    t.r_on_min_ohm = 1e3;
    t.cv_on = t.cv_off = 0.05;
    const std::shared_ptr<const device::DeviceCard> card = std::make_shared<device::TwoStateCard>(t);
    Chip chip(*net, ChipSpec::Devices(card, o), 9);
    const nn::Dataset data = RandomImages(1, 4);
    energy::EnergyOptions e;
    e.images = 1;
    e.split_mvms = 1000;  // every MVM of the image: the split is then exact too
    const energy::InferenceCost cost = chip.MeasureCost(data, e);
    const std::vector<torch::Tensor> inputs = LayerInputs(*net, data);
    const double t_read = e.ReadTimeS(card->physics());
    double reference = 0.0, devices = 0.0;
    for (std::size_t l = 0; l < chip.layers().size(); ++l) {
      const LayerTiles& lt = chip.layers()[l];
      const double vpu = o.read_voltage_v / lt.input_full_scale;
      const Eigen::MatrixXd x = ToEigen(inputs[l]);
      for (const Tile& tile : lt.tiles) {
        const circuit::Crossbar xbar(circuit::InterleavePairs(tile.g_plus, tile.g_minus, layout),
                                     o.crossbar);
        const circuit::DcSolver solver(xbar);
        for (Eigen::Index n = 0; n < x.rows(); ++n) {
          const Eigen::VectorXd v = circuit::PairInputs(
              x.row(n).segment(tile.row0, tile.rows).transpose() * vpu, layout);
          const circuit::ArrayPower p = circuit::PowerOf(xbar, v, solver.Solve(v));
          reference += p.total_w * t_read;
          devices += p.devices_w * t_read;
        }
      }
    }
    EXPECT_NEAR(cost.energy.array_j, reference, 1e-9 * reference) << circuit::ToString(layout);
    // Split over every MVM, the devices' part is the full solves' exactly; the wires take a
    // visible part at 100 kOhm.
    EXPECT_NEAR(cost.energy.devices_j, devices, 1e-9 * devices);
    EXPECT_LT(cost.energy.devices_j, 0.99 * cost.energy.array_j);
    // A few MVMs per layer, drawn among those that draw power (not the padding's zero inputs),
    // give the share within a few points.
    e.split_mvms = 4;
    const energy::InferenceCost few = chip.MeasureCost(data, e);
    EXPECT_NEAR(few.energy.devices_j / few.energy.array_j, devices / reference, 0.03);
    EXPECT_GT(cost.energy.Total(), cost.energy.array_j);
    EXPECT_GT(cost.TopsPerW(), 0.0);
    EXPECT_EQ(cost.layers.size(), net->layers().size());
  }
}

// Hand-checkable: without wires an array dissipates sum_ij G_ij V_i^2 per read (both devices of
// every pair), and a card at twice the R_ON (the same on/off ratio, no spread) draws half of it;
// the chip's activations do not change (its weights are G / dG).
TEST(ChipEnergy, WithoutWiresArrayEnergyIsSumOfGV2AndHalvesWhenRonDoubles) {
  auto net = LeNet(32);
  device::TwoStateOptions t;
  t.name = "ideal";
  t.r_on_ohm = 1e6;
  t.r_on_min_ohm = 1e3;
  t.r_on_max_ohm = 1e9;
  t.on_off_ratio = 2.5;
  t.cv_on = t.cv_off = 0.0;
  const std::shared_ptr<const device::DeviceCard> card = std::make_shared<device::TwoStateCard>(t);
  ChipOptions o;
  o.tile_rows = 100;  // row splits: several tiles per layer
  o.tile_cols = 50;
  const nn::Dataset data = RandomImages(3, 5);
  energy::EnergyOptions e;
  e.images = 0;
  e.read_time_s = 20e-9;
  // One chip at a time on a network (programming is exclusive).
  energy::InferenceCost cost, half;
  {
    Chip chip(*net, ChipSpec::Devices(card, o), 3);
    cost = chip.MeasureCost(data, e);
    const std::vector<torch::Tensor> inputs = LayerInputs(*net, data);
    double reference = 0.0;
    for (std::size_t l = 0; l < chip.layers().size(); ++l) {
      const LayerTiles& lt = chip.layers()[l];
      const double vpu = o.read_voltage_v / lt.input_full_scale;
      const Eigen::MatrixXd x = ToEigen(inputs[l]);
      for (const Tile& tile : lt.tiles) {
        const Eigen::VectorXd g = (tile.g_plus + tile.g_minus).rowwise().sum();
        for (Eigen::Index n = 0; n < x.rows(); ++n)
          for (std::int64_t i = 0; i < tile.rows; ++i) {
            const double v = x(n, tile.row0 + i) * vpu;
            reference += g(i) * v * v * 20e-9;
          }
      }
    }
    EXPECT_NEAR(cost.energy.array_j, reference / 3, 1e-12 * reference);
    EXPECT_DOUBLE_EQ(cost.energy.devices_j, cost.energy.array_j);  // no parasitics
    // Row lines charged to V_i on every read: C per cell x the tile's summation lines x V^2.
    EXPECT_GT(cost.energy.lines_j, 0.0);
    EXPECT_EQ(cost.images, 3.0);
    EXPECT_DOUBLE_EQ(cost.accuracy, chip.Evaluate(data));  // the same pass counts both
  }
  {
    Chip doubled(*net, ChipSpec::Devices(card->WithRon(2e6), o), 3);
    half = doubled.MeasureCost(data, e);
  }
  EXPECT_NEAR(half.energy.array_j / cost.energy.array_j, 0.5, 1e-12);
  // Everything else (periphery, digital) is the same: the activations did not change.
  EXPECT_NEAR(half.energy.Total() - half.energy.array_j,
              cost.energy.Total() - cost.energy.array_j, 1e-12 * cost.energy.Total());
}

// A non-linear I-V without wires: each device draws G0 V^2 s(V), the exact sum over devices.
TEST(ChipEnergy, NonLinearDevicesWithoutWiresDrawTheirIvPower) {
  auto net = LeNet(33);
  device::Physics physics;
  physics.iv.on_v0_v = 0.1;
  physics.iv.off_v0_v = 0.15;
  const auto card = TwoStateWith(physics);
  ChipOptions o;
  o.tile_rows = 128;
  o.tile_cols = 64;
  o.read_voltage_v = 0.3;
  Chip chip(*net, ChipSpec::Devices(card, o), 6);
  const nn::Dataset data = RandomImages(2, 6);
  energy::EnergyOptions e;
  e.images = 2;
  const energy::InferenceCost cost = chip.MeasureCost(data, e);
  const std::vector<torch::Tensor> inputs = LayerInputs(*net, data);
  const double t_read = e.ReadTimeS(card->physics());
  double reference = 0.0, linear = 0.0;
  for (std::size_t l = 0; l < chip.layers().size(); ++l) {
    const LayerTiles& lt = chip.layers()[l];
    const double vpu = o.read_voltage_v / lt.input_full_scale;
    const Eigen::MatrixXd x = ToEigen(inputs[l]);
    for (const Tile& tile : lt.tiles)
      for (Eigen::Index n = 0; n < x.rows(); ++n)
        for (std::int64_t i = 0; i < tile.rows; ++i) {
          const double v = x(n, tile.row0 + i) * vpu;
          for (std::int64_t j = 0; j < tile.cols; ++j) {
            const auto s = [&](bool on) {
              return card->Iv(on ? device::State::kOn : device::State::kOff).Shape(v);
            };
            reference += t_read * v * v *
                         (tile.g_plus(i, j) * s(tile.on_plus(i, j)) +
                          tile.g_minus(i, j) * s(tile.on_minus(i, j)));
            linear += t_read * v * v * (tile.g_plus(i, j) + tile.g_minus(i, j));
          }
        }
  }
  EXPECT_GT(reference, 1.05 * linear);  // the sinh law draws visibly more at 0.3 V
  EXPECT_NEAR(cost.energy.array_j, reference / 2, 1e-9 * reference);
}

TEST(ChipEnergy, WeightNoiseChipsHaveNoArraysToMeasure) {
  auto net = LeNet(34);
  Chip chip(*net, ChipSpec::WeightNoise(nn::LevelNoise::Uniform(0.1)), 1);
  EXPECT_THROW(chip.MeasureCost(RandomImages(1, 1), energy::EnergyOptions{}), Error);
}

}  // namespace
}  // namespace aimc::experiment

namespace aimc::experiment {
namespace {

// Reference: an ideal chip (no wires, no spread) computes the ternary product exactly, so its
// calibration has nothing to correct: gain 1 and offset 0 to rounding, outputs unchanged.
TEST(ChipCalibration, AnIdealChipIsLeftUnchanged) {
  auto net = LeNet(41);
  device::TwoStateOptions t;
  t.name = "ideal";
  t.cv_on = t.cv_off = 0.0;
  const std::shared_ptr<const device::DeviceCard> card = std::make_shared<device::TwoStateCard>(t);
  const auto calibration = CaptureCalibration(*net, RandomImages(8, 11));
  ChipOptions o;
  ChipSpec plain = ChipSpec::Devices(card, o);
  o.calibration_images = 8;
  ChipSpec calibrated = ChipSpec::Devices(card, o);
  calibrated.calibration = calibration;
  const nn::Dataset test = RandomImages(16, 12);
  std::vector<Eigen::MatrixXd> before;
  {
    Chip chip(*net, plain, 5);
    torch::NoGradGuard no_grad;
    before.push_back(ToEigen(net->forward(nn::ToInput(test.images))));
  }
  Chip chip(*net, calibrated, 5);
  ASSERT_EQ(chip.calibration().size(), chip.layers().size());
  for (const auto& c : chip.calibration()) {
    EXPECT_LE((c.gain.array() - 1.0).abs().maxCoeff(), 1e-9);
    EXPECT_LE(c.offset.cwiseAbs().maxCoeff(), 1e-9);
  }
  torch::NoGradGuard no_grad;
  const Eigen::MatrixXd after = ToEigen(net->forward(nn::ToInput(test.images)));
  EXPECT_LE((after - before[0]).cwiseAbs().maxCoeff(), 1e-5 * before[0].cwiseAbs().maxCoeff());
}

// A chip whose IR drop shrinks its weights: the calibrated MVMs of held-out inputs are closer to
// the ideal ternary product than the uncalibrated ones; the products (the fast route) and the
// per-MVM route agree with the calibration in both.
TEST(ChipCalibration, CorrectsIrDropOnHeldOutInputs) {
  auto net = LeNet(42);
  ChipOptions o;
  o.crossbar.wire_row_ohm = 50.0;
  o.crossbar.wire_col_ohm = 100.0;
  const auto card = StaticSot();
  ChipSpec plain = ChipSpec::Devices(card, o);
  o.calibration_images = 32;
  ChipSpec calibrated = ChipSpec::Devices(card, o);
  calibrated.calibration = CaptureCalibration(*net, RandomImages(32, 21));
  // Held-out inputs: the digital network's on other images.
  const auto held_out = CaptureCalibration(*net, RandomImages(8, 22), 512);
  const std::size_t l = LayerWithRows(*net, 400);  // FC1
  const torch::Tensor x = held_out->inputs[l];
  const Eigen::MatrixXd ideal = ToEigen(x) * ToEigen(net->AnalogLayers()[l]->TernaryMatrix());
  double error_plain = 0.0, error_calibrated = 0.0;
  {
    Chip chip(*net, plain, 3);
    error_plain = (ToEigen(chip.Mvm(l, x)) - ideal).norm();
  }
  Chip chip(*net, calibrated, 3);
  error_calibrated = (ToEigen(chip.Mvm(l, x)) - ideal).norm();
  EXPECT_LT(error_calibrated, 0.5 * error_plain) << error_plain;
  EXPECT_GT(chip.calibration()[l].gain.mean(), 1.0);  // IR drop shrank the outputs
  // The product (out_scale and bias) carries the same calibration as the per-MVM route.
  nn::AnalogLayer layer = net->AnalogLayers()[l];
  nn::ChipProduct product = chip.products()[l];
  const torch::Tensor scale = layer->Scale();
  const torch::Tensor bias = layer->Bias().defined() ? layer->Bias() : torch::zeros_like(scale);
  const torch::Tensor xf = x.to(torch::kFloat);
  layer->SetChipProduct(product);
  torch::Tensor fast;
  {
    torch::NoGradGuard no_grad;
    fast = (layer->forward(xf) - bias) / scale;
  }
  layer->ClearChipProduct();
  const Eigen::MatrixXd mvm = ToEigen(chip.Mvm(l, x));
  EXPECT_LE((ToEigen(fast) - mvm).cwiseAbs().maxCoeff(), 1e-4 * mvm.cwiseAbs().maxCoeff());
}

// The calibration is a function of the calibration images only: chips calibrated on the same
// set are the same whatever test set they are then evaluated on, and another calibration set
// gives another calibration (so the check can fail).
TEST(ChipCalibration, UsesOnlyTheCalibrationImages) {
  auto net = LeNet(43);
  ChipOptions o;
  o.crossbar.wire_row_ohm = o.crossbar.wire_col_ohm = 20.0;
  o.calibration_images = 16;
  ChipSpec spec = ChipSpec::Devices(StaticSot(), o);
  spec.calibration = CaptureCalibration(*net, RandomImages(16, 31));
  std::vector<Chip::Calibration> first, second;
  {
    Chip chip(*net, spec, 7);
    chip.Evaluate(RandomImages(20, 32));
    first = chip.calibration();
  }
  {
    Chip chip(*net, spec, 7);
    chip.Evaluate(RandomImages(20, 33));
    second = chip.calibration();
  }
  ASSERT_EQ(first.size(), second.size());
  for (std::size_t l = 0; l < first.size(); ++l) {
    EXPECT_EQ(first[l].gain, second[l].gain);
    EXPECT_EQ(first[l].offset, second[l].offset);
  }
  spec.calibration = CaptureCalibration(*net, RandomImages(16, 34));
  Chip other(*net, spec, 7);
  EXPECT_NE(other.calibration()[0].offset, first[0].offset);
  // A chip that asks for calibration without a set is refused, naming the field.
  ChipSpec missing = ChipSpec::Devices(StaticSot(), o);
  EXPECT_THROW(Chip(*net, missing, 1), Error);
  EXPECT_TRUE(missing.ToJson()["chip"].contains("calibration_images"));
  EXPECT_FALSE(ChipOptions{}.ToJson().contains("calibration_images"));
}

}  // namespace
}  // namespace aimc::experiment

namespace aimc::experiment {
namespace {

nn::DataSplit RandomSplit(std::int64_t n, std::uint64_t seed) {
  nn::DataSplit d;
  d.train = RandomImages(n, seed);
  d.train.labels = torch::randint(0, 10, {n}, torch::kLong);
  d.test = RandomImages(32, seed + 1);
  d.test.name = d.train.name = "fashion-mnist";
  return d;
}

nn::NetworkOptions LeNetOptions() {
  nn::NetworkOptions o;
  o.arch = "lenet5";
  return o;
}

nn::TrainOptions Tiny() {
  nn::TrainOptions t;
  t.epochs = 1;
  t.batch_size = 32;
  t.progress = false;
  t.sigma_train = 0.1;
  return t;
}

// IR-drop-aware training through SOT-MRAM devices at 1.5 MOhm with 50-ohm wire segments (a
// visible IR drop), rebuilt every `every` steps.
IrAwareOptions WiredIrAware(int every) {
  IrAwareOptions ir;
  ir.card = StaticSot()->WithRon(1.5e6);
  ir.chip.crossbar.wire_row_ohm = ir.chip.crossbar.wire_col_ohm = 50.0;
  ir.rebuild_every_steps = every;
  return ir;
}

// Reference: with ideal devices (no spread) and no wires a chip's effective weights are the
// ternary levels exactly, so IR-drop-aware training is today's training: the same weights, bit
// for bit, from the same seed (noise draws included).
TEST(IrAwareTraining, IdealChipWithoutWiresIsPlainTraining) {
  const nn::DataSplit data = RandomSplit(128, 51);
  const nn::Model plain = nn::Train(LeNetOptions(), Tiny(), data);
  device::TwoStateOptions t;
  t.name = "ideal";
  t.cv_on = t.cv_off = 0.0;
  IrAwareOptions ir;
  ir.card = std::make_shared<device::TwoStateCard>(t);
  ir.rebuild_every_steps = 1;
  auto builds = std::make_shared<std::int64_t>(0);
  nn::TrainOptions aware = Tiny();
  aware.hardware = ir.ToJson();
  aware.before_step = IrAwareHook(ir, builds);
  const nn::Model trained = nn::Train(LeNetOptions(), aware, data);
  EXPECT_EQ(*builds, 4);  // 128 images in batches of 32, a build per step
  const auto a = plain.network->named_parameters();
  const auto b = trained.network->named_parameters();
  for (const auto& p : a) EXPECT_TRUE(torch::equal(p.value(), b[p.key()])) << p.key();
  // The hardware is weight-defining: the two models are not the same training.
  EXPECT_FALSE(plain.info.training.SameWeightsAs(trained.info.training));
  EXPECT_TRUE(trained.info.training.ToJson().contains("hardware"));
}

// With wires the chip's effective weights are smaller than the levels (IR drop): the deviation
// of the +-1 weights is negative on average, it is rebuilt every K steps, and training through
// it gives other weights than plain training.
TEST(IrAwareTraining, WiresShrinkTheWeightsSeenInTraining) {
  const nn::DataSplit data = RandomSplit(160, 52);
  const IrAwareOptions ir = WiredIrAware(2);
  auto builds = std::make_shared<std::int64_t>(0);
  nn::TrainOptions aware = Tiny();
  aware.hardware = ir.ToJson();
  aware.before_step = IrAwareHook(ir, builds);
  const nn::Model trained = nn::Train(LeNetOptions(), aware, data);
  EXPECT_EQ(*builds, 3);  // steps 0, 2, 4 of 5
  auto fc1 = trained.network->AnalogLayers()[2];
  const torch::Tensor d = fc1->chip_deviation();
  ASSERT_TRUE(d.defined());
  const torch::Tensor levels = fc1->TernaryMatrix().t().reshape(fc1->Weight().sizes());
  const torch::Tensor signed_dev = (d * levels.to(torch::kFloat)).sum() / levels.abs().sum();
  EXPECT_LT(signed_dev.item<double>(), -1e-4);
  const nn::Model plain = nn::Train(LeNetOptions(), Tiny(), data);
  EXPECT_FALSE(torch::equal(plain.network->AnalogLayers()[2]->Weight(), fc1->Weight()));
  // Options that cannot work are refused naming the field.
  IrAwareOptions bad = ir;
  bad.rebuild_every_steps = 0;
  EXPECT_THROW(IrAwareHook(bad), Error);
  nn::TrainOptions half = Tiny();
  half.hardware = ir.ToJson();
  EXPECT_THROW(half.Validate(), Error);
}

// Without device variation a layer's effective weight depends on its levels only: the hook
// solves again only the layers whose levels flipped (none: no build), and what it keeps equals
// a full build (reference: Chip::EffectiveWeights of every layer at the new levels).
TEST(IrAwareTraining, RebuildsOnlyTheLayersWhoseLevelsFlipped) {
  auto net = LeNet(56);
  const IrAwareOptions ir = WiredIrAware(1);
  auto builds = std::make_shared<std::int64_t>(0), layers = std::make_shared<std::int64_t>(0);
  const auto hook = IrAwareHook(ir, builds, layers);
  auto analog = net->AnalogLayers();
  const auto n = static_cast<std::int64_t>(analog.size());
  hook(*net, 0);
  EXPECT_EQ(*builds, 1);
  EXPECT_EQ(*layers, n);
  std::vector<torch::Tensor> before;
  for (const auto& l : analog) before.push_back(l->chip_deviation().clone());
  hook(*net, 1);  // nothing flipped
  EXPECT_EQ(*builds, 1);
  {
    torch::NoGradGuard no_grad;
    torch::Tensor w = analog[3]->Weight().view({-1});
    const std::int64_t at = w.abs().argmax().item<std::int64_t>();
    w[at] = -w[at];  // the largest weight of FC2 goes from +-1 to -+1
  }
  hook(*net, 2);
  EXPECT_EQ(*builds, 2);
  EXPECT_EQ(*layers, n + 1);
  const auto full = Chip::EffectiveWeights(*net, ChipSpec::Devices(NominalDevices(*ir.card), ir.chip), 1);
  for (std::size_t l = 0; l < analog.size(); ++l) {
    const torch::Tensor levels =
        analog[l]->TernaryMatrix().t().reshape(analog[l]->Weight().sizes()).to(torch::kFloat);
    EXPECT_TRUE(torch::allclose(analog[l]->chip_deviation(), full[l] - levels, 0, 1e-6)) << l;
    if (l != 3) {
      EXPECT_TRUE(torch::equal(analog[l]->chip_deviation(), before[l])) << l;
    }
  }
  EXPECT_FALSE(torch::equal(analog[3]->chip_deviation(), before[3]));
}

// The model file keeps the chip deviation an IR-drop-aware network was trained with, and
// calibration aims at that product: on the chip it was trained for (the nominal devices, the same
// wires; deviation rebuilt at the final weights) calibration has nothing to correct (gain 1,
// offset 0 to rounding), whereas aiming at the bare levels would undo the IR drop it learned.
TEST(IrAwareTraining, CalibrationAimsAtTheProductTrainedWith) {
  const nn::DataSplit data = RandomSplit(96, 53);
  const IrAwareOptions ir = WiredIrAware(2);
  nn::TrainOptions aware = Tiny();
  aware.hardware = ir.ToJson();
  aware.before_step = IrAwareHook(ir);
  const std::filesystem::path file = std::filesystem::path(::testing::TempDir()) / "ir_aware.pt";
  std::filesystem::remove(file);
  const nn::Model trained = nn::Train(LeNetOptions(), aware, data, file);
  nn::Model loaded = nn::LoadModel(file);
  auto a = trained.network->AnalogLayers(), b = loaded.network->AnalogLayers();
  for (std::size_t l = 0; l < a.size(); ++l) {
    ASSERT_TRUE(b[l]->chip_deviation().defined()) << l;
    EXPECT_TRUE(torch::equal(a[l]->chip_deviation(), b[l]->chip_deviation())) << l;
  }
  nn::NetworkImpl& net = *loaded.network;
  IrAwareHook(ir)(net, 0);  // the deviation of the final weights
  ChipOptions o = ir.chip;
  o.calibration_images = 16;
  ChipSpec spec = ChipSpec::Devices(NominalDevices(*ir.card), o);
  spec.calibration = CaptureCalibration(net, RandomImages(16, 54));
  {
    Chip chip(net, spec, 1);
    for (const auto& c : chip.calibration()) {
      EXPECT_LE((c.gain.array() - 1.0).abs().maxCoeff(), 1e-6);
      EXPECT_LE(c.offset.cwiseAbs().maxCoeff(), 1e-6);
    }
  }
  // The same chip aiming at the bare levels corrects the IR drop instead.
  for (auto& layer : net.AnalogLayers()) layer->ClearChipDeviation();
  Chip bare(net, spec, 1);
  EXPECT_GT(bare.calibration()[2].gain.mean(), 1.0 + 1e-4);
}

}  // namespace
}  // namespace aimc::experiment
