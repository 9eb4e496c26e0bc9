#include "commands.h"

namespace aimc::cli {

void RegisterMap(CLI::App& /*app*/) {}

}  // namespace aimc::cli
