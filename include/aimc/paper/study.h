#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "aimc/common/enum_names.h"
#include "aimc/report/figure_store.h"

namespace aimc::paper {

/// How much of the study to run: `quick` (minutes on a laptop, small sweeps, few epochs, shipped
/// checkpoints) or `paper` (everything from scratch at the paper's sizes).
enum class Profile { kQuick, kPaper };

const EnumNames<Profile>& ProfileNames();  // "quick", "paper"
std::string ToString(Profile profile);
/// Parses "quick" or "paper"; throws aimc::Error naming the value otherwise.
Profile ParseProfile(const std::string& name);

/// Cuts of the study's work, for smoke runs and tests of a whole profile on a small machine:
/// every plan of every profile trains at most `epochs` epochs (fine-tuning too) on at most
/// `train_images` training images, and tests on at most `test_images` test images (the figures,
/// Table I and the per-epoch checks of training). 0: no cut. A run with cuts states them in
/// report.md, and they are inputs of every figure, so that its figures are never taken for
/// those of a run without them.
struct Limits {
  int epochs = 0;
  std::int64_t train_images = 0;
  std::int64_t test_images = 0;

  bool any() const { return epochs > 0 || train_images > 0 || test_images > 0; }
  void Validate() const;
  /// {"epochs": ..., "train_images": ..., "test_images": ...} (the ones set).
  nlohmann::json ToJson() const;
  /// "at most 1 epoch, 256 training images, 100 test images" (the ones set).
  std::string Describe() const;
  /// A plan's epochs under the cut.
  int Epochs(int epochs_planned) const;
  /// A plan's image count (0: all images) under the cut of `limit` images.
  static std::int64_t Images(std::int64_t planned, std::int64_t limit);
};

struct StudyOptions {
  /// Output folder, seed, --force, --only.
  report::RunOptions run;
  Profile profile = Profile::kQuick;
  /// Folder with user data sets (full MNIST, CIFAR-10/100); empty: built-in data only.
  std::filesystem::path data_dir;
  /// Cuts of epochs and images (none by default).
  Limits limits;
  /// Threads per process (under mpirun per rank) for training and testing; 0: LibTorch's count
  /// for tests and one thread for training. More threads may change a training's last bits.
  int threads = 0;
  /// Most ranks one training takes data-parallel (nn::TrainOptions::ranks) when a job has more
  /// ranks than trainings to share them; 0: as many as its share of the work and its batch allow
  /// (docs/cluster.md), 1: every network trained by one rank, so that the networks, and every
  /// figure, are those of one process whatever the job's size.
  int train_ranks = 0;

  bool quick() const { return profile == Profile::kQuick; }
  void Validate() const;
};

/// The DTCO study of the SOT-MRAM AiMC paper, part by part, in the order data flows:
///   device   Figs. 4, 8b, 8c, 10b, 11 and the sigma_r reading (src/paper/device.cc)
///   circuit  Figs. 15b, 15c (src/paper/circuit.cc)
///   training Fig. 13b (src/paper/training.cc)        resnet  Fig. 14b (src/paper/resnet.cc)
///   irdrop   Figs. 16, 20, 22 (src/paper/irdrop.cc)
///   verdict  Table I, Fig. 21 (src/paper/table1.cc; its pieces: src/paper/verdict.h)
///   mitigation Figs. 23, 24, Table I under mitigation (src/paper/mitigation.cc)
///   physics  Figs. 17, 18, 19 (src/paper/physics.cc)
/// The parts that run networks exist only in builds with LibTorch.
report::Study MakeStudy(const StudyOptions& options);

/// Runs the study into options.run.out_dir: every figure as CSV + manifest + plot, and report.md.
/// A figure is recomputed only when something it depends on changed. Returns the number of parts
/// that failed; `outcomes` (when given) receives what happened to each figure.
///
/// Under an MPI launcher every rank calls it (collective, see report::Study::Run): the
/// independent units of each figure (the trainings of a grid, its test points, the points of
/// Fig. 16, the chips of a bisection step of Table I) are spread over the ranks with
/// cluster::Distribute; rank 0 writes the files. The figures are the same as one process's.
int RunStudy(const StudyOptions& options, const std::string& command,
             std::map<std::string, report::Outcome>* outcomes = nullptr);

}  // namespace aimc::paper
