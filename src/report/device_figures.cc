#include "aimc/report/study_parts.h"

namespace aimc::report {

void AddDeviceStudy(Study& /*study*/) {}

}  // namespace aimc::report
