#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "aimc/common/cluster.h"
#include "aimc/common/error.h"
#include "aimc/experiment/sweep.h"
#include "aimc/report/sweep_plot.h"
#include "commands.h"

namespace aimc::cli {

void RegisterSweep(CLI::App& app) {
  struct Args {
    std::string file;
    std::string out;
    bool restart = false;
    int threads = 0;
    std::string plot;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand(
      "sweep",
      "Run an experiment file (configs/experiments/*.toml): trained models on simulated chips over "
      "sigma_w,test, R_ON, wire resistance, tile size, TMR and chips. Every finished point is "
      "appended to the CSV at once; a rerun of the same experiment skips finished points. Under "
      "mpirun/srun the points are spread over the ranks (docs/cluster.md).");
  cmd->add_option("file", args->file, "Experiment file (TOML)")->required()->check(CLI::ExistingFile);
  cmd->add_option("--out", args->out, "Result CSV (default: results/sweeps/<name>.csv)");
  cmd->add_flag("--restart", args->restart,
                "Discard the result in the output file and start anew (a rerun of another "
                "experiment into the same file is refused otherwise)");
  cmd->add_option("--threads", args->threads,
                  "Threads per process (overrides the file's `threads`); under mpirun, per rank "
                  "(docs/cluster.md: ranks x threads = cores)");
  cmd->add_option("--plot", args->plot,
                  "Also draw the result: mean error over chips against this axis (sigma_w_test, "
                  "r_on_ohm, wire_ohm, tile_rows, tmr, time_s or temperature_k), one curve per "
                  "value of the other axes that vary: <out>_<axis>.csv, .png, .svg and .json "
                  "beside the result CSV");
  cmd->callback([args] {
    if (!args->plot.empty()) {
      const auto& axes = report::SweepPlotAxes();
      Require(std::find(axes.begin(), axes.end(), args->plot) != axes.end(),
              "--plot '{}' is none of sigma_w_test, r_on_ohm, wire_ohm, tile_rows, tmr, time_s, "
              "temperature_k",
              args->plot);
    }
    experiment::SweepOptions options = experiment::LoadSweep(args->file);
    if (args->threads != 0) {
      options.threads = args->threads;
      options.Validate();
    }
    const std::filesystem::path csv =
        args->out.empty() ? std::filesystem::path("results/sweeps") / (options.name + ".csv")
                          : std::filesystem::path(args->out);
    const Table table = experiment::RunSweep(
        options, csv, "aimc sweep " + args->file,
        args->restart ? experiment::OnChange::kRestart : experiment::OnChange::kRefuse);
    if (!cluster::IsWriter()) return;
    fmt::print("{}: {} points in {}\n", options.name, table.rows.size(), csv.string());
    if (args->plot.empty()) return;
    std::vector<std::string> models, cards;
    for (const auto& m : options.models) models.push_back(m.stem().string());
    for (const auto& c : options.cards) cards.push_back(std::filesystem::path(c).stem().string());
    const std::string id = csv.stem().string() + "_" + args->plot;
    report::Figure figure = report::SweepFigure(table, args->plot, id, models, cards);
    figure.title = fmt::format("{}: error vs {}", options.name, args->plot);
    figure.options = {{"experiment", args->file}, {"result", csv.string()}};
    const std::filesystem::path dir = csv.parent_path().empty() ? "." : csv.parent_path();
    const bool drawn = report::WriteFigure(dir, figure, "aimc sweep " + args->file + " --plot " + args->plot);
    fmt::print("{}: {} ({})\n", (dir / (id + ".csv")).string(), figure.ours,
               drawn ? "plotted: .png and .svg beside it" : "not plotted: no gnuplot");
  });
}

}  // namespace aimc::cli
