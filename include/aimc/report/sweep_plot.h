#pragma once

#include <string>
#include <vector>

#include "aimc/common/csv.h"
#include "aimc/report/figure.h"

namespace aimc::report {

/// The axes of a sweep's CSV (experiment::SweepColumns) that `aimc sweep --plot` can put on x.
const std::vector<std::string>& SweepPlotAxes();

/// A figure of a sweep's result (the CSV aimc sweep writes, one row per chip): the mean error
/// (%) over a point's chips against `axis`, one curve per combination of the other point
/// columns that take more than one value (model, card, sigma_w_test, r_on_ohm, wire_ohm,
/// tile_rows, tmr, time_s, temperature_k), their standard deviation over chips as error bars.
/// Its table has the columns `axis`, curve, error_pct, error_pct_std, chips. `model_names` and
/// `card_names` (by index, may be empty) name the curves. Log x for r_on_ohm and time_s (or when
/// `log_x`). Throws aimc::Error naming an unknown axis, or a sweep without rows.
Figure SweepFigure(const Table& sweep, const std::string& axis, const std::string& id,
                   const std::vector<std::string>& model_names = {},
                   const std::vector<std::string>& card_names = {});

}  // namespace aimc::report
