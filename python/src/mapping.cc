// The ternary mapping: weight spread from the devices' statistics (Fig. 10), the allowed device
// spread for a target sigma_w (Fig. 11), a chip's programmed pairs.
#include <pybind11/eigen.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <tuple>
#include <type_traits>

#include "aimc/common/error.h"
#include "aimc/common/rng.h"
#include "aimc/mapping/ternary.h"
#include "bindings.h"

namespace py = pybind11;

namespace aimc::python {
namespace {

std::array<double, 3> Three(const double (&v)[3]) { return {v[0], v[1], v[2]}; }

// A NumPy array of weight levels (1-D: one column) as the int matrix Program takes. NumPy's own
// cast would cut an int64 2^32 + 1 to 1 and a float 1.5 to 1: every entry is checked to be an
// integer that an int holds instead, naming the entry.
template <typename T>
Eigen::MatrixXi LevelsOf(const py::array& weights) {
  const auto a = py::array_t<T, py::array::forcecast | py::array::c_style>::ensure(weights);
  if (!a) throw py::error_already_set();
  const Eigen::Index rows = a.shape(0);
  const Eigen::Index cols = a.ndim() == 2 ? a.shape(1) : 1;
  Eigen::MatrixXi w(rows, cols);
  const T* data = a.data();
  for (Eigen::Index i = 0; i < rows; ++i) {
    for (Eigen::Index j = 0; j < cols; ++j) {
      const T v = data[i * cols + j];
      const auto entry = [&] {
        return a.ndim() == 2 ? fmt::format("weights[{}, {}]", i, j) : fmt::format("weights[{}]", i);
      };
      if constexpr (std::is_floating_point_v<T>) {
        if (!std::isfinite(v) || v != std::trunc(v))
          Fail("program: {} is {}, not an integer weight level", entry(), v);
      }
      bool fits = v <= static_cast<T>(std::numeric_limits<int>::max());
      if constexpr (std::is_signed_v<T>)
        fits = fits && v >= static_cast<T>(std::numeric_limits<int>::min());
      if (!fits) {
        Fail("program: {} is {}, beyond the 32-bit integers that hold a weight level", entry(),
             v);
      }
      w(i, j) = static_cast<int>(v);
    }
  }
  return w;
}

Eigen::MatrixXi WeightLevels(const py::object& given) {
  const py::array weights = py::array::ensure(given);
  Require(static_cast<bool>(weights),
          "program: weights must be an array of integer weight levels, got a {}",
          std::string(py::str(py::type::of(given).attr("__name__"))));
  Require(weights.ndim() == 1 || weights.ndim() == 2,
          "program: weights must be a 2-D array of weight levels (1-D: one column), got {} "
          "dimensions",
          weights.ndim());
  switch (weights.dtype().kind()) {
    case 'b':
    case 'i':
      return LevelsOf<std::int64_t>(weights);
    case 'u':
      return LevelsOf<std::uint64_t>(weights);
    case 'f':
      return LevelsOf<double>(weights);
    default:
      Fail("program: weights must be an array of integer weight levels, got dtype {}",
           std::string(py::str(weights.dtype())));
  }
}

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
  m.def(
      "monte_carlo_spread",
      [](const device::DeviceCard& card, std::int64_t pairs, const py::object& seed) {
        const std::uint64_t s = SeedOf(seed);
        py::gil_scoped_release release;
        return mapping::MonteCarloSpread(card, pairs, s);
      },
      py::arg("card"), py::arg("pairs"), py::arg("seed"),
      "Fig. 10 by Monte Carlo: `pairs` pairs per level drawn with `seed`");

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
      [](const py::object& weights, const device::DeviceCard& card, const py::object& seed,
         int max_level) {
        const Eigen::MatrixXi levels = WeightLevels(weights);
        Rng rng(SeedOf(seed));
        mapping::ProgrammedPairs p = mapping::Program(levels, card, rng, max_level);
        return std::make_tuple(std::move(p.g_plus), std::move(p.g_minus), p.dg_s);
      },
      py::arg("weights"), py::arg("card"), py::arg("seed"), py::arg("max_level") = 1,
      "One chip's conductances for a weight matrix of levels in [-max_level, max_level] "
      "(ternary: -1, 0, +1; more levels need a multi-level card): (g_plus, g_minus, dg_s), "
      "every device drawn independently with `seed`");
  m.def(
      "program_continuous",
      [](const Eigen::MatrixXd& weights, const device::DeviceCard& card, const py::object& seed) {
        Rng rng(SeedOf(seed));
        mapping::ProgrammedPairs p = mapping::ProgramContinuous(weights, card, rng);
        return std::make_tuple(std::move(p.g_plus), std::move(p.g_minus), p.dg_s);
      },
      py::arg("weights"), py::arg("card"), py::arg("seed"),
      "One chip's conductances for continuous weights in [-1, 1] of full scale (a card with "
      "analog states: pcm, rram, flash): (g_plus, g_minus, dg_s), w > 0 the pair (G+ at the "
      "fraction w from OFF to ON, G- OFF), every device drawn with `seed`");
}

}  // namespace aimc::python
