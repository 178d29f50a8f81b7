"""Reports: the side-by-side table, the summary dict, the run files and the terminal view.

    comparison_table(result).query("outcome == 'fixed'")
    write_outputs(result, Path("runs/demo"))   # comparison.csv, summary.json, config.yaml, report.html

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
from .stats import bootstrap_delta_ci, mcnemar_exact, sample_metrics

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
    if c.config.num_samples > 1:  # k samples per problem: pass@k and maj@k beside sample 0's rates
        for a in c.arms:
            arms[a.name]["samples"] = arm_sample_metrics(c, a.name)
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
        "adapter_check": c.adapter_check,
    }


def arm_sample_metrics(c: Comparison, arm: str) -> dict[str, Any]:
    """pass@1, pass@k and maj@k of one arm over the problems' k samples."""
    groups = [[(r.score.answer, r.score.correct) for r in c.samples.get((p.id, arm), ())] for p in c.problems]
    return {key: _num(v) if isinstance(v, float) else v
            for key, v in sample_metrics(groups, c.config.num_samples).items()}


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


def write_outputs(c: Comparison, out: Path, summary: dict[str, Any] | None = None) -> None:
    """comparison.csv, summary.json, config.yaml and report.html (generations.jsonl is written as
    results arrive). `summary` defaults to the comparison's own."""
    from .html_report import write_report

    summary = summary if summary is not None else c.summary
    out.mkdir(parents=True, exist_ok=True)
    _atomic_write(out / "comparison.csv", csv_safe(c.table).to_csv(index=False))
    _atomic_write(out / "summary.json", json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    _atomic_write(out / "config.yaml", yaml.safe_dump(c.config.to_dict(), sort_keys=False))
    write_report(c, out, summary)


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(table: pd.DataFrame) -> pd.DataFrame:
    """A copy whose text cells a spreadsheet would run as a formula are quoted with a leading '.

    Model output is untrusted: "=HYPERLINK(...)" must stay text. Plain numbers ("-3") are kept.

    >>> csv_safe(pd.DataFrame({"a": ["=1+1", "-3", "@x", "ok"]}))["a"].tolist()
    ["'=1+1", '-3', "'@x", 'ok']
    """
    def cell(v: Any) -> Any:
        if isinstance(v, str) and v.startswith(_FORMULA_START) and not _is_number(v):
            return "'" + v
        return v

    out = table.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(cell)
    return out


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


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
    k = c.config.num_samples
    if k > 1:
        rows += [(m, lambda a, m=m: pct(a["samples"][m])) for m in sorted({"pass@1", f"pass@{k}"}) + [f"maj@{k}"]]
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
    check = s.get("adapter_check")
    if check and check["identical"]:
        console.print("[bold yellow]adapter check: the LoRA did not change a greedy answer (see summary.json)[/]")
