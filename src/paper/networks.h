#pragma once
// The trained networks and data sets of the study (private to the paper module).

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "aimc/nn/data.h"
#include "aimc/nn/model_io.h"
#include "aimc/nn/train_options.h"
#include "aimc/paper/study.h"

namespace aimc::paper {

/// One network of the study: what to train and how long.
struct NetSpec {
  nn::NetworkOptions network;
  nn::TrainOptions training;
};

/// A data set as the study reads it: the user's full copy in --data-dir when it has one, else the
/// built-in set; with the fingerprint of its contents (what figures made from it depend on).
struct StudyData {
  std::string name;
  nn::DataSplit split;
  std::string fingerprint;
  bool users = false;  // read from --data-dir
  nlohmann::json Key() const { return {{"name", name}, {"fingerprint", fingerprint}}; }
};
/// Collective: every rank reads it (an error of any rank is every rank's).
StudyData LoadStudyData(const StudyOptions& options, const std::string& name);

/// True when --data-dir holds the full MNIST in IDX format.
bool HasUserMnist(const StudyOptions& options);
/// True when --data-dir holds CIFAR-100 in its binary format.
bool HasUserCifar100(const StudyOptions& options);

/// The study's defaults for a network of `arch` trained on `data` (seed from the study,
/// augmentation on, no progress bar; the data folder recorded when the user's data is used).
NetSpec BaseSpec(const StudyOptions& options, const std::string& arch, const StudyData& data);

/// A file stem naming every option that changes the weights.
std::string ModelStem(const NetSpec& spec);

/// The model shipped in models/<stem>.pt for `spec`, if there is one and its saved options are
/// exactly `spec`'s (a shipped file with other options is reported and ignored), with its path.
struct StudyNetwork {
  nn::Network network;
  nn::ModelInfo info;
  std::filesystem::path path;
  std::string file_hash;  // fingerprint of the model file: what results made with it depend on
};
std::optional<StudyNetwork> ShippedModel(const NetSpec& spec);

/// The model file for `spec`, the first of:
///  1. <out>/models/<stem>.pt, trained earlier (an interrupted training resumes from it);
///  2. quick profile only: the model shipped in models/<stem>.pt (made by aimc itself, see
///     models/make.sh), used only if its saved options are exactly `spec`'s;
///  3. training it now into <out>/models/<stem>.pt (one process trains one network).
std::filesystem::path StudyModelFile(const StudyOptions& options, const NetSpec& spec,
                                     const StudyData& data);

/// A model file as the study uses it: the network, what the file says of it, its fingerprint.
StudyNetwork LoadStudyNetwork(const std::filesystem::path& path);

/// The trained networks for `specs` (on `data`), in order: each one's file is resolved by
/// StudyModelFile as a work unit of cluster::Distribute (so the networks to train are trained
/// on all ranks at once, the longest first), then every rank loads every model from its file.
/// Collective.
std::vector<StudyNetwork> StudyModels(const StudyOptions& options,
                                      const std::vector<NetSpec>& specs, const StudyData& data);

/// "N test images x C chips: one image is X points, binomial s.e. of an error e % is ..." for the
/// statements of Monte-Carlo figures.
std::string Resolution(std::int64_t images, int chips, double error_pct);

}  // namespace aimc::paper
