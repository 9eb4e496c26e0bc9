#include "aimc/report/figure.h"

#include <cstdlib>
#include <sstream>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "aimc/common/error.h"
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

bool HaveGnuplot() { return std::system("command -v gnuplot >/dev/null 2>&1") == 0; }

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
  gp << "set grid\nset key outside right noenhanced\n";
  if (figure.plot.log_x) gp << "set logscale x\n";
  if (figure.plot.log_y) gp << "set logscale y\n";
  std::string plot;
  if (figure.plot.heatmap) {
    gp << "set view map\nset palette rgbformulae 33,13,10\nunset key\nset size ratio -1\n";
    plot = fmt::format("plot {} using (column({})):(column({})):(column({})) with image",
                       Quote(csv), Quote(figure.plot.heatmap_x), Quote(figure.plot.heatmap_y),
                       Quote(figure.plot.heatmap_value));
  } else {
    std::vector<std::string> parts;
    for (const Series& s : figure.plot.series) {
      std::string y = fmt::format("column({})", Quote(s.y));
      if (!s.where_column.empty()) {
        y = fmt::format("(abs(column({}) - ({:.17g})) <= 1e-9 * (1 + abs({:.17g})) ? {} : 1/0)",
                        Quote(s.where_column), s.where_value, s.where_value, y);
      }
      parts.push_back(fmt::format("{} using (column({})):({}) with {} title {}", Quote(csv),
                                  Quote(s.x), y, s.style, Quote(s.title)));
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

bool WriteFigure(const std::filesystem::path& dir, const Figure& figure,
                 const std::string& command) {
  std::filesystem::create_directories(dir);
  WriteCsv(dir / (figure.id + ".csv"), figure.table);
  nlohmann::json manifest = MakeManifest(command, figure.options, figure.seed);
  manifest["figure"] = {{"id", figure.id},
                        {"title", figure.title},
                        {"paper", figure.paper},
                        {"ours", figure.ours},
                        {"csv", figure.id + ".csv"}};
  manifest["timings"] = {{"seconds", figure.seconds}};
  const std::string script = GnuplotScript(figure);
  WriteFileAtomic(dir / (figure.id + ".gp"), script);
  bool plotted = false;
  if (HaveGnuplot()) {
    const std::string cmd = fmt::format("cd {} && gnuplot {} > {} 2>&1", Quote(dir.string()),
                                        Quote(figure.id + ".gp"), Quote(figure.id + ".gp.log"));
    plotted = std::system(cmd.c_str()) == 0;
    if (plotted) {
      std::filesystem::remove(dir / (figure.id + ".gp.log"));
    } else {
      spdlog::warn("gnuplot failed for {}: see {}", figure.id,
                   (dir / (figure.id + ".gp.log")).string());
    }
  } else {
    spdlog::warn("gnuplot not found: {} has its CSV but no plot", figure.id);
  }
  manifest["plot"] = plotted ? nlohmann::json{figure.id + ".png", figure.id + ".svg"}
                             : nlohmann::json::array();
  // The manifest is written last: its presence means the figure is complete (see FigureUpToDate).
  WriteManifest(dir / (figure.id + ".json"), manifest);
  return plotted;
}

bool FigureUpToDate(const std::filesystem::path& dir, const std::string& id,
                    const nlohmann::json& options) {
  const auto manifest_path = dir / (id + ".json");
  if (!std::filesystem::exists(manifest_path) || !std::filesystem::exists(dir / (id + ".csv")))
    return false;
  try {
    const nlohmann::json manifest = ReadJson(manifest_path);
    return manifest.value("options", nlohmann::json()) == options;
  } catch (const Error&) {
    return false;
  }
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
