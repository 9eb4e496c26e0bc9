#pragma once
// Table I, the study's "verdict" part (private to the paper module), one concept a file: its
// columns (table1_cards.cc), the spec rule (table1_spec_rule.h) and the simulations that feed it
// (table1_specs.cc), the cost per card (table1_costs.cc), Fig. 21 (fig21.cc), the table
// (table1_render.cc) and the part that runs them (table1.cc).

#include <cstdint>
#include <string>
#include <vector>

#include "aimc/energy/model.h"
#include "aimc/paper/study.h"
#include "aimc/paper/table1.h"
#include "aimc/report/figure.h"
#include "irdrop.h"
#include "noise_grid.h"
#include "parts.h"
#include "spec_interval.h"

namespace aimc::paper {

/// The inference specs as derived, and the errors they are read against.
struct Table1Specs {
  double sigma_own = 0.0;    // reading 1: over the sigma_train network's own noise-free error
  double sigma_clean = 0.0;  // reading 2: over the clean-trained network's noise-free error
  double noise_free_pct = 0.0, clean_pct = 0.0;
  double r_on = 0.0;
  double digital_pct = 0.0;
  std::int64_t cnn2_images = 0, cnn1_images = 0;
  /// Where each curve crosses the budget (interpolated between the bisections' points) and its
  /// 95 % interval over chips and test images.
  SpecInterval sigma_own_interval, sigma_clean_interval, r_on_interval;
};

/// The sigma_w spec (both readings, CNN 2 under weight noise) and the R_ON spec (CNN 1 with exact
/// IR drop) by SpecSearch. Collective: the simulations are work units over the ranks.
Table1Specs DeriveSpecs(const Table1Options& v, Cnn2Grid& cnn2, const NoiseGridPlan& p14,
                        Cnn1IrDrop& cnn1, double tmr, std::uint64_t seed);

/// The cost of an inference on each card's chip (at its own R_ON, the Table's wires): CNN 1 and
/// CNN 2, CostFields each, in card order.
struct CardCosts {
  std::vector<std::vector<double>> cnn1, cnn2;
  energy::EnergyOptions cnn1_options, cnn2_options;
};

/// Collective: one work unit per card and network.
CardCosts RunCardCosts(const StudyOptions& options, const Table1Options& v,
                       const std::vector<Table1Card>& entries, Cnn1IrDrop& cnn1, Cnn2Grid& cnn2);

/// The value of CostColumns()'s `column` in `fields`.
double CostField(const std::vector<double>& fields, const std::string& column);

/// Fig. 21: TOPS/W and energy per inference of every card, CNN 1 and CNN 2.
report::Figure Fig21(const Table1Options& v, const std::vector<Table1Card>& entries,
                     const CardCosts& costs);

/// The specs' intervals and the chips and images that +-1 point of sigma_w (+-10 % of R_ON)
/// needs, as the report states them.
std::string IntervalsText(const Table1Specs& s);

/// Table I: every card against the specs, as a figure (CSV and chart) and table1_verdict.md
/// (written by rank 0).
report::Figure RenderTable1(const StudyOptions& options, const Table1Options& v,
                            const Table1Specs& s, const std::vector<Table1Card>& entries,
                            double tmr, const CardCosts& costs);

}  // namespace aimc::paper
