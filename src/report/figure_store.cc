#include "aimc/report/figure_store.h"

#include <algorithm>
#include <chrono>
#include <cstdint>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "aimc/common/cluster.h"
#include "aimc/common/csv.h"
#include "aimc/common/error.h"
#include "aimc/common/hash.h"

namespace aimc::report {

const EnumNames<Outcome>& OutcomeNames() {
  static const EnumNames<Outcome> names("outcome", {{Outcome::kKept, "kept"},
                                                    {Outcome::kRedrawn, "redrawn"},
                                                    {Outcome::kComputed, "computed"}});
  return names;
}

std::string ToString(Outcome outcome) { return OutcomeNames().Name(outcome); }

void RunOptions::Validate() const {
  Require(!out_dir.empty(), "out_dir must not be empty");
  Require(!std::filesystem::exists(out_dir) || std::filesystem::is_directory(out_dir),
          "out_dir '{}' exists and is not a folder", out_dir.string());
}

StudyContext::StudyContext(const RunOptions& options, std::string command)
    : options_(options), command_(std::move(command)) {}

int StudyContext::figures_made() const {
  return static_cast<int>(std::count_if(outcomes_.begin(), outcomes_.end(), [](const auto& o) {
    return o.second == Outcome::kComputed;
  }));
}

void StudyContext::Produce(const std::string& id, nlohmann::json inputs,
                           const std::function<Figure()>& make) {
  if (inputs.is_null()) inputs = nlohmann::json::object();
  Require(inputs.is_object(), "{}: the inputs of a figure must be a JSON object", id);
  inputs["seed"] = options_.seed;
  for (const auto& [key, value] : options_.common_inputs.items()) inputs[key] = value;
  // Rank 0 reads the files and decides; every rank takes its branch.
  std::string decision;
  cluster::OnWriter([&] {
    const FigureState state =
        options_.force ? FigureState::kStale : CheckFigure(options_.out_dir, id, inputs);
    if (state == FigureState::kCurrent) {
      spdlog::info("{}: up to date, kept", id);
      decision = ToString(Outcome::kKept);
    } else if (state == FigureState::kPlotMissing) {
      spdlog::info("{}: up to date, plot redrawn from its CSV", id);
      RedrawPlot(options_.out_dir, id);
      decision = ToString(Outcome::kRedrawn);
    } else {
      if (state == FigureState::kStale && !options_.force) {
        const auto changed = ChangedInputs(options_.out_dir, id, inputs);
        spdlog::info("{}: computing (changed: {})", id,
                     changed.empty() ? std::string("plot script")
                                     : fmt::format("{}", fmt::join(changed, ", ")));
      } else {
        spdlog::info("{}: computing", id);
      }
      decision = ToString(Outcome::kComputed);
    }
  });
  cluster::Broadcast(decision);
  Outcome outcome = Outcome::kComputed;
  if (decision == ToString(Outcome::kKept)) outcome = Outcome::kKept;
  if (decision == ToString(Outcome::kRedrawn)) outcome = Outcome::kRedrawn;
  if (outcome == Outcome::kComputed) {
    const auto start = std::chrono::steady_clock::now();
    Figure figure = make();  // on every rank: the work items inside are shared
    figure.id = id;
    figure.seed = options_.seed;
    figure.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    cluster::OnWriter([&] {
      WriteFigure(options_.out_dir, figure, command_, inputs);
      spdlog::info("{}: done in {:.1f} s — {}", id, figure.seconds, figure.ours);
    });
  }
  if (std::find(figure_ids_.begin(), figure_ids_.end(), id) == figure_ids_.end())
    figure_ids_.push_back(id);
  outcomes_[id] = outcome;
}

std::string StudyContext::FigureFingerprint(const std::string& id) const {
  Require(outcomes_.count(id) > 0, "figure '{}' is used before it was produced", id);
  std::string fingerprint;
  cluster::OnWriter([&] { fingerprint = HashFile(options_.out_dir / (id + ".csv")); });
  cluster::Broadcast(fingerprint);
  return fingerprint;
}

void Study::Add(StudyPart part) { parts_.push_back(std::move(part)); }

int Study::Run(const RunOptions& options, const std::string& command, const std::string& preamble,
               std::map<std::string, Outcome>* outcomes) const {
  const bool several = cluster::Size() > 1;
  try {
    options.Validate();
    Require(options.common_inputs.is_object(), "common_inputs must be a JSON object");
    for (const auto& name : options.only) {
      const bool known = std::any_of(parts_.begin(), parts_.end(),
                                     [&](const StudyPart& p) { return p.name == name; });
      if (!known) {
        std::vector<std::string> names;
        for (const auto& p : parts_) names.push_back(p.name);
        Fail("--only: unknown part '{}' (parts: {})", name, fmt::join(names, ", "));
      }
    }
  } catch (const cluster::CollectiveError&) {
    throw;
  } catch (const Error& e) {
    // Every rank checks the same options: the error is every rank's.
    if (several) throw cluster::CollectiveError(e.what());
    throw;
  }
  cluster::OnWriter([&] { std::filesystem::create_directories(options.out_dir); });
  StudyContext context(options, command);
  std::vector<std::string> failures;
  const auto write_report = [&] {
    cluster::OnWriter([&] {
      std::vector<ReportEntry> entries;
      for (const auto& id : context.figure_ids()) {
        entries.push_back(LoadReportEntry(options.out_dir, id));
      }
      std::string text = preamble;
      if (!failures.empty()) {
        text += fmt::format("\n\n**Parts that failed:** {}", fmt::join(failures, "; "));
      }
      WriteReport(options.out_dir / "report.md", heading_, entries, text);
    });
  };
  for (const auto& part : parts_) {
    if (!options.only.empty() &&
        std::find(options.only.begin(), options.only.end(), part.name) == options.only.end()) {
      continue;
    }
    spdlog::info("== {}: {}", part.name, part.description);
    // Keep going: figures already written stay, and the report says what failed. With several
    // ranks every rank goes on to the next part together: they agree on whether this one failed
    // anywhere (an aimc::Error is one every rank meets alike, or a CollectiveError already).
    // Any other error of a rank (out of memory) may be its own while the others wait in a
    // shared step: it ends the job (main).
    std::string failure;
    try {
      part.run(context);
    } catch (const Error& e) {
      failure = e.what();
      if (failure.empty()) failure = "unknown error";
    } catch (const std::exception& e) {
      if (several) throw;
      failure = e.what();
      if (failure.empty()) failure = "unknown error";
    }
    try {
      cluster::OnEveryRank([&] {
        if (!failure.empty()) throw Error(failure);
      });
    } catch (const Error& e) {
      if (cluster::IsWriter()) spdlog::error("{} failed: {}", part.name, e.what());
      failures.push_back(fmt::format("{}: {}", part.name, e.what()));
    }
    write_report();
  }
  write_report();
  spdlog::info("report: {} ({} figures, {} computed now)",
               (options.out_dir / "report.md").string(), context.figure_ids().size(),
               context.figures_made());
  if (outcomes) *outcomes = context.outcomes();
  return static_cast<int>(failures.size());
}

}  // namespace aimc::report
