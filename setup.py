"""Builds aimc's Python module with the project's CMake and puts it beside python/aimc/*.py in
the wheel: aimc._aimc (aimc::core) always, and aimc._aimc_nn (networks on chips, aimc.analog's
layers) wherever `import torch` works and CMake finds its LibTorch (Debian: python3-torch and
libtorch-dev); AIMC_PIP_TORCH=0 skips it, =1 requires it. Configured by pyproject.toml."""
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


def torch_wanted():
    """Whether to build the LibTorch part: torch importable (or forced with AIMC_PIP_TORCH=1)."""
    setting = os.environ.get("AIMC_PIP_TORCH", "")
    if setting == "0":
        return False
    try:
        import torch  # noqa: F401
        return True
    except ImportError as e:
        if setting == "1":
            sys.exit(f"aimc: AIMC_PIP_TORCH=1 but `import torch` fails ({e}): install PyTorch "
                     "(Debian: python3-torch) or unset AIMC_PIP_TORCH")
        print(f"aimc: `import torch` fails ({e}); building the core module only: aimc.analog, "
              "aimc.test_chips and aimc.import_torchscript need PyTorch (Debian: python3-torch "
              "and libtorch-dev), then `pip install .` again", file=sys.stderr)
        return False


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        out_dir = pathlib.Path(self.get_ext_fullpath(ext.name)).resolve().parent
        build_dir = pathlib.Path(self.build_temp).resolve() / "cmake"
        build_dir.mkdir(parents=True, exist_ok=True)
        configure = [
            "cmake", "-S", str(ROOT), "-B", str(build_dir), "-G", "Ninja",
            "-DCMAKE_BUILD_TYPE=Release",
            f"-DPython3_EXECUTABLE={sys.executable}",
            "-DAIMC_BUILD_TESTS=OFF", "-DAIMC_BUILD_BENCH=OFF",
            "-DAIMC_WITH_MPI=OFF", "-DAIMC_WITH_PYTHON=ON",
        ]
        with_torch = torch_wanted()
        targets = ["_aimc"]
        if with_torch:
            import torch.utils
            # LibTorch's CMake package: where CMake looks anyway (libtorch-dev), else torch's own.
            configure += ["-DAIMC_WITH_TORCH=ON",
                          f"-DCMAKE_PREFIX_PATH={torch.utils.cmake_prefix_path}"]
            targets.append("_aimc_nn")
        else:
            configure.append("-DAIMC_WITH_TORCH=OFF")
        try:
            import pybind11
            configure.append(f"-Dpybind11_DIR={pybind11.get_cmake_dir()}")
        except ImportError:
            pass  # Debian's pybind11-dev puts its CMake files where CMake looks anyway
        subprocess.run(configure, check=True)
        jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL", "2")
        try:
            subprocess.run(["cmake", "--build", str(build_dir), "--target", *targets, "-j", jobs],
                           check=True)
        except subprocess.CalledProcessError:
            if with_torch:
                sys.exit("aimc: building the LibTorch part (aimc._aimc_nn) failed; it needs "
                         "LibTorch's headers and CMake files (Debian: libtorch-dev). "
                         "AIMC_PIP_TORCH=0 builds the core module alone")
            raise
        out_dir.mkdir(parents=True, exist_ok=True)
        for built in (build_dir / "python" / "aimc").glob("_aimc*.so"):
            self.copy_file(str(built), str(out_dir / built.name))


setup(ext_modules=[CMakeExtension("aimc._aimc")], cmdclass={"build_ext": CMakeBuild})
