#include "aimc/common/resources.h"

#include <cstdlib>
#include <vector>

namespace aimc {

std::optional<std::filesystem::path> FindShippedFile(const std::filesystem::path& relative) {
  std::vector<std::filesystem::path> candidates;
  if (const char* dir = std::getenv("AIMC_HOME")) candidates.emplace_back(std::filesystem::path(dir) / relative);
  candidates.emplace_back(relative);
  candidates.emplace_back(std::filesystem::path(AIMC_SOURCE_DIR) / relative);
  for (const auto& c : candidates) {
    if (std::filesystem::exists(c)) return c;
  }
  return std::nullopt;
}

}  // namespace aimc
