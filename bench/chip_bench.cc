// CNN 1 (LeNet-5, ternary) on the whole 10,000-image Fashion-MNIST test set on one simulated
// chip: ideal devices (no spread) at R_ON 6 MOhm, TMR 150 %, once without wire resistance and
// once with the 22 nm layout's wires and every MVM the exact DC circuit of its array (the
// issue's targets: IR drop <= 2x the wire-free time; one Fig. 16 point in seconds). The time
// includes drawing the chip and building each tile's effective matrix. Weights are those of an
// untrained network: the time does not depend on their values. Also: the cost of measuring the
// energy of an inference on such a chip.
#include <benchmark/benchmark.h>

#include <chrono>
#include <memory>

#include "aimc/circuit/wires.h"
#include "aimc/device/two_state.h"
#include "aimc/experiment/chip.h"
#include "aimc/experiment/ir_aware.h"
#include "aimc/nn/data.h"
#include "aimc/nn/runtime.h"
#include "aimc/nn/train.h"

namespace {

const aimc::nn::Dataset& FashionTest() {
  static const aimc::nn::Dataset test = aimc::nn::LoadData("fashion-mnist").test;
  return test;
}

// Devices without spread at R_ON 6 MOhm, TMR 150 %: the time does not depend on a draw.
std::shared_ptr<const aimc::device::DeviceCard> IdealCard() {
  aimc::device::TwoStateOptions ideal;
  ideal.name = "ideal";
  ideal.source = "benchmark";
  ideal.r_on_ohm = 6e6;
  ideal.on_off_ratio = 2.5;
  ideal.cv_on = ideal.cv_off = 0.0;
  return std::make_shared<aimc::device::TwoStateCard>(ideal);
}

void TestSetOnChip(benchmark::State& state, double wire_scale) {
  const auto& test = FashionTest();
  aimc::nn::SetThreads(static_cast<int>(state.range(0)));
  aimc::nn::Network net = aimc::nn::MakeNetwork(aimc::nn::NetworkFor("lenet5", test), 1);
  net->eval();
  aimc::experiment::ChipOptions chip;
  chip.crossbar.UseWires(aimc::circuit::Layout22nm(), wire_scale);
  const auto spec = aimc::experiment::ChipSpec::Devices(IdealCard(), chip);
  double build = 0.0, accuracy = 0.0;
  for (auto _ : state) {
    const aimc::experiment::Chip on_chip(*net, spec, 1);
    build = on_chip.build_seconds();
    accuracy = on_chip.Evaluate(test);
  }
  state.counters["images_per_s"] = benchmark::Counter(
      static_cast<double>(test.size()), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["chip_build_s"] = build;
  state.counters["accuracy"] = accuracy;
}

void BM_Cnn1TestSetNoWires(benchmark::State& state) { TestSetOnChip(state, 0.0); }
void BM_Cnn1TestSetIrDrop(benchmark::State& state) { TestSetOnChip(state, 1.0); }

BENCHMARK(BM_Cnn1TestSetNoWires)->Arg(1)->Arg(2)->Iterations(2)->Unit(benchmark::kSecond)->UseRealTime();
BENCHMARK(BM_Cnn1TestSetIrDrop)->Arg(1)->Arg(2)->Iterations(2)->Unit(benchmark::kSecond)->UseRealTime();

// The energy of an inference on the same chip (22 nm wires), counted over `images` test images
// (Chip::MeasureCost: each tile's row admittance, the inputs' Gram matrices, no split), against
// evaluating the same images: what a sweep point pays for its energy columns.
void BM_Cnn1EnergyPerInference(benchmark::State& state) {
  const auto& test = FashionTest();
  aimc::nn::SetThreads(1);
  aimc::nn::Network net = aimc::nn::MakeNetwork(aimc::nn::NetworkFor("lenet5", test), 1);
  net->eval();
  aimc::experiment::ChipOptions chip;
  chip.crossbar.UseWires(aimc::circuit::Layout22nm());
  aimc::experiment::Chip on_chip(*net, aimc::experiment::ChipSpec::Devices(IdealCard(), chip), 1);
  aimc::energy::EnergyOptions options;
  options.images = state.range(0);
  options.split_mvms = 0;
  const aimc::nn::Dataset head = test.Head(state.range(0));
  double energy = 0.0;
  for (auto _ : state) energy = on_chip.MeasureCost(test, options).energy.Total();
  const auto start = std::chrono::steady_clock::now();
  on_chip.Evaluate(head);
  state.counters["evaluate_s"] =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  state.counters["energy_nj"] = energy * 1e9;
}
BENCHMARK(BM_Cnn1EnergyPerInference)->Arg(100)->Arg(1000)->Iterations(2)->Unit(benchmark::kSecond)->UseRealTime();

// IR-drop-aware training against noise training (the target: <= 3x per epoch for CNN 1
// at 1024-row tiles): one epoch of 12,800 Fashion-MNIST training images, sigma_w,train 0.3, with
// the chip (ideal devices at 1 MOhm, 22 nm layout wires) rebuilt every K steps (range(0); 0:
// plain noise training). The ratio is this time over K = 0's in the same run; from a random
// init (range(1) = 0) nearly every layer flips levels at every step.
// range(1) = 1: fine-tuning the shipped CNN 1 (models/, run from the repository root) at a
// learning rate of 1e-5, as the study's mitigation part does: few levels flip per step, so few
// layers are solved again.
void BM_Cnn1TrainEpochIrAware(benchmark::State& state) {
  static const aimc::nn::DataSplit data = [] {
    aimc::nn::DataSplit d = aimc::nn::LoadData("fashion-mnist");
    d.train = d.train.Head(12800);
    d.test = d.test.Head(100);
    return d;
  }();
  aimc::nn::SetThreads(1);
  const int every = static_cast<int>(state.range(0));
  aimc::nn::TrainOptions t;
  t.epochs = 1;
  t.sigma_train = 0.3;
  t.progress = false;
  if (state.range(1) == 1) {
    t.init_from = "models/lenet5_fashion-mnist_ternary_s0.000_e25_n0_seed1.pt";
    t.learning_rate = 1e-5;
  }
  auto builds = std::make_shared<std::int64_t>(0), layers = std::make_shared<std::int64_t>(0);
  if (every > 0) {
    aimc::experiment::IrAwareOptions ir;
    ir.card = IdealCard()->WithRon(1e6);
    ir.chip.crossbar.UseWires(aimc::circuit::Layout22nm());
    ir.rebuild_every_steps = every;
    t.hardware = ir.ToJson();
    t.before_step = aimc::experiment::IrAwareHook(ir, builds, layers);
  }
  for (auto _ : state) aimc::nn::Train(aimc::nn::NetworkFor("lenet5", data.train), t, data);
  state.counters["builds"] = static_cast<double>(*builds) / static_cast<double>(state.iterations());
  state.counters["layers_solved"] =
      static_cast<double>(*layers) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_Cnn1TrainEpochIrAware)
    ->ArgsProduct({{0, 1, 10, 50}, {0, 1}})
    ->Iterations(1)
    ->Unit(benchmark::kSecond)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
