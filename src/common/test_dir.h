#pragma once
// For tests: a path of their own under the system's temp folder.

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <system_error>

namespace aimc {

/// temp/<stem>_<pid>_<n>: unique to this process and call, so that test programs run in parallel
/// (CTest -j, several build trees) never share a folder. Not created: the caller creates and
/// removes it.
inline std::filesystem::path UniqueTempPath(const std::string& stem) {
  static std::atomic<int> next{0};
  return std::filesystem::temp_directory_path() /
         (stem + "_" + std::to_string(::getpid()) + "_" + std::to_string(next++));
}

}  // namespace aimc

namespace aimc {

/// A created UniqueTempPath, removed with the object (a static one at the program's exit).
class TempDir {
 public:
  explicit TempDir(const std::string& stem) : path_(UniqueTempPath(stem)) {
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;  // a test's leftovers must not fail it
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace aimc
