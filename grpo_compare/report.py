"""The terminal view of a comparison, and the CSV form of its table.

    print_summary(result)                     # per-arm metrics, then the paired result
    csv_safe(result.table).to_csv(path)       # text a spreadsheet would run as a formula is quoted
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table

from .scoring import NOTEBOOK_REWARDS
from .types import Comparison
from .ui import out


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


def print_summary(c: Comparison, console: Console | None = None) -> None:
    """The summary as rich tables: per-arm metrics, then the paired result."""
    console = console or out
    s = c.summary
    versus, best = s.get("vs_baseline") or {}, s.get("best")
    several = len(versus) > 1  # checkpoints: each against base, the best one marked
    table = Table(title=f"{s['n']} problems", show_lines=False)
    table.add_column("metric")
    for name in s["arms"]:
        table.add_column(f"{name} ★ best" if several and name == best else name, justify="right")
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
    if several:
        cell = lambda arm, f: f(versus[arm]) if arm in versus else ""  # noqa: E731
        for label, f in (("Δ accuracy vs " + s["baseline"], lambda v: points(v["delta_accuracy"])),
                         ("95% CI", lambda v: f"{points(v['delta_accuracy_ci'][0])} to {points(v['delta_accuracy_ci'][1])}"),
                         ("fixed / broken", lambda v: f"{v['fixed']} / {v['broken']}"),
                         ("McNemar p (Holm)", lambda v: f"{v['mcnemar_p_holm']:.3g}")):
            table.add_row(label, *(cell(arm, f) for arm in s["arms"]))
    console.print(table)
    lo, hi = s["delta_accuracy_ci"]
    if several:
        v = versus[best]
        console.print(f"[bold]best: {best}[/] {points(v['delta_accuracy'])} points over {s['baseline']} "
                      f"(95% CI {points(v['delta_accuracy_ci'][0])} to {points(v['delta_accuracy_ci'][1])}), "
                      f"Holm-adjusted McNemar p = {v['mcnemar_p_holm']:.3g}")
    elif s["delta_accuracy"] is not None:
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


def points(x: float | None) -> str:
    """A rate as signed percentage points, e.g. +12.5; a dash for None."""
    return "—" if x is None else f"{100 * x:+.1f}"
