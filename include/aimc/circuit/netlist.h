#pragma once

#include <filesystem>
#include <string>

#include <Eigen/Dense>

#include "aimc/circuit/crossbar.h"

namespace aimc::circuit {

/// The array as an ngspice netlist: one DC source per row, resistors for every wire segment,
/// cell and driver/sense resistance, and a 0 V source per sense amplifier (Vsense<j>, or
/// Vsense<j>a / Vsense<j>b when sensing at both ends) whose current is printed by `.op` with
/// 16 significant digits. Values are written with full precision.
std::string NgspiceNetlist(const Crossbar& xbar, const Eigen::VectorXd& v_rows,
                           const std::string& title = "aimc crossbar");

/// Runs `ngspice -b` on a netlist from NgspiceNetlist and returns its column currents (amperes).
/// Throws aimc::Error if ngspice is not installed (install it with scripts/install-deps.sh) or
/// its output lacks a column current; `ngspice -b` exits with status 1 even on success, so the
/// output is what is judged.
Eigen::VectorXd RunNgspice(const std::filesystem::path& netlist, int cols);

}  // namespace aimc::circuit
