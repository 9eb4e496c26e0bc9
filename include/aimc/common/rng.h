#pragma once

#include <cstdint>
#include <random>
#include <string>

namespace aimc {

/// The one random engine of aimc. Its distributions are written here, not taken from <random>,
/// whose distributions are implementation-defined: the same seed gives the same draws with any
/// compiler and standard library.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : engine_(seed) {}

  /// Uniform on [0, 1), 53 random bits.
  double Uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }

  /// Standard normal by the Marsaglia polar method.
  double Normal();

  double Normal(double mean, double stddev) { return mean + stddev * Normal(); }

  /// A seed for a derived stream (one chip, one device, one worker), decorrelated by splitmix64.
  static std::uint64_t Derive(std::uint64_t seed, std::uint64_t stream);

  std::uint64_t NextU64() { return engine_(); }

 private:
  std::mt19937_64 engine_;
  double spare_ = 0.0;
  bool has_spare_ = false;
};

/// A seed from text (a command-line flag): the whole text an integer in [0, 2^64 - 1]. A sign, a
/// fraction or a value beyond 64 bits is refused, naming `what`, never wrapped or saturated (two
/// different seeds must not give the same draws).
std::uint64_t ParseSeed(const std::string& text, const std::string& what);

}  // namespace aimc
