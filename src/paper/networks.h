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

/// How the trainings of one step share a job's ranks: a training whose work is more than a
/// rank's share trains data-parallel on a group of ranks of its own, while the others run side
/// by side, one rank each, on the ranks that no group took (the pool).
struct TrainingGroups {
  /// Per training: the ranks of its data-parallel group (>= 2); 1: in the pool; 0: nothing to
  /// train (its model is there).
  std::vector<int> ranks;
  /// Per training: its group. Data-parallel groups are 0..G-1 and take consecutive ranks from
  /// rank 0 in that order; the pool is group G, the ranks after them.
  std::vector<int> group;
  /// Per group (G + 1 entries): its first rank and its number of ranks (the pool's may be 0).
  std::vector<int> first, size;
  bool data_parallel() const { return first.size() > 1; }
  int GroupOf(int rank) const;
};

/// The fewest images of a batch that a rank of a data-parallel study training gets: its
/// BatchNorm layers normalize over them alone in training (measured: src/paper/networks.cc).
int MinImagesPerRank(const nn::NetworkOptions& network);

/// Shares `ranks` ranks among trainings of relative work `cost` (0: nothing to train).
/// `fixed[i]` > 0: a training that resumes on the ranks it started on (a checkpoint), exactly
/// that many; `most[i]`: the most ranks training i may take (its batch over MinImagesPerRank;
/// the user's cap). The others, longest first: with R ranks left for work C, a
/// training of work c takes floor(c / (C / R)) ranks (its share), at most R - 1 while other
/// trainings remain (the last takes all R), and at least 2 for a group of its own; the rest
/// share the pool. Pure: every rank computes the same answer.
TrainingGroups GroupTrainings(const std::vector<double>& cost, const std::vector<int>& fixed,
                              const std::vector<int>& most, int ranks);

/// The trained networks for `specs` (on `data`), in order, on every rank. A network whose model
/// is there (trained earlier into <out>/models, or shipped) is taken as it is, whatever number of
/// ranks trained it. The others train on the job's ranks as GroupTrainings shares them (with
/// one rank, or options.train_ranks 1, each is a work unit of cluster::Distribute, the longest
/// first); then every rank loads every model from its file. Collective.
std::vector<StudyNetwork> StudyModels(const StudyOptions& options,
                                      const std::vector<NetSpec>& specs, const StudyData& data);

/// "N test images x C chips: one image is X points, binomial s.e. of an error e % is ..." for the
/// statements of Monte-Carlo figures.
std::string Resolution(std::int64_t images, int chips, double error_pct);

}  // namespace aimc::paper
