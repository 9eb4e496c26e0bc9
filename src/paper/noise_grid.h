#pragma once
// Figs. 13b and 14b: networks trained with weight noise sigma_w,train, tested under
// sigma_w,test on Monte-Carlo chips (private to the paper module).

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "aimc/common/csv.h"
#include "aimc/report/figure.h"
#include "networks.h"

namespace aimc::paper {

/// A grid of networks (one per sigma_w,train) and test noises (sigma_w,test), each point the
/// mean over `chips` Monte-Carlo chips (one chip where sigma_w,test = 0: nothing to draw).
struct NoiseGridPlan {
  std::vector<double> sigma_train;
  std::vector<double> sigma_test;
  int epochs = 0;
  std::int64_t train_subset = 0;  // 0: all training images
  std::int64_t test_subset = 0;   // test images of the figure (0: the whole test set)
  std::int64_t epoch_test_subset = 0;  // test images of the per-epoch check in training
  int chips = 1;
  int width = 1;                  // ResNet-26 width multiplier
  /// Networks with sigma_w,train > 0 are fine-tuned from the clean one (hardware-aware
  /// fine-tuning) for this many epochs (0: trained from scratch like the clean one).
  int finetune_epochs = 0;
  std::int64_t finetune_batch_size = 128;
  double finetune_learning_rate = 1e-3;
  nlohmann::json ToJson() const;
  /// The plan under the study's cuts of epochs and images.
  NoiseGridPlan Limited(const Limits& limits) const;
};

/// The study's plans per profile.
NoiseGridPlan Fig13bPlan(bool quick);
NoiseGridPlan Fig14bPlan(bool quick);
/// The plans of a run: its profile's, under its limits.
NoiseGridPlan Fig13bPlan(const StudyOptions& options);
NoiseGridPlan Fig14bPlan(const StudyOptions& options);

/// The networks of a grid, one per sigma_w,train, in plan order.
struct GridNetworks {
  std::vector<double> sigma_train;
  std::vector<StudyNetwork> networks;
  /// The model files' fingerprints by sigma_w,train, for the figure's inputs.
  nlohmann::json Key() const;
  StudyNetwork& At(double sigma_train);
};

/// CNN 1 of Fig. 13b: LeNet-5 on MNIST (the user's full set with --data-dir, else the built-in
/// 10,000 digits), one network per sigma_w,train of the plan.
struct Cnn1Grid {
  StudyData data;
  GridNetworks nets;
};
Cnn1Grid Cnn1ForGrid(const StudyOptions& options, const NoiseGridPlan& plan);
/// The network of Fig. 13b trained with `sigma_train`.
NetSpec Cnn1Spec(const StudyOptions& options, const NoiseGridPlan& plan, const StudyData& data,
                 double sigma_train);

/// CNN 2 of Fig. 14b and Table I: ResNet-26 on CIFAR-100 when --data-dir has it, else
/// Fashion-MNIST, one network per sigma_w,train of the plan.
struct Cnn2Grid {
  StudyData data;
  GridNetworks nets;
};
Cnn2Grid Cnn2ForGrid(const StudyOptions& options, const NoiseGridPlan& plan);
/// The data set of CNN 2: CIFAR-100 when --data-dir has it, else Fashion-MNIST.
std::string Cnn2Dataset(const StudyOptions& options);
/// The network of Fig. 14b trained with `sigma_train`; with sigma_train > 0 and a plan that
/// fine-tunes, from the clean network `clean` (its file and fingerprint).
NetSpec Cnn2Spec(const StudyOptions& options, const NoiseGridPlan& plan, const StudyData& data,
                 double sigma_train, const StudyNetwork* clean = nullptr);

/// The grid's table: every network on the same weight-noise chips (chip c from
/// Rng::Derive(Rng::Derive(seed, stream), c)), so curves differ by training only. Columns:
/// sigma_train, sigma_test, error_mean_pct, error_std_pct, error_min_pct, error_max_pct, chips.
/// Collective: each point (network, sigma_w,test) is a work unit of cluster::Distribute.
Table NoiseGrid(GridNetworks& nets, const nn::Dataset& test, const NoiseGridPlan& plan,
                std::uint64_t seed, std::uint64_t stream);

/// Error curves with the spread over chips as error bars.
report::PlotSpec GridPlot(const NoiseGridPlan& plan);

/// The error of the network trained with `sigma_train` under `sigma_test` in a grid's table.
double GridError(const Table& table, double sigma_train, double sigma_test);

/// "sigma_train > sigma_test beats sigma_train = sigma_test": every grid point where both exist.
std::string HigherTrainingNoiseFinding(const Table& table, const NoiseGridPlan& plan);

}  // namespace aimc::paper
