// Analog inference against plain LibTorch inference, each figure a ratio measured in one run:
//  - CNN 1 (LeNet-5) on the 10,000-image Fashion-MNIST test set on one chip with exact IR drop
//    (ideal devices at R_ON 6 MOhm, the 22 nm layout's wires: 1.9 / 3.9 Ohm per segment),
//    against a plain float LeNet-5 in LibTorch (conv-pool-conv-pool-fc-fc-fc, ReLU, eval mode,
//    batches of 500), one thread; the chip's time includes drawing it and building every tile's
//    effective matrix. Also the per-MVM hook route (the reference route, and the only one
//    before effective weights), on the same chip.
//  - CNN 2 (ResNet-26, width 1) likewise against a plain float ResNet-26 in LibTorch (with its
//    BatchNorms in eval mode), two threads (the plain network alone takes tens of seconds).
//  - 20 Monte-Carlo chips of CNN 1 (devices with 5 % spread) against one chip, two threads.
//  - The same three with the shipped SOT-MRAM card and its physics (spread of the pillar radius,
//    bias-dependent TMR, shot noise of the tunnel current; configs/devices/sot_mram.toml), the
//    paper's own device: BM_*SotMram*.
// Weights are those of untrained networks: the time does not depend on their values.
#include <benchmark/benchmark.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "aimc/circuit/wires.h"
#include "aimc/device/card.h"
#include "aimc/device/two_state.h"
#include "aimc/experiment/chip.h"
#include "aimc/experiment/evaluate_chips.h"
#include "aimc/nn/data.h"
#include "aimc/nn/runtime.h"
#include "aimc/nn/train.h"

namespace {

namespace F = torch::nn::functional;
using Clock = std::chrono::steady_clock;

double Since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

const aimc::nn::Dataset& FashionTest() {
  static const aimc::nn::Dataset test = aimc::nn::LoadData("fashion-mnist").test;
  return test;
}

// The float baselines: what a PyTorch user would write, no quantizer, no aimc code.
struct PlainLeNet5 : torch::nn::Module {
  torch::nn::Conv2d c1{torch::nn::Conv2dOptions(1, 6, 5).padding(2)};
  torch::nn::Conv2d c2{torch::nn::Conv2dOptions(6, 16, 5)};
  torch::nn::Linear f1{400, 120}, f2{120, 84}, f3{84, 10};
  PlainLeNet5() {
    register_module("c1", c1);
    register_module("c2", c2);
    register_module("f1", f1);
    register_module("f2", f2);
    register_module("f3", f3);
  }
  torch::Tensor forward(torch::Tensor x) {
    x = F::max_pool2d(torch::relu(c1(x)), F::MaxPool2dFuncOptions(2));
    x = F::max_pool2d(torch::relu(c2(x)), F::MaxPool2dFuncOptions(2));
    x = torch::relu(f1(x.flatten(1)));
    x = torch::relu(f2(x));
    return f3(x);
  }
};

struct PlainResNet26 : torch::nn::Module {
  struct Block {
    torch::nn::Conv2d c1{nullptr}, c2{nullptr}, sc{nullptr};
    torch::nn::BatchNorm2d b1{nullptr}, b2{nullptr}, sb{nullptr};
  };
  torch::nn::Conv2d stem{nullptr};
  torch::nn::BatchNorm2d stem_bn{nullptr};
  std::vector<Block> blocks;
  torch::nn::Linear fc{nullptr};
  PlainResNet26(std::int64_t in_channels, std::int64_t classes) {
    stem = register_module("stem", torch::nn::Conv2d(torch::nn::Conv2dOptions(in_channels, 16, 3).padding(1).bias(false)));
    stem_bn = register_module("stem_bn", torch::nn::BatchNorm2d(16));
    std::int64_t in = 16;
    for (int s = 0; s < 3; ++s) {
      const std::int64_t out = 16 << s;
      for (int b = 0; b < 4; ++b) {
        const std::int64_t stride = (s > 0 && b == 0) ? 2 : 1;
        const std::string n = "s" + std::to_string(s) + "b" + std::to_string(b);
        Block k;
        k.c1 = register_module(n + "c1", torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).stride(stride).padding(1).bias(false)));
        k.b1 = register_module(n + "b1", torch::nn::BatchNorm2d(out));
        k.c2 = register_module(n + "c2", torch::nn::Conv2d(torch::nn::Conv2dOptions(out, out, 3).padding(1).bias(false)));
        k.b2 = register_module(n + "b2", torch::nn::BatchNorm2d(out));
        if (stride != 1 || in != out) {
          k.sc = register_module(n + "sc", torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 1).stride(stride).bias(false)));
          k.sb = register_module(n + "sb", torch::nn::BatchNorm2d(out));
        }
        blocks.push_back(k);
        in = out;
      }
    }
    fc = register_module("fc", torch::nn::Linear(in, classes));
  }
  torch::Tensor forward(torch::Tensor x) {
    x = torch::relu(stem_bn(stem(x)));
    for (auto& b : blocks) {
      torch::Tensor y = b.b2(b.c2(torch::relu(b.b1(b.c1(x)))));
      x = torch::relu(y + (b.sc ? b.sb(b.sc(x)) : x));
    }
    return fc(x.mean({2, 3}));
  }
};

template <typename Net>
double PlainSeconds(Net& net, const aimc::nn::Dataset& data) {
  torch::NoGradGuard no_grad;
  net.eval();
  const auto start = Clock::now();
  std::int64_t correct = 0;
  for (std::int64_t s = 0; s < data.size(); s += 500) {
    const std::int64_t n = std::min<std::int64_t>(500, data.size() - s);
    const torch::Tensor logits = net.forward(aimc::nn::ToInput(data.images.narrow(0, s, n)));
    correct += logits.argmax(1).eq(data.labels.narrow(0, s, n)).sum().item<std::int64_t>();
  }
  benchmark::DoNotOptimize(correct);
  return Since(start);
}

std::shared_ptr<const aimc::device::DeviceCard> Card(double cv) {
  aimc::device::TwoStateOptions o;
  o.name = cv > 0 ? "spread" : "ideal";
  o.source = "benchmark";
  o.r_on_ohm = 6e6;
  o.on_off_ratio = 2.5;
  o.cv_on = o.cv_off = cv;
  return std::make_shared<aimc::device::TwoStateCard>(o);
}

aimc::experiment::ChipSpec IrDropSpec(double cv) {
  aimc::experiment::ChipOptions chip;
  chip.crossbar.UseWires(aimc::circuit::Layout22nm());
  return aimc::experiment::ChipSpec::Devices(Card(cv), chip);
}

// The shipped SOT-MRAM card at its own R_ON, the 22 nm layout's wires.
aimc::experiment::ChipSpec SotMramSpec() {
  aimc::experiment::ChipOptions chip;
  chip.crossbar.UseWires(aimc::circuit::Layout22nm());
  return aimc::experiment::ChipSpec::Devices(aimc::device::LoadCardOrPreset("sot_mram"), chip);
}

// One chip, built and run over the test set; seconds.
double ChipSeconds(aimc::nn::NetworkImpl& net, const aimc::experiment::ChipSpec& spec,
                   bool hooks, double* accuracy, double* build = nullptr) {
  const auto start = Clock::now();
  aimc::experiment::Chip chip(net, spec, 1);
  if (build != nullptr) *build = chip.build_seconds();
  if (hooks) chip.UseMvmHooks();
  *accuracy = chip.Evaluate(FashionTest());
  return Since(start);
}

// Google Benchmark's CSV needs every counter in every run: all are set, unused ones to 0.
void SetCounters(benchmark::State& state, const std::map<std::string, double>& values) {
  for (const char* name : {"plain_s", "chip_first_s", "chip_s", "hooks_s", "chip_first_build_s",
                           "chip_build_s", "ratio_chip_plain", "ratio_first_plain",
                           "ratio_hooks_plain", "accuracy", "accuracy_hooks", "one_chip_s",
                           "twenty_chips_s", "ratio"}) {
    const auto it = values.find(name);
    state.counters[name] = it == values.end() ? 0.0 : it->second;
  }
}

void ChipVsPlain(benchmark::State& state, const std::string& arch, int threads,
                 bool sot_mram = false) {
  const auto& test = FashionTest();
  aimc::nn::SetThreads(threads);
  aimc::nn::Network net = aimc::nn::MakeNetwork(aimc::nn::NetworkFor(arch, test), 1);
  net->eval();
  torch::manual_seed(1);
  const auto spec = sot_mram ? SotMramSpec() : IrDropSpec(0.0);
  double plain = 0, cold = 0, chip = 0, hooks = 0, accuracy = 0, hook_accuracy = 0;
  double cold_build = 0, build = 0;
  for (auto _ : state) {
    if (arch == "lenet5") {
      PlainLeNet5 p;
      plain = PlainSeconds(p, test);
    } else {
      PlainResNet26 p(1, 10);
      plain = PlainSeconds(p, test);
    }
    cold = ChipSeconds(*net, spec, false, &accuracy, &cold_build);  // first arrays of their shapes
    chip = ChipSeconds(*net, spec, false, &accuracy, &build);       // shapes known
    // The per-MVM route on CNN 2 takes minutes; it is measured on CNN 1's ideal devices.
    if (arch == "lenet5" && !sot_mram) hooks = ChipSeconds(*net, spec, true, &hook_accuracy);
    state.SetIterationTime(chip);
  }
  SetCounters(state, {{"plain_s", plain},
                      {"chip_first_s", cold},
                      {"chip_s", chip},
                      {"hooks_s", hooks},
                      {"chip_first_build_s", cold_build},
                      {"chip_build_s", build},
                      {"ratio_chip_plain", chip / plain},
                      {"ratio_first_plain", cold / plain},
                      {"ratio_hooks_plain", hooks / plain},
                      {"accuracy", accuracy},
                      {"accuracy_hooks", hook_accuracy}});
}

void BM_Cnn1ChipVsPlain(benchmark::State& state) { ChipVsPlain(state, "lenet5", 1); }
void BM_Cnn2ChipVsPlain(benchmark::State& state) { ChipVsPlain(state, "resnet26", 2); }
void BM_Cnn1SotMramChipVsPlain(benchmark::State& state) {
  ChipVsPlain(state, "lenet5", 1, true);
}
void BM_Cnn2SotMramChipVsPlain(benchmark::State& state) {
  ChipVsPlain(state, "resnet26", 2, true);
}

void TwentyChips(benchmark::State& state, bool sot_mram) {
  const auto& test = FashionTest();
  aimc::nn::SetThreads(2);
  aimc::nn::Network net = aimc::nn::MakeNetwork(aimc::nn::NetworkFor("lenet5", test), 1);
  net->eval();
  const auto spec = sot_mram ? SotMramSpec() : IrDropSpec(0.05);
  double one = 0, twenty = 0;
  (void)aimc::experiment::TestChips(*net, test, spec, 1, 1);  // the shapes' plans
  for (auto _ : state) {
    auto start = Clock::now();
    (void)aimc::experiment::TestChips(*net, test, spec, 1, 1);
    one = Since(start);
    start = Clock::now();
    (void)aimc::experiment::TestChips(*net, test, spec, 20, 1);
    twenty = Since(start);
    state.SetIterationTime(twenty);
  }
  SetCounters(state, {{"one_chip_s", one}, {"twenty_chips_s", twenty}, {"ratio", twenty / one}});
}
void BM_Cnn1TwentyChips(benchmark::State& state) { TwentyChips(state, false); }
void BM_Cnn1SotMramTwentyChips(benchmark::State& state) { TwentyChips(state, true); }

BENCHMARK(BM_Cnn1ChipVsPlain)->Iterations(1)->UseManualTime()->Unit(benchmark::kSecond);
BENCHMARK(BM_Cnn2ChipVsPlain)->Iterations(1)->UseManualTime()->Unit(benchmark::kSecond);
BENCHMARK(BM_Cnn1TwentyChips)->Iterations(1)->UseManualTime()->Unit(benchmark::kSecond);
BENCHMARK(BM_Cnn1SotMramChipVsPlain)->Iterations(1)->UseManualTime()->Unit(benchmark::kSecond);
BENCHMARK(BM_Cnn2SotMramChipVsPlain)->Iterations(1)->UseManualTime()->Unit(benchmark::kSecond);
BENCHMARK(BM_Cnn1SotMramTwentyChips)->Iterations(1)->UseManualTime()->Unit(benchmark::kSecond);

}  // namespace

BENCHMARK_MAIN();
