#pragma once

#include <filesystem>
#include <string>

#include <Eigen/Dense>

#include "aimc/circuit/crossbar.h"
#include "aimc/circuit/nonlinear.h"

namespace aimc::circuit {

/// The array as an ngspice netlist: one DC source per row (V<i>), resistors for every wire
/// segment, cell and driver/sense resistance, and a 0 V source per sense amplifier (Vsense<j>;
/// both ends of a column sensed feed the same one). `.op` prints each sense current and each row
/// source's current (i(v<i>), for the read power) with 16 significant digits. Values are written
/// with full precision.
std::string NgspiceNetlist(const Crossbar& xbar, const Eigen::VectorXd& v_rows,
                           const std::string& title = "aimc crossbar");

/// A non-linear array as an ngspice netlist: as above, with each non-linear device a behavioural
/// current source (B element, I = G0 V s(V) of the voltage across it, e.g.
/// `I=G0*V0*sinh(v(r0_0,c0_0)/V0)`) and its access transistor a resistor to the column node;
/// linear cells stay resistors. Tight `.options` tolerances make ngspice's Newton converge to
/// the digits the comparison needs (docs/xbar.md, "Non-linear devices").
std::string NgspiceNetlist(const NonlinearCrossbar& array, const Eigen::VectorXd& v_rows,
                           const std::string& title = "aimc non-linear crossbar");

/// Runs `ngspice -b` on a netlist from NgspiceNetlist and returns its column currents (amperes).
/// Throws aimc::Error if ngspice is not installed (install it with scripts/install-deps.sh) or
/// its output lacks a column current; `ngspice -b` exits with status 1 even on success, so the
/// output is what is judged.
Eigen::VectorXd RunNgspice(const std::filesystem::path& netlist, int cols);

/// What `ngspice -b` prints for a netlist from NgspiceNetlist.
struct NgspiceOperatingPoint {
  Eigen::VectorXd column_current_a;      // C: into each column's sense amplifier(s)
  Eigen::VectorXd row_source_current_a;  // R: delivered by each row source, -i(v<i>)
  /// The power the row sources deliver (W), sum_i V_i I_i.
  double SourcePowerW(const Eigen::VectorXd& v_rows) const;
};

/// Runs ngspice as RunNgspice does and returns the column currents and the row sources'
/// currents; throws aimc::Error if one of them is missing from its output.
NgspiceOperatingPoint RunNgspiceOperatingPoint(const std::filesystem::path& netlist, int rows,
                                               int cols);

}  // namespace aimc::circuit
