#pragma once

#include <string>

namespace aimc {

/// The release version, e.g. "0.1.0".
const char* Version();
/// The git revision the binary was built from ("abc1234", "abc1234-dirty" or "unknown").
const char* GitRevision();

}  // namespace aimc
