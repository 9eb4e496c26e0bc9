// aimc._aimc: aimc::core for Python. NumPy arrays in and out; aimc::Error becomes aimc.Error,
// a ValueError with the same message, and so does every other failure of aimc's C++ (a file
// the operating system refuses, an allocation that cannot be met): Python sees one error type.
#include <pybind11/pybind11.h>

#include <filesystem>
#include <new>
#include <stdexcept>
#include <string>

#include "aimc/common/error.h"
#include "aimc/common/version.h"
#include "bindings.h"

namespace py = pybind11;

PYBIND11_MODULE(_aimc, m) {
  m.doc() = "aimc::core (device cards, ternary mapping, crossbar circuits) for Python";
  static py::exception<aimc::Error>& error =
      py::register_exception<aimc::Error>(m, "Error", PyExc_ValueError);
  // Registered after aimc::Error's, so tried before it; what it does not catch goes on.
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const std::filesystem::filesystem_error& e) {
      // std::filesystem's what() is "filesystem error: <call>: <reason> [<path>]": the reason
      // and the path are what a user can act on.
      const std::string message =
          e.path1().empty()
              ? fmt::format("a file operation failed: {}", e.code().message())
              : fmt::format("{}: {}", e.path1().string(), e.code().message());
      PyErr_SetString(error.ptr(), message.c_str());
    } catch (const std::bad_alloc&) {
      PyErr_SetString(error.ptr(),
                      "out of memory: aimc could not allocate what this call needs (a smaller "
                      "array, or fewer at once, fits)");
    } catch (const std::length_error&) {
      PyErr_SetString(error.ptr(), "out of memory: a size beyond what a container holds");
    }
  });
  m.attr("__version__") = aimc::Version();
  aimc::python::BindDevice(m);
  aimc::python::BindMapping(m);
  aimc::python::BindCircuit(m);
}
