#pragma once

#include <CLI/CLI.hpp>

namespace aimc::cli {

// Each command family registers its subcommands; the callbacks parse nothing themselves beyond
// CLI11's options and call the library.
#ifdef AIMC_CLI_STUDY
void RegisterReproduce(CLI::App& app);
#endif
void RegisterDevice(CLI::App& app);
void RegisterMap(CLI::App& app);
void RegisterXbar(CLI::App& app);
#ifdef AIMC_WITH_TORCH
void RegisterNn(CLI::App& app);
void RegisterSweep(CLI::App& app);
void RegisterEnergy(CLI::App& app);
#endif

}  // namespace aimc::cli
