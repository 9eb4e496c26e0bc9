#include <cstdio>
#include <exception>
#include <filesystem>
#include <iostream>
#include <new>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "aimc/common/cluster.h"
#include "aimc/common/error.h"
#include "aimc/common/version.h"
#include "commands.h"

#ifdef AIMC_TORCH_PROGRAM
#include "torch_program.h"
#endif
#ifdef AIMC_WITH_TORCH
#include <c10/util/Exception.h>
#endif

namespace {

// An error of this rank. With several ranks it may be this rank's alone, so the job is ended
// (MPI_Abort) rather than left waiting for it; a CollectiveError is every rank's, said once.
int Failed(int code, const char* kind, const char* what, bool collective = false) {
  const int ranks = aimc::cluster::Size();
  if (ranks == 1) {
    std::fprintf(stderr, "aimc: %s: %s\n", kind, what);
    return code;
  }
  if (collective) {
    if (aimc::cluster::IsWriter()) std::fprintf(stderr, "aimc: %s: %s\n", kind, what);
    return code;
  }
  std::fprintf(stderr, "aimc: %s (%s): %s\n", kind, aimc::cluster::Where().c_str(), what);
  aimc::cluster::AbortJob(code);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"aimc: analog in-memory computing simulator for DNN inference (device, mapping, "
               "IR-drop, hardware-aware training, DTCO study)"};
  app.require_subcommand(0, 1);
  app.set_version_flag("--version", fmt::format("aimc {} (git {})", aimc::Version(),
                                                aimc::GitRevision()));
  bool quiet = false;
  app.add_flag("-q,--quiet", quiet, "Only warnings and errors on stderr");

#ifdef AIMC_CLI_STUDY
  aimc::cli::RegisterReproduce(app);
#endif
  aimc::cli::RegisterDevice(app);
  aimc::cli::RegisterMap(app);
  aimc::cli::RegisterXbar(app);
#ifdef AIMC_WITH_TORCH
  aimc::cli::RegisterNn(app);
  aimc::cli::RegisterSweep(app);
  aimc::cli::RegisterEnergy(app);
#endif

  std::vector<std::string> help_topic;
  CLI::App* help = app.add_subcommand("help", "Show the help of a command: aimc help xbar solve");
  help->add_option("command", help_topic, "Command and subcommand");
  help->callback([&] {
    CLI::App* target = &app;
    for (const auto& name : help_topic) {
      try {
        target = target->get_subcommand(name);
      } catch (const CLI::OptionNotFound&) {
        throw aimc::Error(fmt::format("help: unknown command '{}'", name));
      }
    }
    std::cout << target->help();
  });

#ifdef AIMC_TORCH_PROGRAM
  if (!aimc::cli::RunsHere(app, argc, argv))
    return aimc::cli::RunBesideProgram(app, AIMC_TORCH_PROGRAM, argv);
#endif
  // Under mpirun/srun every rank runs this program; MPI starts here (after the hand-over above,
  // which replaces the process).
  aimc::cluster::Session session(&argc, &argv);

  app.parse_complete_callback([&] {
    if (aimc::cluster::Size() > 1) {
      // One log: rank 0 tells the story; the others speak only of warnings and errors.
      spdlog::set_pattern(fmt::format("[%H:%M:%S] [rank {}] %^%l%$ %v", aimc::cluster::Rank()));
      spdlog::set_level(quiet || !aimc::cluster::IsWriter() ? spdlog::level::warn
                                                            : spdlog::level::info);
    } else {
      spdlog::set_pattern("[%H:%M:%S] %^%l%$ %v");
      spdlog::set_level(quiet ? spdlog::level::warn : spdlog::level::info);
    }
  });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (aimc::cluster::Size() > 1 && !aimc::cluster::IsWriter()) return e.get_exit_code();
    return app.exit(e);
  } catch (const aimc::cluster::CollectiveError& e) {
    return Failed(2, "error", e.what(), true);
  } catch (const aimc::Error& e) {
    return Failed(2, "error", e.what());
  } catch (const std::filesystem::filesystem_error& e) {
    // A path the user gave that the system refuses (permissions, a full disk).
    return Failed(2, "error", e.what());
  } catch (const std::bad_alloc&) {
    return Failed(2, "error",
                  "out of memory: the problem is larger than this machine holds (a smaller "
                  "array, batch or data subset fits)");
#ifdef AIMC_WITH_TORCH
  } catch (const c10::Error& e) {
    // Every LibTorch call on user input is checked first; one that still fails is a bug, shown
    // without LibTorch's backtrace.
    return Failed(3, "internal error", e.what_without_backtrace());
#endif
  } catch (const std::exception& e) {
    return Failed(3, "internal error", e.what());
  }
  if (argc == 1) std::cout << app.help();
  return 0;
}
