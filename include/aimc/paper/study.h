#pragma once

#include <filesystem>
#include <map>
#include <string>

#include "aimc/report/study.h"

namespace aimc::paper {

/// How much of the study to run: `quick` (minutes on a laptop, small sweeps, few epochs, shipped
/// checkpoints) or `paper` (everything from scratch at the paper's sizes).
enum class Profile { kQuick, kPaper };

std::string ToString(Profile profile);
/// Parses "quick" or "paper"; throws aimc::Error naming the value otherwise.
Profile ParseProfile(const std::string& name);

struct StudyOptions {
  /// Output folder, seed, --force, --only.
  report::RunOptions run;
  Profile profile = Profile::kQuick;
  /// Folder with user data sets (full MNIST, CIFAR-10/100); empty: built-in data only.
  std::filesystem::path data_dir;

  bool quick() const { return profile == Profile::kQuick; }
  void Validate() const;
};

/// The DTCO study of the SOT-MRAM AiMC paper, part by part, in the order data flows:
///   device   Figs. 4, 8b, 8c, 10b, 11 and the sigma_r reading (src/paper/device.cc)
///   circuit  Figs. 15b, 15c (src/paper/circuit.cc)
///   training Fig. 13b (src/paper/training.cc)        resnet  Fig. 14b (src/paper/resnet.cc)
///   irdrop   Fig. 16 (src/paper/irdrop.cc)           verdict Table I (src/paper/table1.cc)
/// The parts that run networks exist only in builds with LibTorch.
report::Study MakeStudy(const StudyOptions& options);

/// Runs the study into options.run.out_dir: every figure as CSV + manifest + plot, and report.md.
/// A figure is recomputed only when something it depends on changed. Returns the number of parts
/// that failed; `outcomes` (when given) receives what happened to each figure.
int RunStudy(const StudyOptions& options, const std::string& command,
             std::map<std::string, report::Outcome>* outcomes = nullptr);

}  // namespace aimc::paper
