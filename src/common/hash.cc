#include "aimc/common/hash.h"

#include <fmt/format.h>

#include "aimc/common/csv.h"

namespace aimc {

std::uint64_t Fnv1a64(std::string_view bytes, std::uint64_t state) {
  for (const char c : bytes) {
    state ^= static_cast<unsigned char>(c);
    state *= 1099511628211ull;
  }
  return state;
}

std::string HashHex(std::string_view bytes) { return fmt::format("{:016x}", Fnv1a64(bytes)); }

std::string HashFile(const std::filesystem::path& path) { return HashHex(ReadFile(path)); }

}  // namespace aimc
