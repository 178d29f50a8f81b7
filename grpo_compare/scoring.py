"""Scoring: answer extraction, math-verify correctness, and the GRPO training rewards replayed.

    s = score("<reasoning>\\n9*2\\n</reasoning>\\n<answer>\\n18\\n</answer>\\n", gold="18")
    s.correct, s.extractor, s.rewards["xmlcount"]     # (True, 'answer_tag', 0.5)

The five `notebook_rewards` reproduce the unsloth GRPO notebooks' reward functions exactly,
quirks included (no re.DOTALL, re.match anchoring, xmlcount's length penalties): they are what
training rewarded. The corrected checks (DOTALL formats, math-verify correctness) sit beside
them under their own names: they are what is actually right. Every function here is a pure
function of strings; math-verify is imported on first use so importing this module stays cheap.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from .types import Score

# The training prompt of the unsloth GRPO notebooks, byte for byte (leading and trailing newline).
SYSTEM_PROMPT = (
    "\nRespond in the following format:\n<reasoning>\n...\n</reasoning>\n<answer>\n...\n</answer>\n"
)

NOTEBOOK_REWARDS = ("xmlcount", "soft_format", "strict_format", "int", "correctness")
SOFT_PATTERN = r"<reasoning>.*?</reasoning>\s*<answer>.*?</answer>"
STRICT_PATTERN = r"^<reasoning>\n.*?\n</reasoning>\n<answer>\n.*?\n</answer>\n$"
MAX_ANSWER_CHARS = 1000  # longer "answers" are rambling, and can keep sympy busy for minutes
GRADE_TIMEOUT_S = 5

__all__ = [
    "GRADE_TIMEOUT_S", "MAX_ANSWER_CHARS", "NOTEBOOK_REWARDS", "SOFT_PATTERN", "STRICT_PATTERN",
    "SYSTEM_PROMPT", "correctness_reward", "extract_answer", "extract_hash_answer",
    "extract_xml_answer", "grade", "int_reward", "notebook_rewards", "score", "soft_format_reward",
    "strict_format_reward", "xmlcount_reward",
]


# --- training's own extraction and rewards (faithful, quirks included) ------------------------

def extract_xml_answer(text: str) -> str:
    """Text after the last `<answer>`, before the first following `</answer>`, stripped.

    >>> extract_xml_answer("<answer>\\n 7 \\n</answer>")
    '7'
    >>> extract_xml_answer("no tags, 5")
    'no tags, 5'
    """
    return text.split("<answer>")[-1].split("</answer>")[0].strip()


def extract_hash_answer(text: str) -> str | None:
    """GSM8K gold: the text after `####`, stripped (commas and `$` kept); None when there is none.

    >>> extract_hash_answer("9 * 2 = 18\\n#### 1,018")
    '1,018'
    """
    if "####" not in text:
        return None
    return text.split("####")[1].strip()


def xmlcount_reward(text: str) -> float:
    """0.125 per well-placed tag, minus 0.001 per character trailing the answer block.

    >>> xmlcount_reward("<reasoning>\\nr\\n</reasoning>\\n<answer>\\n1\\n</answer>\\n")
    0.5
    """
    count = 0.0
    if text.count("<reasoning>\n") == 1:
        count += 0.125
    if text.count("\n</reasoning>\n") == 1:
        count += 0.125
    if text.count("\n<answer>\n") == 1:
        count += 0.125
        # With no "\n</answer>\n" the split keeps the whole text: the whole length is subtracted.
        count -= len(text.split("\n</answer>\n")[-1]) * 0.001
    if text.count("\n</answer>") == 1:
        count += 0.125
        count -= (len(text.split("\n</answer>")[-1]) - 1) * 0.001
    return count


def soft_format_reward(text: str) -> float:
    """0.5 if `re.match(SOFT_PATTERN, text)` without DOTALL (so it fails on multi-line reasoning).

    >>> soft_format_reward("<reasoning>r</reasoning> <answer>1</answer>")
    0.5
    >>> soft_format_reward("<reasoning>\\nr</reasoning><answer>1</answer>")
    0.0
    """
    return 0.5 if re.match(SOFT_PATTERN, text) else 0.0


def strict_format_reward(text: str) -> float:
    """0.5 only for one-line reasoning and answer with a final newline (no DOTALL).

    >>> strict_format_reward("<reasoning>\\nr\\n</reasoning>\\n<answer>\\n1\\n</answer>\\n")
    0.5
    """
    return 0.5 if re.match(STRICT_PATTERN, text) else 0.0


def int_reward(text: str) -> float:
    """0.5 if the extracted XML answer is all digits (`-3`, `2.5`, `1,000` score 0).

    >>> int_reward("<answer>\\n42\\n</answer>"), int_reward("<answer>-3</answer>")
    (0.5, 0.0)
    """
    return 0.5 if extract_xml_answer(text).isdigit() else 0.0


def correctness_reward(text: str, gold: str | None) -> float:
    """2.0 if the extracted XML answer equals the gold string exactly (`18.0` != `18`).

    >>> correctness_reward("<answer>18</answer>", "18")
    2.0
    >>> correctness_reward("<answer>18.0</answer>", "18")
    0.0
    """
    return 2.0 if gold is not None and extract_xml_answer(text) == gold else 0.0


def notebook_rewards(completion: str, gold: str | None) -> dict[str, float]:
    """The five training rewards, in the trainer's order, exactly as training computed them.

    >>> notebook_rewards("<answer>\\n3\\n</answer>\\n", "3")["correctness"]
    2.0
    """
    return {
        "xmlcount": xmlcount_reward(completion),
        "soft_format": soft_format_reward(completion),
        "strict_format": strict_format_reward(completion),
        "int": int_reward(completion),
        "correctness": correctness_reward(completion, gold),
    }


# --- evaluation: what is actually right --------------------------------------------------------

# A minus only counts as a sign when it does not follow an operand ("5-3" ends in 3, not -3);
# commas only count as thousands separators in groups of three ("3,4" is two numbers).
_NUMBER = re.compile(r"(?:(?<![\w)\]}])-)?(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?")
_HASH_LINE = re.compile(r"####[ \t]*([^\n]*)")


def _last_boxed(text: str) -> str | None:
    """Content of the last `\\boxed{...}`, braces balanced; None when absent or unclosed."""
    start = text.rfind("\\boxed{")
    if start < 0:
        return None
    depth, open_at = 0, start + len("\\boxed")
    for j in range(open_at, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[open_at + 1:j].strip()
    return None


def _last_hash(text: str) -> str | None:
    """The rest of the line after the last `####` (a model may keep writing after it)."""
    found = [m.strip() for m in _HASH_LINE.findall(text) if m.strip()]
    return found[-1] if found else None


def extract_answer(text: str) -> tuple[str | None, str]:
    """The evaluation cascade: (answer, which rule found it), first rule that yields wins.

    >>> extract_answer("so \\\\boxed{\\\\frac{1}{2}}")
    ('\\\\frac{1}{2}', 'boxed')
    >>> extract_answer("It is 1,250 apples.")
    ('1250', 'last_number')
    """
    if "<answer>" in text:
        answer = extract_xml_answer(text)
        if answer:
            return answer, "answer_tag"
    boxed = _last_boxed(text)
    if boxed:
        return boxed, "boxed"
    hashed = _last_hash(text)
    if hashed:
        return hashed, "hash"
    numbers = _NUMBER.findall(text)
    if numbers:
        return numbers[-1].replace(",", ""), "last_number"
    return None, "none"


# Math delimiters math-verify looks for; "\\$" is an escaped dollar sign (currency), not one.
_DELIMITED = re.compile(r"(?<!\\)\$|\\boxed|\\\(|\\\[")
_THOUSANDS = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_LATEX_NAMES = re.compile(r"\\(?:begin|end)\{[^}]*\}|\\[A-Za-z]+")  # \begin{pmatrix} is no prose
_WORD = re.compile(r"[A-Za-z]{2,}")


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
    prose = _WORD.search(_LATEX_NAMES.sub("", text)) is not None
    wrapped = f"${text}$"
    return [wrapped, text] if latex_first or not prose else [text, wrapped]


def _parse(text: str, latex_first: bool, timeout: int | None) -> list[Any]:
    """The first reading math-verify turns into a sympy object; [] when none does."""
    from math_verify import parse
    from sympy import Basic, MatrixBase

    for reading in _readings(text, latex_first):
        parsed = parse(reading, parsing_timeout=timeout)  # type: ignore[arg-type]
        # parse() falls back to the raw matched string; a bare string is not a parsed answer.
        if any(isinstance(p, (Basic, MatrixBase)) for p in parsed):
            return parsed
    return []


def grade(gold: str | None, answer: str | None) -> bool | None:
    """Mathematical equivalence via math-verify, gold parsed first; None = could not be graded.

    >>> grade("\\\\frac{1}{2}", "0.5"), grade("18", "19"), grade(None, "3")
    (True, False, None)
    """
    if gold is None or not gold.strip():
        return None
    from math_verify import verify
    from math_verify.errors import TimeoutException

    # math-verify times out with signal.alarm, which raises ValueError outside the main thread;
    # there it runs without a timeout (the length cap below keeps the inputs small).
    timeout = GRADE_TIMEOUT_S if threading.current_thread() is threading.main_thread() else None
    try:
        gold_parsed = _parse(gold, True, timeout)
        if not gold_parsed:
            return None
        if answer is None or not answer.strip() or len(answer) > MAX_ANSWER_CHARS:
            return False
        pred = _parse(answer, False, timeout)
        return bool(pred) and bool(verify(gold_parsed, pred, timeout_seconds=timeout))
    except (Exception, TimeoutException):  # TimeoutException is a BaseException: catch it by name
        return None  # a sympy failure or timeout is "ungraded", never "wrong"


def score(completion: str, gold: str | None) -> Score:
    """Extract, grade, check the format (DOTALL) and replay the training rewards.

    >>> s = score("<reasoning>\\nfirst\\nsecond\\n</reasoning>\\n<answer>\\n4\\n</answer>\\n", "4")
    >>> s.correct, s.soft_format, s.rewards["soft_format"], s.rewards["soft_format_dotall"]
    (True, True, 0.0, 0.5)
    """
    answer, extractor = extract_answer(completion)
    correct = grade(gold, answer)
    # Corrected formats: '.' crosses newlines; soft also forgives surrounding whitespace.
    soft = re.match(SOFT_PATTERN, completion.strip(), re.DOTALL) is not None
    strict = re.match(STRICT_PATTERN, completion, re.DOTALL) is not None
    rewards = notebook_rewards(completion, gold) | {
        "soft_format_dotall": 0.5 if soft else 0.0,
        "strict_format_dotall": 0.5 if strict else 0.0,
        "correctness_math": 2.0 if correct else 0.0,
    }
    return Score(answer, extractor, correct, strict, soft, rewards)
