#include "noise_grid.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "aimc/common/error.h"
#include "aimc/common/rng.h"
#include "aimc/experiment/chip.h"

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
  spec.training.sigma_train = sigma_train;
  return spec;
}

Cnn1Grid Cnn1ForGrid(const StudyOptions& options, const NoiseGridPlan& plan) {
  Cnn1Grid g{LoadStudyData(options, "mnist"), {}};
  for (double s : plan.sigma_train) {
    g.nets.sigma_train.push_back(s);
    g.nets.networks.push_back(StudyModel(options, Cnn1Spec(options, plan, g.data, s), g.data));
  }
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
  for (double sigma_train : plan.sigma_train) {
    nn::NetworkImpl& net = *nets.At(sigma_train).network;
    for (double sigma_test : plan.sigma_test) {
      const int chips = sigma_test == 0.0 ? 1 : plan.chips;
      const experiment::ChipStats s = experiment::TestChips(
          net, test, experiment::ChipSpec::WeightNoise(nn::LevelNoise::Uniform(sigma_test)), chips,
          chip_seed);
      t.Add({sigma_train, sigma_test, 100 * (1 - s.mean), 100 * s.stddev, 100 * (1 - s.max),
             100 * (1 - s.min), static_cast<double>(chips)});
      spdlog::info("sigma_train {:.2f}, sigma_test {:.2f}: error {:.2f} % +- {:.2f} ({} chips)",
                   sigma_train, sigma_test, 100 * (1 - s.mean), 100 * s.stddev, chips);
    }
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
