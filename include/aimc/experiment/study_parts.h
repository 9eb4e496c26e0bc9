#pragma once

#include "aimc/report/study.h"

namespace aimc::experiment {

/// Figs. 13b, 14b, 16 and Table I: trained networks on simulated chips.
void AddNetworkStudy(report::Study& study);

}  // namespace aimc::experiment
