"""Scoring: the answer a completion states, its math-verify grade, and the GRPO training rewards.

    s = score("<reasoning>\\n9*2\\n</reasoning>\\n<answer>\\n18\\n</answer>\\n", gold="18")
    s.correct, s.extractor, s.rewards["xmlcount"]     # (True, 'answer_tag', 0.5)

The five `notebook_rewards` reproduce the unsloth GRPO notebooks' reward functions exactly,
quirks included (no re.DOTALL, re.match anchoring, xmlcount's length penalties): they are what
training rewarded. The corrected checks (DOTALL formats, math-verify correctness) sit beside
them under their own names: they are what is actually right. Every function here is a pure
function of strings; math-verify is imported on first use so importing this module stays cheap,
and it runs in a worker process so that no grade outlasts GRADE_TIMEOUT_S (sympy cannot be
interrupted inside C).
"""

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
import unicodedata
from pathlib import Path
from typing import Any, NamedTuple

from .types import Score

# The training prompt of the unsloth GRPO notebooks, byte for byte (leading and trailing newline).
SYSTEM_PROMPT = (
    "\nRespond in the following format:\n<reasoning>\n...\n</reasoning>\n<answer>\n...\n</answer>\n"
)

NOTEBOOK_REWARDS = ("xmlcount", "soft_format", "strict_format", "int", "correctness")
SOFT_PATTERN = r"<reasoning>.*?</reasoning>\s*<answer>.*?</answer>"
STRICT_PATTERN = r"^<reasoning>\n.*?\n</reasoning>\n<answer>\n.*?\n</answer>\n$"
MAX_ANSWER_CHARS = 1000  # longer "answers" are rambling, and can keep sympy busy for minutes
GRADE_TIMEOUT_S = 2.0  # wall-clock seconds for one whole grade, then ungraded (see _graded_in_time)

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


# --- evaluation: the answer the model stated ----------------------------------------------------
#
# extract_answer looks for the answer the model *stated*, not for the last number it wrote:
#   1. answer_tag      the <answer> block (the trained format), read as training reads it;
#   2. stated answers, of which the LAST in the text wins (a model that corrects itself means
#      the correction): final_answer ("the final answer is", "Answer:"), answer_heading
#      ("# Answer", "**Final Answer**" on a line of its own), json_answer ({"answer": ...}),
#      boxed (every \boxed of one run, "\boxed{1} and \boxed{2}", read as the set), hash (####);
#   3. bare_answer     the whole completion when it is nothing but an answer ("$(3, 2)$", "B");
#   4. last_number     weak evidence, only when nothing above states an answer: the last number,
#      or the last $...$ holding one, unless the text was cut off, hedges or concludes otherwise;
#      read whole (a time "2:10 pm", a date, unicode math "25√2/2"), and not a number that names
#      a thing ("horse #12") when its sentence states another;
#   5. none, also for a completion stuck in a loop (3 and 4 are skipped: it states nothing).
# Rules 2-4 read only up to a new chat turn the model ran on into ("<|im_start|>", "\nHuman:").
# math-verify's own extraction (LatexExtractionConfig / ExprExtractionConfig) ranks candidates by
# a fixed priority before position (a boxed value beats a later "so the answer is -46"), returns
# a parsed object rather than the stated text, and falls back to any number; so the stated text
# is found here and math-verify only parses and compares it.

class _Found(NamedTuple):
    start: int
    end: int
    answer: str
    rule: str


_BOX = re.compile(r"\\(?:boxed|fbox)\s*\{")
# Only connectives may sit between the boxes of one answer ("\boxed{1},\ \boxed{2}",
# "\boxed{(3,3)} \text{ for part (a) and } \boxed{(1,1)}"); "no wait" splits them.
_CONNECTOR = re.compile(
    r"(?:\s|[,;&$]|\\[()\[\],;! ]|\\\\|\\q?quad\b|\band\b|\bor\b"
    r"|\\text\s*\{[\s,]*(?:(?:and|or|for|parts?|\([a-z]\)|respectively)[\s,]*)*\})*",
    re.IGNORECASE,
)
# "answer" then is / would be / a colon ("Answer: (B)", "**Answer:** B", "answer to part (a) is");
# not "=", which is mostly code ("answer = total - 3").
_STATEMENT = re.compile(
    r"\b(?:final\s+)?answer(?:\s+(?:to|for|of)\b[^.\n:=]{0,60}?)?\s*(?:\*\*\s*)?"
    r"(?:is\b|would\s+be\b|should\s+be\b|will\s+be\b|:)",
    re.IGNORECASE,
)
# "Let's check the answer: 3 + 4 = 7" or "this answer is reasonable" state nothing.
_NOT_STATING = re.compile(
    r"\b(?:this|that|which|each|an|any|whether|if|no|every|your|check(?:ing)?|verify(?:ing)?"
    r"|confirm(?:ing)?|double-check(?:ing)?)\s+(?:\w+\s+)?(?:final\s+)?$",
    re.IGNORECASE,
)
_HEADING = re.compile(
    r"^[ \t]*(?:#{1,6}[ \t]*|\*\*)?(?:final[ \t]+)?answer(?:\*\*:?|:(?:\*\*)?)?[ \t]*$",
    re.IGNORECASE | re.MULTILINE,
)
_JSON = re.compile(
    r"""["'](?:final_)?answer["']\s*:\s*("(?:[^"\\\n]|\\.)*"|'[^'\n]*'|-?[\d.,/]+)""",
    re.IGNORECASE,
)
_HASH = re.compile(r"####[ \t]*([^\n]*)")
# A base model often runs on into a new turn ("<|im_start|>user", "Human: ...", "Question: ...")
# and answers that one too; what it stated for this problem comes before.
_NEW_TURN = re.compile(
    r"<\|(?:im_start|im_end|endoftext|end_of_text|eot_id|start_header_id)\|>"
    r"|\n[ \t]*(?:Human|User|Question|Problem)[ \t]*:",
)
_LEAD = re.compile(  # what may stand between an anchor and its value
    r"[\s*:]*(?:(?:so|thus|therefore|then|hence|simply|just|clearly|exactly|indeed|now),?\s+)*"
    r"(?:(?:the\s+)?(?:final\s+)?answer\s+is\b[\s*:]*)?",
    re.IGNORECASE,
)
_DISPLAY = re.compile(  # $$...$$, \[...\], \(...\), $...$ (one line; "\$" is a dollar sign)
    r"\$\$(.+?)\$\$|\\\[(.+?)\\\]|\\\((.+?)\\\)|\$((?:\\.|[^$\\\n])+)\$", re.DOTALL
)
_ENV = re.compile(r"\\begin\{(\w+\*?)\}.*?\\end\{\1\}", re.DOTALL)
_MORE_MATH = re.compile(r"\s*(?:[,;]\s*)?(?:(?:and|or)\s*)?(?=\$|\\\(|\\\[)", re.IGNORECASE)
_PERCENT = re.compile(r"\s*(?:\\?%|percent\b)", re.IGNORECASE)
# Where a prose value ends: a line or sentence end, a clause ("5 cars, since ..."), or a comma
# after a word ("20 cars, 5 of them") but not after a choice letter ("A, B, E").
_PLAIN_END = re.compile(
    r"\n|(?<!\\)[.!?;](?=\s|$)|,?\s+(?:because|since|which|where|as|but|while|given|if|when|so)\b"
    r"|(?P<word>(?<=[A-Za-z]{2}),\s)|\s+and\s+(?=(?:the|it|we|this|that|so|then)\b)|\bI hope\b",
    re.IGNORECASE,
)
_NEVER_ANSWERS = {"not", "correct", "incorrect", "wrong", "right", "reasonable", "valid",
                  "invalid", "consistent", "plausible", "sensible", "accurate", "unclear"}
_NOT_ALONE = {"the", "a", "an", "that", "this", "to", "in", "as", "below", "above", "shown",
              "given", "found", "obtained", "calculated", "determined", "based", "because",
              "how", "what", "when", "where", "why", "which", "whether", "also", "then",
              "let's", "lets", "we", "i", "it", "there", "you", "first", "step"}


def _brace_pairs(text: str) -> dict[int, int]:
    """Index of each `{` that is closed -> index of its `}`, in one pass over the text."""
    pairs, stack = {}, []
    for j, char in enumerate(text):
        if char == "{":
            stack.append(j)
        elif char == "}" and stack:
            pairs[stack.pop()] = j
    return pairs


def _boxes(text: str) -> list[tuple[int, int, str]]:
    """(start, end, content) of every closed `\\boxed{...}` / `\\fbox{...}`, in order."""
    found: list[tuple[int, int, str]] = []
    pairs = _brace_pairs(text) if "\\" in text else {}
    for m in _BOX.finditer(text):
        close = pairs.get(m.end() - 1)
        if close is not None and (not found or m.start() >= found[-1][1]):
            found.append((m.start(), close + 1, text[m.end():close].strip()))
    return found


def _box_groups(text: str) -> list[_Found]:
    """Runs of boxes joined only by connectives, each read as one answer (a set when several)."""
    groups: list[list[tuple[int, int, str]]] = []
    for box in _boxes(text):
        gap = text[groups[-1][-1][1]:box[0]] if groups else None
        if gap is not None and len(gap) <= 120 and _CONNECTOR.fullmatch(gap):
            groups[-1].append(box)
        else:
            groups.append([box])
    found = []
    for group in groups:
        contents = list(dict.fromkeys(c for _, _, c in group if c))
        if contents:
            found.append(_Found(group[0][0], group[-1][1], ", ".join(contents), "boxed"))
    return found


def _math_value(text: str, pos: int) -> tuple[str, int] | None:
    """A value written as math at `pos`: boxes, `$...$` / `\\[...\\]` runs, or an environment."""
    if _BOX.match(text, pos):
        group = _box_groups(text[pos:])
        return (group[0].answer, pos + group[0].end) if group else None
    if (env := _ENV.match(text, pos)) is not None:
        return env.group(0), env.end()
    m = _DISPLAY.match(text, pos)
    if m is None:
        return None
    inner = next(g for g in m.groups() if g is not None)
    if len(_WORD.findall(_LATEX_NAMES.sub("", inner))) >= 2 and "\\" not in inner:
        return None  # "$18 and the cost is $": two currency signs around prose, not math
    end = m.end()
    while (more := _MORE_MATH.match(text, end)) and (nxt := _DISPLAY.match(text, more.end())):
        end = nxt.end()
    if (pct := _PERCENT.match(text, end)) is not None:
        end = pct.end()
    boxed = _box_groups(text[pos:end])
    if boxed:
        return boxed[-1].answer, end
    single = end == m.end()
    return (inner.strip() if single else text[pos:end].strip()), end


def _plain_end(text: str, pos: int) -> int:
    """Where a prose value starting at `pos` ends (at most 300 characters on)."""
    limit = min(len(text), pos + 300)
    for stop in _PLAIN_END.finditer(text, pos, limit):
        # "(-\infty, 0]": a comma after a LaTeX name is inside the math, not after a word.
        if not (stop.group("word") and re.search(r"\\[A-Za-z]+$", text[pos:stop.start()])):
            return stop.start()
    return limit


def _read_value(text: str, pos: int) -> tuple[str, int] | None:
    """The answer written right after an anchor ending at `pos`, and where it ends."""
    pos = _LEAD.match(text, pos).end()  # type: ignore[union-attr]
    math = _math_value(text, pos)
    if math is not None:
        value, end = math
    else:
        end = _plain_end(text, pos)
        boxed = _box_groups(text[pos:end])  # "Answer: the least $N$ is $\boxed{14916}$"
        value = boxed[-1].answer if boxed else text[pos:end]
    value = value.strip().strip("*`\"'").strip()
    value = re.sub(r"[.,;:]+$", "", value).strip()
    return (value, end) if _plausible(value) else None


def _plausible(value: str) -> bool:
    """Whether a value read after "answer is" is an answer ("correct", "the sum of ..." are not)."""
    words = value.lower().split()
    if not words or words[0].strip("(),.") in _NEVER_ANSWERS:
        return False
    if len(words) > 1 and words[0] in _NOT_ALONE:
        return bool(re.search(r"\d|\$|\\", value))
    return bool(re.search(r"\d|\$|\\|[=^()]", value)) or len(words) <= 3


def _statements(text: str) -> list[_Found]:
    """"The final answer is X", "Answer: X", "# Answer" headings, JSON answer fields, ####."""
    found = []
    for rule, anchors in (("final_answer", _STATEMENT), ("answer_heading", _HEADING)):
        for m in anchors.finditer(text):
            before = max(0, m.start() - 40)
            if rule == "final_answer" and _NOT_STATING.search(text, before, m.start()):
                continue
            read = _read_value(text, m.end())
            if read is not None:
                found.append(_Found(m.start(), read[1], read[0], rule))
    for m in _JSON.finditer(text):
        raw = m.group(1)
        try:
            value = json.loads(raw) if raw.startswith('"') else raw.strip("'")
        except ValueError:  # an invalid escape: the text between the quotes
            value = raw[1:-1]
        if _plausible(str(value)):
            found.append(_Found(m.start(), m.end(), str(value).strip(), "json_answer"))
    for m in _HASH.finditer(text):
        value = m.group(1).strip()
        # A markdown "#### Step 2: add them" or "#### Final Answer" heading is no answer line.
        if re.search(r"\d|\\", value) and len(_WORD.findall(value)) <= 2 and _plausible(value):
            found.append(_Found(m.start(), m.end(), value, "hash"))
    return found


def _stated(text: str) -> _Found | None:
    """The last stated answer; one found inside another (a box after "answer is") is that one."""
    kept: list[_Found] = []
    reach = -1  # the furthest end of the candidates starting at or before this one
    for f in sorted(_statements(text) + _box_groups(text), key=lambda f: (f.start, -f.end)):
        if f.end > reach or (kept and kept[-1][:2] == f[:2]):
            kept.append(f)
            reach = max(reach, f.end)
    return max(kept, key=lambda f: (f.end, f.start), default=None)


# A minus only counts as a sign when it does not follow an operand ("5-3" ends in 3, not -3);
# commas only count as thousands separators in groups of three ("3,4" is two numbers);
# "P(A) = 2/3" ends in the fraction 2/3, not in 3.
_NUMBER = re.compile(
    r"(?:(?<![\w)\]}])-)?(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?(?:/\d+(?!\.?\d))?"
)
# Text that ends mid-sentence ("... 5 * 3 = 15, and then the") was cut off: its last number
# is an intermediate value.
_CUT_OFF = re.compile(
    r"(?:\b(?:and|or|the|a|an|of|to|is|are|was|be|we|so|then|that|with|by|for|from|which"
    r"|if|but|since|because|gives?|equals?|get)|[=+\-*/×÷^(,:\\])\s*$",
    re.IGNORECASE,
)
_HEDGE = re.compile(  # "3, 4 or 5", "either 3 or 5", "between 3 and 5"
    r"(?:\d%?|\d\$)\s*,?\s*or\s+(?:maybe\s+|perhaps\s+|possibly\s+)?\$?$"
    r"|\bbetween\s+\$?-?\d[\d,.]*\$?\s+and\s+\$?$",
    re.IGNORECASE,
)
_NON_NUMERIC = re.compile(  # a conclusion after the last number that is no number
    r"\binfinite(?:ly)?\b|\bno\s+(?:real\s+|integer\s+|such\s+)?(?:solutions?|values?)\b"
    r"|\bundefined\b|\bdoes\s+not\s+exist\b|\bdoesn't\s+exist\b"
    r"|\bcan(?:not|'t)\s+be\s+determined\b|\bnot\s+enough\s+information\b",
    re.IGNORECASE,
)
# A time of day ("2:10 pm", "14:05", "2 pm") or a date ("10/12/2023", "2023-10-12"): read whole,
# never as the number before its colon or slash.
_CLOCK = (
    r"(?<![\d:.])(?P<h>[01]?\d|2[0-3]):(?P<m>[0-5]\d)(?::[0-5]\d)?(?![\d:])"
    r"(?:\s*(?P<ap>[ap])\.?m\b)?"
    r"|(?<![\d:.])(?P<h12>1[0-2]|0?[1-9])\s*(?P<ap12>[ap])\.?m\b"
)
_DAY, _MONTH = r"(?:0?[1-9]|[12]\d|3[01])", r"(?:0?[1-9]|1[0-2])"  # "1000-20-30" is a subtraction
_DATE = rf"(?<![\d/.])(?:{_DAY}/{_DAY}/(?:\d{{4}}|\d{{2}})|[12]\d{{3}}-{_MONTH}-{_DAY})(?![\d/-])"
_MOMENT = re.compile(f"{_CLOCK}|{_DATE}", re.IGNORECASE)
# What makes the number after it name a thing rather than a quantity: "horse #12", "question 3",
# "step 2" (not "#### 12", an answer line).
_LABEL = r"(?:(?<!#)#|\b(?:no\.|question|problem|step|part|exercise|example|item)\s*#?)\s*"
_LABEL_BEFORE = re.compile(_LABEL + "$", re.IGNORECASE)
# Unicode math glued to a number is part of it ("25√2/2" is not 2/2); so are the ASCII
# operators between the pieces.
_UNICODE_MATH = "√∛∜π×·⋅÷−±°⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻ⁿ¼½¾⅐⅑⅒⅓⅔⅕⅖⅗⅘⅙⅚⅛⅜⅝⅞"
_GLUED = re.compile(
    rf"[\w{_UNICODE_MATH}.^/*()+-]+(?:[ \t]*[-+*/×÷−·⋅±][ \t]*[\w{_UNICODE_MATH}.^/*()+-]+)*"
)
# A loop: a piece of at most _LOOP_UNIT characters, repeated _LOOP_REPEATS times and over
# _LOOP_CHARS characters at least, ending the text.
_LOOP_UNIT, _LOOP_REPEATS, _LOOP_CHARS = 200, 4, 40
_BARE = re.compile(r"\(?[A-Za-z]+\)?|\\text\s*\{[^{}\n]*\}|-?\$?\d[\d,]*(?:\.\d+)?%?|-?\.\d+")


def _bare(text: str) -> str | None:
    """The whole completion when it is nothing but an answer ("$(3, 2)$", "B", "42")."""
    body = text.strip().rstrip(".").strip()
    if not body or len(body) > 200:
        return None
    math = _math_value(body, 0)
    if math is not None and math[1] == len(body):
        return math[0]
    return body if _BARE.fullmatch(body) else None


def _quantity(text: str, numbers: list[re.Match[str]]) -> re.Match[str]:
    """The last number, unless it names a thing ("horse #12", "step 2") and its sentence states
    another: "So 6 people think horse #12 will win." states 6."""
    def label(n: re.Match[str]) -> bool:
        return _LABEL_BEFORE.search(text, max(0, n.start() - 12), n.start()) is not None

    last = numbers[-1]
    if not label(last):
        return last
    sentence = max(text.rfind(end, 0, last.start()) for end in ("\n", ". ", "! ", "? "))
    others = [n for n in numbers if n.start() > sentence and not label(n)]
    return others[-1] if others else last


def _whole(text: str, number: re.Match[str]) -> tuple[int, int, str]:
    """(start, end, value) of `number` read whole: as the time or date it is part of ("2:10 pm",
    "10/12/2023"), or with the unicode math around it ("25√2/2", "4π", "x² + 1")."""
    start, end = number.span()
    for m in _MOMENT.finditer(text, max(0, start - 12), min(len(text), end + 8)):
        if m.start() <= start and end <= m.end():
            return m.start(), m.end(), m.group()
    for m in _GLUED.finditer(text, max(0, start - 200), min(len(text), end + 200)):
        if m.start() <= start and end <= m.end():
            run = m.group().rstrip(".")
            while run[-1] == ")" and run.count(")") > run.count("("):
                run = run[:-1]  # "(about 25√2)": the bracket closes the prose, not the math
            if any(c in _UNICODE_MATH for c in run):
                return m.start(), m.start() + len(run), run
    return start, end, number.group().replace(",", "")


def _last_math(text: str) -> tuple[int, int, str] | None:
    """(start, end, value) of the last number, or of the last $...$ holding one when that ends
    later ("the ordered pair is $(7, 6)$" ends in (7, 6), not in 6)."""
    numbers = list(_NUMBER.finditer(text))
    if not numbers:
        return None
    found = _whole(text, _quantity(text, numbers))
    for m in _DISPLAY.finditer(text):  # from the start: a $ pairs with the one before it
        inner = next(g for g in m.groups() if g is not None).strip()
        # "$5. Then $" is two currency signs; a math block holds no words.
        prose = _WORD.search(_LATEX_NAMES.sub("", inner)) is not None
        if m.end() >= found[1] and re.search(r"\d", inner) and not prose:
            found = (m.start(), m.end(), inner)
    return found


def _degenerate(text: str) -> bool:
    """Whether the text ends in one piece repeated over and over, as a model stuck in a loop
    writes until the length limit: "so Ava has 0, so Ava has 0, ...", newline after newline,
    or the digits of "0.3333333..." long past any precision."""
    for size in range(1, _LOOP_UNIT + 1):
        span = max(_LOOP_REPEATS * size, _LOOP_CHARS)
        tail = text[-span:]
        if len(tail) == span and tail[size:] == tail[:-size]:
            return True
    return False


def _last_number(text: str) -> str | None:
    """The last number (or math), unless the text shows it is not the answer: cut off,
    hedged, or followed by a non-numeric conclusion such as "there are infinitely many"."""
    found = _last_math(text)
    if found is None or _CUT_OFF.search(text.rstrip()):
        return None
    start, end, value = found
    if _HEDGE.search(text, max(0, start - 40), start) or _NON_NUMERIC.search(text, end):
        return None
    return value


def extract_answer(text: str) -> tuple[str | None, str]:
    """(answer, rule): the answer tag, else the last stated answer, else the whole text when it
    is nothing but an answer, else the last number.

    >>> extract_answer("so \\\\boxed{\\\\frac{1}{2}}")
    ('\\\\frac{1}{2}', 'boxed')
    >>> extract_answer("\\\\boxed{4} is x, so the answer is $\\\\frac{10}{9}$.")
    ('\\\\frac{10}{9}', 'final_answer')
    >>> extract_answer("It is 1,250 apples.")
    ('1250', 'last_number')
    """
    if "<answer>" in text:
        answer = extract_xml_answer(text)
        if answer:
            inner = _stated(answer)  # "<answer>The answer is \boxed{7}</answer>" states 7
            return (inner.answer if inner else answer), "answer_tag"
    turn = _NEW_TURN.search(text, 1)
    text = text[:turn.start()] if turn else text
    stated = _stated(text)
    if stated is not None:
        return stated.answer, stated.rule
    if _degenerate(text):  # a loop run to the length limit states nothing, whatever came before
        return None, "none"
    bare = _bare(text)
    if bare is not None:
        return bare, "bare_answer"
    number = _last_number(text)
    return (number, "last_number") if number is not None else (None, "none")


# --- evaluation: grading --------------------------------------------------------------------------

# Math delimiters math-verify looks for; "\\$" is an escaped dollar sign (currency), not one.
_DELIMITED = re.compile(r"(?<!\\)\$|\\boxed|\\\(|\\\[")
_THOUSANDS = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_LATEX_NAMES = re.compile(r"\\(?:begin|end)\{[^}]*\}|\\[A-Za-z]+")  # \begin{pmatrix} is no prose
_WORD = re.compile(r"[A-Za-z]{2,}")
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


# Text answers (choice letters, names, words) are compared as text: as math, "LXQS" is the
# product L*X*Q*S and equals "LQSX".
_TEXT_MACRO = re.compile(r"\\(?:text|textbf|textit|textrm|mathrm|mathbf|mbox)\s*\{([^{}]*)\}")
_TEXT_ITEM = re.compile(r"\(?([A-Za-z]+(?:[ '\-][A-Za-z]+)*)\)?")
# A choice letter: "(c)", or a capital standing alone ("option B", "B. 15").
_CHOICE = re.compile(r"\(([A-Za-z])\)|(?<![A-Za-z\\])([A-Z])(?![A-Za-z])")


def _unwrap_text(s: str) -> tuple[str, bool]:
    """`s` without boxes, text macros and math delimiters; and whether a text macro was there."""
    s, macro = s.strip(), False
    while (m := _BOX.search(s)) and (close := _brace_pairs(s).get(m.end() - 1)) is not None:
        s = s[:m.start()] + s[m.end():close] + s[close + 1:]
    while (m := _TEXT_MACRO.search(s)) is not None:
        s, macro = s[:m.start()] + m.group(1) + s[m.end():], True
    s = re.sub(r"\\[()\[\]]|\$|\*\*|\\[,;! ]|\\q?quad\b|~", " ", s)
    return re.sub(r"\s+", " ", s).strip(" ."), macro


def _text_items(s: str) -> list[str] | None:
    """The items of a text answer ("(C)" -> ["C"], "A, B, E" -> 3 items); None if not text."""
    plain, _ = _unwrap_text(s)
    items = [i for i in re.split(r"\s*(?:,|;|\band\b)\s*", plain) if i]
    matches = [_TEXT_ITEM.fullmatch(i) for i in items]
    if not items or not all(matches):
        return None
    return [m.group(1) for m in matches if m]


def _text_gold(gold: str) -> list[str] | None:
    """The gold's items when it is a text answer: wrapped in \\text, capital letters ("B",
    "LXQS", "A,B,E") or a name ("Evelyn"). Bare lower-case letters ("xy") stay algebra."""
    items = _text_items(gold)
    if items is None:
        return None
    _, macro = _unwrap_text(gold)
    if macro or all(i.isupper() or re.fullmatch(r"[A-Z][a-z]{2,}", i) for i in items):
        return items
    return None


def _text_match(gold: list[str], answer: str) -> bool:
    """Text equality, ignoring case, spacing, wrappers and the order of a list's items; a
    choice letter also matches an answer naming that one letter ("(C) 15", "option C")."""
    items = _text_items(answer)
    if items is not None and sorted(map(str.casefold, items)) == sorted(map(str.casefold, gold)):
        return True
    if len(gold) != 1 or len(gold[0]) != 1:
        return False
    letters = {a or b for a, b in _CHOICE.findall(_unwrap_text(answer)[0])}
    return len(letters) == 1 and letters.pop().casefold() == gold[0].casefold()


# --- evaluation: unicode math, read as written ----------------------------------------------------
#
# math-verify reads LaTeX and ASCII math and drops a symbol it does not know, so "25√2/2" read as
# 25 and "4π" as 4. Unicode math is written as the LaTeX it stands for before anything is parsed;
# an answer that keeps a math symbol with no translation is not graded.

_SYMBOLS = {
    "×": r"\times ", "·": r"\cdot ", "⋅": r"\cdot ", "∙": r"\cdot ", "÷": r"\div ", "−": "-",
    "∕": "/", "⁄": "/", "±": r"\pm ", "∓": r"\mp ", "∞": r"\infty ", "≤": r"\le ", "≥": r"\ge ",
    "≠": r"\ne ", "≈": r"\approx ", "∪": r"\cup ", "∩": r"\cap ", "∈": r"\in ",
}
_SUPERSCRIPTS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ⁿⁱ", "0123456789+-=()ni")
_SUBSCRIPTS = str.maketrans("₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎", "0123456789+-=()")
_SCRIPTS = re.compile("([⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ⁿⁱ]+)|([₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎]+)")
_VULGAR = re.compile("[¼½¾⅐-⅞]")  # NFKC writes each as "1⁄2"
_DEGREES = re.compile(r"°(?:\s*[CFK]\b)?")  # 39°F is 39 degrees: the scale is a unit
_GREEK = re.compile("[Α-Ωα-ω]")
# A root's operand: (...) with one level of nesting, {...}, a number, a LaTeX name or a letter.
_ROOT = re.compile(
    r"([√∛∜])\s*(\((?:[^()]|\([^()]*\))*\)|\{[^{}]*\}|\d+(?:\.\d+)?|\\[A-Za-z]+ ?|[A-Za-z])"
)


def _greek(m: re.Match[str]) -> str:
    """α -> \\alpha, Δ -> \\Delta (unicode spells lambda "LAMDA")."""
    name = unicodedata.name(m.group(), "").split()[-1].lower().replace("lamda", "lambda")
    return "\\" + (name.capitalize() if m.group().isupper() else name) + " "


def _root(m: re.Match[str]) -> str:
    """√2 -> \\sqrt{2}, ∛(x+1) -> \\sqrt[3]{x+1}."""
    operand = m[2].strip()
    if operand[0] in "({":
        operand = operand[1:-1]
    return r"\sqrt" + {"√": "", "∛": "[3]", "∜": "[4]"}[m[1]] + "{" + operand + "}"


def _latex_math(text: str) -> str | None:
    """`text` with its unicode math written as LaTeX; None when a math symbol is left over.

    >>> _latex_math("25√2/2"), _latex_math("x² − 1"), _latex_math("3½")
    ('25\\\\sqrt{2}/2', 'x^{2} - 1', '3\\\\frac{1}{2}')
    >>> _latex_math("∑ 1/n") is None
    True
    """
    if text.isascii():
        return text
    text = _VULGAR.sub(
        lambda m: r"\frac{%s}{%s}" % tuple(unicodedata.normalize("NFKC", m.group()).split("⁄")), text  # noqa: UP031
    )
    text = _SCRIPTS.sub(lambda m: f"^{{{m[1].translate(_SUPERSCRIPTS)}}}" if m[1]
                        else f"_{{{m[2].translate(_SUBSCRIPTS)}}}", text)
    text = _GREEK.sub(_greek, _DEGREES.sub(r"^{\\circ}", text))
    text = _ROOT.sub(_root, "".join(_SYMBOLS.get(c, c) for c in text))
    left = any(not c.isascii() and unicodedata.category(c) in ("Sm", "No") for c in text)
    return None if left else text


# --- evaluation: times of day and dates ------------------------------------------------------------
#
# math-verify reads "2:10 pm" as 2 (the number before the colon) and "10/12/2023" as a fraction.
# A time of day or a date (_MOMENT) is read whole: a time equals another time, or a whole-number
# gold (GSM8K writes "2 pm" as 2) only on the hour; a date equals only the same date.

def _moment(s: str) -> tuple[str, ...] | None:
    """The last time of day in `s` as ("clock", hour on the 12-hour clock, minute, "a"/"p"/""
    when unknown), or its last date as ("date", its numbers as written); None if it holds neither.
    """
    found = ([None, *_MOMENT.finditer(_unwrap_text(s)[0])])[-1]  # the last one
    if found is None:
        return None
    if not (found["h"] or found["h12"]):
        return ("date", *(str(int(part)) for part in re.split("[/-]", found.group())))
    hour = int(found["h"] or found["h12"])
    meridiem = (found["ap"] or found["ap12"] or "").lower() or ("p" if hour > 12 else "")
    return ("clock", str(hour % 12), found["m"] or "00", meridiem)


def _same_moment(gold: str, answer: str) -> bool | None:
    """Whether a time or date answer is the gold's; None when neither is one, or when the other
    is no whole number to hold a time against ("7:32" against a ratio is left to math-verify).

    >>> _same_moment("2", "2:10 pm"), _same_moment("2", "2:00 pm"), _same_moment("14:10", "2:10 pm")
    (False, True, True)
    """
    g, a = _moment(gold), _moment(answer)
    if g is not None and a is not None:
        if g[0] == "clock" == a[0] and not (g[3] and a[3]):
            return g[1:3] == a[1:3]  # "am" or "pm" on one side only: the 12-hour clock decides
        return g == a
    if g is None and a is None:
        return None
    moment, other = (a, gold) if a is not None else (g, answer)
    number = _unwrap_text(other)[0].replace(",", "")
    if not re.fullmatch(r"-?\d+(?:\.0+)?", number):
        return None
    return moment[0] == "clock" and moment[1:3] == (str(int(float(number)) % 12), "00")


# --- evaluation: one grade, at most GRADE_TIMEOUT_S ------------------------------------------------
#
# sympy can run for minutes or for ever on one answer: "5^{5^{5^{5^5}}}" starts a power with more
# digits than there are atoms, inside C, where math-verify's own timeout (signal.alarm: whole
# seconds, per parse or verify call, main thread only) never fires. So math-verify runs in a
# worker process, one grade at a time, and a grade still running after GRADE_TIMEOUT_S kills its
# worker and is ungraded (None), never wrong. Workers are kept for the next grade; starting one
# (importing math-verify, about a second) happens before the clock of a grade starts.

# The worker imports this module alone: the package's __init__ (sessions, engines) is not needed
# to grade, and it costs start-up time.
_SERVE = (
    "import sys, types; pkg = types.ModuleType('grpo_compare'); pkg.__path__ = [sys.argv[1]]; "
    "sys.modules['grpo_compare'] = pkg; import grpo_compare.scoring as s; s._serve()"
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
        proc = subprocess.Popen([sys.executable, "-c", _SERVE, str(Path(__file__).resolve().parent)],
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
