#include "aimc/experiment/study_parts.h"

namespace aimc::experiment {

void AddNetworkStudy(report::Study& /*study*/) {}

}  // namespace aimc::experiment
