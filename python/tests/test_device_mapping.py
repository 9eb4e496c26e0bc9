"""Device cards and the ternary mapping from Python: seeded draws, moments, sigma_w both ways."""
import math
import pathlib

import numpy as np
import pytest

import aimc

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_cards_by_preset_name_and_by_path_agree():
    assert "sot_mram" in aimc.preset_card_names()
    by_name = aimc.load_card("sot_mram")
    by_path = aimc.load_card(str(ROOT / "configs" / "devices" / "sot_mram.toml"))
    assert by_name.name == by_path.name
    s = by_name.stats()
    assert by_name.r_on_ohm == pytest.approx(1.0 / s.on.mean_s, rel=1e-15)
    assert by_name.r_off_ohm == pytest.approx(1.0 / s.off.mean_s, rel=1e-15)
    assert by_name.tmr == pytest.approx(s.on_off_ratio - 1.0, rel=1e-15)
    assert s.on.cv == pytest.approx(s.on.stddev_s / s.on.mean_s)
    assert by_name.tmr > 0.5  # an MTJ: R_AP well above R_P
    assert aimc.card_params(by_name) == aimc.card_params(by_path)
    faster = by_name.with_r_on(2 * by_name.r_on_ohm)
    assert faster.r_on_ohm == pytest.approx(2 * by_name.r_on_ohm, rel=1e-9)
    # WithRon keeps the relative spread and the on/off ratio.
    assert faster.stats().on.cv == pytest.approx(s.on.cv, rel=1e-9)
    assert faster.tmr == pytest.approx(by_name.tmr, rel=1e-9)


def test_draws_are_reproducible_by_seed_and_follow_the_cards_moments():
    card = aimc.load_card("rram")
    a = card.sample("on", (100, 200), seed=7)
    b = card.sample("on", (100, 200), seed=7)
    c = card.sample("on", (100, 200), seed=8)
    assert a.shape == (100, 200) and a.dtype == np.float64
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    np.testing.assert_array_equal(card.sample("on", 50, seed=7), a.ravel()[:50])  # C order
    s = card.stats()
    for state, moments in (("on", s.on), ("off", s.off)):
        g = card.sample(state, 20000, seed=3)
        # The sample mean within 5 standard errors of the exact mean (false alarm ~ 6e-7).
        assert abs(g.mean() - moments.mean_s) < 5 * moments.stddev_s / math.sqrt(g.size)
        assert g.std() == pytest.approx(moments.stddev_s, rel=0.05)


def test_weight_spread_analytic_monte_carlo_and_from_stats():
    stats = aimc.StateStats(on_mean_s=1e-4, on_stddev_s=1e-5, off_mean_s=4e-5, off_stddev_s=4e-6)
    w = aimc.analytic_spread(stats)
    dg = 6e-5
    # Fig. 10: sigma_0 = sqrt(2) sigma_OFF / dG, sigma_+-1 = sqrt(sigma_ON^2 + sigma_OFF^2) / dG.
    assert w.dg_s == pytest.approx(dg)
    assert w.sigma_0 == pytest.approx(math.sqrt(2) * 4e-6 / dg, rel=1e-12)
    assert w.sigma_plus1 == pytest.approx(math.hypot(1e-5, 4e-6) / dg, rel=1e-12)
    assert w.sigma_max == max(w.sigma)
    assert list(w.mean) == [-1.0, 0.0, 1.0]

    card = aimc.load_card("sot_mram")
    exact = aimc.analytic_spread(card)
    mc = aimc.monte_carlo_spread(card, 40000, 11)
    # 40,000 pairs: the sample sigma's relative standard error is ~1/sqrt(2n) = 0.35 %.
    for k in range(3):
        assert mc.sigma[k] == pytest.approx(exact.sigma[k], rel=0.02)


def test_multi_level_spread_of_the_multi_level_pcm_card():
    card = aimc.load_card("pcm_mlc")
    levels = aimc.multi_level_spread(card, 7)
    assert len(levels) == 8
    # Level m of 7 lies m/7 of the way from OFF to ON; the top level is a ternary pair's +1.
    for m, level in enumerate(levels):
        assert level.mean == pytest.approx(m / 7, abs=1e-9)
    assert levels[7].sigma == pytest.approx(aimc.analytic_spread(card).sigma_plus1, rel=1e-9)
    with pytest.raises(aimc.Error, match="conductance levels"):
        aimc.multi_level_spread(aimc.load_card("pcm"), 2)
    # Programmed pairs of levels -7..7 sit at their levels in mean.
    g_plus, g_minus, dg = aimc.program(np.arange(-7, 8).reshape(1, 15).repeat(2000, 0), card,
                                       seed=3, max_level=7)
    assert ((g_plus - g_minus).mean(0) * 7 / dg) == pytest.approx(np.arange(-7, 8), abs=0.05)


def test_continuous_weights_on_cards_with_analog_states():
    pcm = aimc.load_card("pcm")
    assert pcm.analog_states and pcm.levels == 2
    assert not aimc.load_card("sot_mram").analog_states
    targets = np.linspace(-1, 1, 9).reshape(1, 9).repeat(3000, 0)
    gp, gm, dg = aimc.program_continuous(targets, pcm, seed=4)
    # Each pair's mean weight is its target: pcm's 7 % spread gives a weight sigma of at most
    # 0.07, so 3000 pairs put the mean within 0.0013 (one standard error); the bound is 7.7 of them.
    assert ((gp - gm).mean(0) / dg) == pytest.approx(np.linspace(-1, 1, 9), abs=0.01)
    gp2, _, _ = aimc.program_continuous(targets, pcm, seed=4)
    np.testing.assert_array_equal(gp, gp2)
    with pytest.raises(aimc.Error, match="has no analog states"):
        aimc.program_continuous(targets[:2], aimc.load_card("sot_mram"), seed=4)


@pytest.mark.parametrize("sigma_w,tmr", [(0.15, 1.5), (0.05, 2.0), (0.3, 0.8)])
def test_allowed_spread_inverts_the_forward_relations(sigma_w, tmr):
    a = aimc.allowed_spread(sigma_w, tmr)
    # Each limit put back into Fig. 11's forward relation gives the target sigma_w.
    assert aimc.sigma0_from_cv(a.zero_cv_off, tmr) == pytest.approx(sigma_w, rel=1e-9)
    assert aimc.sigma_pm1_from_cv(a.pm1_equal_cv, a.pm1_equal_cv, tmr) == pytest.approx(
        sigma_w, rel=1e-9)
    assert aimc.sigma_pm1_from_cv(a.pm1_on_only_cv, 0.0, tmr) == pytest.approx(sigma_w, rel=1e-9)
    assert aimc.sigma_pm1_from_cv(0.0, a.pm1_off_only_cv, tmr) == pytest.approx(sigma_w, rel=1e-9)


def test_programmed_pairs_are_reproducible_and_encode_the_weights():
    card = aimc.load_card("sot_mram")
    weights = np.array([[1, 0, -1], [-1, 1, 0]])
    gp, gm, dg = aimc.program(weights, card, seed=5)
    gp2, gm2, _ = aimc.program(weights, card, seed=5)
    np.testing.assert_array_equal(gp, gp2)
    np.testing.assert_array_equal(gm, gm2)
    assert gp.shape == gm.shape == (2, 3)
    w = (gp - gm) / dg
    # sot_mram's weight spread is a few percent: every read weight is within 0.5 of its level.
    np.testing.assert_array_less(np.abs(w - weights), 0.5)
    # And the pairs make a crossbar whose ideal M_eff combines back to G+ - G-.
    xbar = aimc.Crossbar(aimc.interleave_pairs(gp, gm))
    np.testing.assert_allclose(aimc.combine_pairs(aimc.effective_matrix(xbar)), gp - gm,
                               rtol=1e-15)


def test_card_errors_are_aimc_errors():
    with pytest.raises(aimc.Error, match="no device card .no_such_card."):
        aimc.load_card("no_such_card")
    with pytest.raises(aimc.Error, match="state must be 'on'"):
        aimc.load_card("rram").sample("middle", 3, seed=1)
    with pytest.raises(aimc.Error):
        aimc.load_card("rram").with_r_on(-5.0)
    with pytest.raises(ValueError, match="no_such.toml"):
        aimc.load_card("/nonexistent/no_such.toml")


def test_program_refuses_weights_that_are_not_int_levels():
    card = aimc.load_card("sot_mram")
    # NumPy's cast to int32 took 2^32 + 1, 2^40 and 2^32 - 1 as 1, 0 and -1.
    with pytest.raises(aimc.Error, match=r"program: weights\[0, 0\] is 4294967297, beyond the "
                                         r"32-bit integers"):
        aimc.program(np.array([[2**32 + 1, 2**40, 2**32 - 1]]), card, seed=1)
    with pytest.raises(aimc.Error, match=r"weights\[0, 1\] is 18446744073709551615"):
        aimc.program(np.array([[1, np.iinfo(np.uint64).max]], dtype=np.uint64), card, seed=1)
    with pytest.raises(aimc.Error, match=r"weights\[0, 1\] is 1.5, not an integer weight level"):
        aimc.program(np.array([[1.0, 1.5]]), card, seed=1)
    with pytest.raises(aimc.Error, match=r"weights\[1\] is nan"):
        aimc.program(np.array([0.0, np.nan]), card, seed=1)
    with pytest.raises(aimc.Error, match="got dtype <U1"):
        aimc.program(np.array([["a"]]), card, seed=1)
    with pytest.raises(aimc.Error, match="got 3 dimensions"):
        aimc.program(np.zeros((2, 2, 2), dtype=int), card, seed=1)
    with pytest.raises(aimc.Error, match="a ternary weight must be -1, 0 or \\+1, got 2"):
        aimc.program(np.array([[1, 2]]), card, seed=1)
    # Integer levels of any integer dtype, integral floats and lists draw the same chip.
    expected = aimc.program(np.array([[1, 0, -1]]), card, seed=4)[0]
    for weights in (np.array([[1, 0, -1]], dtype=np.int8), np.array([[1.0, 0.0, -1.0]]),
                    [[1, 0, -1]]):
        np.testing.assert_array_equal(aimc.program(weights, card, seed=4)[0], expected)


def test_spreads_and_ratios_refuse_arguments_outside_their_domain():
    card = aimc.load_card("sot_mram")
    # R_OFF = inf.
    with pytest.raises(aimc.Error, match=r"on/off ratio x R_ON \(R_OFF\) must be <= 1e\+15 ohm"):
        card.with_on_off_ratio(1e308)
    with pytest.raises(aimc.Error, match="stats.on.stddev_s must be >= 0 S, got -1"):
        aimc.analytic_spread(aimc.StateStats(1e-4, -1.0, 1e-5, 1e-6))
    # inf, a negative spread, non-finite limits, a subnormal TMR accepted.
    with pytest.raises(aimc.Error, match="tmr must be > 0"):
        aimc.sigma0_from_cv(0.1, 0.0)
    with pytest.raises(aimc.Error, match=r"cv_off must be in \[0, 100\], got -1"):
        aimc.sigma0_from_cv(-1, 1.5)
    with pytest.raises(aimc.Error, match="sigma_w must be in"):
        aimc.allowed_spread(1e308, 1e308)
    with pytest.raises(aimc.Error, match="tmr must be > 0, within"):
        aimc.allowed_spread(0.15, 1e-320)


def test_every_failure_is_an_aimc_error_naming_what_was_asked():
    # std::filesystem's "filesystem error" came through as RuntimeError.
    with pytest.raises(aimc.Error, match=r"\(5000 characters\)' cannot be read: File name too "
                                         r"long"):
        aimc.load_card("a" * 5000)
    card = aimc.load_card("rram")
    # An array no memory holds: the call and the size, not MemoryError.
    with pytest.raises(aimc.Error, match=r"sample: an array of shape \(1000000000, 1000000000\) "
                                         r"holds 1e\+18 doubles \(8e\+18 bytes\): out of memory"):
        card.sample("on", (10**9, 10**9), seed=1)
    with pytest.raises(aimc.Error, match="more than an address space holds"):
        card.sample("on", (10**10, 10**10), seed=1)


def test_seeds_are_read_as_the_cli_reads_them():
    # -1 and 2**64 were wrapped or refused with a bare TypeError; a seed is an int in [0, 2**64).
    card = aimc.load_card("sot_mram")
    weights = np.array([[1, 0], [-1, 1]])
    for seed in (-1, 2**64, 1.5, True):
        with pytest.raises(aimc.Error, match="seed"):
            card.sample("on", [2], seed)
        with pytest.raises(aimc.Error, match="seed"):
            aimc.program(weights, card, seed)
        with pytest.raises(aimc.Error, match="seed"):
            aimc.monte_carlo_spread(card, 10, seed)
    largest = 2**64 - 1
    assert np.array_equal(card.sample("on", [3], largest), card.sample("on", [3], largest))
