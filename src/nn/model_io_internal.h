#pragma once
// The steps of model I/O that training also takes: checkpoints with the optimizer state,
// resuming from them, and the init model of fine-tuning.

#include <filesystem>

#include <torch/serialize/archive.h>
#include <torch/optim/optimizer.h>

#include "aimc/nn/model_io.h"
#include "aimc/nn/network.h"

namespace aimc::nn::internal {

/// Writes the network, `info` and, when `optimizer` is given, its state to `path` atomically
/// (a temporary file renamed over it).
void SaveCheckpoint(const std::filesystem::path& path, NetworkImpl& network,
                    torch::optim::Optimizer* optimizer, const ModelInfo& info);

/// Opens a model file after CheckModelArchive has checked it; errors name the file.
void OpenArchive(const std::filesystem::path& path, torch::serialize::InputArchive& archive);

/// The ModelInfo of an opened model file; errors name the file.
ModelInfo ReadInfo(torch::serialize::InputArchive& archive, const std::filesystem::path& path);

/// Reads the archive's weights into `network` and checks what Module::load does not: it replaces
/// each tensor by the file's (shape and type included), so every parameter and buffer must keep
/// the shape and type the network gives it, and hold finite values (a positive PACT clip, a
/// non-negative BatchNorm variance).
void LoadWeights(const std::filesystem::path& path, NetworkImpl& network,
                 torch::serialize::InputArchive& archive);

/// Fine-tuning: the init model's parameters (weights, biases, learned PACT alphas) and buffers
/// (BatchNorm statistics, fixed alphas) into `net`, whose options must equal the init's.
void LoadInit(const std::filesystem::path& path, NetworkImpl& net);

}  // namespace aimc::nn::internal
