#include "aimc/paper/study.h"

#include <fmt/format.h>

#include "aimc/common/error.h"
#include "aimc/common/version.h"
#include "parts.h"

namespace aimc::paper {

std::string ToString(Profile profile) { return profile == Profile::kQuick ? "quick" : "paper"; }

Profile ParseProfile(const std::string& name) {
  if (name == "quick") return Profile::kQuick;
  if (name == "paper") return Profile::kPaper;
  Fail("profile must be 'quick' or 'paper', got '{}'", name);
}

void StudyOptions::Validate() const {
  run.Validate();
  if (!data_dir.empty()) {
    Require(std::filesystem::is_directory(data_dir), "data_dir '{}' is not a folder",
            data_dir.string());
  }
}

report::Study MakeStudy(const StudyOptions& options) {
  report::Study study("aimc study report");
  AddDevicePart(study, options);
  AddCircuitPart(study, options);
#ifdef AIMC_WITH_TORCH
  AddTrainingPart(study, options);
  AddResnetPart(study, options);
  AddIrDropPart(study, options);
  AddVerdictPart(study, options);
#endif
  return study;
}

int RunStudy(const StudyOptions& options, const std::string& command,
             std::map<std::string, report::Outcome>* outcomes) {
  options.Validate();
  const std::string preamble = fmt::format(
      "Made by `{}` (aimc {}, revision {}, profile {}, seed {}). Each figure is a CSV, a JSON "
      "manifest and a plot drawn by gnuplot from the CSV; `gnuplot <id>.gp` redraws it. A figure "
      "is recomputed when anything it depends on changes (its options, data, models, device "
      "cards); its manifest's `inputs` list them.",
      command, Version(), GitRevision(), ToString(options.profile), options.run.seed);
  return MakeStudy(options).Run(options.run, command, preamble, outcomes);
}

}  // namespace aimc::paper
