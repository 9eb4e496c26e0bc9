#include "commands.h"

namespace aimc::cli {

void RegisterXbar(CLI::App& /*app*/) {}

}  // namespace aimc::cli
