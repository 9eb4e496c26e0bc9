// Crossbar circuits: the array from a NumPy conductance matrix and its parasitics, the exact DC
// solve, the effective matrix M_eff and row admittance Y, read power, the ngspice netlist.
//
// Copies: a conductance matrix is copied once into the Crossbar, which owns it (column-major, as
// Eigen stores it); input vectors are copied once into Eigen vectors. Every matrix and vector
// that comes back is moved into its NumPy array (no copy), and the arrays a Crossbar or a result
// holds are returned as read-only views of them.
#include <pybind11/eigen.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "aimc/circuit/crossbar.h"
#include "aimc/circuit/dc_solver.h"
#include "aimc/circuit/effective_matrix.h"
#include "aimc/circuit/netlist.h"
#include "aimc/circuit/power.h"
#include "aimc/circuit/wires.h"
#include "aimc/common/error.h"
#include "bindings.h"

namespace py = pybind11;

namespace aimc::python {
namespace {

using namespace circuit;

Backend ParseBackend(const std::string& name) {
  if (name == "cholmod") return Backend::kCholmod;
  if (name == "eigen") return Backend::kEigen;
  Fail("backend must be 'cholmod' or 'eigen', got '{}'", name);
}

}  // namespace

void BindCircuit(py::module_& m) {
  py::class_<WirePreset>(m, "WirePreset", "A wire technology (wire_preset)")
      .def_readonly("name", &WirePreset::name)
      .def_readonly("source", &WirePreset::source)
      .def_readonly("sheet_ohm_per_square", &WirePreset::sheet_ohm_per_square)
      .def_readonly("line_width_nm", &WirePreset::line_width_nm)
      .def_readonly("column_pitch_nm", &WirePreset::column_pitch_nm)
      .def_readonly("row_pitch_nm", &WirePreset::row_pitch_nm)
      .def_property_readonly("row_segment_ohm", &WirePreset::row_segment_ohm)
      .def_property_readonly("col_segment_ohm", &WirePreset::col_segment_ohm);
  m.def("wire_preset", &WirePresetByName, py::arg("name"), "A wire preset by name ('layout22nm')");
  m.def("segment_resistance_ohm", &SegmentResistanceOhm, py::arg("sheet_ohm_per_square"),
        py::arg("length_nm"), py::arg("width_nm"));

  py::class_<CrossbarOptions>(m, "CrossbarOptions",
                              "Parasitics of an array (ohm; 0: ideal). drive: 'left' or 'both'; "
                              "sense: 'bottom' or 'both'")
      .def(py::init([](double wire_row_ohm, double wire_col_ohm, double driver_ohm,
                       double sense_ohm, double access_ohm, const std::string& drive,
                       const std::string& sense) {
             CrossbarOptions o;
             o.wire_row_ohm = wire_row_ohm;
             o.wire_col_ohm = wire_col_ohm;
             o.driver_ohm = driver_ohm;
             o.sense_ohm = sense_ohm;
             o.access_ohm = access_ohm;
             o.drive = ParseDriveSide(drive);
             o.sense = ParseSenseSide(sense);
             o.Validate();
             return o;
           }),
           py::arg("wire_row_ohm") = 0.0, py::arg("wire_col_ohm") = 0.0,
           py::arg("driver_ohm") = 0.0, py::arg("sense_ohm") = 0.0, py::arg("access_ohm") = 0.0,
           py::arg("drive") = "left", py::arg("sense") = "bottom")
      .def_readwrite("wire_row_ohm", &CrossbarOptions::wire_row_ohm)
      .def_readwrite("wire_col_ohm", &CrossbarOptions::wire_col_ohm)
      .def_readwrite("driver_ohm", &CrossbarOptions::driver_ohm)
      .def_readwrite("sense_ohm", &CrossbarOptions::sense_ohm)
      .def_readwrite("access_ohm", &CrossbarOptions::access_ohm)
      .def_property(
          "drive", [](const CrossbarOptions& o) { return ToString(o.drive); },
          [](CrossbarOptions& o, const std::string& s) { o.drive = ParseDriveSide(s); })
      .def_property(
          "sense", [](const CrossbarOptions& o) { return ToString(o.sense); },
          [](CrossbarOptions& o, const std::string& s) { o.sense = ParseSenseSide(s); })
      .def("validate", &CrossbarOptions::Validate)
      .def("use_wires", [](CrossbarOptions& o, const std::string& preset,
                           double scale) { o.UseWires(WirePresetByName(preset), scale); },
           py::arg("preset"), py::arg("scale") = 1.0,
           "Row and column segments from a wire preset, times scale")
      .def("to_json", [](const CrossbarOptions& o) { return o.ToJson().dump(); });

  py::class_<Crossbar>(m, "Crossbar", "An R x C array: conductances (siemens) and parasitics")
      .def(py::init([](Eigen::MatrixXd conductance_s, const CrossbarOptions& options,
                       std::string name) {
             return Crossbar(std::move(conductance_s), options, std::move(name));
           }),
           py::arg("conductance_s"), py::arg("options") = CrossbarOptions{},
           py::arg("name") = std::string())
      .def_property_readonly("rows", &Crossbar::rows)
      .def_property_readonly("cols", &Crossbar::cols)
      .def_property_readonly("conductance_s", &Crossbar::conductance_s,
                             py::return_value_policy::reference_internal,
                             "The conductances (a read-only view, no copy)")
      .def_property_readonly("options", &Crossbar::options)
      .def("describe", &Crossbar::Describe)
      .def("cell_conductances", &Crossbar::CellConductances,
           "Device in series with its access transistor: 1 / (1/G + R_access)");
  m.def("ideal_currents",
        py::overload_cast<const Crossbar&, const Eigen::VectorXd&>(&IdealCurrents),
        py::arg("xbar"), py::arg("v_rows"),
        "I_j = sum_i G_ij V_i, no parasitic");

  py::class_<FactorSummary>(m, "FactorSummary")
      .def_readonly("backend", &FactorSummary::backend)
      .def_readonly("unknowns", &FactorSummary::unknowns)
      .def_readonly("matrix_nonzeros", &FactorSummary::matrix_nonzeros)
      .def_readonly("factor_nonzeros", &FactorSummary::factor_nonzeros)
      .def_readonly("analyze_seconds", &FactorSummary::analyze_seconds)
      .def_readonly("factorize_seconds", &FactorSummary::factorize_seconds);
  py::class_<NodeVoltages>(m, "NodeVoltages", "The DC state of the array for one input")
      .def_readonly("row_v", &NodeVoltages::row_v, "R x C row-line voltage at each crosspoint")
      .def_readonly("col_v", &NodeVoltages::col_v, "R x C column-line voltage")
      .def_readonly("column_current_a", &NodeVoltages::column_current_a)
      .def_readonly("row_current_a", &NodeVoltages::row_current_a)
      .def("cell_voltages", &NodeVoltages::CellVoltages);
  py::class_<DcSolver>(m, "DcSolver",
                       "The exact DC solution of a crossbar: factorizes once, solves many inputs")
      .def(py::init([](const Crossbar& xbar, const std::string& backend) {
             const Backend b = ParseBackend(backend);
             py::gil_scoped_release release;
             return DcSolver(xbar, b);
           }),
           py::arg("xbar"), py::arg("backend") = "cholmod", py::keep_alive<1, 2>())
      .def("column_currents", &DcSolver::ColumnCurrents, py::arg("v_rows"),
           "Column currents (A) for one vector of row voltages (V)")
      .def("batch_column_currents", &DcSolver::BatchColumnCurrents, py::arg("v_rows"),
           "v_rows R x N -> column currents C x N", py::call_guard<py::gil_scoped_release>())
      .def("batch_row_currents", &DcSolver::BatchRowCurrents, py::arg("v_rows"),
           "v_rows R x N -> the row sources' currents R x N",
           py::call_guard<py::gil_scoped_release>())
      .def("solve", &DcSolver::Solve, py::arg("v_rows"), "Every node voltage and both currents")
      .def_property_readonly("summary", &DcSolver::summary);

  py::class_<EffectiveMatrixInfo>(m, "EffectiveMatrixInfo")
      .def_readonly("unknowns", &EffectiveMatrixInfo::unknowns)
      .def_readonly("factor_nonzeros", &EffectiveMatrixInfo::factor_nonzeros)
      .def_readonly("factor_flops", &EffectiveMatrixInfo::factor_flops)
      .def_readonly("reused_plan", &EffectiveMatrixInfo::reused_plan)
      .def_readonly("total_seconds", &EffectiveMatrixInfo::total_seconds);
  py::class_<PortMatrices>(m, "PortMatrices", "M_eff (R x C) and the row admittance Y (R x R)")
      .def_readonly("m_eff", &PortMatrices::m_eff)
      .def_readonly("row_admittance", &PortMatrices::row_admittance);
  m.def(
      "effective_matrix", [](const Crossbar& xbar) { return EffectiveMatrix(xbar); },
      py::arg("xbar"), py::call_guard<py::gil_scoped_release>(),
      "M_eff (R x C): the exact DC column currents of row voltages V are M_eff^T V");
  m.def(
      "effective_matrix_info",
      [](const Crossbar& xbar) {
        EffectiveMatrixInfo info;
        Eigen::MatrixXd m_eff = EffectiveMatrix(xbar, &info);
        return std::make_pair(std::move(m_eff), info);
      },
      py::arg("xbar"), py::call_guard<py::gil_scoped_release>(),
      "(M_eff, EffectiveMatrixInfo): the matrix and what its build cost");
  m.def(
      "effective_port_matrices", [](const Crossbar& xbar) { return EffectivePortMatrices(xbar); },
      py::arg("xbar"), py::call_guard<py::gil_scoped_release>(),
      "M_eff and Y from one elimination; the read power of input v is v^T Y v");
  m.def("effective_matrix_by_solves", &EffectiveMatrixBySolves, py::arg("xbar"),
        py::call_guard<py::gil_scoped_release>(),
        "M_eff by R solves against one factorization (an independent route)");
  m.def("row_admittance_by_solves", &RowAdmittanceBySolves, py::arg("xbar"),
        py::call_guard<py::gil_scoped_release>());
  m.def("clear_effective_matrix_plans", &ClearEffectiveMatrixPlans);

  py::class_<ArrayPower>(m, "ArrayPower", "Where the read power of one input goes (W)")
      .def_readonly("total_w", &ArrayPower::total_w)
      .def_readonly("devices_w", &ArrayPower::devices_w)
      .def_readonly("access_w", &ArrayPower::access_w)
      .def_readonly("row_wires_w", &ArrayPower::row_wires_w)
      .def_readonly("col_wires_w", &ArrayPower::col_wires_w)
      .def_readonly("drivers_w", &ArrayPower::drivers_w)
      .def_readonly("sense_w", &ArrayPower::sense_w)
      .def("parts_sum_w", &ArrayPower::parts_sum_w)
      .def("to_json", [](const ArrayPower& p) { return p.ToJson().dump(); });
  m.def("power_of",
        py::overload_cast<const Crossbar&, const Eigen::VectorXd&, const NodeVoltages&>(&PowerOf),
        py::arg("xbar"), py::arg("v_rows"), py::arg("nodes"),
        "The split of the read power from the DC state (DcSolver.solve of the same input)");

  m.def("ngspice_netlist",
        py::overload_cast<const Crossbar&, const Eigen::VectorXd&, const std::string&>(
            &NgspiceNetlist),
        py::arg("xbar"), py::arg("v_rows"), py::arg("title") = "aimc crossbar",
        "The array as an ngspice netlist (.op prints each sense current and row source current)");

  m.def(
      "interleave_pairs",
      [](const Eigen::MatrixXd& g_plus, const Eigen::MatrixXd& g_minus, const std::string& layout) {
        RequireFinite(g_plus, "interleave_pairs", "g_plus");
        RequireFinite(g_minus, "interleave_pairs", "g_minus");
        return InterleavePairs(g_plus, g_minus, ParsePairLayout(layout));
      },
      py::arg("g_plus"), py::arg("g_minus"), py::arg("layout") = "columns",
      "Two R x C matrices as one array: R x 2C ('columns') or 2R x C ('rows')");
  m.def(
      "pair_inputs",
      [](const Eigen::VectorXd& x, const std::string& layout) {
        RequireFinite(x, "pair_inputs", "x");
        return PairInputs(x, ParsePairLayout(layout));
      },
      py::arg("x"), py::arg("layout") = "columns");
  m.def(
      "combine_pairs",
      [](const Eigen::MatrixXd& m_eff, const std::string& layout) {
        RequireFinite(m_eff, "combine_pairs", "m_eff");
        return CombinePairs(m_eff, ParsePairLayout(layout));
      },
      py::arg("m_eff"), py::arg("layout") = "columns",
      "The layer's effective differential conductance (R x C) from an array's M_eff");
}

}  // namespace aimc::python
