#include "aimc/common/error.h"

namespace aimc {

void Rethrow(const Error& error, const std::string& context) {
  throw Error(std::string(error.what()) + " (" + context + ")");
}

}  // namespace aimc
