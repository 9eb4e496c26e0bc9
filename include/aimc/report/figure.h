#pragma once

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "aimc/common/csv.h"

namespace aimc::report {

/// One curve of a plot: column `y` against column `x` of the figure's CSV, optionally only the
/// rows where column `where_column` equals `where_value` (one curve per RA, per sigma_train...).
struct Series {
  Series() = default;
  Series(std::string x_column, std::string y_column, std::string curve_title,
         std::string where = "", double where_equals = 0.0, std::string gnuplot_style = "linespoints")
      : x(std::move(x_column)),
        y(std::move(y_column)),
        title(std::move(curve_title)),
        where_column(std::move(where)),
        where_value(where_equals),
        style(std::move(gnuplot_style)) {}

  std::string x;
  std::string y;
  std::string title;
  std::string where_column;
  double where_value = 0.0;
  std::string style = "linespoints";  // gnuplot style: lines, points, linespoints
  /// Column with the standard deviation of y (Monte-Carlo spread): drawn as error bars.
  std::string y_error;
};

struct PlotSpec {
  std::string xlabel;
  std::string ylabel;
  bool log_x = false;
  bool log_y = false;
  std::vector<Series> series;
  /// For heatmaps: the CSV has columns x, y, value and the plot is drawn with `image`.
  bool heatmap = false;
  std::string heatmap_x, heatmap_y, heatmap_value;
  /// Shaded rectangles (data coordinates) drawn behind the curves, e.g. a spec region.
  struct Region {
    double x0, x1, y0, y1;
    std::string title;
    std::string color = "#d8f0d8";  // gnuplot rgb
    /// See-through (an interval over a region): what lies behind stays visible.
    bool transparent = false;
  };
  std::vector<Region> regions;
  /// Text at data coordinates (e.g. the name of each technology beside its point).
  struct Label {
    double x, y;
    std::string text;
  };
  std::vector<Label> labels;
  /// Where the key goes (gnuplot's `set key` arguments).
  std::string key = "outside right";
  /// Axis ranges; NaN leaves gnuplot's automatic range.
  double x_min = std::nan(""), x_max = std::nan(""), y_min = std::nan(""), y_max = std::nan("");
};

/// A device-voltage map of an array (Fig. 15b and `aimc xbar solve --map`): the heatmap of
/// circuit::VoltageMapTable's `cell_fraction` over (column, `row_column`).
PlotSpec VoltageMapPlot(const std::string& row_column, const std::string& xlabel,
                        const std::string& ylabel);

/// A figure of the study: the data (a CSV), how it was made (a JSON manifest), and a plot drawn
/// by gnuplot from the CSV alone. `paper` is the paper's statement, `ours` our number beside it.
struct Figure {
  std::string id;     // file stem: "fig04_ra_vs_tmgo"
  std::string title;  // "Fig. 4: RA product vs MgO thickness"
  Table table;
  PlotSpec plot;
  std::string paper;
  std::string ours;
  /// What the figure reports about how it was made (the manifest's "options"); what it depends
  /// on is the study's key, the manifest's "inputs".
  nlohmann::json options = nlohmann::json::object();
  std::uint64_t seed = 0;
  double seconds = 0.0;
};

/// Writes <dir>/<id>.csv, <id>.gp, when gnuplot is installed <id>.png and <id>.svg, and last
/// <id>.json (manifest, with the figure's title, statements and the `inputs` it was made from), so
/// that a manifest is only there for a complete figure. Returns false (and warns) if the plot
/// could not be drawn.
bool WriteFigure(const std::filesystem::path& dir, const Figure& figure,
                 const std::string& command,
                 const nlohmann::json& inputs = nlohmann::json::object());

/// Writes the gnuplot script that draws <id>.png and <id>.svg from <id>.csv.
std::string GnuplotScript(const Figure& figure);

/// How a figure in `dir` stands against the inputs it would be made from now.
enum class FigureState {
  kMissing,      // no complete figure (no manifest or CSV)
  kStale,        // made from other inputs
  kPlotMissing,  // current, but its PNG/SVG is gone (gnuplot installed): redraw it
  kCurrent,
};
FigureState CheckFigure(const std::filesystem::path& dir, const std::string& id,
                        const nlohmann::json& inputs);
/// The top-level keys of `inputs` that differ from those the figure in `dir` was made from.
std::vector<std::string> ChangedInputs(const std::filesystem::path& dir, const std::string& id,
                                       const nlohmann::json& inputs);

/// Runs <id>.gp again (the plot from the CSV alone); true when the PNG and SVG were drawn.
bool RedrawPlot(const std::filesystem::path& dir, const std::string& id);

/// An entry of results/report.md, read back from a figure's manifest.
struct ReportEntry {
  std::string id;
  std::string title;
  std::string paper;
  std::string ours;
};

/// Reads the figure manifest <dir>/<id>.json into a report entry.
ReportEntry LoadReportEntry(const std::filesystem::path& dir, const std::string& id);

/// Writes report.md: every figure with its plot, the paper's statement and ours.
void WriteReport(const std::filesystem::path& path, const std::string& heading,
                 const std::vector<ReportEntry>& entries, const std::string& preamble);

}  // namespace aimc::report
