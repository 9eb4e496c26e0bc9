#include "aimc/circuit/arrays.h"

#include <cmath>

#include <fmt/format.h>

#include "aimc/common/error.h"

namespace aimc::circuit {

Eigen::MatrixXd RandomOnOffArray(int rows, int cols, double r_on_ohm, double tmr, Rng& rng) {
  Require(rows >= 1 && cols >= 1, "array must be at least 1 x 1, got {} x {}", rows, cols);
  Require(std::isfinite(r_on_ohm) && r_on_ohm > 0, "r_on must be > 0 ohm, got {}", r_on_ohm);
  Require(std::isfinite(tmr) && tmr >= 0, "tmr must be >= 0, got {}", tmr);
  const double g_on = 1.0 / r_on_ohm;
  const double g_off = 1.0 / (r_on_ohm * (1.0 + tmr));
  Eigen::MatrixXd g(rows, cols);
  for (int j = 0; j < cols; ++j)
    for (int i = 0; i < rows; ++i) g(i, j) = rng.Uniform() < 0.5 ? g_on : g_off;
  return g;
}

Eigen::MatrixXd SampleArray(int rows, int cols, const device::DeviceCard& card, Rng& rng) {
  Require(rows >= 1 && cols >= 1, "array must be at least 1 x 1, got {} x {}", rows, cols);
  Eigen::MatrixXd g(rows, cols);
  for (int j = 0; j < cols; ++j) {
    for (int i = 0; i < rows; ++i) {
      const auto state = rng.Uniform() < 0.5 ? device::State::kOn : device::State::kOff;
      g(i, j) = card.Sample(state, rng);
    }
  }
  return g;
}

Eigen::MatrixXd ReadConductances(const std::filesystem::path& path, int rows, int cols) {
  const auto lines = ReadNumberRows(path);
  Require(!lines.empty(), "{}: no conductances", path.string());
  const int file_rows = static_cast<int>(lines.size());
  const int file_cols = static_cast<int>(lines.front().size());
  Require(rows == 0 || rows == file_rows, "{}: {} lines, but the array has {} rows",
          path.string(), file_rows, rows);
  Require(cols == 0 || cols == file_cols, "{}: {} values a line, but the array has {} columns",
          path.string(), file_cols, cols);
  Eigen::MatrixXd g(file_rows, file_cols);
  for (int i = 0; i < file_rows; ++i) {
    for (int j = 0; j < file_cols; ++j) {
      const double value = lines[std::size_t(i)][std::size_t(j)];
      Require(std::isfinite(value) && value > 0.0,
              "{}:{}, value {}: conductance must be finite and > 0 S, got {}", path.string(),
              i + 1, j + 1, value);
      g(i, j) = value;
    }
  }
  return g;
}

Eigen::MatrixXd ReadInputs(const std::filesystem::path& path, int rows) {
  const auto lines = ReadNumberRows(path);
  Require(!lines.empty(), "{}: no input vectors", path.string());
  Eigen::MatrixXd v(rows, static_cast<Eigen::Index>(lines.size()));
  for (std::size_t n = 0; n < lines.size(); ++n) {
    Require(static_cast<int>(lines[n].size()) == rows, "{}:{}: {} voltages for {} rows",
            path.string(), n + 1, lines[n].size(), rows);
    for (int i = 0; i < rows; ++i) {
      Require(std::isfinite(lines[n][std::size_t(i)]), "{}:{}: voltage {} is not finite",
              path.string(), n + 1, i + 1);
      v(i, Eigen::Index(n)) = lines[n][std::size_t(i)];
    }
  }
  return v;
}

Deviation CompareToIdeal(const Eigen::MatrixXd& currents, const Eigen::MatrixXd& ideal) {
  Require(currents.rows() == ideal.rows() && currents.cols() == ideal.cols(),
          "currents are {} x {} but the ideal is {} x {}", currents.rows(), currents.cols(),
          ideal.rows(), ideal.cols());
  Deviation d;
  double sum = 0.0;
  std::int64_t count = 0;
  for (Eigen::Index n = 0; n < currents.cols(); ++n) {
    for (Eigen::Index j = 0; j < currents.rows(); ++j) {
      if (ideal(j, n) == 0.0) continue;
      const double rel = std::abs(currents(j, n) - ideal(j, n)) / std::abs(ideal(j, n));
      sum += rel;
      ++count;
      if (rel > d.worst || d.worst_column < 0) {
        d.worst = rel;
        d.worst_column = static_cast<int>(j);
        d.worst_input = static_cast<int>(n);
      }
    }
  }
  d.mean = count > 0 ? sum / double(count) : 0.0;
  return d;
}

Table VoltageMapTable(const NodeVoltages& voltages, const Eigen::VectorXd& v_rows) {
  Table t{{"row", "column", "row_v", "col_v", "cell_v", "cell_fraction"}, {}};
  const Eigen::MatrixXd cell = voltages.CellVoltages();
  t.rows.reserve(std::size_t(cell.size()));
  for (Eigen::Index i = 0; i < cell.rows(); ++i) {
    for (Eigen::Index j = 0; j < cell.cols(); ++j) {
      const double fraction = v_rows(i) != 0.0 ? cell(i, j) / v_rows(i) : std::nan("");
      t.Add({double(i), double(j), voltages.row_v(i, j), voltages.col_v(i, j), cell(i, j),
             fraction});
    }
  }
  return t;
}

Table CurrentsTable(const Eigen::MatrixXd& currents) {
  Table t;
  for (Eigen::Index j = 0; j < currents.rows(); ++j) t.columns.push_back(fmt::format("I{}", j));
  for (Eigen::Index n = 0; n < currents.cols(); ++n) {
    std::vector<double> line(std::size_t(currents.rows()));
    for (Eigen::Index j = 0; j < currents.rows(); ++j) line[std::size_t(j)] = currents(j, n);
    t.Add(std::move(line));
  }
  return t;
}

}  // namespace aimc::circuit
