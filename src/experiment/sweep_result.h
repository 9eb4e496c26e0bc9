#pragma once
// The result file of a sweep and its manifest: the definition of the experiment that makes the
// rows, continuing or refusing an existing result, appending rows, the final order. Rank 0 alone
// reads and writes the files. Shared by the sweep's own files only.

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "aimc/common/csv.h"
#include "aimc/device/card.h"
#include "aimc/experiment/sweep.h"

namespace aimc::experiment {

/// The definition of an experiment: what its rows depend on (not the threads or the progress
/// bar): the options, the contents of the models and cards, the test data.
nlohmann::json Definition(const SweepOptions& options,
                          const std::vector<std::unique_ptr<device::DeviceCard>>& cards,
                          const std::vector<std::string>& model_hashes,
                          const std::map<std::string, std::string>& data_fingerprints);

/// The rows already in `csv` when they were made by `definition` (older columns brought up to
/// date); else, after refusing (OnChange::kRefuse) or discarding (kRestart) another experiment's
/// rows, a new file of the header alone with its manifest written first. Every rank returns;
/// only rank 0's table holds rows.
Table OpenResult(const std::filesystem::path& csv, const SweepOptions& options,
                 const nlohmann::json& definition, const std::string& command, OnChange on_change);

/// The key of a point in a row of numbers: its first SweepKeyColumns() values.
std::vector<double> KeyOf(const std::vector<double>& values);

/// The points (their keys, in the order of the axes) that `table` does not hold yet: rank 0
/// knows, every rank gets its answer.
std::vector<std::size_t> PointsLeft(const std::vector<std::vector<double>>& keys,
                                    const Table& table);

/// A row as a line of the CSV (full precision), and back; `where` names the line in errors.
std::string ResultLine(const std::vector<double>& values);
std::vector<double> ParseResultLine(const std::string& line, const std::string& where);

/// Rank 0: appends a finished point's line to `csv`, durably, and to `table`; returns its values.
const std::vector<double>& AppendResult(const std::filesystem::path& csv, const std::string& line,
                                        Table& table);

/// Rank 0: the rows in the order of the points (`keys`), whatever order ranks finished them in,
/// so that the result reads the same from any number of ranks; rewritten whole and atomically
/// when the order changed.
void SortResult(const std::vector<std::vector<double>>& keys, const std::filesystem::path& csv,
                Table& table);

/// Every rank gets rank 0's rows.
void ShareResult(Table& table);

}  // namespace aimc::experiment
