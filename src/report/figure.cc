#include "aimc/report/figure.h"

#include <cmath>
#include <cstdlib>
#include <sstream>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "aimc/common/error.h"
#include "aimc/common/csv.h"
#include "aimc/common/manifest.h"

namespace aimc::report {

namespace {

std::string Quote(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// A region's fill: opaque, or see-through over what lies behind it.
std::string RegionFill(const PlotSpec::Region& r) {
  return r.transparent ? "transparent solid 0.35" : "solid 0.6";
}

bool HaveGnuplot() {
  static const bool have = std::system("command -v gnuplot >/dev/null 2>&1") == 0;
  return have;
}

}  // namespace

std::string GnuplotScript(const Figure& figure) {
  std::ostringstream gp;
  const std::string csv = figure.id + ".csv";
  gp << "# Draws " << figure.id << ".png and .svg from " << csv << "; run in this folder.\n";
  gp << "set datafile separator ','\n";
  gp << "set key autotitle columnhead\n";
  gp << "set title " << Quote(figure.title) << " noenhanced\n";
  gp << "set xlabel " << Quote(figure.plot.xlabel) << " noenhanced\n";
  gp << "set ylabel " << Quote(figure.plot.ylabel) << " noenhanced\n";
  gp << "set grid\nset key " << figure.plot.key << " noenhanced\n";
  if (figure.plot.log_x) gp << "set logscale x\n";
  if (figure.plot.log_y) gp << "set logscale y\n";
  gp << "set bars small\n";
  const PlotSpec& spec = figure.plot;
  const auto range = [&](const char* axis, double lo, double hi) {
    if (std::isnan(lo) && std::isnan(hi)) return;
    gp << "set " << axis << "range [" << (std::isnan(lo) ? std::string("*") : fmt::format("{:.17g}", lo))
       << ":" << (std::isnan(hi) ? std::string("*") : fmt::format("{:.17g}", hi)) << "]\n";
  };
  range("x", spec.x_min, spec.x_max);
  range("y", spec.y_min, spec.y_max);
  int object = 1;
  for (const auto& r : spec.regions) {
    gp << fmt::format(
        "set object {} rect from {:.17g},{:.17g} to {:.17g},{:.17g} behind fillcolor rgb "
        "'{}' fillstyle {} noborder\n",
        object++, r.x0, r.y0, r.x1, r.y1, r.color, RegionFill(r));
  }
  for (const auto& l : spec.labels) {
    gp << fmt::format("set label {} at {:.17g},{:.17g} offset 1,0.6 noenhanced\n", Quote(l.text),
                      l.x, l.y);
  }
  std::string plot;
  if (spec.heatmap) {
    gp << "set view map\nset palette rgbformulae 33,13,10\nunset key\nset size ratio -1\n";
    plot = fmt::format("plot {} using (column({})):(column({})):(column({})) with image",
                       Quote(csv), Quote(spec.heatmap_x), Quote(spec.heatmap_y),
                       Quote(spec.heatmap_value));
  } else {
    std::vector<std::string> parts;
    // A region's title shows in the key as an empty box of its colour.
    for (const auto& r : spec.regions) {
      if (!r.title.empty())
        parts.push_back(fmt::format("NaN with boxes fillcolor rgb '{}' fillstyle {} title {}",
                                    r.color, RegionFill(r), Quote(r.title)));
    }
    for (const Series& s : spec.series) {
      const auto where = [&](const std::string& value) {
        if (s.where_column.empty()) return value;
        return fmt::format("(abs(column({}) - ({:.17g})) <= 1e-9 * (1 + abs({:.17g})) ? {} : 1/0)",
                           Quote(s.where_column), s.where_value, s.where_value, value);
      };
      const std::string y = where(fmt::format("column({})", Quote(s.y)));
      if (s.y_error.empty()) {
        parts.push_back(fmt::format("{} using (column({})):({}) with {} title {}", Quote(csv),
                                    Quote(s.x), y, s.style, Quote(s.title)));
      } else {
        const std::string style = s.style == "points" ? "yerrorbars" : "yerrorlines";
        parts.push_back(fmt::format("{} using (column({})):({}):(column({})) with {} title {}",
                                    Quote(csv), Quote(s.x), y, Quote(s.y_error), style,
                                    Quote(s.title)));
      }
    }
    plot = "plot " + fmt::format("{}", fmt::join(parts, ", \\\n     "));
  }
  gp << "set terminal pngcairo size 960,600 noenhanced\nset output " << Quote(figure.id + ".png")
     << "\n"
     << plot << "\n";
  gp << "set terminal svg size 960,600 noenhanced\nset output " << Quote(figure.id + ".svg") << "\n"
     << "replot\nunset output\n";
  return gp.str();
}

namespace {

// Runs <id>.gp in `dir`; true when gnuplot drew the plot.
bool RunGnuplot(const std::filesystem::path& dir, const std::string& id) {
  if (!HaveGnuplot()) {
    spdlog::warn("gnuplot not found: {} has its CSV but no plot", id);
    return false;
  }
  const std::string cmd = fmt::format("cd {} && gnuplot {} > {} 2>&1", Quote(dir.string()),
                                      Quote(id + ".gp"), Quote(id + ".gp.log"));
  const bool plotted = std::system(cmd.c_str()) == 0;
  if (plotted) {
    std::filesystem::remove(dir / (id + ".gp.log"));
  } else {
    spdlog::warn("gnuplot failed for {}: see {}", id, (dir / (id + ".gp.log")).string());
  }
  return plotted;
}

nlohmann::json PlotFiles(const std::string& id, bool plotted) {
  return plotted ? nlohmann::json{id + ".png", id + ".svg"} : nlohmann::json::array();
}

}  // namespace

PlotSpec VoltageMapPlot(const std::string& row_column, const std::string& xlabel,
                        const std::string& ylabel) {
  PlotSpec p;
  p.xlabel = xlabel;
  p.ylabel = ylabel;
  p.heatmap = true;
  p.heatmap_x = "column";
  p.heatmap_y = row_column;
  p.heatmap_value = "cell_fraction";
  return p;
}

bool WriteFigure(const std::filesystem::path& dir, const Figure& figure,
                 const std::string& command, const nlohmann::json& inputs) {
  std::filesystem::create_directories(dir);
  // The old manifest goes first: a figure is complete only when its manifest is there, so a run
  // killed between the CSV and the manifest leaves a figure that is recomputed, never one whose
  // CSV and manifest disagree.
  std::filesystem::remove(dir / (figure.id + ".json"));
  WriteCsv(dir / (figure.id + ".csv"), figure.table);
  nlohmann::json manifest = MakeManifest(command, figure.options, figure.seed);
  manifest["inputs"] = inputs;
  manifest["figure"] = {{"id", figure.id},
                        {"title", figure.title},
                        {"paper", figure.paper},
                        {"ours", figure.ours},
                        {"csv", figure.id + ".csv"}};
  manifest["timings"] = {{"seconds", figure.seconds}};
  WriteFileAtomic(dir / (figure.id + ".gp"), GnuplotScript(figure));
  const bool plotted = RunGnuplot(dir, figure.id);
  manifest["plot"] = PlotFiles(figure.id, plotted);
  WriteManifest(dir / (figure.id + ".json"), manifest);
  return plotted;
}

FigureState CheckFigure(const std::filesystem::path& dir, const std::string& id,
                        const nlohmann::json& inputs) {
  const auto manifest_path = dir / (id + ".json");
  if (!std::filesystem::exists(manifest_path) || !std::filesystem::exists(dir / (id + ".csv")))
    return FigureState::kMissing;
  nlohmann::json manifest;
  try {
    manifest = ReadJson(manifest_path);
  } catch (const Error&) {
    return FigureState::kMissing;
  }
  if (manifest.value("inputs", nlohmann::json()) != inputs) return FigureState::kStale;
  if (!std::filesystem::exists(dir / (id + ".gp"))) return FigureState::kStale;
  if (HaveGnuplot() && (!std::filesystem::exists(dir / (id + ".png")) ||
                        !std::filesystem::exists(dir / (id + ".svg"))))
    return FigureState::kPlotMissing;
  return FigureState::kCurrent;
}

std::vector<std::string> ChangedInputs(const std::filesystem::path& dir, const std::string& id,
                                       const nlohmann::json& inputs) {
  nlohmann::json old = nlohmann::json::object();
  try {
    old = ReadJson(dir / (id + ".json")).value("inputs", nlohmann::json::object());
  } catch (const Error&) {
  }
  std::vector<std::string> changed;
  for (const auto& [key, value] : inputs.items())
    if (!old.contains(key) || old[key] != value) changed.push_back(key);
  for (const auto& [key, value] : old.items())
    if (!inputs.contains(key)) changed.push_back(key);
  return changed;
}

bool RedrawPlot(const std::filesystem::path& dir, const std::string& id) {
  const bool plotted = RunGnuplot(dir, id);
  nlohmann::json manifest = ReadJson(dir / (id + ".json"));
  manifest["plot"] = PlotFiles(id, plotted);
  WriteManifest(dir / (id + ".json"), manifest);
  return plotted;
}

ReportEntry LoadReportEntry(const std::filesystem::path& dir, const std::string& id) {
  const nlohmann::json manifest = ReadJson(dir / (id + ".json"));
  const auto& f = manifest.at("figure");
  return ReportEntry{id, f.value("title", id), f.value("paper", ""), f.value("ours", "")};
}

void WriteReport(const std::filesystem::path& path, const std::string& heading,
                 const std::vector<ReportEntry>& entries, const std::string& preamble) {
  std::ostringstream md;
  md << "# " << heading << "\n\n" << preamble << "\n\n";
  md << "| figure | the paper says | aimc finds |\n|---|---|---|\n";
  for (const auto& e : entries) {
    md << "| [" << e.title << "](#" << e.id << ") | " << e.paper << " | " << e.ours << " |\n";
  }
  md << "\n";
  for (const auto& e : entries) {
    md << "## <a id=\"" << e.id << "\"></a>" << e.title << "\n\n";
    md << "![" << e.title << "](" << e.id << ".png)\n\n";
    md << "- Paper: " << e.paper << "\n- aimc: " << e.ours << "\n";
    md << "- Data: [" << e.id << ".csv](" << e.id << ".csv), manifest [" << e.id << ".json]("
       << e.id << ".json), plot script [" << e.id << ".gp](" << e.id << ".gp)\n\n";
  }
  WriteFileAtomic(path, md.str());
}

}  // namespace aimc::report
