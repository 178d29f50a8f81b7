"""The terminal view of a comparison, and the CSV form of its table.

    print_summary(result)                     # per-arm metrics, then the paired result
    pair_line(result.summary)                 # the paired result in one line
    csv_safe(result.table).to_csv(path)       # text a spreadsheet would run as a formula is quoted
"""

from __future__ import annotations

from typing import Any, Mapping

import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from .scoring import NOTEBOOK_REWARDS
from .stats import percent, points
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
        table.add_column(Text(f"{name} ★ best" if several and name == best else name), justify="right")
    rows = [("accuracy", lambda a: f"{percent(a['accuracy'])} ({a['correct']}/{a['graded']})"),
            ("soft format (DOTALL)", lambda a: percent(a["soft_format_rate"])),
            ("strict format (DOTALL)", lambda a: percent(a["strict_format_rate"])),
            ("mean completion tokens", lambda a: f"{a['mean_completion_tokens']:.0f}"),
            ("truncated", lambda a: percent(a["truncated_rate"]))]
    rows += [(f"reward {k}", lambda a, k=k: f"{a['mean_rewards'][k]:.3f}") for k in NOTEBOOK_REWARDS]
    k = c.config.num_samples
    if k > 1:
        rows += [(m, lambda a, m=m: percent(a["samples"][m])) for m in sorted({"pass@1", f"pass@{k}"}) + [f"maj@{k}"]]
    for label, fmt in rows:
        table.add_row(Text(label), *(fmt(a) for a in s["arms"].values()))
    if several:
        cell = lambda arm, f: f(versus[arm]) if arm in versus else ""  # noqa: E731
        for label, f in (("Δ accuracy vs " + s["baseline"], lambda v: points(v["delta_accuracy"])),
                         ("95% CI", lambda v: f"{points(v['delta_accuracy_ci'][0])} to {points(v['delta_accuracy_ci'][1])}"),
                         ("fixed / broken", lambda v: f"{v['fixed']} / {v['broken']}"),
                         ("McNemar p (Holm)", lambda v: f"{v['mcnemar_p_holm']:.3g}")):
            table.add_row(Text(label), *(cell(arm, f) for arm in s["arms"]))
    console.print(table)
    if several and best is None:
        console.print(f"[bold]best: none[/]: no adapter arm has a graded answer against {escape(s['baseline'])}")
    elif several:
        v = versus[best]
        console.print(f"[bold]best: {escape(best)}[/] {points(v['delta_accuracy'])} points over {escape(s['baseline'])} "
                      f"(95% CI {points(v['delta_accuracy_ci'][0])} to {points(v['delta_accuracy_ci'][1])}), "
                      f"Holm-adjusted McNemar p = {v['mcnemar_p_holm']:.3g}")
    elif s["delta_accuracy"] is not None:
        console.print(pair_line(s))
    if s["skipped"]:
        console.print(f"[yellow]{len(s['skipped'])} problems skipped (prompt too long)[/]")
    for signal in s.get("alarm") or []:
        console.print(f"[bold red]alarm:[/] {escape(signal['detail'])}", highlight=False)
    check = s.get("adapter_check")
    if check and check["identical"]:
        console.print("[bold yellow]adapter check: the LoRA did not change a greedy answer (see summary.json)[/]")


def pair_line(s: Mapping[str, Any], ci: bool = True) -> str:
    """Treatment against baseline in one line (rich markup): the accuracy delta in points, its 95%
    CI (with `ci`), the fixed and broken counts and the exact McNemar p-value.

    >>> pair_line({"treatment": "grpo", "baseline": "base", "delta_accuracy": 0.25, "delta_accuracy_ci": [0.1, 0.4],
    ...            "fixed": 3, "broken": 1, "mcnemar_p": 0.625})
    '[bold]grpo − base[/]: +25.0 points (95% CI +10.0 to +40.0); fixed 3, broken 1, McNemar exact p = 0.625'
    """
    interval = f" (95% CI {points(s['delta_accuracy_ci'][0])} to {points(s['delta_accuracy_ci'][1])})" if ci else ""
    return (f"[bold]{escape(s['treatment'])} − {escape(s['baseline'])}[/]: {points(s['delta_accuracy'])} points{interval}; "
            f"fixed {s['fixed']}, broken {s['broken']}, McNemar exact p = {s['mcnemar_p']:.3g}")
