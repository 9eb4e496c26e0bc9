#include "aimc/paper/study.h"

#include <algorithm>
#include <vector>

#include <fmt/format.h>

#include "aimc/common/cluster.h"
#include "aimc/common/error.h"
#include "aimc/common/version.h"
#ifdef AIMC_WITH_TORCH
#include "aimc/nn/runtime.h"
#endif
#include "parts.h"

namespace aimc::paper {

const EnumNames<Profile>& ProfileNames() {
  static const EnumNames<Profile> names("profile", {{Profile::kQuick, "quick"},
                                                    {Profile::kPaper, "paper"}});
  return names;
}

std::string ToString(Profile profile) { return ProfileNames().Name(profile); }

Profile ParseProfile(const std::string& name) { return ProfileNames().Parse(name); }

void Limits::Validate() const {
  Require(epochs >= 0, "the epoch limit must be >= 0 (0: none), got {}", epochs);
  Require(train_images >= 0, "the training image limit must be >= 0 (0: none), got {}",
          train_images);
  Require(test_images >= 0, "the test image limit must be >= 0 (0: none), got {}", test_images);
}

nlohmann::json Limits::ToJson() const {
  nlohmann::json json = nlohmann::json::object();
  if (epochs > 0) json["epochs"] = epochs;
  if (train_images > 0) json["train_images"] = train_images;
  if (test_images > 0) json["test_images"] = test_images;
  return json;
}

std::string Limits::Describe() const {
  std::vector<std::string> cuts;
  if (epochs > 0) cuts.push_back(fmt::format("{} epoch{}", epochs, epochs == 1 ? "" : "s"));
  if (train_images > 0) cuts.push_back(fmt::format("{} training images", train_images));
  if (test_images > 0) cuts.push_back(fmt::format("{} test images", test_images));
  return cuts.empty() ? "no limits" : fmt::format("at most {}", fmt::join(cuts, ", "));
}

int Limits::Epochs(int epochs_planned) const {
  return epochs > 0 ? std::min(epochs_planned, epochs) : epochs_planned;
}

std::int64_t Limits::Images(std::int64_t planned, std::int64_t limit) {
  if (limit <= 0) return planned;
  return planned <= 0 ? limit : std::min(planned, limit);
}

void StudyOptions::Validate() const {
  run.Validate();
  limits.Validate();
  Require(threads >= 0 && threads <= 256, "threads must be in 0..256 (0: the default), got {}",
          threads);
  Require(train_ranks >= 0 && train_ranks <= 4096,
          "train_ranks must be in 0..4096 (0: as many as help), got {}", train_ranks);
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
  AddPhysicsPart(study, options);
  AddMitigationPart(study, options);
#endif
  return study;
}

int RunStudy(const StudyOptions& options, const std::string& command,
             std::map<std::string, report::Outcome>* outcomes) {
  try {
    options.Validate();
  } catch (const cluster::CollectiveError&) {
    throw;
  } catch (const Error& e) {
    // Every rank checks the same options: the error is every rank's.
    if (cluster::Size() > 1) throw cluster::CollectiveError(e.what());
    throw;
  }
#ifdef AIMC_WITH_TORCH
  if (options.threads > 0) nn::SetThreads(options.threads);
#endif
  std::string preamble = fmt::format(
      "Made by `{}` (aimc {}, revision {}, profile {}, seed {}). Each figure is a CSV, a JSON "
      "manifest and a plot drawn by gnuplot from the CSV; `gnuplot <id>.gp` redraws it. A figure "
      "is recomputed when anything it depends on changes (its options, data, models, device "
      "cards); its manifest's `inputs` list them.",
      command, Version(), GitRevision(), ToString(options.profile), options.run.seed);
  if (cluster::Size() > 1)
    preamble += fmt::format(" Computed on {} MPI ranks.", cluster::Size());
  report::RunOptions run = options.run;
  if (options.limits.any()) {
    preamble += fmt::format(
        "\n\n**Limited run: {} in every plan.** Its figures are smaller than the profile's (their "
        "statements give the images, epochs and chips they used) and are not the paper's; every "
        "figure has the limits among its inputs.",
        options.limits.Describe());
    run.common_inputs["limits"] = options.limits.ToJson();
  }
  return MakeStudy(options).Run(run, command, preamble, outcomes);
}

}  // namespace aimc::paper
