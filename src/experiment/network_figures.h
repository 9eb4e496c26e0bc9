#pragma once
// Figs. 13b and 14b: networks trained with weight noise sigma_w,train, tested under
// sigma_w,test on Monte-Carlo chips (private to the experiment module).

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "aimc/report/figure.h"
#include "aimc/report/study.h"
#include "study_models.h"

namespace aimc::experiment {

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
  nlohmann::json ToJson() const;
};

/// The study's plans per profile.
NoiseGridPlan Fig13bPlan(bool quick);
NoiseGridPlan Fig14bPlan(bool quick);

/// CNN 2 of the study: ResNet-26 on CIFAR-100 when --data-dir has it, else Fashion-MNIST.
struct Cnn2Setup {
  std::string dataset;
  nn::DataSplit data;
  NetSpec base;  // sigma_train 0; set it per network
};
Cnn2Setup Cnn2(const report::StudyContext& ctx, const NoiseGridPlan& plan);

/// Fig. 13b: CNN 1 (LeNet-5) on MNIST (the user's full set with --data-dir, else the built-in
/// 10,000 digits).
report::Figure Fig13b(const report::StudyContext& ctx, const NoiseGridPlan& plan);

/// Fig. 14b: CNN 2 (ResNet-26) on CIFAR-100 when --data-dir has it, else Fashion-MNIST.
report::Figure Fig14b(const report::StudyContext& ctx, const NoiseGridPlan& plan);

/// The error of the network trained with `sigma_train` under `sigma_test` in a figure's table.
double GridError(const Table& table, double sigma_train, double sigma_test);

}  // namespace aimc::experiment
