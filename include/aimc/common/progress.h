#pragma once

#include <chrono>
#include <cstddef>
#include <string>

namespace aimc {

/// A progress line on stderr: done/total, rate, ETA and a caller's status text. On a terminal it
/// redraws in place; elsewhere (CI logs) it prints a line every few seconds.
class Progress {
 public:
  Progress(std::string label, std::size_t total, std::string unit = "it");
  ~Progress();
  void Update(std::size_t done, const std::string& status = "");
  void Finish(const std::string& status = "");

 private:
  void Print(bool final_line);
  std::string label_;
  std::size_t total_;
  std::string unit_;
  std::size_t done_ = 0;
  std::string status_;
  bool tty_;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_print_;
};

}  // namespace aimc
