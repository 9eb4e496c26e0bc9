#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace aimc {

/// The JSON manifest that sits beside every result: what made it and how to make it again.
/// Fields: command, options, seed, version, git_revision, created_utc; callers add timings.
nlohmann::json MakeManifest(const std::string& command, const nlohmann::json& options,
                            std::uint64_t seed);

/// Writes a manifest (pretty-printed) atomically.
void WriteManifest(const std::filesystem::path& path, const nlohmann::json& manifest);

/// Reads a JSON file; errors name the file.
nlohmann::json ReadJson(const std::filesystem::path& path);

/// Throws aimc::Error naming `what` and the first key of `json` that `reference` (what the
/// options' ToJson writes for the defaults) does not have: the known keys are not listed twice.
void RequireKnownKeys(const nlohmann::json& json, const nlohmann::json& reference,
                      const std::string& what);

/// The paths ("seed", "chip.tile_rows", "cards[1]") where `now` differs from `old`: objects are
/// compared key by key, arrays of equal length element by element, anything else as a whole.
std::vector<std::string> JsonDifferences(const nlohmann::json& old, const nlohmann::json& now);

/// UTC time as ISO 8601, e.g. 2026-01-31T12:00:00Z.
std::string UtcNow();

}  // namespace aimc
