#include "aimc/experiment/study_parts.h"

#include <cmath>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "aimc/common/error.h"
#include "aimc/common/rng.h"
#include "aimc/nn/data.h"
#include "aimc/nn/train.h"

namespace aimc::experiment {
namespace fs = std::filesystem;

namespace {

/// One network of the study: what to train and how long. Trained once per output folder and
/// kept under <out>/models/, so a rerun (or another figure) reuses it; an interrupted training
/// resumes from its checkpoint.
struct NetSpec {
  nn::NetworkOptions network;
  nn::TrainOptions training;
};

/// The data a network of the study trains on: a user's full copy in --data-dir when it has one,
/// else the built-in set.
nn::DataSplit StudyData(const report::StudyContext& ctx, const std::string& name) {
  const fs::path dir = ctx.options().data_dir;
  if (!dir.empty() && (name != "mnist" || fs::exists(dir / "train-images-idx3-ubyte") ||
                       fs::exists(dir / "train-images-idx3-ubyte.gz")))
    return nn::LoadData(name, dir);
  return nn::LoadData(name);
}

std::string ModelStem(const NetSpec& spec) {
  const auto& t = spec.training;
  return fmt::format("{}_{}_{}_s{:.3f}_e{}_n{}_seed{}", spec.network.arch, t.dataset,
                     spec.network.ternary ? "ternary" : "float", t.sigma_train, t.epochs,
                     t.train_subset, t.seed);
}

nn::Network TrainedNetwork(const report::StudyContext& ctx, const NetSpec& spec,
                           const nn::DataSplit& data) {
  const fs::path path = ctx.options().out_dir / "models" / (ModelStem(spec) + ".pt");
  nn::TrainResult result = nn::Train(spec.network, spec.training, data, path);
  const auto& last = result.info.history.back();
  spdlog::info("{}: sigma_train {}, noise-free test accuracy {:.2f} %", path.filename().string(),
               spec.training.sigma_train, 100 * last.test_accuracy);
  return result.network;
}

/// Fig. 13b: CNN 1 (LeNet-5) on MNIST, test error vs sigma_w for networks trained with
/// sigma_train = sigma_test and with sigma_train = 0, each tested on `chips` Monte-Carlo chips.
struct Fig13bPlan {
  std::vector<double> sigmas;
  int epochs = 0;
  std::int64_t train_subset = 0;
  int chips = 0;
  nlohmann::json ToJson() const {
    return {{"sigmas", sigmas}, {"epochs", epochs}, {"train_subset", train_subset}, {"chips", chips}};
  }
};

report::Figure Fig13b(const report::StudyContext& ctx, const Fig13bPlan& plan) {
  const nn::DataSplit data = StudyData(ctx, "mnist");
  NetSpec base;
  base.network = nn::NetworkFor("lenet5", data.train);
  base.training.dataset = "mnist";
  base.training.epochs = plan.epochs;
  base.training.train_subset = plan.train_subset;
  base.training.seed = ctx.options().seed;
  base.training.augment = true;
  base.training.progress = false;

  report::Figure f;
  f.title = "Fig. 13b: CNN 1 test error on MNIST vs sigma_w";
  f.table.columns = {"sigma_w",    "sigma_train", "noise_trained", "error_mean_pct",
                     "error_std_pct", "error_min_pct", "error_max_pct", "chips"};
  NetSpec clean_spec = base;
  const nn::Network clean = TrainedNetwork(ctx, clean_spec, data);
  std::map<double, std::pair<double, double>> at;  // sigma -> (noise-trained, clean-trained)
  for (double sigma : plan.sigmas) {
    const nn::LevelNoise noise = nn::LevelNoise::Uniform(sigma);
    // The same chips (seeds) for both networks: the curves differ by training only.
    const std::uint64_t chip_seed = Rng::Derive(ctx.options().seed, 13);
    const nn::ChipStats c = nn::TestChips(*clean, data.test, noise, plan.chips, chip_seed);
    nn::ChipStats t = c;
    if (sigma > 0.0) {
      NetSpec spec = base;
      spec.training.sigma_train = sigma;
      const nn::Network noisy = TrainedNetwork(ctx, spec, data);
      t = nn::TestChips(*noisy, data.test, noise, plan.chips, chip_seed);
    }
    for (const auto& [stats, trained] : {std::pair{t, 1.0}, std::pair{c, 0.0}}) {
      f.table.Add({sigma, trained == 1.0 ? sigma : 0.0, trained, 100 * (1 - stats.mean),
                   100 * stats.stddev, 100 * (1 - stats.max), 100 * (1 - stats.min),
                   static_cast<double>(plan.chips)});
    }
    at[sigma] = {100 * (1 - t.mean), 100 * (1 - c.mean)};
    spdlog::info("fig13b: sigma_w {}: error {:.2f} % (noise-trained) vs {:.2f} % (clean-trained)",
                 sigma, at[sigma].first, at[sigma].second);
  }
  f.plot.xlabel = "sigma_w (train = test)";
  f.plot.ylabel = "test error (%)";
  f.plot.series = {
      {"sigma_w", "error_mean_pct", "sigma_w,train = sigma_w,test", "noise_trained", 1.0, "linespoints"},
      {"sigma_w", "error_mean_pct", "sigma_w,train = 0", "noise_trained", 0.0, "linespoints"}};
  f.paper =
      "Training with weight variation clearly decreases the test error for the whole range of "
      "weight variation (CNN 1, LeNet-5-like, 99.2 % on MNIST)";
  const double largest = plan.sigmas.back();
  f.ours = fmt::format(
      "{} MNIST training digits, {} epochs, {} chips: error {:.2f} % at sigma_w 0; at sigma_w "
      "{}: {:.2f} % noise-trained vs {:.2f} % clean-trained",
      data.train.Head(plan.train_subset).size(), plan.epochs, plan.chips, at.begin()->second.second,
      largest, at[largest].first, at[largest].second);
  f.options = {{"plan", plan.ToJson()}};
  return f;
}

}  // namespace

void AddNetworkStudy(report::Study& study) {
  study.Add({"training",
             "Fig. 13b: CNN 1 (LeNet-5, ternary, 4-bit activations) trained with and without "
             "weight noise, tested on Monte-Carlo chips",
             [](report::StudyContext& ctx) {
               Fig13bPlan plan;
               if (ctx.quick()) {
                 plan = {{0.0, 0.1, 0.2, 0.3, 0.4}, 3, 0, 5};
               } else {
                 plan = {{0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5}, 30, 0, 20};
               }
               ctx.Produce("fig13b_cnn1_error_vs_sigma", {{"plan", plan.ToJson()}},
                           [&] { return Fig13b(ctx, plan); });
             }});
}

}  // namespace aimc::experiment
