"""Grading: whether an answer equals the gold, by math-verify, in a worker process that no grade
outlasts by more than GRADE_TIMEOUT_S; None = could not be graded, never "wrong"."""

from __future__ import annotations

import atexit
import json
import os
import re
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from .forms import _TEXT_MACRO, _latex_math, _same_moment, _text_gold, _text_match
from .patterns import _LABEL, _LATEX_NAMES, _WORD

MAX_ANSWER_CHARS = 1000  # longer "answers" are rambling, and can keep sympy busy for minutes
GRADE_TIMEOUT_S = 2.0  # wall-clock seconds for one whole grade, then ungraded (see _graded_in_time)


# --- math-verify: what it is handed, and how its verdict is read ----------------------------------

# Math delimiters math-verify looks for; "\\$" is an escaped dollar sign (currency), not one.
_DELIMITED = re.compile(r"(?<!\\)\$|\\boxed|\\\(|\\\[")
_THOUSANDS = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
# "3, 4 or 5" is the set of three alternatives, not 5: joiners between numbers become commas.
_JOINER = re.compile(r"(?<=[\d)])\s*,?\s+(?:or|and)\s+(?=[-(\d])", re.IGNORECASE)
# Words before and after a math span ("the area is | 4\pi | square units").
_AROUND_MATH = re.compile(
    r"((?:[A-Za-z]{2,}[\s,:]+)*)(.*?)((?:[\s,]+[A-Za-z]{2,}(?:\^\{\d\})?\.?)*)", re.DOTALL
)
_LABELLED = re.compile(_LABEL + r"\d+\b", re.IGNORECASE)  # "horse #12", "question 3"


def _readings(text: str, latex_first: bool) -> list[str]:
    """The strings to hand math-verify, most plausible first.

    math-verify's LaTeX extractor only looks inside delimiters, so bare LaTeX is wrapped in $...$.
    But a $-wrapped "18 dollars" reads as 18*d*o*l*l*a*r*s, so prose is tried plainly first
    (the plain extractor finds the number); golds are LaTeX by convention, so they go wrapped first.
    """
    text = text.strip()
    if _THOUSANDS.fullmatch(text):
        # Only thousands commas go: math-verify reads a plain "1,5" as 1.5 and "$1,5$" as {1, 5}.
        text = text.replace(",", "")
    if _DELIMITED.search(text):
        return [text]
    text = _JOINER.sub(", ", text)
    # Words in \text{...} are units or connectives ("6 \text{ and } 8"), not prose.
    words = _TEXT_MACRO.sub("", text)
    prose = _WORD.search(_LATEX_NAMES.sub("", words)) is not None
    wrapped = f"${text}$"
    if latex_first or not prose:
        return [wrapped, text]
    if _LATEX_NAMES.search(words):
        # The plain extractor reads "4\pi square units" as 4: the math goes in delimiters and
        # the words around it stay outside ("$4\pi$ square units").
        m = _AROUND_MATH.fullmatch(text)
        return [f"{m[1]}${m[2]}${m[3]}" if m else wrapped]
    # The plain extractor takes the first number: "question 3 is 7" would read 3.
    unlabelled = _LABELLED.sub(" ", text)
    return [unlabelled if re.search(r"\d", unlabelled) else text, wrapped]


def _parse(text: str, latex_first: bool) -> list[Any]:
    """The first reading math-verify turns into a sympy object; [] when none does."""
    from math_verify import parse
    from sympy import Basic, MatrixBase

    for reading in _readings(text, latex_first):
        # No timeout of math-verify's own: _graded_in_time bounds the whole grade.
        parsed = parse(reading, parsing_timeout=None)  # type: ignore[arg-type]
        # parse() falls back to the raw matched string; a bare string is not a parsed answer.
        if any(isinstance(p, (Basic, MatrixBase)) for p in parsed):
            return [_imaginary_unit(p) for p in parsed]
    return []


def _imaginary_unit(parsed: Any) -> Any:
    """`i` as sympy's I. math-verify makes `i` complex only when it stands alone, so "4i" and
    "4 i" became different symbols and (-3+4i)/5 != -3/5 + 4/5 i; as a plain symbol,
    2/(1-i) != 1+i."""
    from sympy import I

    units = [s for s in getattr(parsed, "free_symbols", ()) if getattr(s, "name", "") == "i"]
    if not units:
        return parsed
    try:
        return parsed.subs({s: I for s in units})
    except Exception:
        return parsed


def _percent_value(parsed: Any) -> Any:
    """X for a percent X% (math-verify keeps X * UnevaluatedExpr(1/100)); anything else as is."""
    from sympy import Mul, Rational, UnevaluatedExpr

    percent = UnevaluatedExpr(Rational(1, 100))
    if isinstance(parsed, Mul) and len(parsed.args) == 2 and parsed.args[1] == percent:
        return parsed.args[0]
    return parsed


def _equivalent(gold: list[Any], pred: list[Any]) -> bool:
    """math-verify's verify (gold first), then again with percents as their number.

    math-verify lets an integer percent equal its number (35% == 35) but not a decimal one
    (35.0% != 35); the second pass gives decimals the same reading.
    """
    from math_verify import verify

    if verify(gold, pred, timeout_seconds=None):
        return True
    gold_n, pred_n = [_percent_value(g) for g in gold], [_percent_value(p) for p in pred]
    if gold_n == gold and pred_n == pred:
        return False
    return bool(verify(gold_n, pred_n, timeout_seconds=None))


# --- one grade, at most GRADE_TIMEOUT_S -----------------------------------------------------------
#
# sympy can run for minutes or for ever on one answer: "5^{5^{5^{5^5}}}" starts a power with more
# digits than there are atoms, inside C, where math-verify's own timeout (signal.alarm: whole
# seconds, per parse or verify call, main thread only) never fires. So math-verify runs in a
# worker process, one grade at a time, and a grade still running after GRADE_TIMEOUT_S kills its
# worker and is ungraded (None), never wrong. Workers are kept for the next grade; starting one
# (importing math-verify, about a second) happens before the clock of a grade starts.

# The worker imports the scoring package alone: the grpo_compare package's __init__ (sessions,
# engines) is not needed to grade, and it costs start-up time.
_SERVE = (
    "import sys, types; pkg = types.ModuleType('grpo_compare'); pkg.__path__ = [sys.argv[1]]; "
    "sys.modules['grpo_compare'] = pkg; import grpo_compare.scoring.grading as g; g._serve()"
)
_IDLE: dict[int, list[subprocess.Popen[str]]] = {}  # per process id (a fork starts its own)
_LIVE: dict[int, set[subprocess.Popen[str]]] = {}  # per process id: every worker not killed yet
_LOCK = threading.Lock()
_KILL_MARGIN_S = 0.1  # time left to kill the worker and return within the limit


def _grade_math(gold: str, answer: str | None) -> bool | None:
    """math-verify's verdict, gold parsed first; None when the gold does not parse or sympy fails."""
    try:
        gold_parsed = _parse(gold, True)
        if not gold_parsed:
            return None
        if answer is None or not answer.strip() or len(answer) > MAX_ANSWER_CHARS:
            return False
        pred = _parse(answer, False)
        return bool(pred) and _equivalent(gold_parsed, pred)
    except Exception:
        return None  # a sympy failure is "ungraded", never "wrong"


def _serve() -> None:
    """A worker: one JSON [gold, answer] a line in, one JSON verdict a line out."""
    # Ctrl-C is for the process that grades: it ends this one, or this one ends with its input.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    out, sys.stdout = sys.stdout, sys.stderr  # whatever sympy prints stays off the replies
    import math_verify  # noqa: F401  (before "ready": no grade's time goes to the import)

    print("ready", file=out, flush=True)
    for line in sys.stdin:
        print(json.dumps(_grade_math(*json.loads(line))), file=out, flush=True)


def _start_worker() -> subprocess.Popen[str] | None:
    """A worker process, ready to grade; None where none can be started."""
    if os.name != "posix":  # select() on pipes is POSIX only
        return None
    try:
        proc = subprocess.Popen([sys.executable, "-c", _SERVE, str(Path(__file__).resolve().parents[1])],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True)
    except OSError:
        return None
    with _LOCK:
        _LIVE.setdefault(os.getpid(), set()).add(proc)
    if proc.stdout is None or proc.stdout.readline().strip() != "ready":
        _kill(proc)
        return None
    return proc


def _idle_worker() -> subprocess.Popen[str] | None:
    """A worker of this process that is free and still running, if there is one."""
    with _LOCK:
        idle = _IDLE.setdefault(os.getpid(), [])
        while idle:
            proc = idle.pop()
            if proc.poll() is None:
                return proc
            _LIVE.get(os.getpid(), set()).discard(proc)
    return None


def _kill(proc: subprocess.Popen[str]) -> None:
    """Kill a worker; it is reaped in the background, not waited for."""
    proc.kill()
    with _LOCK:
        _LIVE.get(os.getpid(), set()).discard(proc)
    threading.Thread(target=proc.wait, daemon=True).start()


@atexit.register
def _stop_workers() -> None:
    """This process's workers end with it, also one stuck in a grade that never ends."""
    for proc in list(_LIVE.get(os.getpid(), ())):
        proc.kill()


def _graded_in_time(gold: str, answer: str | None, started: float) -> bool | None:
    """_grade_math in a worker process; None once GRADE_TIMEOUT_S have passed since `started`
    (time.monotonic() when the grade began), the worker then killed."""
    proc = _idle_worker()
    if proc is None:
        proc, started = _start_worker(), time.monotonic()  # a start is not the grade's time
    if proc is None or proc.stdin is None or proc.stdout is None:
        return _grade_math(gold, answer)  # no worker here: graded in-process, without a limit
    left = max(0.0, started + GRADE_TIMEOUT_S - _KILL_MARGIN_S - time.monotonic())
    try:
        proc.stdin.write(json.dumps([gold, answer]) + "\n")
        proc.stdin.flush()
        line = proc.stdout.readline() if select.select([proc.stdout], [], [], left)[0] else ""
    except (OSError, ValueError):
        line = ""
    if not line:  # out of time, or the worker died (out of memory)
        _kill(proc)
        return None
    with _LOCK:
        _IDLE.setdefault(os.getpid(), []).append(proc)
    return json.loads(line)


def grade(gold: str | None, answer: str | None) -> bool | None:
    """Mathematical equivalence via math-verify, gold parsed first; None = could not be graded.

    >>> grade("\\\\frac{1}{2}", "0.5"), grade("18", "19"), grade(None, "3")
    (True, False, None)
    >>> grade("35", "35.0\\\\%"), grade("LXQS", "LQSX"), grade("A,B,E", "\\\\text{A, B, E}")
    (True, False, True)
    >>> grade("25", "25√2/2"), grade("2", "2:10 pm"), grade("2", "2:00 pm")
    (False, False, True)
    """
    started = time.monotonic()
    if gold is None or not gold.strip():
        return None
    if (text_gold := _text_gold(gold)) is not None:
        if answer is None or not answer.strip() or len(answer) > MAX_ANSWER_CHARS:
            return False
        return _text_match(text_gold, answer)
    if answer is not None and (answer := _latex_math(answer)) is None:
        return None  # a math symbol with no reading: grading what is left would drop it
    gold_math = _latex_math(gold)
    if gold_math is None:
        return None
    if answer and (same := _same_moment(gold_math, answer)) is not None:
        return same
    return _graded_in_time(gold_math, answer, started)
