#pragma once

#include <string>

#include <Eigen/Dense>
#include <nlohmann/json_fwd.hpp>

#include "aimc/circuit/wires.h"
#include "aimc/common/enum_names.h"

namespace aimc::circuit {

/// Where the row (activation) lines are driven: at the left end only, or at both ends.
enum class DriveSide { kLeft, kBoth };
/// Where the column (summation) lines end in a sense amplifier: at the bottom only, or both ends.
enum class SenseSide { kBottom, kBoth };

/// Their names in files and flags: "left", "both"; "bottom", "both".
const EnumNames<DriveSide>& DriveSideNames();
const EnumNames<SenseSide>& SenseSideNames();
std::string ToString(DriveSide side);
std::string ToString(SenseSide side);
/// Parse the names above; throw aimc::Error naming the value otherwise.
DriveSide ParseDriveSide(const std::string& name);
SenseSide ParseSenseSide(const std::string& name);

/// The range a parasitic resistance other than 0 must lie in (ohm). A line segment, driver, sense
/// amplifier or access transistor of a real array lies between milli-ohms (a wide copper line) and
/// mega-ohms (a weak transistor); [1e-9, 1e12] leaves three decades of margin on both sides.
/// Outside it a value is a unit slip, not a circuit: 1/R of a subnormal resistance such as 1e-320
/// is inf, which turns the nodal matrix into NaN, and above 1e12 ohm a "wire" is an open circuit.
inline constexpr double kMinParasiticOhm = 1e-9;
inline constexpr double kMaxParasiticOhm = 1e12;
/// The range of a crosspoint's conductance (siemens): 1e-18 S (1e18 ohm) to 1e9 S (1e-9 ohm),
/// wider than any device card allows and far from the limits of double arithmetic.
inline constexpr double kMinCellSiemens = 1e-18;
inline constexpr double kMaxCellSiemens = 1e9;

/// The parasitics of a crossbar array (the paper's Fig. 9 schematic). Every resistance is in ohm
/// and is either 0 (an ideal wire or source) or within [kMinParasiticOhm, kMaxParasiticOhm]. Geometry: one wire segment per cell pitch, so with
/// the default sides row i has C segments (driver to the first crosspoint, then between
/// neighbours) and column j has R segments (between neighbours, then the last crosspoint to the
/// sense amplifier). Driving or sensing at both ends adds the segment at the other end.
///
///   CrossbarOptions o;
///   o.wire_row_ohm = o.wire_col_ohm = 2.0;  // per segment
///   o.Validate();
struct CrossbarOptions {
  double wire_row_ohm = 0.0;        // one row-line segment (one column pitch)
  double wire_col_ohm = 0.0;        // one column-line segment (one row pitch)
  double driver_ohm = 0.0;          // output resistance of each row driver
  double sense_ohm = 0.0;           // input resistance of each sense amplifier (virtual ground)
  double access_ohm = 0.0;          // access-transistor on-resistance in series with each device
  DriveSide drive = DriveSide::kLeft;
  SenseSide sense = SenseSide::kBottom;

  /// Throws aimc::Error naming the field, its value and the allowed range.
  void Validate() const;
  nlohmann::json ToJson() const;
  /// Row and column segments from a wire technology, times `scale` (Fig. 16's reference points).
  void UseWires(const WirePreset& preset, double scale = 1.0);
};

/// Resistance of one wire segment from a sheet resistance and the segment's length and width:
/// R = R_sheet * length / width (e.g. length = cell pitch). Throws aimc::Error naming the
/// argument unless the sheet resistance is in [0, 1e9] ohm/sq and length and width in [0.01, 1e9]
/// nm (a hundredth of an atom to a metre), and where R exceeds kMaxParasiticOhm.
double SegmentResistanceOhm(double sheet_ohm_per_square, double length_nm, double width_nm);

/// An R x C array: one conductance per crosspoint (siemens) and its parasitics. The conductance
/// of a crosspoint is its device's read path; the access transistor (options.access_ohm) is in
/// series with it.
class Crossbar {
 public:
  /// Throws aimc::Error for an empty array, a bad option, or a conductance outside
  /// [kMinCellSiemens, kMaxCellSiemens] (naming its row and column). `name` says which array it
  /// is in errors ("layer fc1 tile (0, 0)"); empty: "the R x C array".
  Crossbar(Eigen::MatrixXd conductance_s, CrossbarOptions options, std::string name = {});

  int rows() const { return static_cast<int>(conductance_s_.rows()); }
  int cols() const { return static_cast<int>(conductance_s_.cols()); }
  /// "array 'layer fc1 tile (0, 0)' (64 x 128)" or "the 64 x 128 array", for error messages.
  std::string Describe() const;
  const Eigen::MatrixXd& conductance_s() const { return conductance_s_; }
  const CrossbarOptions& options() const { return options_; }

  /// Device in series with its access transistor: 1 / (1/G + R_access), siemens.
  Eigen::MatrixXd CellConductances() const;

 private:
  Eigen::MatrixXd conductance_s_;
  CrossbarOptions options_;
  std::string name_;
};

/// The ideal MVM without any parasitic: I_j = sum_i G_ij V_i (amperes, one per column).
/// Throws aimc::Error for an input that is not finite and where a current overflows.
Eigen::VectorXd IdealCurrents(const Crossbar& xbar, const Eigen::VectorXd& v_rows);

/// Throws aimc::Error naming `call`, the array and the row unless every voltage of `v_rows` is
/// finite (a NaN would reach a netlist as "DC nan" and every current as NaN).
void RequireFiniteVoltages(const Crossbar& xbar, const Eigen::VectorXd& v_rows, const char* call);

/// How a differential weight pair sits in the array (the paper's Fig. 9 uses columns).
///   kColumns: G+ in column 2j, G- in column 2j+1, output I_2j - I_2j+1; inputs as they are.
///   kRows:    G+ in row 2i driven at +V_i, G- in row 2i+1 driven at -V_i.
enum class PairLayout { kColumns, kRows };
const EnumNames<PairLayout>& PairLayoutNames();  // "columns", "rows"
std::string ToString(PairLayout layout);
PairLayout ParsePairLayout(const std::string& name);

/// Interleaves two R x C conductance matrices into the array of the chosen layout
/// (R x 2C for kColumns, 2R x C for kRows).
Eigen::MatrixXd InterleavePairs(const Eigen::MatrixXd& g_plus, const Eigen::MatrixXd& g_minus,
                                PairLayout layout);

/// The array's input voltages for a layer input x (kRows: +x_i and -x_i on rows 2i, 2i+1).
Eigen::VectorXd PairInputs(const Eigen::VectorXd& x, PairLayout layout);

/// The layer's effective differential conductance (R x C) from an array's effective matrix:
/// output_j = sum_i W_ij x_i exactly, IR drop included.
Eigen::MatrixXd CombinePairs(const Eigen::MatrixXd& m_eff, PairLayout layout);

}  // namespace aimc::circuit
