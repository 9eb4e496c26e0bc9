#include "commands.h"

namespace aimc::cli {

void RegisterSweep(CLI::App& /*app*/) {}

}  // namespace aimc::cli
