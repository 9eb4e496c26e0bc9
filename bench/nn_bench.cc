// Training speed of CNN 1 (LeNet-5): one epoch on the 60,000 Fashion-MNIST training images,
// float weights vs ternary weights with sigma_w,train = 0.3 (the targets: ternary+noise
// <= 1.3x float and <= 10 s). Single-threaded, as the library's default.
#include <benchmark/benchmark.h>

#include "aimc/nn/data.h"
#include "aimc/nn/runtime.h"
#include "aimc/nn/train.h"

namespace {

const aimc::nn::DataSplit& Fashion() {
  static const aimc::nn::DataSplit data = [] {
    aimc::nn::DataSplit d = aimc::nn::LoadData("fashion-mnist");
    d.test = d.test.Head(1);  // the epoch's test pass is not what is measured
    return d;
  }();
  return data;
}

void Epoch(benchmark::State& state, bool ternary, double sigma, int act_bits) {
  const auto& data = Fashion();
  aimc::nn::NetworkOptions net = aimc::nn::NetworkFor("lenet5", data.train);
  net.ternary = ternary;
  net.act_bits = act_bits;
  aimc::nn::TrainOptions options;
  options.dataset = "fashion-mnist";
  options.epochs = 1;
  options.sigma_train = sigma;
  options.progress = false;
  options.threads = static_cast<int>(state.range(0));
  double seconds = 0.0;
  for (auto _ : state) {
    const auto result = aimc::nn::Train(net, options, data);
    seconds = result.info.history.back().seconds;
    state.SetIterationTime(seconds);
  }
  state.counters["images_per_s"] = static_cast<double>(data.train.size()) / seconds;
  state.SetLabel(aimc::nn::BlasInfo().substr(0, 40));
}

void BM_LeNet5EpochFloat(benchmark::State& state) { Epoch(state, false, 0.0, 0); }
void BM_LeNet5EpochTernaryNoise(benchmark::State& state) { Epoch(state, true, 0.3, 4); }

BENCHMARK(BM_LeNet5EpochFloat)->Arg(1)->Arg(2)->Iterations(1)->UseManualTime()->Unit(benchmark::kSecond);
BENCHMARK(BM_LeNet5EpochTernaryNoise)->Arg(1)->Arg(2)->Iterations(1)->UseManualTime()->Unit(benchmark::kSecond);

}  // namespace

BENCHMARK_MAIN();
