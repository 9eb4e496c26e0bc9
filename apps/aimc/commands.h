#pragma once

#include <CLI/CLI.hpp>


namespace aimc::cli {

// Each command family registers its subcommands; the callbacks parse nothing themselves beyond
// CLI11's options and call the library.
void RegisterReproduce(CLI::App& app);
void RegisterDevice(CLI::App& app);
void RegisterMap(CLI::App& app);
void RegisterXbar(CLI::App& app);
#ifdef AIMC_WITH_TORCH
void RegisterNn(CLI::App& app);
void RegisterSweep(CLI::App& app);
#endif

}  // namespace aimc::cli
