"""Statistics of the claims report: effects over seeds, bootstrap intervals, permutation tests, and the verdict rule.

The unit of replication is the run: one seed of one condition. Two conditions are two independent groups of runs
(different seeds train different networks), so a contrast between them is a two-sample comparison of means;
an effect measured against a run's own control (trained minus initial network, say) is a paired difference,
tested against zero by flipping signs.

Every function works along the last axis and broadcasts over leading ones, so the known-answer tests evaluate
thousands of simulated seed sets in one call (tests/analysis/test_analysis_statistics.py). Inputs must not hold
NaN: drop undefined runs before calling (the claims code does, and reports the n that is left).

- Intervals: percentile bootstrap of the mean (difference), resampling runs within each group.
- Tests: exact permutation tests of the mean (difference) when the number of rearrangements is at most
  `max_exact`, else Monte Carlo with `permutations` random rearrangements and p = (1 + hits) / (1 + draws).
- Verdicts (VERDICT_RULE): `holds`, `not shown`, `contradicted`, and `untestable` when no outcome of the test could
  reach p <= alpha with this many runs.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass

import numpy as np

HOLDS, NOT_SHOWN, CONTRADICTED, UNTESTABLE = "holds", "not shown", "contradicted", "untestable"
VERDICTS = (HOLDS, NOT_SHOWN, CONTRADICTED, UNTESTABLE)

VERDICT_RULE = (
    "A directional claim (A > B, or A < B) **holds** when the effect has the claimed sign, its 95 % bootstrap "
    "interval excludes 0 and the one-sided permutation test in the claimed direction gives p <= alpha; it is "
    "**contradicted** when all three hold in the opposite direction; otherwise it is **not shown**. "
    "An equivalence claim (A ≈ B within ± margin) **holds** when the 95 % interval lies inside ± margin and the "
    "two one-sided permutation tests (TOST) give p <= alpha; it is **contradicted** when the interval lies wholly "
    "outside ± margin; otherwise **not shown**. A parameter count has no sampling error: it holds or is "
    "contradicted by its sign. A claim is **untestable** when the study does not train what it needs, the metric "
    "is undefined, or the test could not reach p <= alpha with this many runs whatever the data "
    "(e.g. 2 runs against 2: the smallest attainable p is 1/6)."
)

# Relative tolerance when comparing a rearrangement's statistic with the observed one: the observed arrangement is
# itself one of the rearrangements, and floating-point sums in another order must still count as equal.
_TIE = 1e-9
_CHUNK = 4096  # rearrangements evaluated per matrix product (bounds memory at (..., _CHUNK) floats)


def _as_float(values) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 0 or array.shape[-1] == 0:
        raise ValueError("expected at least one run along the last axis")
    if np.isnan(array).any():
        raise ValueError("values hold NaN: drop the undefined runs first")
    return array


def effect_size(x, y=None) -> np.ndarray:
    """mean(x) - mean(y) along the last axis, or mean(x) without y."""
    x = _as_float(x)
    return x.mean(axis=-1) - (0.0 if y is None else _as_float(y).mean(axis=-1))


def _resampled_means(x: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """(..., resamples) means of bootstrap resamples of the last axis (multinomial counts: one matrix product)."""
    n = x.shape[-1]
    counts = rng.multinomial(n, np.full(n, 1.0 / n), size=resamples)  # (B, n)
    return x @ counts.T.astype(np.float64) / n


def bootstrap_interval(x, y=None, *, level: float = 0.95, resamples: int = 2000,
                       seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap interval of mean(x) - mean(y) (or of mean(x)), runs resampled within each group.

    With one run per group every resample is the observed value and the interval has zero width: whether that
    means anything is for `attainable_p` to decide.
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    rng = np.random.default_rng(seed)
    x = _as_float(x)
    means = _resampled_means(x, resamples, rng)
    if y is not None:
        means = means - _resampled_means(_as_float(y), resamples, rng)
    low, high = np.quantile(means, [(1.0 - level) / 2.0, (1.0 + level) / 2.0], axis=-1)
    return low, high


def t_interval(values, *, level: float = 0.95) -> tuple[float, float]:
    """Student-t interval of the mean of `values` (mean ± t(n-1) · sd / √n; NaN below 2 values).

    For a handful of runs, where a percentile bootstrap only spans the values themselves (2 runs: every resample
    mean lies between them, narrower than ± 1 sd); t's heavy tails at small n say honestly how little they pin down.
    """
    from scipy.stats import t

    x = _as_float(values)
    if x.ndim != 1:
        raise ValueError("t_interval takes one group of runs")
    if x.size < 2:
        return math.nan, math.nan
    half = float(t.ppf((1.0 + level) / 2.0, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return float(x.mean()) - half, float(x.mean()) + half


# --- permutation tests ------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=64)
def _all_splits(n_x: int, n_y: int) -> np.ndarray:
    """(C(n_x + n_y, n_x), n_x + n_y) 0/1 matrix of every way to choose the runs of group x (read-only, cached)."""
    total = n_x + n_y
    chosen = np.fromiter(itertools.chain.from_iterable(itertools.combinations(range(total), n_x)), dtype=np.int64)
    chosen = chosen.reshape(-1, n_x)
    rows = np.zeros((len(chosen), total))
    np.put_along_axis(rows, chosen, 1.0, axis=1)
    rows.setflags(write=False)
    return rows


def _two_sample_assignments(n_x: int, n_y: int, max_exact: int, permutations: int,
                            rng: np.random.Generator) -> tuple[np.ndarray, bool]:
    """(K, n_x + n_y) 0/1 matrix, row k marking the runs that rearrangement k puts in group x; exact = every one."""
    total = n_x + n_y
    if math.comb(total, n_x) <= max_exact:
        return _all_splits(n_x, n_y), True
    order = np.argsort(rng.random((permutations, total)), axis=1)
    rows = np.zeros((permutations, total))
    np.put_along_axis(rows, order[:, :n_x], 1.0, axis=1)
    return rows, False


def _sign_assignments(n: int, max_exact: int, permutations: int,
                      rng: np.random.Generator) -> tuple[np.ndarray, bool]:
    """(K, n) matrix of +-1, every sign pattern (exact) or `permutations` random ones."""
    if 2 ** n <= max_exact:
        return np.array(list(itertools.product((1.0, -1.0), repeat=n))), True
    return rng.choice((1.0, -1.0), size=(permutations, n)), False


def _p_values(observed: np.ndarray, rearranged_stat, count: int, exact: bool,
              alternative: str) -> np.ndarray:
    """p = share of rearrangements at least as extreme as observed (+1 / +1 for Monte Carlo draws)."""
    if alternative not in ("greater", "less"):
        raise ValueError(f"alternative must be 'greater' or 'less', got {alternative!r}")
    sign = 1.0 if alternative == "greater" else -1.0
    tolerance = _TIE * np.maximum(1.0, np.abs(observed))
    hits = np.zeros(observed.shape)
    for start in range(0, count, _CHUNK):
        statistics = rearranged_stat(slice(start, min(start + _CHUNK, count)))  # (..., chunk)
        hits += (sign * (statistics - observed[..., None]) >= -tolerance[..., None]).sum(axis=-1)
    return hits / count if exact else (hits + 1.0) / (count + 1.0)


def permutation_p(x, y, alternative: str = "greater", *, max_exact: int = 20000, permutations: int = 10000,
                  seed: int = 0) -> np.ndarray:
    """One-sided p of mean(x) - mean(y) under exchangeable group labels (H0: both groups from one distribution).

    alternative "greater": small p when x is larger. Exact (every split of the pooled runs) when there are at most
    `max_exact` splits, else `permutations` random splits; the observed split always counts, so p > 0.
    """
    x, y = _as_float(x), _as_float(y)
    x, y = np.broadcast_arrays(x[..., :, None], y[..., None, :])  # align leading axes
    x, y = x[..., :, 0], y[..., 0, :]
    n_x, n_y = x.shape[-1], y.shape[-1]
    pooled = np.concatenate([x, y], axis=-1)
    total = pooled.sum(axis=-1, keepdims=True)
    rows, exact = _two_sample_assignments(n_x, n_y, max_exact, permutations, np.random.default_rng(seed))

    def difference(chunk: slice) -> np.ndarray:
        in_x = pooled @ rows[chunk].T
        return in_x / n_x - (total - in_x) / n_y

    observed = x.mean(axis=-1) - y.mean(axis=-1)
    return _p_values(observed, difference, len(rows), exact, alternative)


def sign_flip_p(d, alternative: str = "greater", *, max_exact: int = 20000, permutations: int = 10000,
                seed: int = 0) -> np.ndarray:
    """One-sided p of mean(d) against 0 for paired differences d (H0: each difference is symmetric about 0)."""
    d = _as_float(d)
    rows, exact = _sign_assignments(d.shape[-1], max_exact, permutations, np.random.default_rng(seed))
    observed = d.mean(axis=-1)
    return _p_values(observed, lambda chunk: d @ rows[chunk].T / d.shape[-1], len(rows), exact, alternative)


def attainable_p(n_x: int, n_y: int | None = None, *, max_exact: int = 20000, permutations: int = 10000) -> float:
    """The smallest one-sided p the permutation test can give with these group sizes (n_y None: sign flips).

    Exact tests: 1 / (number of rearrangements); Monte Carlo: 1 / (permutations + 1). 2 runs against 2 give 1/6,
    3 against 3 give 1/20 = 0.05; 3 paired differences give 1/8.
    """
    if n_x < 1 or (n_y is not None and n_y < 1):
        return 1.0
    count = 2 ** n_x if n_y is None else math.comb(n_x + n_y, n_x)
    return 1.0 / count if count <= max_exact else 1.0 / (permutations + 1)


def tost_p(x, y, margin: float, *, max_exact: int = 20000, permutations: int = 10000, seed: int = 0) -> np.ndarray:
    """Two one-sided permutation tests of |mean(x) - mean(y)| < margin (equivalence); p = the larger of the two.

    H0 "difference <= -margin" is tested by shifting x up by the margin, H0 "difference >= margin" by shifting it
    down (valid under a location shift between the groups).
    """
    if margin <= 0:
        raise ValueError(f"margin must be positive, got {margin}")
    x = _as_float(x)
    options = {"max_exact": max_exact, "permutations": permutations, "seed": seed}
    above = permutation_p(x + margin, y, "greater", **options)
    below = permutation_p(x - margin, y, "less", **options)
    return np.maximum(above, below)


# --- the verdict rule -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TestSettings:
    """alpha: significance level of every test; level: of the bootstrap interval; resamples: bootstrap draws;
    max_exact / permutations: exact enumeration up to this many rearrangements, else this many random ones."""

    alpha: float = 0.05
    level: float = 0.95
    resamples: int = 2000
    max_exact: int = 20000
    permutations: int = 10000
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha < 1.0 or not 0.0 < self.level < 1.0:
            raise ValueError("alpha and level must lie in (0, 1)")
        if min(self.resamples, self.max_exact, self.permutations) < 1:
            raise ValueError("resamples, max_exact and permutations must be at least 1")

    @property
    def test_options(self) -> dict:
        return {"max_exact": self.max_exact, "permutations": self.permutations, "seed": self.seed}


def directional_verdict(effect, low, high, p_claimed, p_opposite, *, direction: str, alpha: float) -> np.ndarray:
    """holds / contradicted / not shown for a claim that A - B is > 0 (direction "greater") or < 0 ("less")."""
    if direction not in ("greater", "less"):
        raise ValueError(f"direction must be 'greater' or 'less', got {direction!r}")
    sign = 1.0 if direction == "greater" else -1.0
    effect, low, high = (np.asarray(v, dtype=np.float64) * sign for v in (effect, low, high))
    if sign < 0:
        low, high = high, low  # the interval of -effect is [-high, -low]
    holds = (effect > 0) & (low > 0) & (np.asarray(p_claimed) <= alpha)
    contradicted = (effect < 0) & (high < 0) & (np.asarray(p_opposite) <= alpha)
    return np.where(holds, HOLDS, np.where(contradicted, CONTRADICTED, NOT_SHOWN))


def equivalence_verdict(low, high, p_tost, *, margin: float, alpha: float) -> np.ndarray:
    """holds / contradicted / not shown for a claim that |A - B| < margin."""
    low, high = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
    holds = (low > -margin) & (high < margin) & (np.asarray(p_tost) <= alpha)
    contradicted = (low > margin) | (high < -margin)
    return np.where(holds, HOLDS, np.where(contradicted, CONTRADICTED, NOT_SHOWN))


@dataclass(frozen=True)
class Outcome:
    """One tested comparison: the numbers of a claims.csv row."""

    effect: float
    ci_low: float
    ci_high: float
    p_value: float
    n: str
    verdict: str


def _untestable(n: str, effect: float = math.nan, low: float = math.nan, high: float = math.nan) -> Outcome:
    return Outcome(effect, low, high, math.nan, n, UNTESTABLE)


def _two_groups(a, b, settings: TestSettings) -> tuple[np.ndarray, np.ndarray, Outcome, bool]:
    """Runs a and b without NaNs; their effect and interval as an `untestable` Outcome, for a test to give a verdict;
    and whether one can (a run left on each side, and some p <= alpha attainable with this many runs)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    n = f"{a.size} vs {b.size}"
    if a.size == 0 or b.size == 0:
        return a, b, _untestable(n), False
    effect = float(effect_size(a, b))
    low, high = bootstrap_interval(a, b, level=settings.level, resamples=settings.resamples, seed=settings.seed)
    testable = attainable_p(a.size, b.size, max_exact=settings.max_exact,
                            permutations=settings.permutations) <= settings.alpha
    return a, b, _untestable(n, effect, float(low), float(high)), testable


def compare_groups(a, b, *, direction: str, settings: TestSettings) -> Outcome:
    """Directional two-sample comparison of runs a and b (claim: mean(a) - mean(b) has the sign `direction`)."""
    a, b, outcome, testable = _two_groups(a, b, settings)
    if not testable:
        return outcome
    effect, low, high, n = outcome.effect, outcome.ci_low, outcome.ci_high, outcome.n
    opposite = "less" if direction == "greater" else "greater"
    p = float(permutation_p(a, b, direction, **settings.test_options))
    p_opposite = float(permutation_p(a, b, opposite, **settings.test_options))
    verdict = directional_verdict(effect, low, high, p, p_opposite, direction=direction, alpha=settings.alpha)
    return Outcome(effect, float(low), float(high), p, n, str(verdict))


def compare_paired(d, *, direction: str, settings: TestSettings) -> Outcome:
    """Directional test of paired differences d (one per run) against 0."""
    d = np.asarray(d, dtype=np.float64)
    d = d[~np.isnan(d)]
    n = f"{d.size} paired"
    if d.size == 0:
        return _untestable(n)
    effect = float(effect_size(d))
    low, high = bootstrap_interval(d, level=settings.level, resamples=settings.resamples, seed=settings.seed)
    if attainable_p(d.size, max_exact=settings.max_exact, permutations=settings.permutations) > settings.alpha:
        return _untestable(n, effect, float(low), float(high))
    opposite = "less" if direction == "greater" else "greater"
    p = float(sign_flip_p(d, direction, **settings.test_options))
    p_opposite = float(sign_flip_p(d, opposite, **settings.test_options))
    verdict = directional_verdict(effect, low, high, p, p_opposite, direction=direction, alpha=settings.alpha)
    return Outcome(effect, float(low), float(high), p, n, str(verdict))


def compare_equivalent(a, b, *, margin: float, settings: TestSettings) -> Outcome:
    """Equivalence of runs a and b within +- margin (TOST)."""
    a, b, outcome, testable = _two_groups(a, b, settings)
    if not testable:
        return outcome
    effect, low, high, n = outcome.effect, outcome.ci_low, outcome.ci_high, outcome.n
    p = float(tost_p(a, b, margin, **settings.test_options))
    verdict = equivalence_verdict(low, high, p, margin=margin, alpha=settings.alpha)
    return Outcome(effect, float(low), float(high), p, n, str(verdict))


def compare_exact(a, b, *, direction: str) -> Outcome:
    """A comparison without sampling error (parameter counts): holds or is contradicted by its sign."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    n = f"{a.size} vs {b.size}"
    if a.size == 0 or b.size == 0:
        return _untestable(n)
    effect = float(a.mean() - b.mean())
    right = effect > 0 if direction == "greater" else effect < 0
    return Outcome(effect, effect, effect, math.nan, n, HOLDS if right else CONTRADICTED)
