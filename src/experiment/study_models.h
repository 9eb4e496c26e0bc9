#pragma once
// The trained networks of the study (private to the experiment module).

#include <filesystem>
#include <optional>
#include <string>

#include "aimc/nn/data.h"
#include "aimc/nn/train.h"
#include "aimc/report/study.h"

namespace aimc::experiment {

/// One network of the study: what to train and how long.
struct NetSpec {
  nn::NetworkOptions network;
  nn::TrainOptions training;
};

/// The data a network of the study trains on: the user's full copy in --data-dir when it has
/// one, else the built-in set.
nn::DataSplit StudyData(const report::StudyContext& ctx, const std::string& name);

/// The study's defaults for a network of `arch` trained on `dataset` (seed from the study,
/// augmentation on, no progress bar; the data folder recorded when the user's data is used).
NetSpec BaseSpec(const report::StudyContext& ctx, const std::string& arch,
                 const std::string& dataset, const nn::DataSplit& data);

/// True when --data-dir holds the full MNIST in IDX format.
bool HasUserMnist(const report::StudyContext& ctx);
/// True when --data-dir holds CIFAR-100 in its binary format.
bool HasUserCifar100(const report::StudyContext& ctx);

/// A file stem naming every option that changes the weights.
std::string ModelStem(const NetSpec& spec);

/// The model shipped in models/<stem>.pt for `spec`, loaded, if there is one and its saved
/// options are exactly `spec`'s (a shipped file with other options is reported and ignored).
std::optional<nn::LoadedModel> ShippedModel(const NetSpec& spec);

/// The trained network for `spec`, from the first of:
///  1. <out>/models/<stem>.pt, trained earlier (an interrupted training resumes from it);
///  2. quick profile only: the checkpoint shipped in models/<stem>.pt (made by aimc itself, see
///     models/README.md), used only if its saved options are exactly `spec`'s;
///  3. training it now into <out>/models/<stem>.pt.
nn::Network StudyModel(const report::StudyContext& ctx, const NetSpec& spec,
                       const nn::DataSplit& data);

}  // namespace aimc::experiment
