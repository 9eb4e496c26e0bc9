#pragma once

// Test helper: seeded mutations of input files for the fuzz tests (device cards, experiment
// files, model archives, IDX headers). Deterministic: std::mt19937_64 is specified bit for bit
// by the standard, and the index arithmetic below is our own (no std distributions).

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace aimc::testing {

/// Values a hostile or careless file holds: integers beyond 32 and 64 bits, floats beyond the
/// double range or subnormal, non-finite, negative, zero, wrong types.
inline const std::vector<std::string>& HostileTomlValues() {
  static const std::vector<std::string> values = {
      "4294967297", "-2147483649", "9223372036854775807", "-9223372036854775808",
      "1e308",      "-1e308",      "1e-320",              "5e-324",
      "nan",        "inf",         "-inf",                "-1",
      "0",          "-0.0",        "3.5",                 "1e30",
      "1e15",       "1e-9",        "0x7fffffff",          "'text'",
      "''",         "[]",          "[1, nan]",            "[1e-320, 4294967297]",
      "true",       "{}",          "[[1, 2], 3]",         "1979-05-27"};
  return values;
}

class Mutator {
 public:
  explicit Mutator(std::uint64_t seed) : rng_(seed) {}

  /// Uniform in 0..n-1 (n >= 1); the modulo bias of a 64-bit draw is far below any effect here.
  std::size_t Below(std::size_t n) { return n <= 1 ? 0 : static_cast<std::size_t>(rng_() % n); }

  /// `count` random bytes replaced by random values.
  std::string FlipBytes(std::string s, int count) {
    for (int i = 0; i < count && !s.empty(); ++i) s[Below(s.size())] = static_cast<char>(Below(256));
    return s;
  }

  /// The first 0..size-1 bytes.
  std::string Truncate(const std::string& s) { return s.substr(0, Below(s.size())); }

  /// `junk` inserted at a random position.
  std::string Insert(std::string s, const std::string& junk) {
    s.insert(Below(s.size() + 1), junk);
    return s;
  }

  /// The value of a random `key = value` line replaced by a hostile one (TOML text).
  std::string ReplaceTomlValue(const std::string& s) {
    std::vector<std::size_t> starts;  // where the value of a key line begins
    std::size_t line = 0;
    while (line < s.size()) {
      const std::size_t end = s.find('\n', line);
      const std::size_t stop = end == std::string::npos ? s.size() : end;
      const std::size_t eq = s.find(" = ", line);
      if (s[line] != '#' && s[line] != '[' && eq != std::string::npos && eq < stop)
        starts.push_back(eq + 3);
      line = stop + 1;
    }
    if (starts.empty()) return s;
    const std::size_t start = starts[Below(starts.size())];
    std::size_t stop = s.find('\n', start);
    if (stop == std::string::npos) stop = s.size();
    const auto& values = HostileTomlValues();
    return s.substr(0, start) + values[Below(values.size())] + s.substr(stop);
  }

  /// One of the mutations above, chosen at random; TOML-aware when `toml` is set.
  std::string Mutate(const std::string& s, bool toml) {
    switch (Below(toml ? 5 : 3)) {
      case 0:
        return FlipBytes(s, 1 + static_cast<int>(Below(8)));
      case 1:
        return Truncate(s);
      case 2: {
        static const std::vector<std::string> junk = {
            std::string("\0\xff\x80", 3), "]]]", "\"\"\"", "= =", "\n[x]\n", "\xc3\x28", "\\u0000"};
        return Insert(s, junk[Below(junk.size())]);
      }
      case 3:
        return ReplaceTomlValue(ReplaceTomlValue(s));
      default:
        return ReplaceTomlValue(s);
    }
  }

 private:
  std::mt19937_64 rng_;
};

}  // namespace aimc::testing
