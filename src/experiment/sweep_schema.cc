#include "aimc/experiment/sweep_schema.h"

#include <cmath>
#include <limits>
#include <map>
#include <type_traits>

#include "aimc/common/error.h"

namespace aimc::experiment {

namespace {

// The CSV columns of a row: name, how to read the field as a number, how to set it back. The key
// of a point is the first kKeyColumns of them.
struct Column {
  const char* name;
  double (*get)(const SweepRow&);
  void (*set)(SweepRow&, double);
};

template <typename T>
T Whole(double v, const char* name) {
  Require(std::isfinite(v) && v == std::floor(v) &&
              v >= static_cast<double>(std::numeric_limits<T>::lowest()) &&
              v <= static_cast<double>(std::numeric_limits<T>::max()),
          "{}: {} is not a valid whole number", name, v);
  return static_cast<T>(v);
}

template <typename T>
void SetNumber(T& field, double v, const char* name) {
  if constexpr (std::is_floating_point_v<T>) {
    field = v;
  } else {
    field = Whole<T>(v, name);
  }
}

// A column for a field of the point (`Member` of SweepPoint) or of the row (of SweepRow).
template <auto Member>
Column PointColumn(const char* name) {
  return {name, [](const SweepRow& r) { return static_cast<double>(r.point.*Member); },
          [](SweepRow& r, double v) { SetNumber(r.point.*Member, v, "of a sweep point"); }};
}
template <auto Member>
Column RowColumn(const char* name) {
  return {name, [](const SweepRow& r) { return static_cast<double>(r.*Member); },
          [](SweepRow& r, double v) { SetNumber(r.*Member, v, "of a sweep row"); }};
}

const std::vector<Column>& Columns() {
  static const std::vector<Column> columns = {
      PointColumn<&SweepPoint::model>("model"),
      PointColumn<&SweepPoint::card>("card"),
      PointColumn<&SweepPoint::sigma_w_test>("sigma_w_test"),
      PointColumn<&SweepPoint::r_on_ohm>("r_on_ohm"),
      PointColumn<&SweepPoint::wire_ohm>("wire_ohm"),
      PointColumn<&SweepPoint::tile_rows>("tile_rows"),
      PointColumn<&SweepPoint::tmr>("tmr"),
      PointColumn<&SweepPoint::time_s>("time_s"),
      PointColumn<&SweepPoint::temperature_k>("temperature_k"),
      PointColumn<&SweepPoint::chip>("chip"),
      RowColumn<&SweepRow::model_id>("model_id"),
      RowColumn<&SweepRow::card_id>("card_id"),
      RowColumn<&SweepRow::accuracy>("accuracy"),
      RowColumn<&SweepRow::error_pct>("error_pct"),
      RowColumn<&SweepRow::sigma_w_devices>("sigma_w_devices"),
      RowColumn<&SweepRow::test_images>("test_images"),
      RowColumn<&SweepRow::seconds>("seconds"),
      RowColumn<&SweepRow::energy_pj>("energy_pj"),
      RowColumn<&SweepRow::array_pj>("array_pj"),
      RowColumn<&SweepRow::tops_per_w>("tops_per_w")};
  return columns;
}

// model .. chip, model_id, card_id.
constexpr std::size_t kKeyColumns = 12;

}  // namespace

const std::vector<std::string>& SweepColumns() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const Column& c : Columns()) n.push_back(c.name);
    return n;
  }();
  return names;
}

std::size_t SweepKeyColumns() { return kKeyColumns; }

std::vector<double> ToCsvRow(const SweepRow& row) {
  std::vector<double> values;
  for (const Column& c : Columns()) values.push_back(c.get(row));
  return values;
}

SweepRow FromCsvRow(const std::vector<double>& values) {
  Require(values.size() == Columns().size(), "a sweep row has {} columns, got {}",
          Columns().size(), values.size());
  SweepRow row;
  for (std::size_t i = 0; i < values.size(); ++i) Columns()[i].set(row, values[i]);
  return row;
}

// Columns added after the first results were written, each with the value a row written
// without it gets: the read conditions (a chip read right after programming at room
// temperature) and the energy (not measured: NaN). A table that lacks the newer ones (or both
// groups) is brought up to date.
bool UpgradeSweepTable(Table& table) {
  const std::vector<std::string>& now = SweepColumns();
  const SweepPoint defaults;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const std::map<std::string, double> read = {{"time_s", defaults.time_s},
                                              {"temperature_k", defaults.temperature_k}};
  const std::map<std::string, double> energy = {
      {"energy_pj", nan}, {"array_pj", nan}, {"tops_per_w", nan}};
  std::map<std::string, double> both = read;
  both.insert(energy.begin(), energy.end());
  const std::map<std::string, double>* const variants[] = {&energy, &both};
  for (const auto* added : variants) {
    std::vector<std::string> before;
    for (const std::string& c : now)
      if (!added->count(c)) before.push_back(c);
    if (table.columns != before) continue;
    for (auto& row : table.rows) {
      std::vector<double> full;
      std::size_t k = 0;
      for (const std::string& c : now) full.push_back(added->count(c) ? added->at(c) : row[k++]);
      row = std::move(full);
    }
    table.columns = now;
    return true;
  }
  return false;
}

double MeanWhere(const Table& table, const std::string& value,
                 const std::vector<std::pair<std::string, double>>& where) {
  const std::size_t v = table.Column(value);
  std::vector<std::pair<std::size_t, double>> keys;
  for (const auto& [k, x] : where) keys.emplace_back(table.Column(k), x);
  double sum = 0.0;
  int n = 0;
  for (const auto& row : table.rows) {
    bool match = true;
    for (const auto& [c, x] : keys) match = match && row[c] == x;
    if (match) {
      sum += row[v];
      ++n;
    }
  }
  Require(n > 0, "no rows of the table match the requested point");
  return sum / n;
}

}  // namespace aimc::experiment
