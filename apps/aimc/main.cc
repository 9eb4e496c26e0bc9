#include <cstdio>
#include <exception>
#include <filesystem>
#include <iostream>
#include <new>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "aimc/common/error.h"
#include "aimc/common/version.h"
#include "commands.h"

#ifdef AIMC_TORCH_PROGRAM
#include "torch_program.h"
#endif
#ifdef AIMC_WITH_TORCH
#include <c10/util/Exception.h>
#endif

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

  app.parse_complete_callback([&] {
    spdlog::set_pattern("[%H:%M:%S] %^%l%$ %v");
    spdlog::set_level(quiet ? spdlog::level::warn : spdlog::level::info);
  });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const aimc::Error& e) {
    std::fprintf(stderr, "aimc: error: %s\n", e.what());
    return 2;
  } catch (const std::filesystem::filesystem_error& e) {
    // A path the user gave that the system refuses (permissions, a full disk).
    std::fprintf(stderr, "aimc: error: %s\n", e.what());
    return 2;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "aimc: error: out of memory: the problem is larger than this machine "
                         "holds (a smaller array, batch or data subset fits)\n");
    return 2;
#ifdef AIMC_WITH_TORCH
  } catch (const c10::Error& e) {
    // Every LibTorch call on user input is checked first; one that still fails is a bug, shown
    // without LibTorch's backtrace.
    std::fprintf(stderr, "aimc: internal error: %s\n", e.what_without_backtrace());
    return 3;
#endif
  } catch (const std::exception& e) {
    std::fprintf(stderr, "aimc: internal error: %s\n", e.what());
    return 3;
  }
  if (argc == 1) std::cout << app.help();
  return 0;
}
