#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include <Eigen/Dense>

#include "aimc/circuit/dc_solver.h"
#include "aimc/common/csv.h"
#include "aimc/common/rng.h"
#include "aimc/device/card.h"

namespace aimc::circuit {

/// Each device ON (1/R_on) or OFF (1/(R_on (1 + TMR))) with probability 1/2: an array of
/// random binary weights without device spread.
Eigen::MatrixXd RandomOnOffArray(int rows, int cols, double r_on_ohm, double tmr, Rng& rng);

/// Each device ON or OFF with probability 1/2, its conductance drawn from the card.
Eigen::MatrixXd SampleArray(int rows, int cols, const device::DeviceCard& card, Rng& rng);

/// A user's conductances: a CSV of `rows` lines of `cols` values in siemens, no header (e.g.
/// measured on a wafer). rows/cols 0: take the file's shape. Errors name the file and line.
Eigen::MatrixXd ReadConductances(const std::filesystem::path& path, int rows = 0, int cols = 0);

/// Input vectors from a CSV (volts, one vector a line, no header) as an R x N matrix.
Eigen::MatrixXd ReadInputs(const std::filesystem::path& path, int rows);

/// How far the array's column currents are from the ideal G^T V: |I - I_ideal| / |I_ideal| over
/// every column of every input (columns with I_ideal = 0 are skipped).
struct Deviation {
  double worst = 0.0;
  double mean = 0.0;
  int worst_column = -1;
  int worst_input = -1;
};
Deviation CompareToIdeal(const Eigen::MatrixXd& currents, const Eigen::MatrixXd& ideal);

/// The voltage map of one solve as a table: row, column, row_v, col_v, cell_v and
/// cell_fraction = cell_v / V_row (the share of its input voltage a device sees; Fig. 15b).
Table VoltageMapTable(const NodeVoltages& voltages, const Eigen::VectorXd& v_rows);

/// Currents (C x N) as a table: one line per input vector, columns I0..I{C-1} in amperes.
Table CurrentsTable(const Eigen::MatrixXd& currents);

}  // namespace aimc::circuit
