#pragma once

#include <filesystem>
#include <optional>

namespace aimc {

/// A file shipped with aimc (a device card, an experiment file, a pretrained model), given by its
/// path relative to the aimc folder ("configs/devices/sot_mram.toml"). Looked for under
/// $AIMC_HOME, then the working directory, then the source tree aimc was built from.
std::optional<std::filesystem::path> FindShippedFile(const std::filesystem::path& relative);

}  // namespace aimc
