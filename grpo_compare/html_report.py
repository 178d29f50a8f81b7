"""report.html: one self-contained page per run (inline CSS, JS and SVG; opens offline).

    html = render_report(result)                 # the page, written as report.html by runs.write_outputs
    side_by_side(result, "gsm8k-0")              # one problem's completions, for a notebook

Summary cards, the charts of `grpo_compare.plots`, and a problem table filterable by outcome and
searchable; each row opens every arm's full completion with the extracted answer highlighted and
the words the first two arms do not share marked. All model and dataset text is escaped.
"""

from __future__ import annotations

import difflib
import math
import re
from html import escape
from importlib.resources import files
from typing import Any, Sequence

from .plots import figures
from .stats import percent, points, wilson_interval
from .summary import OUTCOMES
from .types import ArmResult, Comparison, Problem

__all__ = ["render_report", "side_by_side"]

_TOKEN = re.compile(r"\S+")
Span = tuple[int, int]


def render_report(c: Comparison, summary: dict[str, Any] | None = None) -> str:
    """The whole page as one string; `summary` defaults to the comparison's own."""
    s = summary if summary is not None else c.summary
    plan = c.config
    base, treat = s["baseline"], s["treatment"]
    plots = "".join(f"<figure>{svg}</figure>" for svg in figures(c).values())
    adapter = plan.adapter if not isinstance(plan.adapter, tuple) else f"{len(plan.adapter)} adapters"
    facts = [f"model {plan.model}", f"adapter {adapter or 'none'}", f"dataset {plan.dataset}", f"{s['n']} problems",
             f"temperature {plan.sampling.temperature:g}", f"top_p {plan.sampling.top_p:g}",
             f"max_tokens {plan.sampling.max_tokens}"]
    return "\n".join([
        '<!doctype html><html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(treat)} vs {escape(base)} — grpo_compare</title>",
        f"<style>{_asset('report.css')}{_asset('problem.css')}</style></head><body>",
        (f"<h1>Which checkpoint beats <b>{escape(base)}</b>? Best: <b>{escape(s['best'] or 'none graded')}</b></h1>"
         if len(s.get("vs_baseline") or {}) > 1 else
         f"<h1>Did <b>{escape(treat)}</b> do better than <b>{escape(base)}</b>?</h1>"),
        f'<p class="sub">{escape(" · ".join(facts))}</p>',
        f'<section class="cards">{_cards(s)}</section>',
        f'<h2>Charts</h2><section class="plots">{plots}</section>',
        f'<h2>Problems</h2><section id="problems">{_table(c)}</section>',
        f"<script>{_asset('report.js')}</script>",
        "</body></html>",
    ])


# --- summary cards ------------------------------------------------------------------------------

def _card(label: str, value: str, detail: str = "", tone: str = "") -> str:
    return (f'<div class="card {tone}"><div class="label">{escape(label)}</div>'
            f'<div class="value">{escape(value)}</div><div class="detail">{escape(detail)}</div></div>')


def _cards(s: dict[str, Any]) -> str:
    out = []
    for name, a in s["arms"].items():
        lo, hi = wilson_interval(a["correct"], a["graded"]) if a["graded"] else (None, None)
        out.append(_card(f"{name} accuracy", percent(a["accuracy"]),
                         f"{a['correct']}/{a['graded']} graded · 95% CI {percent(lo)}–{percent(hi)} · "
                         f"soft format {percent(a['soft_format_rate'])} · strict {percent(a['strict_format_rate'])} · "
                         f"{a['mean_completion_tokens'] or 0:.0f} tokens on average, "
                         f"{percent(a['truncated_rate'])} truncated"))
    versus = s.get("vs_baseline") or {}
    pairs = versus if len(versus) > 1 else {s["treatment"]: s}
    for name, v in pairs.items():
        lo, hi = v["delta_accuracy_ci"]
        delta = v["delta_accuracy"]
        tone = "" if delta is None or lo is None or lo <= 0 <= hi else ("good" if delta > 0 else "bad")
        value = "—" if delta is None else f"{points(delta)} points"
        best = " ★ best" if len(pairs) > 1 and name == s.get("best") else ""
        holm = f" · Holm-adjusted p {v['mcnemar_p_holm']:.3g}" if len(pairs) > 1 else ""
        out.append(_card(f"{name} − {s['baseline']}{best}", value,
                         f"95% CI {points(lo)} to {points(hi)} points (paired bootstrap) · fixed {v['fixed']} · "
                         f"broken {v['broken']} · McNemar exact p {v['mcnemar_p']:.3g}{holm}", tone))
    out.append(_card("outcomes", f"{s['n']} problems",
                     " · ".join(f"{k.replace('_', ' ')} {v}" for k, v in s["outcomes"].items())))
    for signal in s.get("alarm") or []:
        out.append(_card(f"alarm: {signal['signal'].replace('_', ' ')}", signal["arm"], signal["detail"], "bad"))
    if s.get("adapter_check") is not None:
        out.append(_adapter_card(s["adapter_check"]))
    if s.get("skipped"):
        out.append(_card("skipped", str(len(s["skipped"])), "prompts longer than the context window", "bad"))
    return "".join(out)


def _adapter_card(check: dict[str, Any]) -> str:
    """The adapter-applied smoke test: one prompt, greedy, with and without the LoRA (a saved
    check has been read back as an object with a boolean `identical`), and what the adapter applies."""
    applied = f" · {check['applied']}" if isinstance(check.get("applied"), str) else ""
    if check.get("method") == "merged weights":
        ok = not check["identical"]
        unchanged = check.get("unchanged") if isinstance(check.get("unchanged"), list) else []
        left = f" · {len(unchanged)} module(s) it wraps unchanged" if unchanged else ""
        return _card("adapter applied?", "yes" if ok else "NO", f"merging it changes the weights by up to "
                     f"{check.get('max_abs_delta', 0):.3g}{left}{applied}", "good" if ok else "bad")
    if check["identical"]:
        return _card("adapter applied?", "NO", f"problem {check.get('problem_id')}: the same output with and "
                     f"without the adapter (zero weights, wrong target modules or another base model?){applied}", "bad")
    return _card("adapter applied?", "yes", f"problem {check.get('problem_id')}: the adapter changes the "
                 f"greedy output{applied}", "good")


# --- problem table --------------------------------------------------------------------------------

def _table(c: Comparison) -> str:
    t = c.table
    arms = [a.name for a in c.arms]
    extra = [k for k in ("level", "subject") if k in t.columns]
    counts = t.outcome.value_counts().to_dict()
    buttons = [f'<button type="button" data-filter="all">all ({len(t)})</button>'] + [
        f'<button type="button" data-filter="{o}">{o.replace("_", " ")} ({counts.get(o, 0)})</button>'
        for o in OUTCOMES]
    options = '<option value="">every arm</option>' + "".join(f'<option>{escape(a)}</option>' for a in arms)
    picks = ("" if len(arms) < 3 else  # more than two arms: the reader picks the two to see side by side
             f'<label>compare <select class="arm-pick" aria-label="first arm">{options}</select></label>'
             f'<label>with <select class="arm-pick" aria-label="second arm">{options}</select></label>')
    controls = ('<div class="controls">' + "".join(buttons) +
                '<input id="search" type="search" placeholder="search id, question, answers, completions"'
                ' aria-label="search problems">' + picks + '<span id="shown"></span></div>')
    head = ["id", *extra, "question", "gold"]  # then an answer column per arm, then the outcome
    widths = ["10%", *({"level": "5%", "subject": "10%"}[k] for k in extra), "auto", "9%"]
    cols = "".join(f'<col style="width:{w}">' for w in widths)
    cols += "".join(f'<col data-arm="{escape(a)}" style="width:14%">' for a in arms) + '<col style="width:9%">'
    ths = "".join(f"<th>{escape(h)}</th>" for h in head)
    ths += "".join(f'<th data-arm="{escape(a)}">{escape(a)} answer</th>' for a in arms) + "<th>outcome</th>"
    body = []
    for i, p in enumerate(c.problems):
        row = t.iloc[i]
        cells = [escape(p.id), *(escape(_text(row[k])) for k in extra), escape(p.question[:300]),
                 escape(p.gold if p.gold is not None else "—")]
        answers = [f'<td data-arm="{escape(a)}">{_answer_cell(c.results[(p.id, a)])}</td>' for a in arms]
        tds = "".join(f'<td class="q">{x}</td>' if n == 1 + len(extra) else f"<td>{x}</td>"
                      for n, x in enumerate(cells)) + "".join(answers)
        tds += f'<td><span class="outcome o-{row.outcome}">{row.outcome.replace("_", " ")}</span></td>'
        body.append(f'<tr class="problem" tabindex="0" aria-expanded="false" data-id="{escape(p.id)}" '
                    f'data-outcome="{row.outcome}">{tds}</tr>'
                    f'<tr class="detail" hidden><td colspan="{len(head) + len(arms) + 1}" class="grpo-compare">'
                    f'{_detail(c, p)}</td></tr>')
    return (controls + f'<table class="problems" id="problem-table"><colgroup>{cols}</colgroup>'
            f"<thead><tr>{ths}</tr></thead><tbody>{''.join(body)}</tbody></table>")


def _text(value: Any) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def _answer_cell(res: ArmResult) -> str:
    mark = {True: "mark-ok", False: "mark-bad", None: "mark-none"}[res.score.correct]
    answer = res.score.answer if res.score.answer is not None else "—"
    return f'<span class="{mark}">{escape(answer[:80])}</span>'


def _detail(c: Comparison, p: Problem) -> str:
    """The full question and every arm's completion; the first two arms' differences marked."""
    results = [c.results[(p.id, a.name)] for a in c.arms]
    texts = [r.generation.completion for r in results]
    changed: list[list[Span]] = [[] for _ in results]
    changed[0], changed[1] = _word_diff(texts[0], texts[1])
    panels = []
    for arm, res, marks in zip(c.arms, results, changed, strict=True):
        s, g = res.score, res.generation
        verdict = {True: "correct", False: "wrong", None: "ungraded"}[s.correct]
        head = (f"{arm.name} — answer {s.answer if s.answer is not None else '—'} ({verdict}, {s.extractor}) · "
                f"{g.completion_tokens} tokens · {g.finish_reason}")
        body = _marked(g.completion, marks, _answer_span(g.completion, s.answer))
        panels.append(f'<div class="arm" data-arm="{escape(arm.name)}"><h3>{escape(head)}</h3><pre>{body}</pre></div>')
    gold = p.gold if p.gold is not None else "— (none)"
    return (f'<p class="question">{escape(p.question)}</p><p>gold: <code>{escape(gold)}</code></p>'
            f'<div class="arms">{"".join(panels)}</div>'
            f'<p class="legend"><span class="ans">extracted answer</span> '
            f'<span class="chg">words only in this one of {escape(c.arms[0].name)} and '
            f"{escape(c.arms[1].name)}</span></p>")


def side_by_side(c: Comparison, problem_id: str) -> str:
    """One problem's completions side by side as an HTML fragment with its own styles.

    For notebooks: `IPython.display.HTML(side_by_side(result, result.problems[0].id))`.
    """
    problem = next((p for p in c.problems if p.id == problem_id), None)
    if problem is None:
        raise KeyError(f"no problem '{problem_id}' in this comparison")
    return f'<div class="grpo-compare"><style>{_asset("problem.css")}</style>{_detail(c, problem)}</div>'


def _asset(name: str) -> str:
    return (files("grpo_compare") / "assets" / name).read_text(encoding="utf-8")


# --- marking ----------------------------------------------------------------------------------------

def _word_diff(a: str, b: str) -> tuple[list[Span], list[Span]]:
    """Character spans of `a` missing from `b` and of `b` missing from `a`, compared word by word."""
    ta, tb = list(_TOKEN.finditer(a)), list(_TOKEN.finditer(b))
    matcher = difflib.SequenceMatcher(None, [m.group() for m in ta], [m.group() for m in tb], autojunk=False)
    only_a, only_b = [], []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag in ("replace", "delete") and i2 > i1:
            only_a.append((ta[i1].start(), ta[i2 - 1].end()))
        if tag in ("replace", "insert") and j2 > j1:
            only_b.append((tb[j1].start(), tb[j2 - 1].end()))
    return only_a, only_b


def _answer_span(text: str, answer: str | None) -> Span | None:
    """Where the extracted answer sits: its last occurrence (extractors all take the last one)."""
    if not answer:
        return None
    start = text.rfind(answer)
    return None if start < 0 else (start, start + len(answer))


def _marked(text: str, changed: Sequence[Span], answer: Span | None) -> str:
    """Escaped `text` with <span class="chg"> over changed spans and class "ans" over the answer."""
    cuts = sorted({0, len(text), *(x for span in changed for x in span), *(answer or ())})
    out, k = [], 0
    for start, end in zip(cuts, cuts[1:], strict=False):
        while k < len(changed) and changed[k][1] <= start:
            k += 1
        classes = []
        if k < len(changed) and changed[k][0] <= start and end <= changed[k][1]:
            classes.append("chg")
        if answer and answer[0] <= start and end <= answer[1]:
            classes.append("ans")
        piece = escape(text[start:end])
        out.append(f'<span class="{" ".join(classes)}">{piece}</span>' if classes else piece)
    return "".join(out)
