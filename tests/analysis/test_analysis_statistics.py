"""Known answers for the claims statistics: hand-countable permutation p-values, and over many simulated seed sets
(one vectorised call each) a planted effect is found, a null effect is not, at the rates the module states."""

import math

import numpy as np
import pytest

from spacetime_snn.analysis import statistics as st

SETTINGS = st.TestSettings(resamples=1000, max_exact=1000, permutations=2000)  # Monte Carlo beyond 1,000
SIMULATIONS = 2000
# A rate measured on SIMULATIONS seed sets may exceed its bound by three binomial standard errors.
SLACK = 3 * math.sqrt(0.05 * 0.95 / SIMULATIONS)


def _seed_sets(shift: float, n: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """SIMULATIONS pairs of groups of n runs with unit-variance noise; group a is shifted by `shift` sd."""
    rng = np.random.default_rng(seed)
    return rng.normal(shift, 1.0, size=(SIMULATIONS, n)), rng.normal(0.0, 1.0, size=(SIMULATIONS, n))


def _verdicts(a, b, direction="greater"):
    """The verdict of every simulated seed set, as compare_groups would give it (vectorised)."""
    effect = st.effect_size(a, b)
    low, high = st.bootstrap_interval(a, b, resamples=SETTINGS.resamples)
    opposite = "less" if direction == "greater" else "greater"
    p = st.permutation_p(a, b, direction, **SETTINGS.test_options)
    p_opposite = st.permutation_p(a, b, opposite, **SETTINGS.test_options)
    return st.directional_verdict(effect, low, high, p, p_opposite, direction=direction, alpha=SETTINGS.alpha)


def test_exact_two_sample_p_counts_the_splits():
    # 6 splits of {1, 2, 3, 4} into two pairs; only the observed one puts both large values in x.
    assert st.permutation_p([3.0, 4.0], [1.0, 2.0], "greater") == pytest.approx(1 / 6)
    assert st.permutation_p([3.0, 4.0], [1.0, 2.0], "less") == pytest.approx(1.0)
    # Ties count as at least as extreme: identical groups give p = 1 both ways.
    assert st.permutation_p([1.0, 1.0], [1.0, 1.0], "greater") == pytest.approx(1.0)
    # 3 vs 3, fully separated: 1 of 20 splits.
    assert st.permutation_p([4.0, 5.0, 6.0], [1.0, 2.0, 3.0]) == pytest.approx(0.05)


def test_sign_flip_p_counts_the_sign_patterns():
    assert st.sign_flip_p([1.0, 2.0, 3.0], "greater") == pytest.approx(1 / 8)
    # [1, 2, -0.5]: patterns with mean >= 2.5/3: (+,+,+) (+,+,-) -> 2 of 8.
    assert st.sign_flip_p([1.0, 2.0, -0.5], "greater") == pytest.approx(2 / 8)


def test_monte_carlo_p_is_close_to_the_exact_one_and_never_zero():
    rng = np.random.default_rng(1)
    a, b = rng.normal(0.8, 1, 7), rng.normal(0, 1, 7)
    exact = st.permutation_p(a, b)
    sampled = st.permutation_p(a, b, max_exact=10, permutations=20000)
    assert sampled == pytest.approx(exact, abs=0.01)
    assert st.permutation_p(a + 100, b, max_exact=10, permutations=50) == pytest.approx(1 / 51)


def test_attainable_p_decides_what_is_testable():
    assert st.attainable_p(2, 2) == pytest.approx(1 / 6)
    assert st.attainable_p(3, 3) == pytest.approx(0.05)
    assert st.attainable_p(3) == pytest.approx(1 / 8)
    assert st.attainable_p(20, 20, max_exact=1000, permutations=9999) == pytest.approx(1e-4)
    two = st.compare_groups([5.0, 6.0], [1.0, 2.0], direction="greater", settings=SETTINGS)
    assert two.verdict == st.UNTESTABLE and two.effect == pytest.approx(4.0) and two.n == "2 vs 2"
    three = st.compare_groups([5.0, 6.0, 7.0], [1.0, 2.0, 3.0], direction="greater", settings=SETTINGS)
    assert three.verdict == st.HOLDS and three.p_value == pytest.approx(0.05)


def test_a_null_effect_is_rarely_found_either_way():
    verdicts = _verdicts(*_seed_sets(0.0))
    assert (verdicts == st.HOLDS).mean() <= 0.05 + SLACK
    assert (verdicts == st.CONTRADICTED).mean() <= 0.05 + SLACK


def test_a_planted_effect_is_found_in_most_seed_sets():
    """1.5 sd at 8 runs per condition: a one-sided test at alpha 0.05 has ~90 % power; we ask for 80 %."""
    verdicts = _verdicts(*_seed_sets(1.5))
    assert (verdicts == st.HOLDS).mean() >= 0.80
    assert (verdicts == st.CONTRADICTED).mean() == 0.0
    reversed_claim = _verdicts(*_seed_sets(1.5), direction="less")
    assert (reversed_claim == st.CONTRADICTED).mean() >= 0.80


def test_bootstrap_interval_covers_the_true_difference():
    a, b = _seed_sets(0.7, n=10, seed=3)
    low, high = st.bootstrap_interval(a, b, resamples=1000)
    covered = (low < 0.7) & (0.7 < high)
    assert covered.mean() >= 0.88  # percentile intervals at 10 runs are slightly narrow (nominal 0.95)


def test_paired_differences_null_and_planted():
    rng = np.random.default_rng(4)
    null = rng.normal(0, 1, size=(SIMULATIONS, 10))
    p_null = st.sign_flip_p(null, **SETTINGS.test_options)
    assert (p_null <= 0.05).mean() <= 0.05 + SLACK
    p_planted = st.sign_flip_p(null + 1.0, **SETTINGS.test_options)
    assert (p_planted <= 0.05).mean() >= 0.80  # 1 sd at 10 pairs: ~93 % power


def test_equivalence_is_found_for_equal_groups_and_not_at_the_margin():
    margin, n = 1.5, 12
    rng = np.random.default_rng(5)
    a, b = rng.normal(0, 1, size=(SIMULATIONS, n)), rng.normal(0, 1, size=(SIMULATIONS, n))
    low, high = st.bootstrap_interval(a, b, resamples=1000)
    equal = st.equivalence_verdict(low, high, st.tost_p(a, b, margin, **SETTINGS.test_options),
                                   margin=margin, alpha=0.05)
    assert (equal == st.HOLDS).mean() >= 0.70
    at_margin = a + margin  # the true difference is exactly the margin: equivalence must be rare
    low, high = st.bootstrap_interval(at_margin, b, resamples=1000)
    edge = st.equivalence_verdict(low, high, st.tost_p(at_margin, b, margin, **SETTINGS.test_options),
                                  margin=margin, alpha=0.05)
    assert (edge == st.HOLDS).mean() <= 0.05 + SLACK
    far = a + 3 * margin
    low, high = st.bootstrap_interval(far, b, resamples=1000)
    assert (st.equivalence_verdict(low, high, st.tost_p(far, b, margin, **SETTINGS.test_options),
                                   margin=margin, alpha=0.05) == st.CONTRADICTED).mean() >= 0.95


def test_exact_comparisons_and_missing_runs():
    assert st.compare_exact([1088.0], [2048.0], direction="less").verdict == st.HOLDS
    assert st.compare_exact([2048.0], [1088.0], direction="less").verdict == st.CONTRADICTED
    empty = st.compare_groups([], [1.0, 2.0, 3.0], direction="greater", settings=SETTINGS)
    assert empty.verdict == st.UNTESTABLE and empty.n == "0 vs 3"
    nan_dropped = st.compare_groups([np.nan, 4.0, 5.0, 6.0], [1.0, 2.0, 3.0], direction="greater",
                                    settings=SETTINGS)
    assert nan_dropped.n == "3 vs 3"
    with pytest.raises(ValueError, match="NaN"):
        st.permutation_p([np.nan, 1.0], [1.0, 2.0])
