#pragma once

#include <cstdint>
#include <filesystem>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

#include "aimc/common/error.h"

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

/// json[key] read as what T is, or `fallback` when the key is absent: a bool for bool, a string
/// for std::string, an integer that fits T for an integral T (not 3.5, 1e30 or 4294967297 for an
/// int), a finite number for a floating-point T. Errors name `what`, the key and the value.
///   o.epochs = JsonValue(json, "epochs", o.epochs, "training options");
template <typename T>
T JsonValue(const nlohmann::json& json, const std::string& key, const T& fallback,
            const std::string& what) {
  const auto it = json.find(key);
  if (it == json.end()) return fallback;
  const nlohmann::json& v = *it;
  if constexpr (std::is_same_v<T, bool>) {
    Require(v.is_boolean(), "{}: '{}' must be true or false, got {}", what, key, v.dump());
    return v.get<bool>();
  } else if constexpr (std::is_integral_v<T>) {
    Require(v.is_number_integer(), "{}: '{}' must be an integer, got {}", what, key, v.dump());
    bool fits = false;
    if (v.is_number_unsigned()) {
      fits = v.get<std::uint64_t>() <= static_cast<std::uint64_t>(std::numeric_limits<T>::max());
    } else {
      const auto i = v.get<std::int64_t>();
      fits = std::is_signed_v<T>
                 ? i >= static_cast<std::int64_t>(std::numeric_limits<T>::min()) &&
                       i <= static_cast<std::int64_t>(std::numeric_limits<T>::max())
                 : i >= 0;
    }
    Require(fits, "{}: '{}' = {} is out of range ({}..{})", what, key, v.dump(),
            std::numeric_limits<T>::min(), std::numeric_limits<T>::max());
    return v.get<T>();
  } else if constexpr (std::is_floating_point_v<T>) {
    // nlohmann writes nan and inf as null, so a number read back is finite.
    Require(v.is_number(), "{}: '{}' must be a number, got {}", what, key, v.dump());
    return v.get<T>();
  } else {
    Require(v.is_string(), "{}: '{}' must be a string, got {}", what, key, v.dump());
    return v.get<std::string>();
  }
}

/// UTC time as ISO 8601, e.g. 2026-01-31T12:00:00Z.
std::string UtcNow();

}  // namespace aimc
