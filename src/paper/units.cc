#include "units.h"

#include <algorithm>
#include <cstring>
#include <optional>

#include "aimc/common/cluster.h"
#include "aimc/common/error.h"
#include "aimc/common/progress.h"

namespace aimc::paper {

namespace {

// Doubles as bytes, exactly: a result read back is bit for bit the one computed.
std::string PackDoubles(const std::vector<double>& values) {
  std::string bytes(values.size() * sizeof(double), '\0');
  if (!values.empty()) std::memcpy(bytes.data(), values.data(), bytes.size());
  return bytes;
}

// As many doubles as the unit returned: each unit knows its own count (a reference unit may
// return fewer than the points beside it).
std::vector<double> UnpackDoubles(const std::string& bytes) {
  Require(bytes.size() % sizeof(double) == 0, "a work unit's result has {} bytes, not doubles",
          bytes.size());
  std::vector<double> values(bytes.size() / sizeof(double));
  if (!values.empty()) std::memcpy(values.data(), bytes.data(), bytes.size());
  return values;
}

}  // namespace

std::vector<std::vector<double>> RunUnits(
    std::size_t n, const std::function<std::vector<double>(std::size_t unit)>& compute,
    const UnitsOptions& options) {
  std::optional<Progress> bar;
  if (!options.progress.empty())
    bar.emplace(options.progress, std::min(options.shown, n), options.item);
  std::size_t done = 0;
  cluster::DistributeOptions work;
  work.cost = options.cost;
  if (bar || options.on_done)
    work.on_done = [&](std::size_t i, const std::string& bytes) {
      const std::vector<double> r = UnpackDoubles(bytes);
      if (options.on_done) options.on_done(i, r);
      if (bar && i < options.shown) bar->Update(++done, options.status ? options.status(i, r) : "");
    };
  const std::vector<std::string> results = cluster::Distribute(
      n, [&](std::size_t i) { return PackDoubles(compute(i)); }, work);
  if (bar) bar->Finish();
  std::vector<std::vector<double>> out;
  out.reserve(n);
  for (const std::string& r : results) out.push_back(UnpackDoubles(r));
  return out;
}

}  // namespace aimc::paper
