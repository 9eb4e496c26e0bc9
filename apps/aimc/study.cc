#include "aimc/report/study_parts.h"
#include "commands.h"
#ifdef AIMC_WITH_TORCH
#include "aimc/experiment/study_parts.h"
#endif

namespace aimc::cli {

report::Study MakeStudy() {
  report::Study study;
  report::AddDeviceStudy(study);
  report::AddCircuitStudy(study);
#ifdef AIMC_WITH_TORCH
  experiment::AddNetworkStudy(study);
#endif
  return study;
}

}  // namespace aimc::cli
