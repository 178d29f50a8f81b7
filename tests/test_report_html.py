"""report.html: written with every run, rebuilt from the run's files, and used in a real browser."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from xml.etree import ElementTree

import pandas as pd
import pytest

from browser import Browser
from grpo_compare.html_report import _marked, _word_diff, render_report, side_by_side
from grpo_compare.plots import figures
from grpo_compare.runs import load_run
from grpo_compare.scoring import score
from grpo_compare.summary import OUTCOMES
from grpo_compare.types import ArmResult

HOSTILE = "<script>alert('owned')</script></pre></td><img src=x onerror=alert(1)> so <answer>\n<b>4</b>\n</answer>"
VISIBLE_ROWS = "document.querySelectorAll('tr.problem:not([hidden])').length"


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grpo_compare.cli", *args], capture_output=True, text=True,
                          timeout=600)


def test_every_run_writes_a_self_contained_report(math500_run):
    html = (math500_run / "report.html").read_text(encoding="utf-8")
    # Offline: nothing is fetched; the only URL is the SVG namespace.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//|@import|url\(""", html)
    assert html.count("<script>") == 1 and html.count("<style>") == 1
    table = pd.read_csv(math500_run / "comparison.csv")
    assert html.count('<tr class="problem"') == len(table) == 4
    assert sorted(re.findall(r'data-outcome="(\w+)"', html)) == sorted(table.outcome)
    for title in ("Accuracy by arm", "Format compliance by arm", "Training rewards by arm",
                  "Completion length distribution", "Accuracy by level", "Accuracy by subject"):
        assert f"<title>{title}" in html, title
    for reward in ("xmlcount", "soft_format", "strict_format", "int", "correctness"):
        assert f">{reward} (max" in html
    summary = json.loads((math500_run / "summary.json").read_text())
    assert "McNemar exact p" in html and f"{summary['mcnemar_p']:.3g}" in html
    assert "adapter applied?" in html  # the run's adapter check is on a card


def test_every_figure_is_well_formed_svg(math500_run):
    figs = figures(load_run(math500_run))
    assert len(figs) == 6  # MATH-500 adds accuracy by level and by subject
    for title, svg in figs.items():
        root = ElementTree.fromstring(svg)
        assert root.tag == "{http://www.w3.org/2000/svg}svg", title
        assert root.find("{http://www.w3.org/2000/svg}title").text.startswith(title.split(" by")[0])


def test_report_command_rebuilds_the_same_page_without_a_model(math500_run, tmp_path):
    run = shutil.copytree(math500_run, tmp_path / "run")
    original = (run / "report.html").read_text(encoding="utf-8")
    (run / "report.html").unlink()
    code = ("import sys; from grpo_compare.runs import rebuild_report; rebuild_report(sys.argv[1]); "
            "assert 'vllm' not in sys.modules and 'torch' not in sys.modules, 'a model library was loaded'")
    proc = subprocess.run([sys.executable, "-c", code, str(run)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (run / "report.html").read_text(encoding="utf-8") == original
    (run / "report.html").unlink()
    proc = cli("report", str(run))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (run / "report.html").read_text(encoding="utf-8") == original


@pytest.mark.parametrize("setup, words, code", [
    (lambda d: None, ["not found"], 2),                                      # no such directory
    (lambda d: d.mkdir(), ["no generations.jsonl"], 2),                      # an empty folder
    (lambda d: (d.mkdir(), (d / "generations.jsonl").write_text('{"a": 1}\n{"b": 2}\n'),
                (d / "config.yaml").write_text("{}\n")), [":1:", "no 'problem_id'"], 3),  # not our records
])
def test_report_command_names_a_bad_run_dir(tmp_path, setup, words, code):
    run = tmp_path / "run"
    setup(run)
    proc = cli("report", str(run))
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    assert [x for x in proc.stderr.splitlines() if x.startswith("error:")], proc.stderr
    for w in words:
        assert w in proc.stderr.replace("\n", " ")


def hostile_comparison(run: Path):
    """The run with one completion replaced by markup that must show as text, re-scored for real."""
    c = load_run(run)
    pid, arm = c.problems[0].id, c.arms[1].name
    res = c.results[(pid, arm)]
    results = dict(c.results)
    results[(pid, arm)] = ArmResult(replace(res.generation, completion=HOSTILE), score(HOSTILE, c.problems[0].gold))
    return replace(c, results=results)


def test_model_text_is_escaped(math500_run):
    c = hostile_comparison(math500_run)
    html = render_report(c)
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&#x27;owned&#x27;)&lt;/script&gt;" in html
    fragment = side_by_side(c, c.problems[0].id)
    assert "<b>4</b>" not in fragment
    assert re.search(r'<span class="(chg )?ans">&lt;b&gt;4&lt;/b&gt;</span>', fragment)


@pytest.mark.parametrize("a, b, only_a, only_b", [
    ("the answer is 5", "the answer is 6", ["5"], ["6"]),          # one word replaced
    ("x = 1\ny = 2", "x = 1\ny = 2", [], []),                     # identical: nothing marked
    ("so it is 12", "it is 12 apples", ["so"], ["apples"]),       # deleted and inserted words
    ("a  b", "a b", [], []),                                      # whitespace alone is no difference
])
def test_word_diff_marks_the_words_only_one_side_has(a, b, only_a, only_b):
    spans_a, spans_b = _word_diff(a, b)
    assert [a[s:e] for s, e in spans_a] == only_a
    assert [b[s:e] for s, e in spans_b] == only_b


def test_marking_splits_changed_words_and_the_answer():
    text = "<answer>\n42\n</answer>"
    start = text.index("42")
    html = _marked(text, [(0, start + 3)], (start, start + 2))  # the change runs to the newline after 42
    assert html == ('<span class="chg">&lt;answer&gt;\n</span><span class="chg ans">42</span>'
                    '<span class="chg">\n</span>&lt;/answer&gt;')


@pytest.fixture
def chromium():
    if Browser.find() is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    pytest.importorskip("websockets.sync.client")


def test_report_in_a_real_browser(chromium, math500_run, tmp_path):
    summary = json.loads((math500_run / "summary.json").read_text())
    counts, n = summary["outcomes"], summary["n"]
    # The filter to click: an outcome present on fewer than all rows, else one absent (0 rows).
    target = min(OUTCOMES, key=lambda o: (counts[o] in (0, n), counts[o]))
    with Browser(tmp_path) as b:
        b.open(math500_run / "report.html")
        assert b.errors == []
        assert b.eval(VISIBLE_ROWS) == n
        assert b.eval("document.getElementById('shown').textContent") == f"{n} of {n} shown"

        b.eval(f"document.querySelector('[data-filter={target}]').click()")
        assert b.eval(VISIBLE_ROWS) == counts[target] != n
        shown = b.eval("[...document.querySelectorAll('tr.problem:not([hidden])')].map(r => r.dataset.outcome)")
        assert set(shown) <= {target}
        assert b.eval("location.hash") == f"#outcome={target}"

        b.eval("document.querySelector('[data-filter=all]').click()")
        assert b.eval(VISIBLE_ROWS) == n
        pid = json.loads((math500_run / "generations.jsonl").read_text().splitlines()[0])["problem_id"]
        b.eval(f"document.getElementById('search').value = {json.dumps(pid)};"
               "document.getElementById('search').dispatchEvent(new Event('input'))")
        assert pid in b.eval("[...document.querySelectorAll('tr.problem:not([hidden])')].map(r => r.dataset.id)")
        b.eval("document.getElementById('search').value = '';"
               "document.getElementById('search').dispatchEvent(new Event('input'))")

        row = f"document.querySelector('tr.problem[data-id={json.dumps(pid)}]')"
        assert b.eval(f"{row}.nextElementSibling.hidden") is True
        b.eval(f"{row}.click()")
        assert b.eval(f"{row}.nextElementSibling.hidden") is False
        assert b.eval(f"{row}.nextElementSibling.querySelectorAll('.arm pre').length") == 2
        shot = b.screenshot(tmp_path / "report.png")
        print(f"screenshot: {shot}")
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000

        b.open(math500_run / "report.html", f"#outcome={target}")  # a filtered link opens filtered
        assert b.eval(VISIBLE_ROWS) == counts[target]
        assert b.errors == []


def test_hostile_completion_stays_text_in_the_browser(chromium, math500_run, tmp_path):
    page = tmp_path / "report.html"
    page.write_text(render_report(hostile_comparison(math500_run)), encoding="utf-8")
    with Browser(tmp_path) as b:
        b.open(page)
        assert b.errors == []  # no alert() dialog, no broken markup
        assert b.eval("document.scripts.length") == 1 and b.eval("document.images.length") == 0
        assert "alert('owned')" in b.eval("document.querySelector('tr.detail .arm:nth-child(2) pre').textContent")
        assert b.eval("document.querySelector('tr.detail .arm:nth-child(2) .ans').textContent") == "<b>4</b>"
