#include "aimc/common/version.h"

namespace aimc {

const char* Version() { return AIMC_VERSION; }

}  // namespace aimc
