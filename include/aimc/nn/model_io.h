#pragma once
// Model files (LibTorch archives): a network's weights and buffers with the record of how it was
// trained, as Train leaves them and every command reads them.

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "aimc/nn/data.h"
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
  /// The names of the classes it was trained or imported with (Dataset::class_names; JSON only
  /// when known), against which the data it meets later are checked (ClassNamesWarning).
  std::vector<std::string> class_names;
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

/// A warning when `data` names its classes otherwise than the model learned them (another
/// order, which scores the right answers as wrong, or other names); empty when they agree or
/// either side does not know its names.
std::string ClassNamesWarning(const ModelInfo& model, const Dataset& data);

}  // namespace aimc::nn
