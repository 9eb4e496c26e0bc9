#pragma once
// For tests: what a user would read when a call is refused.

#include <functional>
#include <string>

#include "aimc/common/error.h"

namespace aimc {

/// The message of the aimc::Error that `run` throws; "" when it throws none (any other exception
/// propagates and fails the test).
inline std::string ErrorMessage(const std::function<void()>& run) {
  try {
    run();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace aimc
