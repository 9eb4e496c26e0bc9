#include "aimc/circuit/crossbar.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "aimc/common/error.h"

namespace aimc::circuit {

namespace {

void RequireResistance(double value, const char* field) {
  Require(value == 0.0 || (value >= kMinParasiticOhm && value <= kMaxParasiticOhm),
          "crossbar.{} must be 0 (ideal) or within [{:g}, {:g}] ohm, got {}", field,
          kMinParasiticOhm, kMaxParasiticOhm, value);
}

}  // namespace

const EnumNames<DriveSide>& DriveSideNames() {
  static const EnumNames<DriveSide> names("drive", {{DriveSide::kLeft, "left"},
                                                    {DriveSide::kBoth, "both"}});
  return names;
}
const EnumNames<SenseSide>& SenseSideNames() {
  static const EnumNames<SenseSide> names("sense", {{SenseSide::kBottom, "bottom"},
                                                    {SenseSide::kBoth, "both"}});
  return names;
}
const EnumNames<PairLayout>& PairLayoutNames() {
  static const EnumNames<PairLayout> names("layout", {{PairLayout::kColumns, "columns"},
                                                      {PairLayout::kRows, "rows"}});
  return names;
}

std::string ToString(DriveSide side) { return DriveSideNames().Name(side); }
std::string ToString(SenseSide side) { return SenseSideNames().Name(side); }
std::string ToString(PairLayout layout) { return PairLayoutNames().Name(layout); }
DriveSide ParseDriveSide(const std::string& name) { return DriveSideNames().Parse(name); }
SenseSide ParseSenseSide(const std::string& name) { return SenseSideNames().Parse(name); }
PairLayout ParsePairLayout(const std::string& name) { return PairLayoutNames().Parse(name); }

void CrossbarOptions::Validate() const {
  RequireResistance(wire_row_ohm, "wire_row_ohm");
  RequireResistance(wire_col_ohm, "wire_col_ohm");
  RequireResistance(driver_ohm, "driver_ohm");
  RequireResistance(sense_ohm, "sense_ohm");
  RequireResistance(access_ohm, "access_ohm");
}

void CrossbarOptions::UseWires(const WirePreset& preset, double scale) {
  wire_row_ohm = scale * preset.row_segment_ohm();
  wire_col_ohm = scale * preset.col_segment_ohm();
}

nlohmann::json CrossbarOptions::ToJson() const {
  return {{"wire_row_ohm", wire_row_ohm}, {"wire_col_ohm", wire_col_ohm},
          {"driver_ohm", driver_ohm},     {"sense_ohm", sense_ohm},
          {"access_ohm", access_ohm},     {"drive", ToString(drive)},
          {"sense", ToString(sense)}};
}

double SegmentResistanceOhm(double sheet_ohm_per_square, double length_nm, double width_nm) {
  Require(std::isfinite(sheet_ohm_per_square) && sheet_ohm_per_square >= 0.0 &&
              sheet_ohm_per_square <= 1e9,
          "sheet resistance must be in [0, 1e9] ohm/sq, got {}", sheet_ohm_per_square);
  Require(std::isfinite(length_nm) && length_nm >= 0.01 && length_nm <= 1e9,
          "segment length must be in [0.01, 1e9] nm, got {}", length_nm);
  Require(std::isfinite(width_nm) && width_nm >= 0.01 && width_nm <= 1e9,
          "line width must be in [0.01, 1e9] nm, got {}", width_nm);
  const double ohm = sheet_ohm_per_square * length_nm / width_nm;
  Require(ohm <= kMaxParasiticOhm,
          "a segment of {} ohm/sq x {} nm / {} nm = {:g} ohm exceeds {:g} ohm, the most a wire "
          "segment may be",
          sheet_ohm_per_square, length_nm, width_nm, ohm, kMaxParasiticOhm);
  return ohm;
}

Crossbar::Crossbar(Eigen::MatrixXd conductance_s, CrossbarOptions options, std::string name)
    : conductance_s_(std::move(conductance_s)), options_(options), name_(std::move(name)) {
  options_.Validate();
  Require(conductance_s_.rows() >= 1 && conductance_s_.cols() >= 1,
          "crossbar must have at least 1 row and 1 column, got {} x {}", conductance_s_.rows(),
          conductance_s_.cols());
  for (Eigen::Index j = 0; j < conductance_s_.cols(); ++j) {
    for (Eigen::Index i = 0; i < conductance_s_.rows(); ++i) {
      const double g = conductance_s_(i, j);
      Require(g >= kMinCellSiemens && g <= kMaxCellSiemens,
              "{}: conductance at (row {}, column {}) must be within [{:g}, {:g}] S, got {}",
              Describe(), i, j, kMinCellSiemens, kMaxCellSiemens, g);
    }
  }
}

std::string Crossbar::Describe() const {
  if (name_.empty()) return fmt::format("the {} x {} array", rows(), cols());
  return fmt::format("array '{}' ({} x {})", name_, rows(), cols());
}

Eigen::MatrixXd Crossbar::CellConductances() const {
  if (options_.access_ohm == 0.0) return conductance_s_;
  return (conductance_s_.cwiseInverse().array() + options_.access_ohm).inverse().matrix();
}

void RequireFiniteVoltages(const Crossbar& xbar, const Eigen::VectorXd& v_rows, const char* call) {
  for (Eigen::Index i = 0; i < v_rows.size(); ++i) {
    Require(std::isfinite(v_rows(i)), "{} of {}: the voltage of row {} is {}, not a finite voltage",
            call, xbar.Describe(), i, v_rows(i));
  }
}

Eigen::VectorXd IdealCurrents(const Crossbar& xbar, const Eigen::VectorXd& v_rows) {
  Require(v_rows.size() == xbar.rows(), "input has {} voltages for {} rows", v_rows.size(),
          xbar.rows());
  RequireFiniteVoltages(xbar, v_rows, "the ideal currents");
  Eigen::VectorXd currents = xbar.conductance_s().transpose() * v_rows;
  for (Eigen::Index j = 0; j < currents.size(); ++j) {
    Require(std::isfinite(currents(j)),
            "the ideal currents of {}: the current of column {} overflows (|V| up to {:g} V on "
            "conductances up to {:g} S)",
            xbar.Describe(), j, v_rows.cwiseAbs().maxCoeff(), xbar.conductance_s().maxCoeff());
  }
  return currents;
}

Eigen::MatrixXd InterleavePairs(const Eigen::MatrixXd& g_plus, const Eigen::MatrixXd& g_minus,
                                PairLayout layout) {
  Require(g_plus.rows() == g_minus.rows() && g_plus.cols() == g_minus.cols(),
          "G+ is {} x {} but G- is {} x {}", g_plus.rows(), g_plus.cols(), g_minus.rows(),
          g_minus.cols());
  const Eigen::Index r = g_plus.rows();
  const Eigen::Index c = g_plus.cols();
  if (layout == PairLayout::kColumns) {
    Eigen::MatrixXd g(r, 2 * c);
    for (Eigen::Index j = 0; j < c; ++j) {
      g.col(2 * j) = g_plus.col(j);
      g.col(2 * j + 1) = g_minus.col(j);
    }
    return g;
  }
  Eigen::MatrixXd g(2 * r, c);
  for (Eigen::Index i = 0; i < r; ++i) {
    g.row(2 * i) = g_plus.row(i);
    g.row(2 * i + 1) = g_minus.row(i);
  }
  return g;
}

Eigen::VectorXd PairInputs(const Eigen::VectorXd& x, PairLayout layout) {
  if (layout == PairLayout::kColumns) return x;
  Eigen::VectorXd v(2 * x.size());
  for (Eigen::Index i = 0; i < x.size(); ++i) {
    v(2 * i) = x(i);
    v(2 * i + 1) = -x(i);
  }
  return v;
}

Eigen::MatrixXd CombinePairs(const Eigen::MatrixXd& m_eff, PairLayout layout) {
  if (layout == PairLayout::kColumns) {
    Require(m_eff.cols() % 2 == 0, "a column-pair array needs an even number of columns, got {}",
            m_eff.cols());
    Eigen::MatrixXd w(m_eff.rows(), m_eff.cols() / 2);
    for (Eigen::Index j = 0; j < w.cols(); ++j) w.col(j) = m_eff.col(2 * j) - m_eff.col(2 * j + 1);
    return w;
  }
  Require(m_eff.rows() % 2 == 0, "a row-pair array needs an even number of rows, got {}",
          m_eff.rows());
  Eigen::MatrixXd w(m_eff.rows() / 2, m_eff.cols());
  for (Eigen::Index i = 0; i < w.rows(); ++i) w.row(i) = m_eff.row(2 * i) - m_eff.row(2 * i + 1);
  return w;
}

}  // namespace aimc::circuit
