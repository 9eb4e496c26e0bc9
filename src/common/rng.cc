#include "aimc/common/rng.h"

#include <charconv>
#include <cmath>

#include "aimc/common/error.h"

namespace aimc {

double Rng::Normal() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  double u = 0.0;
  double v = 0.0;
  double s = 0.0;
  do {
    u = 2.0 * Uniform() - 1.0;
    v = 2.0 * Uniform() - 1.0;
    s = u * u + v * v;
  } while (s >= 1.0 || s == 0.0);
  const double factor = std::sqrt(-2.0 * std::log(s) / s);
  spare_ = v * factor;
  has_spare_ = true;
  return u * factor;
}

std::uint64_t Rng::Derive(std::uint64_t seed, std::uint64_t stream) {
  std::uint64_t z = seed + 0x9E3779B97F4A7C15ULL * (stream + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

std::uint64_t ParseSeed(const std::string& text, const std::string& what) {
  Require(!text.empty() && text.find_first_not_of("0123456789") == std::string::npos,
          "{} must be an integer in [0, 18446744073709551615], got '{}'", what, text);
  std::uint64_t seed = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), seed);
  Require(ec == std::errc() && end == text.data() + text.size(),
          "{} = {} does not fit a 64-bit seed (at most 18446744073709551615)", what, text);
  return seed;
}

}  // namespace aimc
