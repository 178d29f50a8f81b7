"""Reports: the side-by-side table, the summary dict, the run files and the terminal view.

    comparison_table(result).query("outcome == 'fixed'")
    write_outputs(result, Path("runs/demo"))   # comparison.csv, summary.json, config.yaml

The first two arms are the pair being compared (baseline, treatment); more arms add columns.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import yaml
from rich.console import Console
from rich.table import Table

from .scoring import NOTEBOOK_REWARDS
from .stats import bootstrap_delta_ci, mcnemar_exact

if TYPE_CHECKING:
    from .compare import Comparison

ARM_COLUMNS = ("answer", "extractor", "correct", "strict_format", "soft_format") + tuple(
    f"reward_{k}" for k in NOTEBOOK_REWARDS
) + ("completion_tokens", "finish_reason")
OUTCOMES = ("fixed", "broken", "both_correct", "both_wrong", "ungraded")


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


def comparison_table(c: Comparison) -> pd.DataFrame:
    """One row per problem: id, question, gold, each arm's columns (prefixed), outcome."""
    rows = []
    base, treat = c.arms[0].name, c.arms[1].name
    for p in c.problems:
        row: dict[str, Any] = {"id": p.id, "question": p.question, "gold": p.gold}
        row |= {k: p.meta[k] for k in ("level", "subject") if k in p.meta}
        for arm in c.arms:
            row |= {f"{arm.name}_{k}": v for k, v in _arm_cells(c.results[(p.id, arm.name)]).items()}
        row["outcome"] = outcome(row[f"{base}_correct"], row[f"{treat}_correct"])
        rows.append(row)
    return pd.DataFrame(rows)


def _arm_cells(res: Any) -> dict[str, Any]:
    s, g = res.score, res.generation
    cells = {"answer": s.answer, "extractor": s.extractor, "correct": s.correct,
             "strict_format": s.strict_format, "soft_format": s.soft_format}
    cells |= {f"reward_{k}": s.rewards[k] for k in NOTEBOOK_REWARDS}
    return cells | {"completion_tokens": g.completion_tokens, "finish_reason": g.finish_reason}


def summarize(c: Comparison) -> dict[str, Any]:
    """Per-arm rates and the paired statistics of treatment vs baseline."""
    t = c.table
    base, treat = c.arms[0].name, c.arms[1].name
    arms = {a.name: _arm_summary(t, a.name) for a in c.arms}
    graded = t[t[f"{base}_correct"].notna() & t[f"{treat}_correct"].notna()]
    before = graded[f"{base}_correct"].astype(bool).tolist()
    after = graded[f"{treat}_correct"].astype(bool).tolist()
    fixed, broken = int((t.outcome == "fixed").sum()), int((t.outcome == "broken").sum())
    delta = (sum(after) - sum(before)) / len(graded) if len(graded) else None
    ci = bootstrap_delta_ci(before, after) if len(graded) else (None, None)
    return {
        "n": len(t), "baseline": base, "treatment": treat, "arms": arms,
        "delta_accuracy": delta, "delta_accuracy_ci": [_num(x) for x in ci],
        "fixed": fixed, "broken": broken, "mcnemar_p": mcnemar_exact(fixed, broken),
        "outcomes": {o: int((t.outcome == o).sum()) for o in OUTCOMES},
        "skipped": list(c.skipped),
    }


def _arm_summary(t: pd.DataFrame, arm: str) -> dict[str, Any]:
    col = lambda k: t[f"{arm}_{k}"]  # noqa: E731
    graded = col("correct").dropna()
    return {
        "accuracy": _num(graded.astype(bool).mean()) if len(graded) else None,
        "graded": int(len(graded)),
        "correct": int(graded.astype(bool).sum()),
        "strict_format_rate": _num(col("strict_format").mean()),
        "soft_format_rate": _num(col("soft_format").mean()),
        "mean_completion_tokens": _num(col("completion_tokens").mean()),
        "truncated_rate": _num((col("finish_reason") == "length").mean()),
        "mean_rewards": {k: _num(col(f"reward_{k}").mean()) for k in NOTEBOOK_REWARDS},
    }


def _num(x: Any) -> float | None:
    return None if x is None or pd.isna(x) else round(float(x), 6)


def write_outputs(c: Comparison, out: Path) -> None:
    """comparison.csv, summary.json and config.yaml (generations.jsonl is written as results arrive)."""
    out.mkdir(parents=True, exist_ok=True)
    _atomic_write(out / "comparison.csv", c.table.to_csv(index=False))
    _atomic_write(out / "summary.json", json.dumps(c.summary, indent=2, ensure_ascii=False) + "\n")
    _atomic_write(out / "config.yaml", yaml.safe_dump(c.config.to_dict(), sort_keys=False))


def _atomic_write(path: Path, text: str) -> None:
    """Write to a temporary file beside `path`, then rename: readers never see half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def print_summary(c: Comparison, console: Console | None = None) -> None:
    """The summary as rich tables: per-arm metrics, then the paired result."""
    console = console or Console()
    s = c.summary
    table = Table(title=f"{s['n']} problems", show_lines=False)
    table.add_column("metric")
    for name in s["arms"]:
        table.add_column(name, justify="right")
    pct = lambda v: "—" if v is None else f"{100 * v:.1f}%"  # noqa: E731
    rows = [("accuracy", lambda a: f"{pct(a['accuracy'])} ({a['correct']}/{a['graded']})"),
            ("soft format (DOTALL)", lambda a: pct(a["soft_format_rate"])),
            ("strict format (DOTALL)", lambda a: pct(a["strict_format_rate"])),
            ("mean completion tokens", lambda a: f"{a['mean_completion_tokens']:.0f}"),
            ("truncated", lambda a: pct(a["truncated_rate"]))]
    rows += [(f"reward {k}", lambda a, k=k: f"{a['mean_rewards'][k]:.3f}") for k in NOTEBOOK_REWARDS]
    for label, fmt in rows:
        table.add_row(label, *(fmt(a) for a in s["arms"].values()))
    console.print(table)
    lo, hi = s["delta_accuracy_ci"]
    if s["delta_accuracy"] is not None:
        console.print(
            f"[bold]{s['treatment']} − {s['baseline']}[/]: {100 * s['delta_accuracy']:+.1f} points "
            f"(95% CI {100 * lo:+.1f} to {100 * hi:+.1f}); fixed {s['fixed']}, broken {s['broken']}, "
            f"McNemar exact p = {s['mcnemar_p']:.3g}"
        )
    if s["skipped"]:
        console.print(f"[yellow]{len(s['skipped'])} problems skipped (prompt too long)[/]")
