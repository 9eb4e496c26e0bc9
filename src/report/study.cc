#include "aimc/report/study.h"

#include <algorithm>
#include <chrono>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "aimc/common/error.h"
#include "aimc/common/version.h"

namespace aimc::report {

std::string ToString(Profile profile) { return profile == Profile::kQuick ? "quick" : "paper"; }

Profile ParseProfile(const std::string& name) {
  if (name == "quick") return Profile::kQuick;
  if (name == "paper") return Profile::kPaper;
  Fail("profile must be 'quick' or 'paper', got '{}'", name);
}

void StudyOptions::Validate() const {
  Require(!out_dir.empty(), "out_dir must not be empty");
  if (!data_dir.empty()) {
    Require(std::filesystem::is_directory(data_dir), "data_dir '{}' is not a folder",
            data_dir.string());
  }
}

StudyContext::StudyContext(const StudyOptions& options, std::string command)
    : options_(options), command_(std::move(command)) {}

void StudyContext::Produce(const std::string& id, nlohmann::json figure_options,
                           const std::function<Figure()>& make) {
  figure_options["profile"] = ToString(options_.profile);
  figure_options["seed"] = options_.seed;
  if (!options_.force && FigureUpToDate(options_.out_dir, id, figure_options)) {
    spdlog::info("{}: up to date, kept", id);
    figure_ids_.push_back(id);
    return;
  }
  spdlog::info("{}: computing", id);
  const auto start = std::chrono::steady_clock::now();
  Figure figure = make();
  figure.id = id;
  figure.options = figure_options;
  figure.seed = options_.seed;
  figure.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  WriteFigure(options_.out_dir, figure, command_);
  spdlog::info("{}: done in {:.1f} s — {}", id, figure.seconds, figure.ours);
  figure_ids_.push_back(id);
  ++made_;
}

void Study::Add(StudyPart part) { parts_.push_back(std::move(part)); }

int Study::Run(const StudyOptions& options, const std::string& command) const {
  options.Validate();
  for (const auto& name : options.only) {
    const bool known = std::any_of(parts_.begin(), parts_.end(),
                                   [&](const StudyPart& p) { return p.name == name; });
    if (!known) {
      std::vector<std::string> names;
      for (const auto& p : parts_) names.push_back(p.name);
      Fail("--only: unknown part '{}' (parts: {})", name, fmt::join(names, ", "));
    }
  }
  std::filesystem::create_directories(options.out_dir);
  StudyContext context(options, command);
  std::vector<std::string> failures;
  const auto write_report = [&] {
    std::vector<ReportEntry> entries;
    for (const auto& id : context.figure_ids()) {
      entries.push_back(LoadReportEntry(options.out_dir, id));
    }
    std::string preamble = fmt::format(
        "Made by `{}` (aimc {}, revision {}, profile {}, seed {}). Each figure is a CSV, a JSON "
        "manifest and a plot drawn by gnuplot from the CSV; `gnuplot <id>.gp` redraws it.",
        command, Version(), GitRevision(), ToString(options.profile), options.seed);
    if (!failures.empty()) {
      preamble += fmt::format("\n\n**Parts that failed:** {}", fmt::join(failures, "; "));
    }
    WriteReport(options.out_dir / "report.md", "aimc study report", entries, preamble);
  };
  for (const auto& part : parts_) {
    if (!options.only.empty() &&
        std::find(options.only.begin(), options.only.end(), part.name) == options.only.end()) {
      continue;
    }
    spdlog::info("== {}: {}", part.name, part.description);
    try {
      part.run(context);
    } catch (const std::exception& e) {
      // Keep going: figures already written stay, and the report says what failed.
      spdlog::error("{} failed: {}", part.name, e.what());
      failures.push_back(fmt::format("{}: {}", part.name, e.what()));
    }
    write_report();
  }
  write_report();
  spdlog::info("report: {} ({} figures, {} computed now)",
               (options.out_dir / "report.md").string(), context.figure_ids().size(),
               context.figures_made());
  return static_cast<int>(failures.size());
}

}  // namespace aimc::report
