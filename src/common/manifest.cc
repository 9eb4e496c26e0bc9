#include "aimc/common/manifest.h"

#include <chrono>
#include <ctime>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "aimc/common/csv.h"
#include "aimc/common/error.h"
#include "aimc/common/version.h"

namespace aimc {

std::string UtcNow() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof(buffer), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

nlohmann::json MakeManifest(const std::string& command, const nlohmann::json& options,
                            std::uint64_t seed) {
  return nlohmann::json{{"command", command},   {"options", options},
                        {"seed", seed},         {"version", Version()},
                        {"git_revision", GitRevision()}, {"created_utc", UtcNow()}};
}

void WriteManifest(const std::filesystem::path& path, const nlohmann::json& manifest) {
  WriteFileAtomic(path, manifest.dump(2) + "\n");
}

nlohmann::json ReadJson(const std::filesystem::path& path) {
  const std::string text = ReadFile(path);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    Fail("{}: malformed JSON: {}", path.string(), e.what());
  }
}

void RequireKnownKeys(const nlohmann::json& json, const nlohmann::json& reference,
                      const std::string& what) {
  for (const auto& [key, value] : json.items())
    Require(reference.contains(key), "{}: unknown key '{}'", what, key);
}

namespace {

void Differences(const nlohmann::json& old, const nlohmann::json& now, const std::string& path,
                 std::vector<std::string>& out) {
  if (old.is_object() && now.is_object()) {
    for (const auto& [key, value] : now.items()) {
      const std::string sub = path.empty() ? key : path + "." + key;
      if (!old.contains(key)) {
        out.push_back(sub);
      } else {
        Differences(old[key], value, sub, out);
      }
    }
    for (const auto& [key, value] : old.items())
      if (!now.contains(key)) out.push_back(path.empty() ? key : path + "." + key);
    return;
  }
  if (old.is_array() && now.is_array() && old.size() == now.size()) {
    for (std::size_t i = 0; i < old.size(); ++i)
      Differences(old[i], now[i], fmt::format("{}[{}]", path, i), out);
    return;
  }
  if (old != now) out.push_back(path.empty() ? "(everything)" : path);
}

}  // namespace

std::vector<std::string> JsonDifferences(const nlohmann::json& old, const nlohmann::json& now) {
  std::vector<std::string> out;
  Differences(old, now, "", out);
  return out;
}

}  // namespace aimc
