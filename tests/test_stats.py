"""Paired statistics: McNemar exact p-values, the paired bootstrap CI, Wilson intervals, Holm
adjustment, pass@k and majority vote.

    python -m pytest tests/test_stats.py -q
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy.stats import binomtest

from grpo_compare.stats import (
    bootstrap_delta_ci,
    holm_adjust,
    majority_vote,
    mcnemar_exact,
    pass_at_k,
    wilson_interval,
)


@pytest.mark.parametrize("b, c, expected", [
    (0, 0, 1.0),  # no discordant problems: no evidence at all
    (10, 0, 2 * 0.5**10),  # all ten fixed: twice the one-sided tail
    (0, 10, 2 * 0.5**10),  # symmetric in b and c
    (5, 5, 1.0),  # a perfect tie is capped at 1
    (1, 0, 1.0),  # 2 * 0.5 = 1: one discordant problem says nothing
    (6, 1, 2 * (1 + 7) / 2**7),  # hand sum: 2 * (C(7,0) + C(7,1)) / 2^7 = 0.125
])
def test_mcnemar_known_values(b, c, expected):
    assert mcnemar_exact(b, c) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("b, c", [(3, 9), (12, 4), (20, 21), (0, 7), (40, 25), (150, 120)])
def test_mcnemar_matches_scipy_binomtest(b, c):
    # The exact two-sided binomial test on the discordant pairs is what McNemar exact is.
    expected = binomtest(b, b + c, 0.5, alternative="two-sided").pvalue
    assert mcnemar_exact(b, c) == pytest.approx(expected, rel=1e-9)


def test_mcnemar_large_counts_do_not_underflow():
    # 2000 discordant pairs: 2**2000 overflows a float, so a naive tail sum / 2**n cannot work.
    p = mcnemar_exact(1100, 900)
    assert 0.0 < p < 1e-5
    assert p == pytest.approx(binomtest(900, 2000, 0.5).pvalue, rel=1e-6)


def test_mcnemar_very_large_counts_stay_a_finite_probability():
    # 5000 discordant pairs, a lopsided split: a tiny p-value (or 0), never nan, negative or > 1.
    p = mcnemar_exact(3000, 2000)
    assert 0.0 <= p < 1e-40
    assert mcnemar_exact(2500, 2500) == 1.0


def test_mcnemar_rejects_negative_counts():
    # A negative count is a caller bug, not a p-value.
    with pytest.raises(ValueError):
        mcnemar_exact(-1, 3)


def _paired(seed: int, n: int = 200) -> tuple[list[bool], list[bool]]:
    rng = np.random.default_rng(seed)
    base = rng.random(n) < 0.4
    lora = base | (rng.random(n) < 0.2)  # the LoRA fixes some problems and breaks none
    return base.tolist(), lora.tolist()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_bootstrap_ci_contains_the_point_estimate(seed):
    # The observed delta lies inside its own 95% interval, which has positive width.
    a, b = _paired(seed)
    lo, hi = bootstrap_delta_ci(a, b, n_boot=2000)
    delta = np.mean(b) - np.mean(a)
    assert lo <= delta <= hi
    assert lo < hi


def test_bootstrap_ci_is_deterministic_for_a_seed_and_varies_across_seeds():
    # Same seed, same interval (reports are reproducible); the seed really drives the resampling
    # (bounds sit on a 1/n grid, so one other seed may tie: look at several small runs).
    a, b = _paired(0)
    assert bootstrap_delta_ci(a, b, seed=7) == bootstrap_delta_ci(a, b, seed=7)
    assert len({bootstrap_delta_ci(a, b, n_boot=50, seed=s) for s in range(5)}) > 1


def test_bootstrap_ci_is_paired():
    # Identical arms differ by exactly 0 in every resample; an unpaired bootstrap would not.
    a = [True, False] * 50
    assert bootstrap_delta_ci(a, a) == (0.0, 0.0)


@pytest.mark.parametrize("a, b, expected", [
    ([False] * 30, [True] * 30, (1.0, 1.0)),  # every problem fixed: every resample says +1
    ([True], [False], (-1.0, -1.0)),  # a single problem: its own difference, nothing to resample
    ([True, False, True], [True, False, True], (0.0, 0.0)),  # identical arms, three problems
])
def test_bootstrap_ci_degenerate_inputs_collapse_onto_the_difference(a, b, expected):
    # Constant differences give a zero-width interval, not nan and not a warning.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert bootstrap_delta_ci(a, b) == pytest.approx(expected)


def test_bootstrap_ci_sign_follows_mean_b_minus_mean_a():
    # b is better everywhere it differs: the whole interval is above zero.
    a, b = _paired(4)
    lo, _ = bootstrap_delta_ci(a, b)
    assert lo > 0
    assert bootstrap_delta_ci(b, a)[1] < 0  # swapping arms flips the sign


def test_bootstrap_ci_chunking_does_not_change_the_answer(monkeypatch):
    # The resampling is done in chunks to bound memory; chunk size must not matter.
    import grpo_compare.stats as stats

    a, b = _paired(5, n=50)
    whole = bootstrap_delta_ci(a, b, n_boot=1000)
    monkeypatch.setattr(stats, "_BOOT_CELLS", 50 * 7)  # 7 resamples per chunk
    assert bootstrap_delta_ci(a, b, n_boot=1000) == whole


def test_bootstrap_ci_empty_and_mismatched_inputs():
    # Empty input has no interval (nan), unequal lengths cannot be paired.
    lo, hi = bootstrap_delta_ci([], [])
    assert math.isnan(lo) and math.isnan(hi)
    with pytest.raises(ValueError):
        bootstrap_delta_ci([True], [True, False])


@pytest.mark.parametrize("n, c, k, expected", [
    (10, 0, 1, 0.0),  # nothing correct
    (10, 10, 1, 1.0),  # everything correct
    (5, 2, 1, 0.4),  # pass@1 is c/n
    (5, 2, 2, 1 - 3 / 10),  # 1 - C(3,2)/C(5,2) = 0.7
    (5, 4, 2, 1.0),  # n - c < k: every pair holds a correct sample
    (100, 7, 10, 1 - math.comb(93, 10) / math.comb(100, 10)),  # closed form, bigger n
])
def test_pass_at_k(n, c, k, expected):
    assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)


def test_pass_at_k_large_n_is_finite():
    # The product form never builds C(n, k); it stays finite where the binomials overflow floats.
    value = pass_at_k(5000, 1, 2500)
    assert value == pytest.approx(0.5)


@pytest.mark.parametrize("n, c, k", [(5, 6, 1), (5, 2, 0), (5, 2, 6), (5, -1, 1)])
def test_pass_at_k_rejects_impossible_counts(n, c, k):
    # c > n, k < 1, k > n and c < 0 are caller bugs.
    with pytest.raises(ValueError):
        pass_at_k(n, c, k)


@pytest.mark.parametrize("answers, expected", [
    (["3", "4", "4"], "4"),  # plain majority
    (["3", "4", "4", "3"], "3"),  # tie: the answer seen first wins
    (["4", "3", "3", "4"], "4"),  # same tie, other order
    ([None, None, "5"], "5"),  # None never wins, however often it occurs
    ([None, None], None),  # nothing extracted at all
    ([], None),  # no samples
])
def test_majority_vote(answers, expected):
    assert majority_vote(answers) == expected


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bootstrap_ci_small_grid_hits_its_extremes(seed):
    # Two of four problems fixed: a resample's delta is 0 or 1 with probability 1/16 each, more
    # than the 2.5% in each tail, so the 95% interval is the whole grid [0, 1] for any seed.
    assert bootstrap_delta_ci([False, False, True, True], [True] * 4, seed=seed) == (0.0, 1.0)


def _wilson_by_hand(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (centre - half, centre + half)


@pytest.mark.parametrize("k, n", [(3, 7), (50, 100), (1, 40), (39, 40)])
def test_wilson_interval_matches_the_score_formula(k, n):
    assert wilson_interval(k, n) == pytest.approx(_wilson_by_hand(k, n), abs=1e-12)


def test_wilson_interval_edges_and_confidence():
    # 0/n starts at 0 and n/n ends at 1 exactly; a higher confidence gives a wider interval.
    lo, hi = wilson_interval(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.2775328, abs=1e-6)
    assert wilson_interval(10, 10)[1] == 1.0
    lo90, hi90 = wilson_interval(30, 100, confidence=0.90)
    lo99, hi99 = wilson_interval(30, 100, confidence=0.99)
    assert lo99 < lo90 < 0.3 < hi90 < hi99


def test_wilson_interval_empty_and_bad_input():
    lo, hi = wilson_interval(0, 0)
    assert math.isnan(lo) and math.isnan(hi)
    for args in [(5, 4), (-1, 4)]:
        with pytest.raises(ValueError):
            wilson_interval(*args)


def test_holm_adjust_hand_computation():
    # m = 4, sorted p: 0.005, 0.01, 0.03, 0.04 -> x4, x3, x2, x1 = 0.02, 0.03, 0.06, 0.04;
    # the running maximum lifts the last to 0.06. Output follows the input order.
    assert holm_adjust([0.03, 0.005, 0.04, 0.01]) == pytest.approx([0.06, 0.02, 0.06, 0.03])


def test_holm_adjust_caps_at_one_and_keeps_order_and_ties():
    assert holm_adjust([0.5, 0.2, 0.9]) == pytest.approx([1.0, 0.6, 1.0])
    assert holm_adjust([0.02, 0.02]) == pytest.approx([0.04, 0.04])
    assert holm_adjust([0.3]) == [0.3]
    assert holm_adjust([]) == []


def test_holm_adjust_is_never_below_the_raw_p_and_is_monotone():
    p = np.random.default_rng(0).random(25) ** 3
    adj = np.array(holm_adjust(p.tolist()))
    assert np.all(adj >= p) and np.all(adj <= 1)
    order = np.argsort(p)
    assert np.all(np.diff(adj[order]) >= 0)


@pytest.mark.parametrize("bad", [[0.1, 1.5], [-0.1], [float("nan")]])
def test_holm_adjust_rejects_values_that_are_not_p_values(bad):
    with pytest.raises(ValueError):
        holm_adjust(bad)
