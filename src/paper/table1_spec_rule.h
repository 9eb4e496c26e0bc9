#pragma once
// Table I's spec rule (private to the paper module): where an error curve leaves the budget,
// decided from measured numbers only, so that it is tested on synthetic curves apart from the
// simulations that measure the real ones (table1_specs.cc).

#include "aimc/experiment/bisect.h"
#include "aimc/paper/table1.h"

namespace aimc::paper {

/// A point meets the spec when its error exceeds the reference by at most the budget
/// (percentage points): "an error increase < 1.5 %" of Fig. 14b.
bool WithinBudget(double error_pct, double reference_pct, double budget_pct);

/// One spec's bisection, fed with measured errors: the point to measure next, then its error.
/// The spec is the last point within the budget after `bisection_steps` halvings, so within one
/// step of where the curve crosses the budget when it crosses once. Any curve, monotone or not,
/// takes at most bisection_steps + 2 points (the far end, the good end, the halvings), and the
/// spec is always a point measured within the budget.
///
///   SpecSearch s = SpecSearch::SigmaW(v, noise_free_pct);
///   while (!s.done()) s.Feed(MeasureErrorPct(s.point()));
///   const double sigma_w_spec = s.spec();
class SpecSearch {
 public:
  /// sigma_w,test over [0, sigma_w_max], linear: 0 (no weight noise) is the good end.
  /// `reference_pct` is the noise-free error of the network read (reading 1: the one trained at
  /// sigma_train; reading 2: the clean-trained one).
  static SpecSearch SigmaW(const Table1Options& v, double reference_pct);
  /// R_ON over [r_on_min_ohm, r_on_max_ohm] in log R_ON: r_on_max_ohm (least IR drop) is the good
  /// end. `reference_pct` is the error of the same chip without wires.
  static SpecSearch ROn(const Table1Options& v, double reference_pct);

  bool done() const { return bisection_.done(); }
  /// The point whose error is needed next (not done() only).
  double point() const { return bisection_.point(); }
  /// The error (%) measured at point().
  void Feed(double error_pct);
  /// The spec (done() only): the last point within the budget; the far end of the range
  /// (sigma_w_max, r_on_min_ohm) when the whole range is within it; NaN when the good end is
  /// over it already (no spec in the range).
  double spec() const { return bisection_.result(); }

 private:
  SpecSearch(experiment::Bisection bisection, double reference_pct, double budget_pct)
      : bisection_(bisection), reference_pct_(reference_pct), budget_pct_(budget_pct) {}
  experiment::Bisection bisection_;
  double reference_pct_, budget_pct_;
};

}  // namespace aimc::paper
