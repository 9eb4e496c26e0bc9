#pragma once

#include <pybind11/pybind11.h>

namespace aimc::python {

// One function per module of aimc::core, in the order data flows (device -> mapping -> circuit).
void BindDevice(pybind11::module_& m);
void BindMapping(pybind11::module_& m);
void BindCircuit(pybind11::module_& m);

}  // namespace aimc::python
