#pragma once

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include <fmt/format.h>

namespace aimc::cli {

/// Prints rows of text as aligned columns (first row is the header), for the commands'
/// human-readable output; --csv gives the machine-readable one.
inline void PrintTextTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> width;
  for (const auto& row : rows) {
    if (width.size() < row.size()) width.resize(row.size(), 0);
    for (std::size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  }
  for (std::size_t r = 0; r < rows.size(); ++r) {
    std::string line;
    for (std::size_t c = 0; c < rows[r].size(); ++c) {
      line += fmt::format("{:<{}}", rows[r][c], width[c] + 2);
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    fmt::print("{}\n", line);
    if (r == 0) {
      std::size_t total = 0;
      for (auto w : width) total += w + 2;
      fmt::print("{}\n", std::string(total > 2 ? total - 2 : total, '-'));
    }
  }
}

}  // namespace aimc::cli
