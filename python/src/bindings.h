#pragma once

#include <pybind11/pybind11.h>

#include <cmath>

#include <Eigen/Core>

#include "aimc/common/error.h"

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

}  // namespace aimc::python
