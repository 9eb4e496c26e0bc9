"""Crossbar circuits from Python: M_eff, DC solves, read power and the netlist against analytic
cases, an independent dense nodal solve in NumPy, and the aimc CLI."""
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

import aimc


def random_conductances(rows, cols, seed):
    """Devices between 5 kOhm and 50 kOhm: the range of the paper's MTJs and wires' effect."""
    rng = np.random.default_rng(seed)
    return 1.0 / rng.uniform(5e3, 5e4, size=(rows, cols))


def dense_nodal_meff(g, wire_row, wire_col):
    """M_eff by an independent route: the full nodal matrix of the array, written out here.

    Row i is driven at its left end through its first segment, column j is sensed (virtual
    ground) at its bottom end through its last segment; both are the default sides. Unknowns are
    the row-line node (i, j) and the column-line node (i, j) at every crosspoint. For each unit
    input, solve K x = b and read the current through each column's last segment.
    """
    rows, cols = g.shape
    n = 2 * rows * cols
    r_node = lambda i, j: i * cols + j
    c_node = lambda i, j: rows * cols + i * cols + j
    k = np.zeros((n, n))
    gr, gc = 1.0 / wire_row, 1.0 / wire_col

    def stamp(a, b, cond):
        k[a, a] += cond
        k[b, b] += cond
        k[a, b] -= cond
        k[b, a] -= cond

    drive = np.zeros((n, rows))  # b = drive @ v: the source's segment into node (i, 0)
    for i in range(rows):
        k[r_node(i, 0), r_node(i, 0)] += gr
        drive[r_node(i, 0), i] = gr
        for j in range(cols - 1):
            stamp(r_node(i, j), r_node(i, j + 1), gr)
    for j in range(cols):
        for i in range(rows - 1):
            stamp(c_node(i, j), c_node(i + 1, j), gc)
        k[c_node(rows - 1, j), c_node(rows - 1, j)] += gc  # to the sense amplifier at 0 V
    for i in range(rows):
        for j in range(cols):
            stamp(r_node(i, j), c_node(i, j), g[i, j])
    x = np.linalg.solve(k, drive)  # n x rows: node voltages per unit input
    return np.array([[gc * x[c_node(rows - 1, j), i] for j in range(cols)] for i in range(rows)])


def test_without_parasitics_meff_is_the_conductance_matrix():
    g = random_conductances(7, 5, seed=1)
    xbar = aimc.Crossbar(g)
    m = aimc.effective_matrix(xbar)
    # Ideal wires and sources: every device sees its full row voltage, so M_eff = G exactly.
    np.testing.assert_array_equal(m, g)
    np.testing.assert_array_equal(xbar.conductance_s, g)
    v = np.linspace(0.05, 0.2, 7)
    np.testing.assert_allclose(aimc.ideal_currents(xbar, v), g.T @ v, rtol=1e-15)


def test_meff_matches_an_independent_dense_nodal_solve():
    g = random_conductances(6, 4, seed=2)
    opts = aimc.CrossbarOptions(wire_row_ohm=50.0, wire_col_ohm=80.0)
    m = aimc.effective_matrix(aimc.Crossbar(g, opts))
    reference = dense_nodal_meff(g, 50.0, 80.0)
    # Both are direct solves of the same linear circuit in double precision: they agree to
    # rounding (condition number of K ~ 1e3 here).
    np.testing.assert_allclose(m, reference, rtol=1e-10)
    # The wires matter: the effect under test is far above the tolerance.
    assert np.max(np.abs(m - g) / g) > 1e-2


def test_a_dc_solve_equals_meff_times_the_input_and_the_solvers_agree():
    g = random_conductances(16, 12, seed=3)
    opts = aimc.CrossbarOptions(wire_row_ohm=2.0, wire_col_ohm=4.0, driver_ohm=100.0,
                                sense_ohm=50.0, access_ohm=500.0, drive="both")
    xbar = aimc.Crossbar(g, opts, "test array")
    ports = aimc.effective_port_matrices(xbar)
    v = np.random.default_rng(4).uniform(0.0, 0.2, 16)
    for backend in ("cholmod", "eigen"):
        solver = aimc.DcSolver(xbar, backend)
        i_solve = solver.column_currents(v)
        # Two routes to the same exact DC currents: factorized nodal solve vs the Schur
        # complement's M_eff; 1e-10 relative covers their different rounding orders.
        np.testing.assert_allclose(i_solve, ports.m_eff.T @ v, rtol=1e-10)
        nodes = solver.solve(v)
        np.testing.assert_allclose(nodes.column_current_a, i_solve, rtol=1e-12)
        assert nodes.row_v.shape == (16, 12)
    batch = np.random.default_rng(5).uniform(0.0, 0.2, (16, 3))
    np.testing.assert_allclose(solver.batch_column_currents(batch), ports.m_eff.T @ batch,
                               rtol=1e-10)
    np.testing.assert_allclose(aimc.effective_matrix_by_solves(xbar), ports.m_eff, rtol=1e-10)
    np.testing.assert_allclose(ports.row_admittance, aimc.row_admittance_by_solves(xbar),
                               rtol=1e-10)

    # Read power: the row sources deliver v^T Y v, and the parts add up to it (Tellegen).
    power = aimc.power_of(xbar, v, aimc.DcSolver(xbar).solve(v))
    assert power.total_w == pytest.approx(v @ ports.row_admittance @ v, rel=1e-10)
    assert power.parts_sum_w() == pytest.approx(power.total_w, rel=1e-10)
    assert power.row_wires_w > 0 and power.sense_w > 0 and power.access_w > 0


def test_meff_equals_the_one_the_cli_writes(tmp_path):
    cli = os.environ.get("AIMC_CLI")
    if not cli:
        pytest.skip("AIMC_CLI (the aimc program) not set; CTest sets it")
    g = random_conductances(9, 6, seed=6)
    csv = tmp_path / "g.csv"
    np.savetxt(csv, g, delimiter=",", fmt="%.17g")
    out = tmp_path / "meff.csv"
    subprocess.run([cli, "xbar", "solve", "--conductances", str(csv), "--wire-row-ohm", "3",
                    "--wire-col-ohm", "5", "--driver-ohm", "20", "--meff", str(out)],
                   check=True, capture_output=True)
    from_cli = np.loadtxt(out, delimiter=",")
    xbar = aimc.Crossbar(g, aimc.CrossbarOptions(wire_row_ohm=3, wire_col_ohm=5, driver_ohm=20))
    # The same C++ function on the same doubles (the CSV holds 17 significant digits): equal to
    # the last bit.
    np.testing.assert_array_equal(aimc.effective_matrix(xbar), from_cli)


def test_pairs_netlist_and_wire_presets(tmp_path):
    gp, gm = random_conductances(4, 3, seed=7), random_conductances(4, 3, seed=8)
    g = aimc.interleave_pairs(gp, gm, "columns")
    assert g.shape == (4, 6)
    np.testing.assert_array_equal(g[:, 0::2], gp)
    # No wires: the combined pair matrix is G+ - G-.
    np.testing.assert_allclose(aimc.combine_pairs(aimc.effective_matrix(aimc.Crossbar(g))),
                               gp - gm, rtol=1e-15)
    opts = aimc.CrossbarOptions()
    opts.use_wires("layout22nm")
    preset = aimc.wire_preset("layout22nm")
    assert opts.wire_row_ohm == pytest.approx(preset.row_segment_ohm)
    assert opts.wire_col_ohm == pytest.approx(preset.col_segment_ohm)
    xbar = aimc.Crossbar(g, opts)
    v = np.array([0.1, 0.2, 0.05, 0.15])
    text = aimc.ngspice_netlist(xbar, v, "pairs")
    assert text.splitlines()[0] == "pairs"
    path = aimc.write_netlist(tmp_path / "x.cir", xbar, v)
    assert path.read_text() == text.replace("pairs", "aimc crossbar", 1)
    ngspice = shutil.which("ngspice")
    if ngspice is None:
        pytest.skip("ngspice not installed (scripts/install-deps.sh installs it)")
    out = subprocess.run([ngspice, "-b", str(path)], capture_output=True, text=True).stdout
    spice = [float(re.search(rf"i\(vsense{j}\) = (\S+)", out).group(1)) for j in range(6)]
    # ngspice prints 16 digits of its own solve of the same circuit; its default tolerances
    # (reltol 1e-3 on Newton steps of a linear circuit, which converges in one) leave ~1e-9.
    np.testing.assert_allclose(spice, aimc.DcSolver(xbar).column_currents(v), rtol=1e-8)


def test_results_come_back_without_copies():
    g = np.asfortranarray(random_conductances(8, 8, seed=9))
    xbar = aimc.Crossbar(g)
    view = xbar.conductance_s
    # A read-only view of the matrix the Crossbar owns: no copy, and not writable.
    assert not view.flags.owndata and not view.flags.writeable
    assert view.base is not None
    ports = aimc.effective_port_matrices(xbar)
    assert not ports.m_eff.flags.writeable and ports.m_eff.flags.f_contiguous


def test_errors_are_aimc_errors_with_aimc_messages():
    with pytest.raises(aimc.Error, match="wire_row_ohm"):
        aimc.CrossbarOptions(wire_row_ohm=-1.0)
    with pytest.raises(ValueError, match=r"\(row 1, column 2\) must be within"):
        g = np.full((3, 3), 1e-4)
        g[1, 2] = -1.0
        aimc.Crossbar(g)
    xbar = aimc.Crossbar(np.full((3, 2), 1e-4), aimc.CrossbarOptions(wire_row_ohm=1.0))
    with pytest.raises(aimc.Error, match="input has 4 voltages for 3 rows"):
        aimc.DcSolver(xbar).column_currents(np.zeros(4))
    with pytest.raises(aimc.Error, match="drive"):
        aimc.CrossbarOptions(drive="middle")
    with pytest.raises(aimc.Error, match="backend"):
        aimc.DcSolver(xbar, "spice")
    assert issubclass(aimc.Error, ValueError)


def test_inputs_that_are_not_finite_are_refused_naming_the_argument():
    xbar = aimc.Crossbar(np.full((2, 2), 1e-4))
    v = np.array([np.nan, 1.0])
    # Each returned NaN currents, or wrote "DC nan" into the netlist.
    with pytest.raises(aimc.Error, match="ideal currents of the 2 x 2 array: the voltage of row 0 "
                                         "is nan, not a finite voltage"):
        aimc.ideal_currents(xbar, v)
    with pytest.raises(aimc.Error, match="ngspice netlist of the 2 x 2 array: the voltage of row 0"):
        aimc.ngspice_netlist(xbar, v)
    with pytest.raises(aimc.Error, match="the power of the 2 x 2 array"):
        aimc.power_of(xbar, v, aimc.DcSolver(xbar).solve(np.ones(2)))
    with pytest.raises(aimc.Error, match="overflows"):
        aimc.ideal_currents(aimc.Crossbar(np.full((2, 2), 1.0)), np.array([1e308, 1e308]))
    with pytest.raises(aimc.Error, match=r"pair_inputs: x\[1\] is inf"):
        aimc.pair_inputs(np.array([1.0, np.inf]), "rows")
    with pytest.raises(aimc.Error, match=r"interleave_pairs: g_minus\[0, 1\] is nan"):
        aimc.interleave_pairs(np.ones((2, 2)), np.array([[1.0, np.nan], [1.0, 1.0]]))
    with pytest.raises(aimc.Error, match=r"combine_pairs: m_eff\[1, 0\] is nan"):
        aimc.combine_pairs(np.array([[1.0, 1.0], [np.nan, 1.0]]))
    # segment_resistance_ohm(1e308, 1e308, 1e-320) returned inf.
    with pytest.raises(aimc.Error, match=r"sheet resistance must be in \[0, 1e9\] ohm/sq"):
        aimc.segment_resistance_ohm(1e308, 1e308, 1e-320)
    with pytest.raises(aimc.Error, match=r"line width must be in \[0.01, 1e9\] nm, got 1e-320"):
        aimc.segment_resistance_ohm(0.5, 100.0, 1e-320)
    with pytest.raises(aimc.Error, match="exceeds 1e\\+12 ohm"):
        aimc.segment_resistance_ohm(1e9, 1e9, 0.01)
    assert aimc.segment_resistance_ohm(0.5, 100.0, 50.0) == 1.0


_OUT_OF_MEMORY = """
import resource, sys
import numpy as np
import aimc
resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
xbar = aimc.Crossbar(np.full((50000, 1), 1e-4))
try:
    aimc.effective_port_matrices(xbar)
except aimc.Error as e:
    print(e)
"""


def test_an_allocation_that_cannot_be_met_names_the_call_and_the_size():
    # Y of a 50000 x 1 array is 50000 x 50000 doubles (20 GB): beyond an address space cut to
    # 2 GiB, in a process of its own. It raised MemoryError: std::bad_alloc.
    if "asan" in os.environ.get("LD_PRELOAD", ""):
        pytest.skip("AddressSanitizer reserves more address space than the limit leaves")
    run = subprocess.run([sys.executable, "-c", _OUT_OF_MEMORY], capture_output=True, text=True,
                         timeout=120, env=dict(os.environ))
    assert run.returncode == 0, run.stderr
    assert ("the port matrices of the 50000 x 1 array: out of memory: it needs M_eff "
            "(50000 x 1 doubles, 400 kB), Y (50000 x 50000 doubles, 20 GB)") in run.stdout
