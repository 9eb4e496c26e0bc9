#include "aimc/report/sweep_plot.h"

#include <algorithm>
#include <cmath>
#include <map>

#include <fmt/format.h>

#include "aimc/common/error.h"

namespace aimc::report {

const std::vector<std::string>& SweepPlotAxes() {
  static const std::vector<std::string> axes = {"sigma_w_test", "r_on_ohm",   "wire_ohm",
                                                "tile_rows",    "tmr",        "time_s",
                                                "temperature_k"};
  return axes;
}

namespace {

std::string NameOf(const std::vector<std::string>& names, double index, const char* what) {
  const auto i = static_cast<std::size_t>(index);
  if (index >= 0 && static_cast<double>(i) == index && i < names.size()) return names[i];
  return fmt::format("{} {}", what, index);
}

std::string Value(double v) { return fmt::format("{:g}", v); }

}  // namespace

Figure SweepFigure(const Table& sweep, const std::string& axis, const std::string& id,
                   const std::vector<std::string>& model_names,
                   const std::vector<std::string>& card_names) {
  const auto& axes = SweepPlotAxes();
  Require(std::find(axes.begin(), axes.end(), axis) != axes.end(),
          "plot axis '{}' is none of sigma_w_test, r_on_ohm, wire_ohm, tile_rows, tmr, time_s, "
          "temperature_k",
          axis);
  Require(!sweep.rows.empty(), "the sweep has no finished point to plot");
  // The point's columns besides the axis: the ones that vary make the curves.
  std::vector<std::string> others = {"model", "card"};
  for (const std::string& a : axes)
    if (a != axis) others.push_back(a);
  std::vector<std::string> varying;
  std::vector<std::size_t> varying_cols;
  for (const std::string& c : others) {
    const std::size_t col = sweep.Column(c);
    const double first = sweep.rows.front()[col];
    if (std::any_of(sweep.rows.begin(), sweep.rows.end(),
                    [&](const std::vector<double>& row) { return row[col] != first; })) {
      varying.push_back(c);
      varying_cols.push_back(col);
    }
  }
  const std::size_t x_col = sweep.Column(axis), err_col = sweep.Column("error_pct");
  // (curve key, x) -> errors of its chips; curves in order of first appearance.
  std::vector<std::vector<double>> curve_keys;
  std::map<std::pair<std::size_t, double>, std::vector<double>> points;
  for (const auto& row : sweep.rows) {
    std::vector<double> key;
    for (const std::size_t col : varying_cols) key.push_back(row[col]);
    auto it = std::find(curve_keys.begin(), curve_keys.end(), key);
    if (it == curve_keys.end()) it = curve_keys.insert(curve_keys.end(), key);
    const auto curve = static_cast<std::size_t>(it - curve_keys.begin());
    points[{curve, row[x_col]}].push_back(row[err_col]);
  }

  Figure fig;
  fig.id = id;
  fig.title = fmt::format("Error vs {}", axis);
  fig.table.columns = {axis, "curve", "error_pct", "error_pct_std", "chips"};
  for (const auto& [where, errors] : points) {
    double mean = 0.0;
    for (double e : errors) mean += e;
    mean /= static_cast<double>(errors.size());
    double var = 0.0;
    for (double e : errors) var += (e - mean) * (e - mean);
    const double sd = errors.size() > 1 ? std::sqrt(var / static_cast<double>(errors.size() - 1)) : 0.0;
    fig.table.Add({where.second, static_cast<double>(where.first), mean, sd,
                   static_cast<double>(errors.size())});
  }
  fig.plot.xlabel = axis;
  fig.plot.ylabel = "test error (%), mean over chips";
  fig.plot.log_x = axis == "r_on_ohm" || axis == "time_s";
  for (std::size_t c = 0; c < curve_keys.size(); ++c) {
    std::string title;
    for (std::size_t k = 0; k < varying.size(); ++k) {
      const double v = curve_keys[c][k];
      const std::string part = varying[k] == "model" ? NameOf(model_names, v, "model")
                               : varying[k] == "card" ? NameOf(card_names, v, "card")
                                                      : varying[k] + " " + Value(v);
      title += (k ? ", " : "") + part;
    }
    if (title.empty()) title = "error";
    Series s(axis, "error_pct", title, "curve", static_cast<double>(c));
    s.y_error = "error_pct_std";
    fig.plot.series.push_back(s);
  }
  fig.ours = fmt::format("{} points of {} curve(s)", fig.table.rows.size(), curve_keys.size());
  return fig;
}

}  // namespace aimc::report
