#pragma once

#include <pybind11/pybind11.h>

#include <cmath>
#include <cstdint>
#include <string>

#include <Eigen/Core>

#include "aimc/common/error.h"
#include "aimc/common/rng.h"

namespace aimc::python {

// One function per module of aimc::core, in the order data flows (device -> mapping -> circuit).
void BindDevice(pybind11::module_& m);
void BindMapping(pybind11::module_& m);
void BindCircuit(pybind11::module_& m);

/// Throws aimc::Error naming the call, the argument and the first entry that is not finite: a
/// NaN given to aimc is refused, never carried into a result.
template <typename Derived>
void RequireFinite(const Eigen::DenseBase<Derived>& a, const char* call, const char* argument) {
  for (Eigen::Index j = 0; j < a.cols(); ++j) {
    for (Eigen::Index i = 0; i < a.rows(); ++i) {
      if (std::isfinite(a(i, j))) continue;
      if (a.cols() == 1) Fail("{}: {}[{}] is {}, not a finite number", call, argument, i, a(i, j));
      Fail("{}: {}[{}, {}] is {}, not a finite number", call, argument, i, j, a(i, j));
    }
  }
}

/// A seed as the CLI reads it (ParseSeed): a Python int in [0, 2^64 - 1]; -1 or 2^64 is refused,
/// not wrapped or saturated, and so is a float or a bool. Needs the GIL.
inline std::uint64_t SeedOf(const pybind11::handle& seed) {
  Require(pybind11::isinstance<pybind11::int_>(seed) && !pybind11::isinstance<pybind11::bool_>(seed),
          "seed must be an integer in [0, 18446744073709551615], got {}",
          pybind11::repr(seed).cast<std::string>());
  return ParseSeed(pybind11::str(seed).cast<std::string>(), "seed");
}

}  // namespace aimc::python
