#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "aimc/report/figure.h"

namespace aimc::report {

/// How much of the study to run: `quick` (minutes on a laptop, small sweeps, few epochs, shipped
/// checkpoints) or `paper` (everything from scratch at the paper's sizes).
enum class Profile { kQuick, kPaper };

std::string ToString(Profile profile);
/// Parses "quick" or "paper"; throws aimc::Error naming the value otherwise.
Profile ParseProfile(const std::string& name);

struct StudyOptions {
  std::filesystem::path out_dir = "results";
  Profile profile = Profile::kQuick;
  std::uint64_t seed = 1;
  /// Folder with user data sets (full MNIST, CIFAR-10/100); empty: built-in data only.
  std::filesystem::path data_dir;
  /// Recompute figures that are already up to date.
  bool force = false;
  /// Run only the parts with these names (all when empty).
  std::vector<std::string> only;

  void Validate() const;
};

/// What a study part gets: the options, and Produce() to make one figure, skipped when a figure
/// with the same id and options is already there (so a killed run resumes where it stopped).
class StudyContext {
 public:
  StudyContext(const StudyOptions& options, std::string command);

  const StudyOptions& options() const { return options_; }
  bool quick() const { return options_.profile == Profile::kQuick; }

  /// Makes the figure `id` with `make` unless it is up to date; `figure_options` are what it
  /// depends on (the profile and the seed are added). The figure joins the report either way.
  void Produce(const std::string& id, nlohmann::json figure_options,
               const std::function<Figure()>& make);

  /// The figures produced or found so far, in order.
  const std::vector<std::string>& figure_ids() const { return figure_ids_; }
  int figures_made() const { return made_; }

 private:
  const StudyOptions& options_;
  std::string command_;
  std::vector<std::string> figure_ids_;
  int made_ = 0;
};

/// One part of the study (the device figures, the IR-drop figures, ...).
struct StudyPart {
  std::string name;
  std::string description;
  std::function<void(StudyContext&)> run;
};

/// The whole study: parts run in order; report.md is rewritten after each, so an interrupted
/// run still has a report of what it finished.
class Study {
 public:
  void Add(StudyPart part);
  const std::vector<StudyPart>& parts() const { return parts_; }

  /// Runs the selected parts. A part that fails is logged and the others still run; the return
  /// value is the number of parts that failed.
  int Run(const StudyOptions& options, const std::string& command) const;

 private:
  std::vector<StudyPart> parts_;
};

}  // namespace aimc::report
