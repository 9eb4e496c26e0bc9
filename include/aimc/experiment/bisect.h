#pragma once

#include <functional>

namespace aimc::experiment {

/// The boundary of a monotone criterion: `ok(good)` holds, `ok(bad)` does not (checked first);
/// after `steps` halvings of [good, bad] (geometric halvings when `log_scale`), the last point
/// where `ok` held. When `ok(bad)` holds the whole range passes and `bad` is returned; when
/// `ok(good)` fails nothing passes and NaN is returned. How a specification is derived from a
/// simulation (Table I's sigma_w and R_ON).
double BisectBoundary(double good, double bad, int steps, bool log_scale,
                      const std::function<bool(double)>& ok);

}  // namespace aimc::experiment
