#include "noise_grid.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "aimc/common/error.h"
#include "aimc/common/rng.h"
#include "aimc/experiment/chip.h"
#include "aimc/experiment/evaluate_chips.h"
#include "units.h"

namespace aimc::paper {

nlohmann::json NoiseGridPlan::ToJson() const {
  return {{"sigma_train", sigma_train}, {"sigma_test", sigma_test}, {"epochs", epochs},
          {"train_subset", train_subset}, {"test_subset", test_subset},
          {"epoch_test_subset", epoch_test_subset}, {"chips", chips},
          {"width", width}, {"finetune_epochs", finetune_epochs},
          {"finetune_batch_size", finetune_batch_size},
          {"finetune_learning_rate", finetune_learning_rate}};
}

NoiseGridPlan Fig13bPlan(bool quick) {
  NoiseGridPlan p;
  p.sigma_train = {0.0, 0.1, 0.2, 0.3};
  p.sigma_test = {0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4};
  p.epochs = quick ? 15 : 30;
  p.chips = quick ? 5 : 20;
  if (!quick) p.sigma_train = {0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4};
  return p;
}

NoiseGridPlan NoiseGridPlan::Limited(const Limits& limits) const {
  NoiseGridPlan p = *this;
  p.epochs = limits.Epochs(epochs);
  if (finetune_epochs > 0) p.finetune_epochs = limits.Epochs(finetune_epochs);
  p.train_subset = Limits::Images(train_subset, limits.train_images);
  p.test_subset = Limits::Images(test_subset, limits.test_images);
  p.epoch_test_subset = Limits::Images(epoch_test_subset, limits.test_images);
  return p;
}

NoiseGridPlan Fig13bPlan(const StudyOptions& options) {
  return Fig13bPlan(options.quick()).Limited(options.limits);
}

NoiseGridPlan Fig14bPlan(const StudyOptions& options) {
  return Fig14bPlan(options.quick()).Limited(options.limits);
}

NoiseGridPlan Fig14bPlan(bool quick) {
  NoiseGridPlan p;
  p.sigma_train = {0.0, 0.15, 0.30};
  p.sigma_test = {0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3};
  if (quick) {
    // Small enough for a 2-core laptop (ResNet-26 tests about 100 images/s there): 8,000
    // training images, 500 test images, 2 chips per point.
    p.sigma_test = {0.0, 0.05, 0.1, 0.15, 0.2, 0.3};
    p.epochs = 6;
    p.train_subset = 8000;
    p.test_subset = 500;
    p.epoch_test_subset = 1000;
    p.chips = 2;
    p.width = 1;
    // Trained from scratch in 6 epochs, the noisy networks were 4.4 and 10.8 points worse than
    // the clean one without noise; fine-tuned from it, 1.4 points better and 0.6 worse
    // (docs/train.md).
    p.finetune_epochs = 4;
    p.finetune_batch_size = 32;
    p.finetune_learning_rate = 1e-3;
  } else {
    // The paper sizes CNN 2 to 76 % on CIFAR-100.
    p.sigma_train = {0.0, 0.1, 0.15, 0.2, 0.25, 0.30};
    p.epochs = 60;
    p.chips = 10;
    p.width = 4;
    p.finetune_epochs = 15;
    p.finetune_learning_rate = 1e-3;
  }
  return p;
}

nlohmann::json GridNetworks::Key() const {
  nlohmann::json key = nlohmann::json::object();
  for (std::size_t i = 0; i < networks.size(); ++i)
    key[fmt::format("{:.3f}", sigma_train[i])] = networks[i].file_hash;
  return key;
}

StudyNetwork& GridNetworks::At(double s) {
  for (std::size_t i = 0; i < sigma_train.size(); ++i)
    if (std::abs(sigma_train[i] - s) < 1e-12) return networks[i];
  Fail("no network trained with sigma_w,train {} in the grid", s);
}

NetSpec Cnn1Spec(const StudyOptions& options, const NoiseGridPlan& plan, const StudyData& data,
                 double sigma_train) {
  NetSpec spec = BaseSpec(options, "lenet5", data);
  spec.training.epochs = plan.epochs;
  spec.training.train_subset = plan.train_subset;
  spec.training.test_subset = plan.epoch_test_subset;
  spec.training.sigma_train = sigma_train;
  return spec;
}

Cnn1Grid Cnn1ForGrid(const StudyOptions& options, const NoiseGridPlan& plan) {
  Cnn1Grid g{LoadStudyData(options, "mnist"), {}};
  std::vector<NetSpec> specs;
  for (double s : plan.sigma_train) specs.push_back(Cnn1Spec(options, plan, g.data, s));
  g.nets.sigma_train = plan.sigma_train;
  g.nets.networks = StudyModels(options, specs, g.data);
  return g;
}

double GridError(const Table& table, double sigma_train, double sigma_test) {
  const std::size_t tr = table.Column("sigma_train");
  const std::size_t te = table.Column("sigma_test");
  const std::size_t err = table.Column("error_mean_pct");
  for (const auto& row : table.rows)
    if (std::abs(row[tr] - sigma_train) < 1e-12 && std::abs(row[te] - sigma_test) < 1e-12)
      return row[err];
  Fail("no point sigma_train {} sigma_test {} in the table", sigma_train, sigma_test);
}

Table NoiseGrid(GridNetworks& nets, const nn::Dataset& test, const NoiseGridPlan& plan,
                std::uint64_t seed, std::uint64_t stream) {
  Table t;
  t.columns = {"sigma_train",   "sigma_test",    "error_mean_pct", "error_std_pct",
               "error_min_pct", "error_max_pct", "chips"};
  const std::uint64_t chip_seed = Rng::Derive(seed, stream);
  struct Point {
    double sigma_train, sigma_test;
    int chips;
  };
  std::vector<Point> points;
  UnitsOptions work;
  for (double sigma_train : plan.sigma_train) {
    for (double sigma_test : plan.sigma_test) {
      points.push_back({sigma_train, sigma_test, sigma_test == 0.0 ? 1 : plan.chips});
      work.cost.push_back(points.back().chips);  // a chip costs one pass over the test images
    }
  }
  // A point's result: the chips' mean, std, min and max accuracy, then its seconds.
  const nn::NetworkOptions& kind = nets.networks.at(0).info.network;
  const std::string network =
      kind.width == 1 ? kind.arch : fmt::format("{} width {}", kind.arch, kind.width);
  work.on_done = [&](std::size_t i, const std::vector<double>& r) {
    spdlog::info("{}: sigma_train {:.2f}, sigma_test {:.2f}: error {:.2f} % +- {:.2f} ({} chips x "
                 "{} images in {:.3g} s)",
                 network, points[i].sigma_train, points[i].sigma_test, 100 * (1 - r[0]),
                 100 * r[1], points[i].chips, test.size(), r[4]);
  };
  const std::vector<std::vector<double>> results = RunUnits(
      points.size(),
      [&](std::size_t i) -> std::vector<double> {
        const auto start = std::chrono::steady_clock::now();
        const Point& p = points[i];
        const experiment::ChipStats s = experiment::TestChips(
            *nets.At(p.sigma_train).network, test,
            experiment::ChipSpec::WeightNoise(nn::LevelNoise::Uniform(p.sigma_test)), p.chips,
            chip_seed);
        return {s.mean, s.stddev, s.min, s.max, SecondsSince(start)};
      },
      work);
  for (std::size_t i = 0; i < points.size(); ++i) {
    const std::vector<double>& r = results[i];
    t.Add({points[i].sigma_train, points[i].sigma_test, 100 * (1 - r[0]), 100 * r[1],
           100 * (1 - r[3]), 100 * (1 - r[2]), static_cast<double>(points[i].chips)});
  }
  return t;
}

report::PlotSpec GridPlot(const NoiseGridPlan& plan) {
  report::PlotSpec p;
  p.xlabel = "sigma_w,test";
  p.ylabel = fmt::format("test error (%), mean and std over {} chips", plan.chips);
  for (double s : plan.sigma_train) {
    report::Series series{"sigma_test", "error_mean_pct",
                          fmt::format("sigma_w,train = {:.2f}", s), "sigma_train", s,
                          "linespoints"};
    series.y_error = "error_std_pct";
    p.series.push_back(series);
  }
  return p;
}

std::string HigherTrainingNoiseFinding(const Table& t, const NoiseGridPlan& plan) {
  int holds = 0, cases = 0;
  std::string a_miss;  // one case where it does not hold, for the statement
  for (double s_eq : plan.sigma_train) {
    if (s_eq == 0.0 ||
        std::find(plan.sigma_test.begin(), plan.sigma_test.end(), s_eq) == plan.sigma_test.end())
      continue;
    for (double s_hi : plan.sigma_train) {
      if (s_hi <= s_eq) continue;
      ++cases;
      const double e_eq = GridError(t, s_eq, s_eq), e_hi = GridError(t, s_hi, s_eq);
      if (e_hi < e_eq) {
        ++holds;
      } else {
        a_miss = fmt::format(" (not at sigma_w,test {:.2f}: {:.2f} % with sigma_w,train {:.2f} vs "
                             "{:.2f} % with equality)",
                             s_eq, e_hi, s_hi, e_eq);
      }
    }
  }
  return fmt::format("sigma_w,train > sigma_w,test beats equality in {} of {} cases{}", holds,
                     cases, a_miss);
}

}  // namespace aimc::paper
