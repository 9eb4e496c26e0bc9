#include "aimc/report/study_parts.h"

namespace aimc::report {

void AddCircuitStudy(Study& /*study*/) {}

}  // namespace aimc::report
