#include "aimc/experiment/bisect.h"

#include <cmath>

#include "aimc/common/error.h"

namespace aimc::experiment {

Bisection::Bisection(double good, double bad, int steps, bool log_scale)
    : good_(good), bad_(bad), steps_left_(steps), log_scale_(log_scale) {
  Require(steps >= 0, "bisection steps must be >= 0, got {}", steps);
  Require(!log_scale || (good > 0 && bad > 0), "a log-scale bisection needs positive ends");
}

double Bisection::Mid() const {
  return log_scale_ ? std::sqrt(good_ * bad_) : 0.5 * (good_ + bad_);
}

double Bisection::point() const {
  Require(!done_, "the bisection is finished: no point to judge");
  switch (stage_) {
    case Stage::kBad: return bad_;
    case Stage::kGood: return good_;
    case Stage::kHalving: return Mid();
  }
  return Mid();
}

void Bisection::Feed(bool ok) {
  Require(!done_, "the bisection is finished: no verdict expected");
  const auto finish = [this](double result) {
    done_ = true;
    result_ = result;
  };
  switch (stage_) {
    case Stage::kBad:
      if (ok) return finish(bad_);
      stage_ = Stage::kGood;
      return;
    case Stage::kGood:
      if (!ok) return finish(std::nan(""));
      stage_ = Stage::kHalving;
      break;
    case Stage::kHalving: {
      const double mid = Mid();
      (ok ? good_ : bad_) = mid;
      --steps_left_;
      break;
    }
  }
  if (steps_left_ == 0) finish(good_);
}

double Bisection::result() const {
  Require(done_, "the bisection is not finished");
  return result_;
}

double BisectBoundary(double good, double bad, int steps, bool log_scale,
                      const std::function<bool(double)>& ok) {
  Bisection b(good, bad, steps, log_scale);
  while (!b.done()) b.Feed(ok(b.point()));
  return b.result();
}

}  // namespace aimc::experiment
