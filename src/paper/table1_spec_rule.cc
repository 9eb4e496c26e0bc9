#include "table1_spec_rule.h"

namespace aimc::paper {

bool WithinBudget(double error_pct, double reference_pct, double budget_pct) {
  return error_pct - reference_pct <= budget_pct;
}

SpecSearch SpecSearch::SigmaW(const Table1Options& v, double reference_pct) {
  return SpecSearch(experiment::Bisection(0.0, v.sigma_w_max, v.bisection_steps, false),
                    reference_pct, v.error_budget_pct);
}

SpecSearch SpecSearch::ROn(const Table1Options& v, double reference_pct) {
  return SpecSearch(experiment::Bisection(v.r_on_max_ohm, v.r_on_min_ohm, v.bisection_steps, true),
                    reference_pct, v.error_budget_pct);
}

void SpecSearch::Feed(double error_pct) {
  bisection_.Feed(WithinBudget(error_pct, reference_pct_, budget_pct_));
}

}  // namespace aimc::paper
