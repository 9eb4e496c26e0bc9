#include <memory>

#include <fmt/format.h>

#include "aimc/common/error.h"
#include "aimc/paper/study.h"
#include "commands.h"

namespace aimc::cli {

void RegisterReproduce(CLI::App& app) {
  struct Args {
    paper::StudyOptions options;
    std::string profile = "quick";
    bool list = false;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand(
      "reproduce",
      "Reproduce the paper's DTCO study: every figure as CSV + JSON manifest + plot, and "
      "report.md. Resumes: a figure is recomputed only when something it depends on changed.");
  cmd->add_option("--profile", args->profile, "quick (minutes) or paper (from scratch, hours)")
      ->check(CLI::IsMember({"quick", "paper"}))
      ->capture_default_str();
  cmd->add_option("--out", args->options.run.out_dir, "Output folder")->capture_default_str();
  cmd->add_option("--seed", args->options.run.seed, "Seed of every random draw")->capture_default_str();
  cmd->add_option("--data-dir", args->options.data_dir,
                  "Folder with full MNIST / CIFAR-10/100 files in their standard formats");
  cmd->add_flag("--force", args->options.run.force, "Recompute figures that are up to date");
  cmd->add_option("--only", args->options.run.only, "Run only these parts (see --list)");
  cmd->add_flag("--list", args->list, "List the parts of the study and exit");
  cmd->callback([args] {
    if (args->list) {
      const report::Study study = paper::MakeStudy(args->options);
      for (const auto& part : study.parts())
        fmt::print("{:<10} {}\n", part.name, part.description);
      return;
    }
    args->options.profile = paper::ParseProfile(args->profile);
    const std::string command = fmt::format(
        "aimc reproduce --profile {} --seed {} --out {}{}", args->profile, args->options.run.seed,
        args->options.run.out_dir.string(),
        args->options.data_dir.empty() ? "" : " --data-dir " + args->options.data_dir.string());
    const int failed = paper::RunStudy(args->options, command);
    if (failed > 0) Fail("{} part(s) of the study failed; see the log and report.md", failed);
  });
}

}  // namespace aimc::cli
