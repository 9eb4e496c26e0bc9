#include "aimc/common/progress.h"

#include "aimc/common/cluster.h"

#include <unistd.h>

#include <cstdio>

#include <fmt/format.h>

namespace aimc {

namespace {

std::string Duration(double seconds) {
  if (seconds < 0 || seconds > 1e7) return "?";
  const long s = static_cast<long>(seconds + 0.5);
  if (s >= 3600) return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
  if (s >= 60) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}s", s);
}

}  // namespace

Progress::Progress(std::string label, std::size_t total, std::string unit)
    : label_(std::move(label)),
      total_(total),
      unit_(std::move(unit)),
      tty_(isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()),
      last_print_(start_) {}

Progress::~Progress() {
  if (!finished_ && done_ > 0 && tty_) std::fputc('\n', stderr);
}

void Progress::Update(std::size_t done, const std::string& status) {
  done_ = done;
  status_ = status;
  const auto now = std::chrono::steady_clock::now();
  const double since = std::chrono::duration<double>(now - last_print_).count();
  if ((tty_ && since >= 0.2) || (!tty_ && since >= 10.0)) {
    last_print_ = now;
    Print(false);
  }
}

void Progress::Finish(const std::string& status) {
  done_ = total_;
  if (!status.empty()) status_ = status;
  Print(true);
  finished_ = true;
}

void Progress::Print(bool final_line) {
  // With several MPI ranks, rank 0 reports; the bars of the others would interleave with it.
  if (!cluster::IsWriter()) return;
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = elapsed > 0 ? static_cast<double>(done_) / elapsed : 0.0;
  const double eta = rate > 0 ? static_cast<double>(total_ - done_) / rate : -1.0;
  const int width = 24;
  const int filled =
      total_ ? static_cast<int>(width * static_cast<double>(done_) / static_cast<double>(total_))
             : width;
  const std::string bar = std::string(filled, '#') + std::string(width - filled, '.');
  const std::string line =
      fmt::format("{} [{}] {}/{} {:.1f} {}/s {} {}{}", label_, bar, done_, total_, rate, unit_,
                  final_line ? "in " + Duration(elapsed) : "ETA " + Duration(eta),
                  status_.empty() ? "" : "| ", status_);
  if (tty_) {
    std::fprintf(stderr, "\r\033[K%s%s", line.c_str(), final_line ? "\n" : "");
  } else {
    std::fprintf(stderr, "%s\n", line.c_str());
  }
  std::fflush(stderr);
}

}  // namespace aimc
