"""Paired statistics for base-vs-LoRA comparisons, built on scipy.stats: exact McNemar test,
paired bootstrap CI, Wilson interval, Holm adjustment, unbiased pass@k and majority vote; and
the one text form of a rate for output (`percent`, `points`).

    mcnemar_exact(fixed, broken)                  # p-value of "the adapter changed accuracy"
    bootstrap_delta_ci(base_correct, lora_correct)  # 95% CI of accuracy(lora) - accuracy(base)
    holm_adjust(p_values)                         # family-wise adjusted p-values

Both arms answer the same problems, so the tests are paired: only the discordant problems
(fixed / broken) carry information, and bootstrap resamples problems, not answers.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import numpy as np
from scipy import stats

__all__ = [
    "bootstrap_delta_ci", "holm_adjust", "majority_vote", "mcnemar_exact", "pass_at_k", "percent", "points",
    "sample_metrics", "wilson_interval",
]

_BOOT_CELLS = 4_000_000  # resampled values held at once: bounds memory for large problem sets


def mcnemar_exact(b: int, c: int) -> float:
    """Exact two-sided McNemar p-value from the discordant counts b (fixed) and c (broken).

    Under "no effect" each discordant problem is fixed or broken with probability 1/2, so this
    is the exact two-sided binomial test of min(b, c) successes in b + c trials.

    >>> mcnemar_exact(10, 0) == 2 * 0.5**10, mcnemar_exact(0, 0)
    (True, 1.0)
    """
    if b < 0 or c < 0:
        raise ValueError(f"discordant counts must be >= 0, got b={b}, c={c}")
    if b + c == 0:
        return 1.0
    return float(stats.binomtest(min(b, c), b + c, 0.5).pvalue)


def bootstrap_delta_ci(
    a: Sequence[bool], b: Sequence[bool], n_boot: int = 10_000, seed: int = 0, alpha: float = 0.05
) -> tuple[float, float]:
    """Percentile bootstrap CI of mean(b) - mean(a), resampling problems (both arms together).

    Returns (nan, nan) for empty input; when every problem has the same difference (or there is
    only one problem) every resample has that mean, so the interval collapses onto it.

    >>> bootstrap_delta_ci([False, False, True, True], [True, True, True, True])
    (0.0, 1.0)
    """
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"a and b must be flat and paired, got lengths {x.shape} and {y.shape}")
    if x.size == 0:
        return (math.nan, math.nan)
    diff = y - x  # resampling the per-problem difference keeps each problem's pair together
    if np.all(diff == diff[0]):
        return (float(diff[0]), float(diff[0]))
    res = stats.bootstrap(
        (diff,), np.mean, n_resamples=n_boot, batch=max(1, _BOOT_CELLS // diff.size),
        confidence_level=1 - alpha, method="percentile", rng=np.random.default_rng(seed),
    )
    return (float(res.confidence_interval.low), float(res.confidence_interval.high))


def holm_adjust(pvalues: Sequence[float]) -> list[float]:
    """Holm step-down adjusted p-values, in input order: the i-th smallest of m is multiplied by
    m - i + 1, then made non-decreasing along the sorted order and capped at 1.

    >>> holm_adjust([0.01, 0.04, 0.03])
    [0.03, 0.06, 0.06]
    """
    p = np.asarray(pvalues, dtype=float)
    if p.ndim != 1 or np.any(np.isnan(p)) or np.any((p < 0) | (p > 1)):
        raise ValueError(f"p-values must be a flat sequence in [0, 1], got {list(pvalues)}")
    m = p.size
    order = np.argsort(p, kind="stable")
    stepped = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = stepped
    return out.tolist()


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples with c correct: 1 - C(n-c, k) / C(n, k) (Chen et al. 2021).

    Computed as a product, 1 - prod_{i=n-c+1}^{n} (1 - k/i), so large n never overflows.

    >>> round(pass_at_k(5, 2, 1), 12), pass_at_k(10, 0, 3), pass_at_k(10, 10, 3)
    (0.4, 0.0, 1.0)
    """
    if not (0 <= c <= n and 1 <= k <= n):
        raise ValueError(f"need 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0  # every size-k subset contains a correct sample
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def majority_vote(answers: Sequence[str | None]) -> str | None:
    """The most common non-None answer, ties broken by first occurrence; None if there is none.

    >>> majority_vote(["3", None, "4", "4", "3"]), majority_vote([None])
    ('3', None)
    """
    counts = Counter(a for a in answers if a is not None)
    # most_common keeps first-encountered order among equal counts (documented Counter behaviour).
    return counts.most_common(1)[0][0] if counts else None


def wilson_interval(correct: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion (95% by default); (nan, nan) when n is 0.

    Unlike the normal approximation it stays inside [0, 1] and is sensible at 0/n and n/n.

    >>> tuple(round(x, 3) for x in wilson_interval(0, 10))
    (0.0, 0.278)
    """
    if not 0 <= correct <= n:
        raise ValueError(f"need 0 <= correct <= n, got correct={correct}, n={n}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if n == 0:
        return (math.nan, math.nan)
    ci = stats.binomtest(correct, n).proportion_ci(confidence_level=confidence, method="wilson")
    return (float(ci.low), float(ci.high))


def sample_metrics(groups: Sequence[Sequence[tuple[str | None, bool | None]]], k: int) -> dict[str, float | int | None]:
    """pass@1 and pass@k (unbiased, averaged over problems) and maj@k (the most common extracted
    answer is right) from each problem's k samples, given as (answer, correct) pairs.

    A problem with any ungraded sample (correct None) is left out; `graded` counts the rest.

    >>> sample_metrics([[("4", True), ("5", False)], [("1", False), ("1", False)]], 2)
    {'k': 2, 'graded': 2, 'pass@1': 0.25, 'pass@2': 0.5, 'maj@2': 0.5}
    """
    graded = [g for g in groups if g and all(c is not None for _, c in g)]
    out: dict[str, float | int | None] = {"k": k, "graded": len(graded)}
    for j in sorted({1, k}):
        vals = [pass_at_k(len(g), sum(bool(c) for _, c in g), j) for g in graded if len(g) >= j]
        out[f"pass@{j}"] = float(np.mean(vals)) if vals else None
    votes = []
    for g in graded:
        top = majority_vote([a for a, _ in g])
        votes.append(top is not None and any(a == top and c for a, c in g))
    out[f"maj@{k}"] = float(np.mean(votes)) if votes else None
    return out


def percent(x: float | None, digits: int = 1, sign: bool = False, unit: str = "%", of: int = 1) -> str:
    """A rate (or `x` of `of`) as a percentage with `digits` decimals, signed with `sign`; a dash
    for None or NaN. Every rate the tool shows is written by this one function.

    >>> percent(0.125), percent(0.5, digits=0), percent(23, digits=0, of=40), percent(None)
    ('12.5%', '50%', '58%', '—')
    """
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return f"{100 * x / of:{'+' if sign else ''}.{digits}f}{unit}"


def points(x: float | None) -> str:
    """A difference of rates as signed percentage points, e.g. +12.5; a dash for None.

    >>> points(0.125), points(-0.0625), points(None)
    ('+12.5', '-6.2', '—')
    """
    return percent(x, sign=True, unit="")
