// The ternary mapping: weight spread from the devices' statistics (Fig. 10), the allowed device
// spread for a target sigma_w (Fig. 11), a chip's programmed pairs.
#include <pybind11/eigen.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <tuple>

#include "aimc/common/rng.h"
#include "aimc/mapping/ternary.h"
#include "bindings.h"

namespace py = pybind11;

namespace aimc::python {
namespace {

std::array<double, 3> Three(const double (&v)[3]) { return {v[0], v[1], v[2]}; }

}  // namespace

void BindMapping(py::module_& m) {
  using mapping::WeightSpread;
  py::class_<WeightSpread>(m, "WeightSpread",
                           "Mean and sigma of the levels w = -1, 0, +1 in units of the unit "
                           "weight dG = mu_ON - mu_OFF")
      .def_property_readonly("mean", [](const WeightSpread& w) { return Three(w.mean); })
      .def_property_readonly("sigma", [](const WeightSpread& w) { return Three(w.sigma); })
      .def_readonly("dg_s", &WeightSpread::dg_s)
      .def_property_readonly("sigma_minus1", &WeightSpread::sigma_minus1)
      .def_property_readonly("sigma_0", &WeightSpread::sigma_0)
      .def_property_readonly("sigma_plus1", &WeightSpread::sigma_plus1)
      .def_property_readonly("sigma_max", &WeightSpread::sigma_max,
                             "The largest of the three: the sigma_w a network must tolerate");

  m.def("analytic_spread", &mapping::AnalyticSpread, py::arg("stats"),
        "Fig. 10 analytically: sigma_0 = sqrt(2) sigma_OFF / dG, sigma_+-1 = sqrt(sigma_ON^2 + "
        "sigma_OFF^2) / dG");
  m.def(
      "analytic_spread",
      [](const device::DeviceCard& card) { return mapping::AnalyticSpread(card.Stats()); },
      py::arg("card"));
  m.def("monte_carlo_spread", &mapping::MonteCarloSpread, py::arg("card"), py::arg("pairs"),
        py::arg("seed"), "Fig. 10 by Monte Carlo: `pairs` pairs per level drawn with `seed`",
        py::call_guard<py::gil_scoped_release>());

  py::class_<mapping::LevelSpread>(m, "LevelSpread",
                                   "Mean and sigma of one weight level, in units of the "
                                   "full-scale weight dG = mu_ON - mu_OFF")
      .def_readonly("mean", &mapping::LevelSpread::mean)
      .def_readonly("sigma", &mapping::LevelSpread::sigma);
  m.def("multi_level_spread", &mapping::MultiLevelSpread, py::arg("card"), py::arg("max_level"),
        "Fig. 10 for weights of 2 max_level + 1 levels on a multi-level card: the spread of "
        "levels 0..max_level (-m mirrors +m), analytically");

  using mapping::AllowedSpread;
  py::class_<AllowedSpread>(m, "AllowedSpread",
                            "Largest sigma/mu of the conductance states for a target sigma_w")
      .def_readonly("zero_cv_off", &AllowedSpread::zero_cv_off,
                    "weight 0: sigma/mu of OFF (AP), both devices OFF")
      .def_readonly("pm1_equal_cv", &AllowedSpread::pm1_equal_cv,
                    "weights +-1: the same sigma/mu in both states")
      .def_readonly("pm1_on_only_cv", &AllowedSpread::pm1_on_only_cv,
                    "weights +-1: ON (P) spread alone, OFF exact")
      .def_readonly("pm1_off_only_cv", &AllowedSpread::pm1_off_only_cv,
                    "weights +-1: OFF (AP) spread alone, ON exact");
  m.def("allowed_spread", &mapping::AllowedSpreadFor, py::arg("sigma_w"), py::arg("tmr"),
        "Fig. 11, inverse: the largest sigma/mu of the states that keeps a level's spread at "
        "sigma_w, for an on/off ratio 1 + tmr");
  m.def("sigma0_from_cv", &mapping::Sigma0FromCv, py::arg("cv_off"), py::arg("tmr"),
        "Fig. 11, forward: sigma_w of level 0 from sigma/mu of OFF");
  m.def("sigma_pm1_from_cv", &mapping::SigmaPm1FromCv, py::arg("cv_on"), py::arg("cv_off"),
        py::arg("tmr"), "Fig. 11, forward: sigma_w of levels +-1 from sigma/mu of ON and OFF");

  m.def(
      "program",
      [](const Eigen::MatrixXi& weights, const device::DeviceCard& card, std::uint64_t seed,
         int max_level) {
        Rng rng(seed);
        mapping::ProgrammedPairs p = mapping::Program(weights, card, rng, max_level);
        return std::make_tuple(std::move(p.g_plus), std::move(p.g_minus), p.dg_s);
      },
      py::arg("weights"), py::arg("card"), py::arg("seed"), py::arg("max_level") = 1,
      "One chip's conductances for a weight matrix of levels in [-max_level, max_level] "
      "(ternary: -1, 0, +1; more levels need a multi-level card): (g_plus, g_minus, dg_s), "
      "every device drawn independently with `seed`");
}

}  // namespace aimc::python
