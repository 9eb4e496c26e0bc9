#pragma once
// Model files (LibTorch archives): a network's weights and buffers with the record of how it was
// trained, as Train leaves them and every command reads them.

#include <filesystem>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "aimc/nn/network.h"
#include "aimc/nn/train_options.h"

namespace aimc::nn {

struct EpochStats {
  int epoch = 0;  // 1-based
  double loss = 0.0;
  double train_accuracy = 0.0;
  double test_accuracy = 0.0;  // noise-free test accuracy after the epoch
  double seconds = 0.0;        // training pass only
  double images_per_second = 0.0;
};

/// What a model file holds beside the weights.
struct ModelInfo {
  NetworkOptions network;
  TrainOptions training;
  int epochs_done = 0;
  std::vector<EpochStats> history;
  nlohmann::json ToJson() const;
  static ModelInfo FromJson(const nlohmann::json& json);
};

/// A network with what its model file says of it: what Train returns and LoadModel reads.
struct Model {
  Network network;
  ModelInfo info;
};

/// Model files (LibTorch archives): weights, buffers, ModelInfo as JSON, and, for checkpoints,
/// the optimizer state.
void SaveModel(const std::filesystem::path& path, NetworkImpl& network, const ModelInfo& info);
/// Loads a model saved by SaveModel or Train (errors name the file).
Model LoadModel(const std::filesystem::path& path);

}  // namespace aimc::nn
