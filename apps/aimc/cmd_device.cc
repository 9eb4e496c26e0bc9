#include "commands.h"

namespace aimc::cli {

void RegisterDevice(CLI::App& /*app*/) {}

}  // namespace aimc::cli
