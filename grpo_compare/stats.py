"""Paired statistics for base-vs-LoRA comparisons: McNemar exact test, paired bootstrap CI,
unbiased pass@k and majority vote over samples.

    mcnemar_exact(fixed, broken)                  # p-value of "the adapter changed accuracy"
    bootstrap_delta_ci(base_correct, lora_correct)  # 95% CI of accuracy(lora) - accuracy(base)

Both arms answer the same problems, so the tests are paired: only the discordant problems
(fixed / broken) carry information, and bootstrap resamples problems, not answers.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import numpy as np

__all__ = ["bootstrap_delta_ci", "majority_vote", "mcnemar_exact", "pass_at_k", "sample_metrics", "wilson_interval"]

_BOOT_CELLS = 4_000_000  # resampled indices held at once: bounds memory for large problem sets


def mcnemar_exact(b: int, c: int) -> float:
    """Exact two-sided McNemar p-value from the discordant counts b (fixed) and c (broken).

    Under "no effect" each discordant problem is fixed or broken with probability 1/2, so
    p = min(1, 2 * P[Binom(b + c, 1/2) <= min(b, c)]).

    >>> mcnemar_exact(10, 0) == 2 * 0.5**10, mcnemar_exact(0, 0)
    (True, 1.0)
    """
    if b < 0 or c < 0:
        raise ValueError(f"discordant counts must be >= 0, got b={b}, c={c}")
    n = b + c
    if n == 0:
        return 1.0
    # Exact integer sum, one correctly rounded division: no float underflow for large n.
    tail = sum(math.comb(n, i) for i in range(min(b, c) + 1))
    return min(1.0, 2 * tail / 2**n)


def bootstrap_delta_ci(
    a: Sequence[bool], b: Sequence[bool], n_boot: int = 10_000, seed: int = 0, alpha: float = 0.05
) -> tuple[float, float]:
    """Percentile bootstrap CI of mean(b) - mean(a), resampling problem indices jointly.

    Returns (nan, nan) for empty input.

    >>> bootstrap_delta_ci([False, False, True, True], [True, True, True, True])
    (0.0, 1.0)
    """
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"a and b must be flat and paired, got lengths {x.shape} and {y.shape}")
    if x.size == 0:
        return (math.nan, math.nan)
    diff = y - x  # resampling the per-problem difference keeps each problem's pair together
    rng = np.random.default_rng(seed)
    rows = max(1, _BOOT_CELLS // diff.size)
    deltas = np.concatenate([
        diff[rng.integers(0, diff.size, size=(min(rows, n_boot - start), diff.size))].mean(axis=1)
        for start in range(0, n_boot, rows)
    ])
    lo, hi = np.quantile(deltas, [alpha / 2, 1 - alpha / 2])
    return (float(lo), float(hi))


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


def wilson_interval(correct: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval of a proportion (95% by default); (nan, nan) when n is 0.

    Unlike the normal approximation it stays inside [0, 1] and is sensible at 0/n and n/n.

    >>> tuple(round(x, 3) for x in wilson_interval(0, 10))
    (0.0, 0.278)
    """
    if not 0 <= correct <= n:
        raise ValueError(f"need 0 <= correct <= n, got correct={correct}, n={n}")
    if n == 0:
        return (math.nan, math.nan)
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


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
