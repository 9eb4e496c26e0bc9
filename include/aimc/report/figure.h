#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "aimc/common/csv.h"

namespace aimc::report {

/// One curve of a plot: column `y` against column `x` of the figure's CSV, optionally only the
/// rows where column `where_column` equals `where_value` (one curve per RA, per sigma_train...).
struct Series {
  std::string x;
  std::string y;
  std::string title;
  std::string where_column;
  double where_value = 0.0;
  std::string style = "linespoints";  // gnuplot style: lines, points, linespoints
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
};

/// A figure of the study: the data (a CSV), how it was made (a JSON manifest), and a plot drawn
/// by gnuplot from the CSV alone. `paper` is the paper's statement, `ours` our number beside it.
struct Figure {
  std::string id;     // file stem: "fig04_ra_vs_tmgo"
  std::string title;  // "Fig. 4: RA product vs MgO thickness"
  Table table;
  PlotSpec plot;
  std::string paper;
  std::string ours;
  nlohmann::json options = nlohmann::json::object();
  std::uint64_t seed = 0;
  double seconds = 0.0;
};

/// Writes <dir>/<id>.csv, <id>.json (manifest, with the figure's title and statements),
/// <id>.gp and, when gnuplot is installed, <id>.png and <id>.svg. Returns false (and warns) if the
/// plot could not be drawn; the CSV and manifest are written first, whatever happens to the plot.
bool WriteFigure(const std::filesystem::path& dir, const Figure& figure,
                 const std::string& command);

/// Writes the gnuplot script that draws <id>.png and <id>.svg from <id>.csv.
std::string GnuplotScript(const Figure& figure);

/// True if a figure with this id and exactly these options is already in `dir` (for resuming).
bool FigureUpToDate(const std::filesystem::path& dir, const std::string& id,
                    const nlohmann::json& options);

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
