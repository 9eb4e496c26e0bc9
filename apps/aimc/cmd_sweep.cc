#include <memory>

#include <fmt/format.h>

#include "aimc/common/cluster.h"
#include "aimc/experiment/sweep.h"
#include "commands.h"

namespace aimc::cli {

void RegisterSweep(CLI::App& app) {
  struct Args {
    std::string file;
    std::string out;
    bool restart = false;
    int threads = 0;
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
  cmd->callback([args] {
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
    if (cluster::IsWriter())
      fmt::print("{}: {} points in {}\n", options.name, table.rows.size(), csv.string());
  });
}

}  // namespace aimc::cli
