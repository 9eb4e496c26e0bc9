// Device cards: load by path or preset name, their conductance statistics, seeded draws.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <pybind11/stl/filesystem.h>

#include <memory>
#include <string>
#include <vector>

#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "aimc/common/error.h"
#include "aimc/common/rng.h"
#include "aimc/device/card.h"
#include "bindings.h"

namespace py = pybind11;

namespace aimc::python {
namespace {

using device::DeviceCard;
using device::State;

State ParseState(const std::string& name) {
  if (name == "on") return State::kOn;
  if (name == "off") return State::kOff;
  Fail("state must be 'on' (low resistance, P) or 'off' (high resistance, AP), got '{}'", name);
}

// Conductances of `shape` devices in `state` (siemens), drawn in C order from one Rng(seed): the
// same seed gives the same array on any machine (aimc::Rng's own distributions).
py::array_t<double> Sample(const DeviceCard& card, const std::string& state,
                           const std::vector<py::ssize_t>& shape, const py::object& seed_arg) {
  const std::uint64_t seed = SeedOf(seed_arg);
  const State s = ParseState(state);
  double count = 1.0;  // in doubles, so that the product of the sizes cannot wrap
  for (const py::ssize_t d : shape) {
    Require(d >= 0, "shape must have no negative size, got {}", d);
    count *= static_cast<double>(d);
  }
  const auto asked = [&] {
    return fmt::format("sample: an array of shape ({}) holds {:g} doubles ({:g} bytes)",
                       fmt::join(shape, ", "), count, 8 * count);
  };
  Require(count * 8 < 9.2e18, "{}, more than an address space holds", asked());
  py::array_t<double> out;
  try {
    out = py::array_t<double>(shape);
  } catch (const py::error_already_set& e) {
    if (!e.matches(PyExc_MemoryError)) throw;
    Fail("{}: out of memory", asked());
  } catch (const std::bad_alloc&) {
    Fail("{}: out of memory", asked());
  }
  double* data = out.mutable_data();
  const py::ssize_t n = out.size();
  {
    py::gil_scoped_release release;
    Rng rng(seed);
    for (py::ssize_t i = 0; i < n; ++i) data[i] = card.Sample(s, rng);
  }
  return out;
}

}  // namespace

void BindDevice(py::module_& m) {
  py::class_<device::ConductanceStats>(m, "ConductanceStats",
                                       "Moments of the conductance of one state (siemens)")
      .def_readonly("mean_s", &device::ConductanceStats::mean_s)
      .def_readonly("stddev_s", &device::ConductanceStats::stddev_s)
      .def_property_readonly("cv", &device::ConductanceStats::cv, "sigma / mu")
      .def("__repr__", [](const device::ConductanceStats& s) {
        return fmt::format("ConductanceStats(mean_s={:.6g}, stddev_s={:.6g})", s.mean_s,
                           s.stddev_s);
      });
  py::class_<device::StateStats>(m, "StateStats",
                                 "Conductance moments of both states: on (P), off (AP)")
      .def(py::init([](double on_mean_s, double on_stddev_s, double off_mean_s,
                       double off_stddev_s) {
             device::StateStats s;
             s.on = {on_mean_s, on_stddev_s};
             s.off = {off_mean_s, off_stddev_s};
             return s;
           }),
           py::arg("on_mean_s"), py::arg("on_stddev_s"), py::arg("off_mean_s"),
           py::arg("off_stddev_s"))
      .def_readonly("on", &device::StateStats::on)
      .def_readonly("off", &device::StateStats::off)
      .def_property_readonly("on_off_ratio", &device::StateStats::on_off_ratio);

  py::class_<DeviceCard, std::shared_ptr<DeviceCard>>(
      m, "DeviceCard", "A technology's device card (load_card); conductances in siemens")
      .def_property_readonly("name", &DeviceCard::name)
      .def_property_readonly("source", &DeviceCard::source)
      .def("stats", &DeviceCard::Stats, "Exact moments of G in each state")
      .def_property_readonly("r_on_ohm", &DeviceCard::r_on_ohm, "1 / E[G_on] (R_P of an MTJ)")
      .def_property_readonly(
          "r_off_ohm", [](const DeviceCard& c) { return 1.0 / c.Stats().off.mean_s; },
          "1 / E[G_off] (R_AP of an MTJ)")
      .def_property_readonly(
          "on_off_ratio", [](const DeviceCard& c) { return c.Stats().on_off_ratio(); },
          "E[G_on] / E[G_off]")
      .def_property_readonly(
          "tmr", [](const DeviceCard& c) { return c.Stats().on_off_ratio() - 1.0; },
          "on_off_ratio - 1: an MTJ's TMR in the card's mean conductances")
      .def_property_readonly("write_voltage_v", &DeviceCard::write_voltage_v)
      .def_property_readonly("levels", &DeviceCard::levels,
                             "Conductance levels a device holds (2: ON and OFF)")
      .def_property_readonly("analog_states", &DeviceCard::analog_states,
                             "Whether a device takes any conductance between OFF and ON "
                             "(continuous weights)")
      .def_property_readonly("r_on_range_ohm", &DeviceCard::r_on_range_ohm)
      .def(
          "with_r_on",
          [](const DeviceCard& c, double r_on_ohm) {
            return std::shared_ptr<DeviceCard>(c.WithRon(r_on_ohm));
          },
          py::arg("r_on_ohm"), "The same technology at another nominal R_ON")
      .def(
          "with_on_off_ratio",
          [](const DeviceCard& c, double ratio) {
            return std::shared_ptr<DeviceCard>(c.WithOnOffRatio(ratio));
          },
          py::arg("ratio"), "The same technology with another E[G_on]/E[G_off]")
      .def(
          "to_json", [](const DeviceCard& c) { return c.ToJson().dump(); },
          "The card's parameters as a JSON string")
      .def("sample", &Sample, py::arg("state"), py::arg("shape"), py::arg("seed"),
           "Conductances (siemens) of independent devices in state 'on' or 'off', a float64 "
           "array of `shape`, drawn from one seeded stream in C order")
      .def(
          "sample",
          [](const DeviceCard& c, const std::string& state, py::ssize_t count,
             const py::object& seed) { return Sample(c, state, {count}, seed); },
          py::arg("state"), py::arg("shape"), py::arg("seed"))
      .def("__repr__", [](const DeviceCard& c) {
        return fmt::format("<aimc.DeviceCard '{}', R_ON {:.6g} ohm>", c.name(), c.r_on_ohm());
      });

  m.def(
      "load_card",
      [](const std::string& path_or_name) {
        return std::shared_ptr<DeviceCard>(device::LoadCardOrPreset(path_or_name));
      },
      py::arg("path_or_name"),
      "A card from a TOML file (a path with '/' or ending in .toml) or a preset name such as "
      "'sot_mram'");
  m.def("preset_card_names", &device::PresetCardNames, "The cards shipped in configs/devices");
}

}  // namespace aimc::python
