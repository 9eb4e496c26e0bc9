#include "aimc/common/csv.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

#include <fmt/format.h>

#include "aimc/common/error.h"

namespace aimc {

std::size_t Table::Column(const std::string& name) const {
  for (std::size_t i = 0; i < columns.size(); ++i) {
    if (columns[i] == name) return i;
  }
  Fail("table has no column '{}'", name);
}

std::vector<double> Table::Values(const std::string& name) const {
  const std::size_t c = Column(name);
  std::vector<double> values;
  values.reserve(rows.size());
  for (const auto& row : rows) values.push_back(row[c]);
  return values;
}

void Table::Add(std::vector<double> row) {
  Require(row.size() == columns.size(), "table row has {} values, header has {} columns",
          row.size(), columns.size());
  rows.push_back(std::move(row));
}

std::string FormatDouble(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char buffer[64];
  // Shortest representation that round-trips: at most max_digits10 significant digits.
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), value);
  if (ec != std::errc()) return fmt::format("{:.17g}", value);
  return std::string(buffer, end);
}

void RequireOutputFile(const std::filesystem::path& path) {
  Require(!path.empty(), "no output file given");
  Require(!std::filesystem::is_directory(path),
          "{}: is a folder; give a file name (such as {})", path.string(),
          (path / "out").string());
}

void CreateParentFolder(const std::filesystem::path& path) {
  if (!path.has_parent_path()) return;
  std::error_code error;
  std::filesystem::create_directories(path.parent_path(), error);
  Require(!error, "cannot create the folder {} for {}: {}", path.parent_path().string(),
          path.string(), error.message());
}

void WriteFileAtomic(const std::filesystem::path& path, const std::string& text) {
  RequireOutputFile(path);
  CreateParentFolder(path);
  const std::filesystem::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    Require(static_cast<bool>(out), "cannot write {}", tmp.string());
    out << text;
    out.flush();
    Require(static_cast<bool>(out), "write to {} failed", tmp.string());
  }
  std::error_code error;
  std::filesystem::rename(tmp, path, error);
  if (error) {
    std::filesystem::remove(tmp, error);
    Fail("cannot write {}: {}", path.string(), error.message());
  }
}

void WriteCsv(const std::filesystem::path& path, const Table& table) {
  std::string text;
  for (std::size_t i = 0; i < table.columns.size(); ++i) {
    if (i) text += ',';
    text += table.columns[i];
  }
  text += '\n';
  for (const auto& row : table.rows) {
    for (std::size_t i = 0; i < row.size(); ++i) {
      if (i) text += ',';
      text += FormatDouble(row[i]);
    }
    text += '\n';
  }
  WriteFileAtomic(path, text);
}

std::string ReadFile(const std::filesystem::path& path) {
  Require(!std::filesystem::is_directory(path), "cannot read {}: it is a folder, not a file",
          path.string());
  std::ifstream in(path, std::ios::binary);
  Require(static_cast<bool>(in), "cannot open {}: {}", path.string(),
          std::filesystem::exists(path) ? "not readable" : "no such file");
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

double ParseNumber(const std::string& raw, const std::string& where) {
  std::string cell = raw;
  while (!cell.empty() && (cell.back() == ' ' || cell.back() == '\r' || cell.back() == '\t'))
    cell.pop_back();
  std::size_t start = cell.find_first_not_of(" \t");
  if (start == std::string::npos) Fail("{}: empty cell where a number was expected", where);
  cell = cell.substr(start);
  if (cell == "nan") return std::numeric_limits<double>::quiet_NaN();
  if (cell == "inf") return std::numeric_limits<double>::infinity();
  if (cell == "-inf") return -std::numeric_limits<double>::infinity();
  double value = 0.0;
  const char* first = cell.data();
  if (*first == '+') ++first;
  auto [end, ec] = std::from_chars(first, cell.data() + cell.size(), value);
  if (ec != std::errc() || end != cell.data() + cell.size()) {
    Fail("{}: '{}' is not a number", where, raw);
  }
  return value;
}

namespace {

std::vector<std::string> SplitLine(const std::string& line) {
  std::vector<std::string> cells;
  std::string cell;
  std::stringstream stream(line);
  while (std::getline(stream, cell, ',')) cells.push_back(cell);
  if (!line.empty() && line.back() == ',') cells.emplace_back();
  return cells;
}

bool IsBlank(const std::string& line) {
  return line.find_first_not_of(" \t\r") == std::string::npos;
}

}  // namespace

Table ReadCsv(const std::filesystem::path& path) {
  std::stringstream text(ReadFile(path));
  Table table;
  std::string line;
  std::size_t line_number = 0;
  while (std::getline(text, line)) {
    ++line_number;
    if (IsBlank(line)) continue;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (table.columns.empty()) {
      table.columns = SplitLine(line);
      continue;
    }
    const auto cells = SplitLine(line);
    Require(cells.size() == table.columns.size(), "{}:{}: {} cells, header has {}", path.string(),
            line_number, cells.size(), table.columns.size());
    std::vector<double> row;
    row.reserve(cells.size());
    for (std::size_t c = 0; c < cells.size(); ++c) {
      row.push_back(ParseNumber(
          cells[c], fmt::format("{}:{}, column '{}'", path.string(), line_number, table.columns[c])));
    }
    table.rows.push_back(std::move(row));
  }
  Require(!table.columns.empty(), "{}: empty file, expected a header row", path.string());
  return table;
}

std::vector<std::vector<double>> ReadNumberRows(const std::filesystem::path& path) {
  std::stringstream text(ReadFile(path));
  std::vector<std::vector<double>> rows;
  std::string line;
  std::size_t line_number = 0;
  while (std::getline(text, line)) {
    ++line_number;
    if (IsBlank(line) || line[0] == '#') continue;
    std::vector<double> row;
    const auto cells = SplitLine(line);
    for (std::size_t c = 0; c < cells.size(); ++c) {
      row.push_back(
          ParseNumber(cells[c], fmt::format("{}:{}, column {}", path.string(), line_number, c + 1)));
    }
    if (!rows.empty()) {
      Require(row.size() == rows.front().size(), "{}:{}: {} values, first line has {}",
              path.string(), line_number, row.size(), rows.front().size());
    }
    rows.push_back(std::move(row));
  }
  Require(!rows.empty(), "{}: no numbers in file", path.string());
  return rows;
}

void AppendLineDurable(const std::filesystem::path& path, const std::string& line) {
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  Require(fd >= 0, "cannot append to {}: {}", path.string(), std::strerror(errno));
  std::string text = line;
  if (text.empty() || text.back() != '\n') text += '\n';
  // One write() of the whole line: O_APPEND makes it land after whatever is there.
  const ssize_t written = ::write(fd, text.data(), text.size());
  const int sync_status = ::fsync(fd);
  ::close(fd);
  Require(written == static_cast<ssize_t>(text.size()) && sync_status == 0,
          "append to {} failed: {}", path.string(), std::strerror(errno));
}

void DropTornLastLine(const std::filesystem::path& path) {
  if (!std::filesystem::exists(path)) return;
  std::string text = ReadFile(path);
  if (text.empty() || text.back() == '\n') return;
  const auto cut = text.find_last_of('\n');
  text.resize(cut == std::string::npos ? 0 : cut + 1);
  WriteFileAtomic(path, text);
}

}  // namespace aimc
