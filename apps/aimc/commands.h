#pragma once

#include <CLI/CLI.hpp>

#include "aimc/report/study.h"

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

/// Every study part this build has, in the order `aimc reproduce` runs them.
report::Study MakeStudy();

}  // namespace aimc::cli
