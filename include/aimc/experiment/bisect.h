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

/// BisectBoundary one verdict at a time, for callers that judge the points of several
/// bisections together (one round of work spread over processes for all of them): point() names
/// the point to judge next, Feed() gives its verdict. The points and the result are exactly
/// BisectBoundary's.
///
///   Bisection b(0.0, 1.0, 5, false);
///   while (!b.done()) b.Feed(ok(b.point()));
///   const double boundary = b.result();
class Bisection {
 public:
  Bisection(double good, double bad, int steps, bool log_scale);

  bool done() const { return done_; }
  /// The point whose verdict is needed next (not done() only).
  double point() const;
  /// The verdict of `ok` at point().
  void Feed(bool ok);
  /// The boundary (done() only): as BisectBoundary returns it.
  double result() const;

 private:
  enum class Stage { kBad, kGood, kHalving };
  double good_, bad_;
  int steps_left_;
  bool log_scale_;
  Stage stage_ = Stage::kBad;
  bool done_ = false;
  double result_ = 0.0;
  double Mid() const;
};

}  // namespace aimc::experiment
