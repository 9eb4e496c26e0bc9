#include "sweep_result.h"

#include <algorithm>
#include <set>
#include <sstream>
#include <utility>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "aimc/common/cluster.h"
#include "aimc/common/error.h"
#include "aimc/common/manifest.h"

namespace aimc::experiment {

namespace fs = std::filesystem;

nlohmann::json Definition(const SweepOptions& options,
                          const std::vector<std::unique_ptr<device::DeviceCard>>& cards,
                          const std::vector<std::string>& model_hashes,
                          const std::map<std::string, std::string>& data_fingerprints) {
  nlohmann::json d = options.ToJson();
  d.erase("models");  // paths: the contents below define the models
  d.erase("torchscript");  // imported into models: their hashes define them
  d["model_files"] = model_hashes;
  nlohmann::json card_json = nlohmann::json::array();
  for (const auto& c : cards) card_json.push_back(c->ToJson());
  d["card_parameters"] = card_json;
  d["test_data"] = data_fingerprints;
  return d;
}

Table OpenResult(const fs::path& csv, const SweepOptions& options,
                 const nlohmann::json& definition, const std::string& command,
                 OnChange on_change) {
  fs::path manifest_path = csv;
  manifest_path.replace_extension(".json");
  const std::vector<std::string>& columns = SweepColumns();
  Table table{columns, {}};
  // An error on rank 0 (another experiment's result) is every rank's.
  cluster::OnWriter([&] {
    DropTornLastLine(csv);
    const bool has_rows = fs::exists(csv) && fs::file_size(csv) > 0;
    if (has_rows && on_change == OnChange::kRefuse) {
      table = ReadCsv(csv);
      const bool upgraded = UpgradeSweepTable(table);
      Require(table.columns == columns,
              "{}: has other columns than a sweep writes; choose another output file",
              csv.string());
      Require(fs::exists(manifest_path),
              "{}: has no manifest {} beside it, so what its rows measured is unknown; choose "
              "another output file or start a new result (--restart)",
              csv.string(), manifest_path.string());
      const nlohmann::json old = ReadJson(manifest_path).value("definition", nlohmann::json());
      const std::vector<std::string> changed = JsonDifferences(old, definition);
      Require(changed.empty(),
              "{} was made by another experiment (changed: {}); its rows would not match the "
              "options. Choose another output file, or start a new result (--restart)",
              csv.string(), fmt::format("{}", fmt::join(changed, ", ")));
      // New rows are appended with every column: the file gets them too (atomically).
      if (upgraded) WriteCsv(csv, table);
    } else {
      if (has_rows)
        spdlog::warn("{}: starting a new result (the old rows are discarded)", csv.string());
      fs::create_directories(csv.has_parent_path() ? csv.parent_path() : fs::path("."));
      // The manifest first: rows are only ever appended under the definition that made them.
      nlohmann::json manifest = MakeManifest(command, options.ToJson(), options.seed);
      manifest["definition"] = definition;
      WriteManifest(manifest_path, manifest);
      WriteFileAtomic(csv, fmt::format("{}\n", fmt::join(columns, ",")));
    }
  });
  return table;
}

std::vector<double> KeyOf(const std::vector<double>& values) {
  return std::vector<double>(values.begin(),
                             values.begin() + static_cast<std::ptrdiff_t>(SweepKeyColumns()));
}

std::vector<std::size_t> PointsLeft(const std::vector<std::vector<double>>& keys,
                                    const Table& table) {
  std::string list;
  if (cluster::IsWriter()) {
    std::set<std::vector<double>> done;
    for (const auto& row : table.rows) done.insert(KeyOf(row));
    for (std::size_t i = 0; i < keys.size(); ++i)
      if (!done.count(keys[i])) list += fmt::format("{} ", i);
  }
  cluster::Broadcast(list);
  std::vector<std::size_t> todo;
  std::istringstream in(list);
  for (std::size_t i; in >> i;) todo.push_back(i);
  return todo;
}

std::string ResultLine(const std::vector<double>& values) {
  std::string line;
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) line += ',';
    line += FormatDouble(values[i]);
  }
  return line;
}

std::vector<double> ParseResultLine(const std::string& line, const std::string& where) {
  std::vector<double> values;
  std::istringstream in(line);
  for (std::string cell; std::getline(in, cell, ',');) values.push_back(ParseNumber(cell, where));
  return values;
}

const std::vector<double>& AppendResult(const fs::path& csv, const std::string& line,
                                        Table& table) {
  AppendLineDurable(csv, line);
  table.rows.push_back(ParseResultLine(line, csv.string()));
  return table.rows.back();
}

void SortResult(const std::vector<std::vector<double>>& keys, const fs::path& csv, Table& table) {
  cluster::OnWriter([&] {
    std::map<std::vector<double>, std::size_t> position;
    for (std::size_t i = 0; i < keys.size(); ++i) position.emplace(keys[i], i);
    std::vector<std::pair<std::size_t, std::size_t>> order;  // (position, row)
    for (std::size_t r = 0; r < table.rows.size(); ++r) {
      const auto it = position.find(KeyOf(table.rows[r]));
      order.emplace_back(it == position.end() ? keys.size() : it->second, r);
    }
    if (std::is_sorted(order.begin(), order.end())) return;
    std::stable_sort(order.begin(), order.end());
    Table sorted{SweepColumns(), {}};
    for (const auto& [pos, r] : order) sorted.rows.push_back(table.rows[r]);
    table = std::move(sorted);
    WriteCsv(csv, table);
  });
}

void ShareResult(Table& table) {
  std::string text;
  if (cluster::IsWriter()) {
    for (const auto& row : table.rows) text += ResultLine(row) + '\n';
  }
  cluster::Broadcast(text);
  if (!cluster::IsWriter()) {
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
      table.rows.push_back(ParseResultLine(line, "a sweep row"));
  }
}

}  // namespace aimc::experiment
