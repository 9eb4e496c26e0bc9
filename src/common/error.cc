#include "aimc/common/error.h"

namespace aimc {

void Rethrow(const Error& error, const std::string& context) {
  throw Error(std::string(error.what()) + " (" + context + ")");
}

void RethrowNamingFile(const Error& error, const std::string& file) {
  if (std::string(error.what()).find(file) != std::string::npos) throw error;
  Rethrow(error, "in " + file);
}

}  // namespace aimc
