// aimc._aimc: aimc::core for Python. NumPy arrays in and out; aimc::Error becomes aimc.Error,
// a ValueError with the same message.
#include <pybind11/pybind11.h>

#include "aimc/common/error.h"
#include "aimc/common/version.h"
#include "bindings.h"

namespace py = pybind11;

PYBIND11_MODULE(_aimc, m) {
  m.doc() = "aimc::core (device cards, ternary mapping, crossbar circuits) for Python";
  py::register_exception<aimc::Error>(m, "Error", PyExc_ValueError);
  m.attr("__version__") = aimc::Version();
  aimc::python::BindDevice(m);
  aimc::python::BindMapping(m);
  aimc::python::BindCircuit(m);
}
