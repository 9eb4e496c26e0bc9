#pragma once
// The study's work units over MPI ranks (private to the paper module): what a unit returns
// through cluster::Distribute, and the seconds it took.

#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include "aimc/common/error.h"

namespace aimc::paper {

/// Doubles as bytes (exactly: a result read back is bit for bit the one computed).
inline std::string PackDoubles(const std::vector<double>& values) {
  std::string bytes(values.size() * sizeof(double), '\0');
  if (!values.empty()) std::memcpy(bytes.data(), values.data(), bytes.size());
  return bytes;
}

/// The doubles of PackDoubles; `count` of them, as the unit that made them returns.
inline std::vector<double> UnpackDoubles(const std::string& bytes, std::size_t count) {
  Require(bytes.size() == count * sizeof(double),
          "a work unit's result has {} bytes, expected {} doubles", bytes.size(), count);
  std::vector<double> values(count);
  if (count > 0) std::memcpy(values.data(), bytes.data(), bytes.size());
  return values;
}

/// Seconds since `start`.
inline double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace aimc::paper
