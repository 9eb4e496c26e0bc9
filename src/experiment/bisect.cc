#include "aimc/experiment/bisect.h"

#include <cmath>

#include "aimc/common/error.h"

namespace aimc::experiment {

double BisectBoundary(double good, double bad, int steps, bool log_scale,
                      const std::function<bool(double)>& ok) {
  Require(steps >= 0, "bisection steps must be >= 0, got {}", steps);
  Require(!log_scale || (good > 0 && bad > 0), "a log-scale bisection needs positive ends");
  if (ok(bad)) return bad;
  if (!ok(good)) return std::nan("");
  for (int i = 0; i < steps; ++i) {
    const double mid = log_scale ? std::sqrt(good * bad) : 0.5 * (good + bad);
    (ok(mid) ? good : bad) = mid;
  }
  return good;
}

}  // namespace aimc::experiment
