#include "commands.h"

namespace aimc::cli {

void RegisterNn(CLI::App& /*app*/) {}

}  // namespace aimc::cli
