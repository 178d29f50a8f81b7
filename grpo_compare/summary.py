"""Results into a `Comparison`: the side-by-side table and the typed summary (per-arm rates,
and the paired statistics of the treatment arm against the baseline arm).

    c = comparison(plan, problems, arms, results)
    c.table.query("outcome == 'fixed'")
    c.summary["delta_accuracy"], c.summary["mcnemar_p"]

The first two arms are the pair being compared (baseline, treatment); more arms add columns.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import pandas as pd

from .alarm import alarm
from .scoring import NOTEBOOK_REWARDS
from .stats import bootstrap_delta_ci, holm_adjust, mcnemar_exact, sample_metrics
from .types import AdapterCheck, Arm, ArmResult, ArmSummary, Comparison, Problem, Results, Summary

ARM_COLUMNS = ("answer", "extractor", "correct", "strict_format", "soft_format") + tuple(
    f"reward_{k}" for k in NOTEBOOK_REWARDS
) + ("completion_tokens", "finish_reason")
OUTCOMES = ("fixed", "broken", "both_correct", "both_wrong", "ungraded")


def comparison(plan: Any, problems: Sequence[Problem], arms: Sequence[Arm], results: Results,
               skipped: Sequence[str] = (), adapter_check: AdapterCheck | None = None,
               logged: Mapping[str, float] | None = None) -> Comparison:
    """The Comparison of `results` keyed (problem id, arm, sample), under the run's `plan`
    (`grpo_compare.plan.RunPlan`); problems lacking an arm are left out. `logged`: the training
    reward a trainer logged at each checkpoint arm's step, where known (for the alarm)."""
    first, samples = split_samples(results)
    kept = tuple(p for p in problems if all((p.id, a.name) in first for a in arms))
    table = comparison_table(kept, arms, first)
    summary = summarize(table, arms, kept, samples, plan.num_samples, list(skipped), adapter_check, logged or {})
    return Comparison(plan, kept, tuple(arms), first, samples, table, summary, tuple(skipped))


def split_samples(results: Results) -> tuple[dict[tuple[str, str], ArmResult], dict[tuple[str, str], tuple[ArmResult, ...]]]:
    """(sample 0 of each problem and arm, all samples of each in sample order)."""
    grouped: dict[tuple[str, str], list[tuple[int, ArmResult]]] = {}
    for (pid, arm, s), res in results.items():
        grouped.setdefault((pid, arm), []).append((s, res))
    samples = {key: tuple(r for _, r in sorted(rows, key=lambda x: x[0])) for key, rows in grouped.items()}
    first = {(pid, arm): res for (pid, arm, s), res in results.items() if s == 0}
    return first, samples


def outcome(before: bool | None, after: bool | None) -> str:
    """How the treatment arm changed a problem's grade.

    >>> outcome(False, True)
    'fixed'
    """
    if before is None or after is None:
        return "ungraded"
    return {(False, True): "fixed", (True, False): "broken", (True, True): "both_correct"}.get(
        (before, after), "both_wrong"
    )


def comparison_table(problems: Sequence[Problem], arms: Sequence[Arm],
                     results: dict[tuple[str, str], ArmResult]) -> pd.DataFrame:
    """One row per problem: id, question, gold, each arm's columns (prefixed), outcome."""
    rows = []
    base, treat = arms[0].name, arms[1].name
    for p in problems:
        row: dict[str, Any] = {"id": p.id, "question": p.question, "gold": p.gold}
        row |= {k: p.meta[k] for k in ("level", "subject") if k in p.meta}
        for arm in arms:
            row |= {f"{arm.name}_{k}": v for k, v in arm_cells(results[(p.id, arm.name)]).items()}
        row["outcome"] = outcome(row[f"{base}_correct"], row[f"{treat}_correct"])
        rows.append(row)
    columns = ["id", "question", "gold"] + [f"{a.name}_{k}" for a in arms for k in ARM_COLUMNS] + ["outcome"]
    return pd.DataFrame(rows) if rows else pd.DataFrame(columns=columns)


def arm_cells(res: ArmResult) -> dict[str, Any]:
    """One arm's columns of the table for one problem."""
    s, g = res.score, res.generation
    cells = {"answer": s.answer, "extractor": s.extractor, "correct": s.correct,
             "strict_format": s.strict_format, "soft_format": s.soft_format}
    cells |= {f"reward_{k}": s.rewards[k] for k in NOTEBOOK_REWARDS}
    return cells | {"completion_tokens": g.completion_tokens, "finish_reason": g.finish_reason}


def summarize(t: pd.DataFrame, arms: Sequence[Arm], problems: Sequence[Problem],
              samples: dict[tuple[str, str], tuple[ArmResult, ...]], k: int = 1,
              skipped: list[str] | None = None, adapter_check: AdapterCheck | None = None,
              logged: Mapping[str, float] | None = None) -> Summary:
    """Per-arm rates, the paired statistics of treatment vs baseline (and of every adapter arm vs
    baseline), the best adapter arm and the reward-hacking alarm."""
    base, treat = arms[0].name, arms[1].name
    per_arm = {a.name: _arm_summary(t, a.name) for a in arms}
    for name, reward in (logged or {}).items():
        if name in per_arm:
            per_arm[name]["logged_reward"] = reward
    if k > 1:  # k samples per problem: pass@k and maj@k beside sample 0's rates
        for a in arms:
            groups = [[(r.score.answer, r.score.correct) for r in samples.get((p.id, a.name), ())] for p in problems]
            per_arm[a.name]["samples"] = {key: _num(v) if isinstance(v, float) else v
                                          for key, v in sample_metrics(groups, k).items()}
    counts = {o: int((t["outcome"] == o).sum()) if len(t) else 0 for o in OUTCOMES}
    adapters = [a.name for a in arms[1:] if a.adapter is not None or a.model is not None]
    versus = {a: paired(t, base, a) for a in adapters}
    for stats, p in zip(versus.values(), holm_adjust([s["mcnemar_p"] for s in versus.values()])):
        stats["mcnemar_p_holm"] = p  # Holm across the adapter arms: several checkpoints, one family of tests
    graded = [a for a in adapters if per_arm[a]["accuracy"] is not None]  # an arm with nothing graded is never best
    best = max(graded, key=lambda a: per_arm[a]["accuracy"]) if graded else None  # ties: the earlier
    signals = alarm(t, [a.name for a in arms], per_arm, versus, logged) if len(t) else []
    return Summary(n=len(t), baseline=base, treatment=treat, arms=per_arm, **paired(t, base, treat),
                   outcomes=counts, skipped=list(skipped or ()), adapter_check=adapter_check,
                   vs_baseline=versus, best=best, alarm=signals)


def paired(t: pd.DataFrame, base: str, arm: str) -> dict[str, Any]:
    """`arm` against `base` on the problems both graded: accuracy delta with its 95% paired
    bootstrap CI, the fixed and broken counts, and the exact McNemar p-value."""
    graded = t[t[f"{base}_correct"].notna() & t[f"{arm}_correct"].notna()] if len(t) else t
    before = graded[f"{base}_correct"].astype(bool).tolist() if len(graded) else []
    after = graded[f"{arm}_correct"].astype(bool).tolist() if len(graded) else []
    fixed = sum(a and not b for a, b in zip(after, before))
    broken = sum(b and not a for a, b in zip(after, before))
    ci = bootstrap_delta_ci(before, after) if before else (None, None)
    return {"delta_accuracy": (sum(after) - sum(before)) / len(before) if before else None,
            "delta_accuracy_ci": [_num(x) for x in ci], "fixed": fixed, "broken": broken,
            "mcnemar_p": mcnemar_exact(fixed, broken)}


def _arm_summary(t: pd.DataFrame, arm: str) -> ArmSummary:
    if not len(t):
        return ArmSummary(accuracy=None, graded=0, correct=0, last_number_verdicts=0)
    col = lambda k: t[f"{arm}_{k}"]  # noqa: E731
    graded = col("correct").dropna()
    return ArmSummary(
        accuracy=_num(graded.astype(bool).mean()) if len(graded) else None,
        graded=int(len(graded)),
        correct=int(graded.astype(bool).sum()),
        # verdicts that rest on the weakest evidence: the last number of a text stating no answer
        last_number_verdicts=int(((col("extractor") == "last_number") & col("correct").notna()).sum()),
        strict_format_rate=_num(col("strict_format").mean()),
        soft_format_rate=_num(col("soft_format").mean()),
        mean_completion_tokens=_num(col("completion_tokens").mean()),
        truncated_rate=_num((col("finish_reason") == "length").mean()),
        mean_rewards={k: _num(col(f"reward_{k}").mean()) for k in NOTEBOOK_REWARDS},
    )


def _num(x: Any) -> float | None:
    return None if x is None or pd.isna(x) else round(float(x), 6)
