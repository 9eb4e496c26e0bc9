#pragma once
// The study's work units over MPI ranks (private to the paper module): units that return doubles,
// run with a progress bar, and the seconds they took.

#include <chrono>
#include <cstddef>
#include <functional>
#include <limits>
#include <string>
#include <vector>

namespace aimc::paper {

/// Seconds since `start`.
inline double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

/// How RunUnits hands out its units and shows them finishing.
struct UnitsOptions {
  /// A progress bar labelled `progress` ("fig16") counting `item`s ("point", "chip"); empty: no
  /// bar.
  std::string progress;
  std::string item = "point";
  /// The bar counts the first `shown` units only; those after them (a reference, checks) run
  /// unseen. All by default.
  std::size_t shown = std::numeric_limits<std::size_t>::max();
  /// The bar's status text for a finished unit, from its doubles.
  std::function<std::string(std::size_t unit, const std::vector<double>& result)> status;
  /// Called for every finished unit (rank 0, in the order units finish): log lines.
  std::function<void(std::size_t unit, const std::vector<double>& result)> on_done;
  /// Relative cost of each unit, for handing out the longest first (cluster::DistributeOptions).
  std::vector<double> cost;
};

/// Runs units 0..n-1 over the ranks with cluster::Distribute and returns every unit's doubles on
/// every rank, bit for bit as the unit computed them, in unit order. Collective: every rank calls
/// it with the same n and options.
///
///   UnitsOptions show{.progress = "fig23"};
///   const auto errors = RunUnits(points.size(), [&](std::size_t i) {
///     return std::vector<double>{ErrorAt(points[i])};
///   }, show);
std::vector<std::vector<double>> RunUnits(
    std::size_t n, const std::function<std::vector<double>(std::size_t unit)>& compute,
    const UnitsOptions& options = {});

}  // namespace aimc::paper
