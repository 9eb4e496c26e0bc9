#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace aimc {

/// A numeric table: a header row, then rows of doubles. What every figure is made of.
struct Table {
  std::vector<std::string> columns;
  std::vector<std::vector<double>> rows;

  /// Index of a column by name; throws aimc::Error naming the missing column.
  std::size_t Column(const std::string& name) const;
  /// All values of one column.
  std::vector<double> Values(const std::string& name) const;
  /// Appends a row; throws if its width differs from the header's.
  void Add(std::vector<double> row);
};

/// Formats a double so that it reads back bit-identical (max_digits10, shortest form).
std::string FormatDouble(double value);

/// Writes a table as CSV (header row, full precision), atomically: a reader never sees half a
/// file, and a crash leaves the old file intact.
void WriteCsv(const std::filesystem::path& path, const Table& table);

/// Reads a CSV with a header row and numeric cells. Errors name the file, line and column.
Table ReadCsv(const std::filesystem::path& path);

/// Reads a CSV of numbers without a header (one vector or matrix row per line).
std::vector<std::vector<double>> ReadNumberRows(const std::filesystem::path& path);

/// Parses one numeric cell; `where` names it in the error ("file.csv:3, column 2").
double ParseNumber(const std::string& cell, const std::string& where);

/// Checks that `path` names a file aimc may write: not empty and not an existing folder. Errors
/// name the path, so that `--out results/` is refused before any work is done.
void RequireOutputFile(const std::filesystem::path& path);

/// Creates the folder `path` will be written in (if missing); errors name the folder.
void CreateParentFolder(const std::filesystem::path& path);

/// Writes text to a file atomically (temporary file in the same folder, then rename).
void WriteFileAtomic(const std::filesystem::path& path, const std::string& text);

/// Appends one line to a file and flushes it to disk (fsync), so a killed process loses at
/// most the line it was writing; a torn last line is dropped by ReadCsv's caller via
/// DropTornLastLine.
void AppendLineDurable(const std::filesystem::path& path, const std::string& line);

/// Removes an incomplete last line (no trailing newline) left by a killed writer.
void DropTornLastLine(const std::filesystem::path& path);

/// Reads a whole file; throws aimc::Error naming the file if it cannot.
std::string ReadFile(const std::filesystem::path& path);

}  // namespace aimc
