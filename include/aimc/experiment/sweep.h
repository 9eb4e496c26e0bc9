#pragma once

#include <filesystem>
#include <string>

#include "aimc/common/csv.h"
#include "aimc/experiment/sweep_options.h"
#include "aimc/experiment/sweep_schema.h"

namespace aimc::experiment {

/// What a rerun into an existing result does when the experiment is not the one that made it.
enum class OnChange {
  kRefuse,   // throw aimc::Error naming what changed (the default)
  kRestart,  // discard the old result and start a new one
};

/// Runs every point not yet in `csv` and appends each finished one to it at once (fsync), so a
/// sweep killed at any moment and started again loses nothing and skips what it has. The options
/// are validated and their inputs checked (CheckSweepInputs) before any point runs. The manifest
/// <csv stem>.json beside it holds the definition of the experiment: its options and the
/// fingerprints of the models, cards and test data. A rerun continues only the experiment that
/// made the file: another definition (seed, test images, a card's contents, a model file...) is
/// refused, naming what changed, or with OnChange::kRestart starts a new result, so a result file
/// and its manifest never disagree. Returns the whole table (old and new rows).
Table RunSweep(const SweepOptions& options, const std::filesystem::path& csv,
               const std::string& command, OnChange on_change = OnChange::kRefuse);

}  // namespace aimc::experiment
