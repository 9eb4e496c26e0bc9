"""Builds aimc._aimc with the project's CMake (the `core` parts only: no LibTorch, no tests) and
puts it beside python/aimc/__init__.py in the wheel. Configured by pyproject.toml."""
import os
import pathlib
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = pathlib.Path(__file__).resolve().parent


class CMakeExtension(Extension):
    def __init__(self, name):
        super().__init__(name, sources=[])


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        out_dir = pathlib.Path(self.get_ext_fullpath(ext.name)).resolve().parent
        build_dir = pathlib.Path(self.build_temp).resolve() / "cmake"
        build_dir.mkdir(parents=True, exist_ok=True)
        configure = [
            "cmake", "-S", str(ROOT), "-B", str(build_dir), "-G", "Ninja",
            "-DCMAKE_BUILD_TYPE=Release",
            f"-DPython3_EXECUTABLE={sys.executable}",
            "-DAIMC_WITH_TORCH=OFF", "-DAIMC_BUILD_TESTS=OFF", "-DAIMC_BUILD_BENCH=OFF",
            "-DAIMC_WITH_MPI=OFF", "-DAIMC_WITH_PYTHON=ON",
        ]
        try:
            import pybind11
            configure.append(f"-Dpybind11_DIR={pybind11.get_cmake_dir()}")
        except ImportError:
            pass  # Debian's pybind11-dev puts its CMake files where CMake looks anyway
        subprocess.run(configure, check=True)
        jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL", "2")
        subprocess.run(["cmake", "--build", str(build_dir), "--target", "_aimc", "-j", jobs],
                       check=True)
        built = next((build_dir / "python" / "aimc").glob("_aimc*.so"))
        out_dir.mkdir(parents=True, exist_ok=True)
        self.copy_file(str(built), str(out_dir / built.name))


setup(ext_modules=[CMakeExtension("aimc._aimc")], cmdclass={"build_ext": CMakeBuild})
