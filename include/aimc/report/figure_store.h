#pragma once
// A study's figure store: parts produce figures keyed on everything they depend on, so that a
// repeated or interrupted run recomputes only what changed (report::Study, StudyContext).

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "aimc/common/enum_names.h"
#include "aimc/report/figure.h"

namespace aimc::report {

/// Where and how a study runs; what it computes is up to its parts.
struct RunOptions {
  std::filesystem::path out_dir = "results";
  std::uint64_t seed = 1;
  /// Recompute figures that are up to date.
  bool force = false;
  /// Run only the parts with these names (all when empty).
  std::vector<std::string> only;
  /// What every figure depends on beyond its own inputs (a JSON object, empty for none: e.g. cuts
  /// of the work of a smoke run): added to each figure's inputs like the seed, so that a figure
  /// made under other such conditions is never taken for a current one.
  nlohmann::json common_inputs = nlohmann::json::object();

  void Validate() const;
};

/// What happened to a figure in a run.
enum class Outcome { kKept, kRedrawn, kComputed };
const EnumNames<Outcome>& OutcomeNames();  // "kept", "redrawn", "computed"
std::string ToString(Outcome outcome);

/// What a study part gets: Produce() makes one figure unless it is up to date, so that a killed
/// or repeated run recomputes exactly what changed and keeps the rest.
///
/// With several MPI ranks (aimc::cluster) every rank runs the same study code: Produce is
/// collective. Rank 0 reads the files and decides whether a figure is kept, redrawn or computed,
/// and every rank takes that branch; a figure to compute is made by every rank (so that the work
/// items it hands out with cluster::Distribute are shared), and written by rank 0 alone.
class StudyContext {
 public:
  StudyContext(const RunOptions& options, std::string command);

  const RunOptions& options() const { return options_; }

  /// Makes the figure `id` with `make` unless a figure with that id was made from the same
  /// `inputs`: a JSON object naming everything the figure depends on (its own options, the
  /// fingerprints of the data, models and card files it reads, the fingerprints of the figures it
  /// uses). The run's seed is added. A figure whose CSV and manifest are current but whose plot
  /// files are missing is redrawn from its gnuplot script, not recomputed. The figure joins the
  /// report either way.
  void Produce(const std::string& id, nlohmann::json inputs, const std::function<Figure()>& make);

  /// The fingerprint of figure `id`'s CSV (produced earlier in this run or found up to date), for
  /// the inputs of a figure that uses its results: rank 0's reading, on every rank. Throws
  /// aimc::Error if it has not been produced.
  std::string FigureFingerprint(const std::string& id) const;

  /// The figures produced or found so far, in order, and what happened to each.
  const std::vector<std::string>& figure_ids() const { return figure_ids_; }
  const std::map<std::string, Outcome>& outcomes() const { return outcomes_; }
  int figures_made() const;

 private:
  const RunOptions& options_;
  std::string command_;
  std::vector<std::string> figure_ids_;
  std::map<std::string, Outcome> outcomes_;
};

/// One part of a study (the device figures, the IR-drop figure, ...).
struct StudyPart {
  std::string name;
  std::string description;
  std::function<void(StudyContext&)> run;
};

/// A resumable study: parts run in order; report.md is rewritten after each, so an interrupted
/// run still has a report of what it finished.
class Study {
 public:
  explicit Study(std::string heading = "aimc study report") : heading_(std::move(heading)) {}
  void Add(StudyPart part);
  const std::vector<StudyPart>& parts() const { return parts_; }

  /// Runs the selected parts. A part that fails is logged, named in report.md, and the others
  /// still run; the return value is the number of parts that failed. `preamble` opens report.md.
  /// Returns the context's outcomes through `outcomes` when given (for tests and callers).
  ///
  /// Collective with several ranks: rank 0 creates the folder and writes report.md; after each
  /// part the ranks agree whether it failed (on any rank), so that every rank goes on to the
  /// next part together and returns the same count. A part that fails on every rank (a
  /// cluster::CollectiveError, or an error of code every rank runs alike) is logged once.
  int Run(const RunOptions& options, const std::string& command, const std::string& preamble,
          std::map<std::string, Outcome>* outcomes = nullptr) const;

 private:
  std::string heading_;
  std::vector<StudyPart> parts_;
};

}  // namespace aimc::report
