#include <memory>

#include <fmt/format.h>

#include "aimc/common/cluster.h"
#include "aimc/common/error.h"
#include "aimc/paper/study.h"
#include "commands.h"
#include "field_flags.h"

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
      "report.md. Resumes: a figure is recomputed only when something it depends on changed. "
      "Under mpirun/srun the ranks share the work (trainings, test points, chips); rank 0 "
      "writes.");
  cmd->add_option("--profile", args->profile, "quick (minutes) or paper (from scratch, hours)")
      ->check(CLI::IsMember({"quick", "paper"}))
      ->capture_default_str();
  cmd->add_option("--out", args->options.run.out_dir, "Output folder")->capture_default_str();
  AddSeedFlag(cmd, args->options.run.seed, "Seed of every random draw");
  cmd->add_option("--data-dir", args->options.data_dir,
                  "Folder with full MNIST / CIFAR-10/100 files in their standard formats");
  cmd->add_flag("--force", args->options.run.force, "Recompute figures that are up to date");
  cmd->add_option("--threads", args->options.threads,
                  "Threads per process for training and testing; under mpirun, per rank "
                  "(docs/cluster.md: ranks x threads = cores). 0: one for training, LibTorch's "
                  "count for tests")
      ->check(CLI::Range(0, 256));
  cmd->add_option("--train-ranks", args->options.train_ranks,
                  "Under mpirun: most ranks one training takes data-parallel when there are "
                  "more ranks than trainings (docs/cluster.md). 0: as many as its share of the "
                  "work and its batch allow; 1: each network on one rank, the figures of one "
                  "process")
      ->check(CLI::Range(0, 4096));
  paper::Limits& limits = args->options.limits;
  cmd->add_option("--limit-epochs", limits.epochs,
                  "Train every network at most N epochs (fine-tuning too; 0: the profile's)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--limit-train-images", limits.train_images,
                  "Train on at most N images (0: the profile's)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--limit-test-images", limits.test_images,
                  "Test on at most N images: figures, Table I, checks during training (0: the "
                  "profile's)")
      ->check(CLI::NonNegativeNumber);
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
    std::string command = fmt::format(
        "aimc reproduce --profile {} --seed {} --out {}{}", args->profile, args->options.run.seed,
        args->options.run.out_dir.string(),
        args->options.data_dir.empty() ? "" : " --data-dir " + args->options.data_dir.string());
    const paper::Limits& l = args->options.limits;
    if (l.epochs > 0) command += fmt::format(" --limit-epochs {}", l.epochs);
    if (l.train_images > 0) command += fmt::format(" --limit-train-images {}", l.train_images);
    if (l.test_images > 0) command += fmt::format(" --limit-test-images {}", l.test_images);
    const int failed = paper::RunStudy(args->options, command);
    // Every rank counts the same failures (the study agrees on them after each part).
    if (failed > 0)
      throw cluster::CollectiveError(
          fmt::format("{} part(s) of the study failed; see the log and report.md", failed));
  });
}

}  // namespace aimc::cli
