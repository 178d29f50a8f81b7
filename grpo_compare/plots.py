"""Plots as small self-contained SVG strings: no plotting library, no fonts to embed, no network.

    figures(result)                  # {"Accuracy by arm": "<svg ...>", ...} for a Comparison
    bar_chart("Accuracy", ["all"], {"base": [0.4], "grpo": [0.6]})

Each figure is a string that an HTML page inlines and a notebook shows with IPython's SVG.
Series are always arms, so an arm keeps one colour in every chart.
"""

from __future__ import annotations

import math
from html import escape
from typing import TYPE_CHECKING, Any, Sequence

from .scoring import NOTEBOOK_REWARDS
from .stats import percent as pct  # line_chart's `percent` flag has the name
from .stats import wilson_interval

if TYPE_CHECKING:
    import pandas as pd

    from .types import Comparison

PALETTE = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3")
# The most a completion can earn from each training reward (xmlcount: four tags at 0.125).
REWARD_MAX = {"xmlcount": 0.5, "soft_format": 0.5, "strict_format": 0.5, "int": 0.5, "correctness": 2.0}
WIDTH, LEFT, RIGHT, BAR, GAP = 640, 180, 96, 14, 10

__all__ = ["PALETTE", "bar_chart", "figures", "histogram", "line_chart"]


def _svg(height: int, body: list[str], title: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" '
            f'height="{height}" role="img" aria-label="{escape(title)}" font-family="system-ui, sans-serif" '
            f'font-size="12"><title>{escape(title)}</title>'
            f'<text x="8" y="18" font-size="14" font-weight="600">{escape(title)}</text>'
            + "".join(body) + "</svg>")


def _legend(names: Sequence[str], y: int) -> list[str]:
    out, x = [], LEFT
    for i, name in enumerate(names):
        out.append(f'<rect x="{x}" y="{y - 9}" width="10" height="10" fill="{PALETTE[i % len(PALETTE)]}"/>'
                   f'<text x="{x + 14}" y="{y}">{escape(name)}</text>')
        x += 24 + 7 * len(name)
    return out


def bar_chart(
    title: str,
    categories: Sequence[str],
    series: dict[str, Sequence[float | None]],
    errors: dict[str, Sequence[Any]] | None = None,
    labels: dict[str, Sequence[str]] | None = None,
) -> str:
    """Horizontal grouped bars on a 0-1 scale: one group per category, one bar per series (arm).

    `errors[arm][i]` is an optional (low, high) interval drawn as a whisker; `labels` replace the
    printed values. None values draw no bar and print a dash.

    >>> "<rect" in bar_chart("Accuracy", ["all"], {"base": [0.25], "grpo": [0.5]})
    True
    """
    names = list(series)
    plot_w = WIDTH - LEFT - RIGHT
    top = 44
    group_h = BAR * len(names) + GAP
    height = top + group_h * len(categories) + 28
    scale = lambda v: LEFT + plot_w * max(0.0, min(v, 1.0))  # noqa: E731
    body = _legend(names, 36)
    for k in range(5):  # grid lines and tick labels
        v = k / 4
        x = scale(v)
        tick = pct(v, digits=0)
        body.append(f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{height - 24}" stroke="#ddd"/>'
                    f'<text x="{x:.1f}" y="{height - 10}" text-anchor="middle" fill="#555">{tick}</text>')
    for c, cat in enumerate(categories):
        y0 = top + c * group_h
        body.append(f'<text x="{LEFT - 8}" y="{y0 + group_h / 2:.1f}" text-anchor="end" '
                    f'dominant-baseline="middle">{escape(str(cat))}</text>')
        for s, name in enumerate(names):
            v, y = series[name][c], y0 + s * BAR
            colour = PALETTE[s % len(PALETTE)]
            if v is not None and not math.isnan(v):
                body.append(f'<rect x="{LEFT}" y="{y + 1}" width="{scale(v) - LEFT:.1f}" height="{BAR - 2}" '
                            f'fill="{colour}"><title>{escape(name)}: {pct(v)}</title></rect>')
            err = (errors or {}).get(name, [None] * len(categories))[c]
            if err is not None and not any(math.isnan(e) for e in err):
                lo, hi, ym = scale(err[0]), scale(err[1]), y + BAR / 2
                body.append(f'<path d="M{lo:.1f},{ym - 4}v8M{lo:.1f},{ym}H{hi:.1f}M{hi:.1f},{ym - 4}v8" '
                            f'stroke="#222" fill="none"/>')
            end = max(scale(v) if v is not None and not math.isnan(v) else LEFT, scale(err[1]) if err else 0)
            text = (labels or {}).get(name, [None] * len(categories))[c] or pct(v)
            body.append(f'<text x="{end + 4:.1f}" y="{y + BAR / 2:.1f}" dominant-baseline="middle" '
                        f'fill="#333" font-size="11">{escape(text)}</text>')
    return _svg(height, body, title)


def histogram(title: str, samples: dict[str, Sequence[float]], bins: int = 20, x_label: str = "") -> str:
    """Overlaid histograms (outlined, lightly filled), one per arm, on shared bins.

    >>> "<path" in histogram("Tokens", {"base": [10, 20, 20], "grpo": [30, 40]})
    True
    """
    values = [v for vs in samples.values() for v in vs]
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    hi = hi if hi > lo else lo + 1
    width = (hi - lo) / bins
    counts = {name: [0] * bins for name in samples}
    for name, vs in samples.items():
        for v in vs:
            counts[name][min(int((v - lo) / width), bins - 1)] += 1
    most = max((max(c) for c in counts.values()), default=1) or 1
    step = max(1, math.ceil(most / 4))  # whole counts on the y axis
    peak = step * math.ceil(most / step)
    top, height, plot_w, base_y = 44, 250, WIDTH - 60 - 20, 250 - 44
    x = lambda v: 60 + plot_w * (v - lo) / (hi - lo)  # noqa: E731
    y = lambda n: base_y - (base_y - top) * n / peak  # noqa: E731
    body = _legend(list(samples), 36)
    for k in range(5):
        v = lo + (hi - lo) * k / 4
        body.append(f'<text x="{x(v):.1f}" y="{base_y + 16}" text-anchor="middle" fill="#555">{v:.0f}</text>')
    for n in range(0, peak + 1, step):
        body.append(f'<line x1="60" y1="{y(n):.1f}" x2="{60 + plot_w}" y2="{y(n):.1f}" stroke="#eee"/>'
                    f'<text x="54" y="{y(n):.1f}" text-anchor="end" dominant-baseline="middle" fill="#555">'
                    f'{n}</text>')
    for i, cs in enumerate(counts.values()):
        colour = PALETTE[i % len(PALETTE)]
        d = f"M{x(lo):.1f},{base_y}" + "".join(
            f"V{y(n):.1f}H{x(lo + (b + 1) * width):.1f}" for b, n in enumerate(cs)) + f"V{base_y}Z"
        body.append(f'<path d="{d}" fill="{colour}" fill-opacity="0.2" stroke="{colour}" stroke-width="1.5"/>')
    body.append(f'<line x1="60" y1="{base_y}" x2="{60 + plot_w}" y2="{base_y}" stroke="#888"/>'
                f'<text x="{60 + plot_w / 2}" y="{height - 8}" text-anchor="middle" fill="#333">'
                f'{escape(x_label)}</text>')
    return _svg(height, body, title)


def line_chart(title: str, steps: Sequence[str], series: dict[str, Sequence[float | None]],
               errors: dict[str, Sequence[Any]] | None = None, percent: bool = True,
               references: dict[str, float | None] | None = None) -> str:
    """Values by step (the checkpoint curve): one line per series, optional (low, high) whiskers,
    and dashed horizontal reference lines (e.g. the base arm).

    >>> "<polyline" in line_chart("Accuracy", ["c-100", "c-200"], {"accuracy": [0.2, 0.5]})
    True
    """
    values = [v for vs in series.values() for v in vs if v is not None] + [
        hi for es in (errors or {}).values() for e in es if e for hi in e[1:]] + [
        v for v in (references or {}).values() if v is not None]
    y_max = 1.0 if percent else max(values + [1.0]) * 1.1
    top, plot_h, plot_w = 44, 180, WIDTH - LEFT - RIGHT
    x = lambda i: LEFT + plot_w * (i + 0.5) / len(steps)  # noqa: E731
    y = lambda v: top + plot_h * (1 - max(0.0, min(v, y_max)) / y_max)  # noqa: E731
    body = _legend(list(series) + list(references or {}), 36)
    for k in range(5):
        v = y_max * k / 4
        body.append(f'<line x1="{LEFT}" y1="{y(v):.1f}" x2="{WIDTH - RIGHT}" y2="{y(v):.1f}" stroke="#ddd"/>'
                    f'<text x="{LEFT - 6}" y="{y(v) + 4:.1f}" text-anchor="end" fill="#555">{pct(v) if percent else f"{v:.0f}"}</text>')
    for i, step in enumerate(steps):
        body.append(f'<text x="{x(i):.1f}" y="{top + plot_h + 18}" text-anchor="middle">{escape(step)}</text>')
    for j, ref in enumerate((references or {}).values(), len(series)):
        if ref is not None:
            body.append(f'<line x1="{LEFT}" y1="{y(ref):.1f}" x2="{WIDTH - RIGHT}" y2="{y(ref):.1f}" '
                        f'stroke="{PALETTE[j % len(PALETTE)]}" stroke-dasharray="5 4"/>')
    for j, (name, vals) in enumerate(series.items()):
        colour = PALETTE[j % len(PALETTE)]
        points = [(x(i), y(v)) for i, v in enumerate(vals) if v is not None]
        body.append(f'<polyline points="{" ".join(f"{px:.1f},{py:.1f}" for px, py in points)}" fill="none" '
                    f'stroke="{colour}" stroke-width="2"/>')
        for i, v in enumerate(vals):
            err = (errors or {}).get(name, [None] * len(vals))[i]
            if err is not None and None not in err:
                body.append(f'<path d="M{x(i) - 4:.1f},{y(err[0]):.1f}h8M{x(i):.1f},{y(err[0]):.1f}V{y(err[1]):.1f}'
                            f'M{x(i) - 4:.1f},{y(err[1]):.1f}h8" stroke="{colour}" fill="none"/>')
            if v is not None:
                body.append(f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="3.5" fill="{colour}">'
                            f'<title>{escape(name)} at {escape(steps[i])}: {pct(v) if percent else f"{v:.0f}"}</title></circle>')
    return _svg(top + plot_h + 30, body, title)


def _accuracy(t: pd.DataFrame, arm: str) -> tuple[float | None, Any, str]:
    """Accuracy over the graded rows of `t`, its Wilson interval, and a 'k/n' label."""
    graded = t[f"{arm}_correct"].dropna().astype(bool)
    n, k = len(graded), int(graded.sum())
    if n == 0:
        return None, None, "— (0 graded)"
    return k / n, wilson_interval(k, n), f"{pct(k, digits=0, of=n)} ({k}/{n})"


def _accuracy_by(t: pd.DataFrame, arms: list[str], column: str, title: str) -> str:
    groups = sorted(t[column].dropna().unique(), key=lambda g: (str(type(g)), g))
    series: dict[str, list[float | None]] = {a: [] for a in arms}
    errors: dict[str, list[Any]] = {a: [] for a in arms}
    labels: dict[str, list[str]] = {a: [] for a in arms}
    for g in groups:
        for a in arms:
            acc, ci, label = _accuracy(t[t[column] == g], a)
            series[a].append(acc)
            errors[a].append(ci)
            labels[a].append(label)
    names = [f"{column} {g}" if column == "level" else str(g) for g in groups]
    return bar_chart(title, names, series, errors, labels=labels)


def figures(c: Comparison) -> dict[str, str]:
    """Every chart of the report for a comparison: title -> SVG string.

    Accuracy (95% Wilson CI), format compliance, the training rewards, completion lengths, and
    accuracy by MATH-500 level and subject when the dataset has them.
    """
    t, arms = c.table, [a.name for a in c.arms]
    out: dict[str, str] = {}
    accs = {a: _accuracy(t, a) for a in arms}
    out["Accuracy by arm"] = bar_chart(
        "Accuracy by arm (95% Wilson CI)", ["accuracy"], {a: [accs[a][0]] for a in arms},
        {a: [accs[a][1]] for a in arms}, labels={a: [accs[a][2]] for a in arms})
    out["Format compliance by arm"] = bar_chart(
        "Format compliance by arm", ["soft format (DOTALL)", "strict format (DOTALL)", "truncated"],
        {a: [t[f"{a}_soft_format"].mean(), t[f"{a}_strict_format"].mean(),
             (t[f"{a}_finish_reason"] == "length").mean()] for a in arms})
    means = {a: [t[f"{a}_reward_{k}"].mean() for k in NOTEBOOK_REWARDS] for a in arms}
    out["Training rewards by arm"] = bar_chart(
        "Training rewards by arm (mean, bar = share of the reward's maximum)",
        [f"{k} (max {REWARD_MAX[k]:g})" for k in NOTEBOOK_REWARDS],
        {a: [m / REWARD_MAX[k] for m, k in zip(means[a], NOTEBOOK_REWARDS, strict=True)] for a in arms},
        labels={a: [f"{m:.3f}" for m in means[a]] for a in arms})
    out["Completion length"] = histogram(
        "Completion length distribution", {a: t[f"{a}_completion_tokens"].tolist() for a in arms},
        x_label="completion tokens")
    adapters = list(c.summary.get("vs_baseline") or {})
    if len(adapters) > 1:  # checkpoints: the curve by step, base as the dashed reference
        out["Checkpoint curve"] = line_chart(
            "Checkpoints: accuracy (95% Wilson CI) and soft format rate by step", adapters,
            {"accuracy": [accs[a][0] for a in adapters], "soft format": [t[f"{a}_soft_format"].mean() for a in adapters]},
            {"accuracy": [accs[a][1] for a in adapters]}, references={f"{arms[0]} accuracy": accs[arms[0]][0]})
        out["Checkpoint lengths"] = line_chart(
            "Checkpoints: mean completion length by step (tokens)", adapters,
            {"mean completion tokens": [t[f"{a}_completion_tokens"].mean() for a in adapters]}, percent=False,
            references={f"{arms[0]}": t[f"{arms[0]}_completion_tokens"].mean()})
    for column in ("level", "subject"):
        if column in t.columns and t[column].notna().any():
            out[f"Accuracy by {column}"] = _accuracy_by(t, arms, column, f"Accuracy by {column} (95% Wilson CI)")
    return out
