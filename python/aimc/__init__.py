"""aimc from Python: device cards, the ternary mapping, exact crossbar circuits, and networks on
simulated chips.

The compiled part, aimc._aimc, binds aimc::core (no LibTorch); aimc._aimc_nn, where aimc was
built with LibTorch, runs networks (aimc model files, TorchScript files) on chips: ChipConfig, test_chips,
import_torchscript; and aimc.analog (import aimc.analog) puts analog layers into a PyTorch model and
its training loop. Arrays go in and come out as
NumPy float64 arrays; conductances are in siemens, resistances in ohm, voltages in volts. A user
error of aimc (a bad option, an unknown card, a matrix of the wrong size) raises aimc.Error, a
ValueError, with aimc's message.

    import numpy as np, aimc
    g = np.full((64, 32), 1e-4)                       # 10 kOhm devices
    xbar = aimc.Crossbar(g, aimc.CrossbarOptions(wire_row_ohm=2.0, wire_col_ohm=2.0))
    m = aimc.effective_matrix(xbar)                   # I = m.T @ v, IR drop included
"""

import json as _json

from ._aimc import *  # noqa: F401,F403
from ._aimc import Error, __version__  # noqa: F401
from . import _aimc

# Networks on chips (LibTorch), where aimc was built with it: test_chips, import_torchscript.
import importlib.util as _util

if _util.find_spec(__name__ + "._aimc_nn") is not None:
    from ._aimc_nn import ChipConfig, derive_seed, import_torchscript, test_chips  # noqa: F401
else:
    def __getattr__(name):
        # What a build without LibTorch lacks, said as such rather than a bare AttributeError.
        if name in ("ChipConfig", "derive_seed", "import_torchscript", "test_chips", "analog"):
            raise AttributeError(
                f"aimc.{name} needs aimc's LibTorch part (aimc._aimc_nn), which this build of "
                "aimc lacks: install PyTorch (Debian: python3-torch, libtorch-dev) and build again "
                "(`pip install .` builds it wherever `import torch` works)")
        raise AttributeError(f"module 'aimc' has no attribute '{name}'")


def card_params(card):
    """A card's parameters (what DeviceCard.to_json writes) as a dict."""
    return _json.loads(card.to_json())


def write_netlist(path, xbar, v_rows, title="aimc crossbar"):
    """Writes ngspice_netlist(xbar, v_rows, title) to `path`; returns the path."""
    text = _aimc.ngspice_netlist(xbar, v_rows, title)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path
