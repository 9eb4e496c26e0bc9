#pragma once

#include "aimc/report/study.h"

namespace aimc::report {

/// Figs. 4, 8b, 8c, 10b, 11: device statistics and the weight-spread mapping.
void AddDeviceStudy(Study& study);
/// Fig. 15b: IR drop in the FC layer of CNN 1.
void AddCircuitStudy(Study& study);

}  // namespace aimc::report
