"""A crossbar's effective matrix M_eff as the weight of a PyTorch linear layer.

A 64 x 16 ternary layer is programmed on SOT-MRAM pairs (G+ and G- in adjacent columns) with the
22 nm layout's wires. M_eff, built once, holds the IR drop exactly: the column currents of any
input V are M_eff^T V. Combined per pair and divided by the unit weight dG it is the layer's
effective weight, which torch.nn.Linear then applies to a batch; the script checks the layer
against an exact DC solve of the circuit for every input.

    PYTHONPATH=build/release/python python3 docs/examples/meff_torch.py

Exits 77 (CTest: skipped) where PyTorch is not importable.
"""
import sys

import numpy as np

try:
    import torch
except ImportError:
    print("meff_torch.py: PyTorch is not importable (Debian: python3-torch); skipped")
    sys.exit(77)

import aimc

rows, cols = 64, 16
rng = np.random.default_rng(0)
weights = rng.integers(-1, 2, size=(rows, cols))            # ternary: -1, 0, +1
card = aimc.load_card("sot_mram")
g_plus, g_minus, dg = aimc.program(weights, card, seed=1)   # siemens, one chip

options = aimc.CrossbarOptions()
options.use_wires("layout22nm")
xbar = aimc.Crossbar(aimc.interleave_pairs(g_plus, g_minus, "columns"), options)
m_eff = aimc.effective_matrix(xbar)                         # 64 x 32, siemens
w_eff = aimc.combine_pairs(m_eff, "columns") / dg           # 64 x 16, in unit weights

layer = torch.nn.Linear(rows, cols, bias=False, dtype=torch.float64)
with torch.no_grad():
    layer.weight.copy_(torch.from_numpy(w_eff.T))           # Linear's weight is (out, in)

x = rng.uniform(0.0, 0.2, size=(8, rows))                   # a batch of row voltages (V)
y = layer(torch.from_numpy(x)).detach().numpy()             # (I+ - I-) / dG per output

solver = aimc.DcSolver(xbar)
for k in range(len(x)):
    i = solver.column_currents(aimc.pair_inputs(x[k], "columns"))
    exact = (i[0::2] - i[1::2]) / dg
    # Two exact routes (Schur complement vs sparse Cholesky solve) agree to rounding.
    np.testing.assert_allclose(y[k], exact, rtol=1e-9, atol=1e-12 * np.abs(exact).max())

drawn = (g_plus - g_minus) / dg
ir_drop = np.abs(w_eff - drawn).max()
print(f"M_eff {m_eff.shape}, effective weights {w_eff.shape}: the wires move a weight by up to "
      f"{ir_drop:.4f} unit weights; the torch layer matches the exact DC solve of all "
      f"{len(x)} inputs")
assert ir_drop > 1e-4, "the wires should move the weights measurably"
