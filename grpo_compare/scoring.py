"""Scoring: the answer a completion states, its math-verify grade, and the GRPO training rewards.

    s = score("<reasoning>\\n9*2\\n</reasoning>\\n<answer>\\n18\\n</answer>\\n", gold="18")
    s.correct, s.extractor, s.rewards["xmlcount"]     # (True, 'answer_tag', 0.5)

The five `notebook_rewards` reproduce the unsloth GRPO notebooks' reward functions exactly,
quirks included (no re.DOTALL, re.match anchoring, xmlcount's length penalties): they are what
training rewarded. The corrected checks (DOTALL formats, math-verify correctness) sit beside
them under their own names: they are what is actually right. Every function here is a pure
function of strings; math-verify is imported on first use so importing this module stays cheap.
"""

from __future__ import annotations

import json
import re
import threading
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
#   5. none.
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


def _last_math(text: str) -> tuple[int, int, str] | None:
    """(start, end, value) of the last number, or of the last $...$ holding one when that ends
    later ("the ordered pair is $(7, 6)$" ends in (7, 6), not in 6)."""
    numbers = list(_NUMBER.finditer(text))
    if not numbers:
        return None
    last = numbers[-1]
    found = (last.start(), last.end(), last.group().replace(",", ""))
    for m in _DISPLAY.finditer(text):  # from the start: a $ pairs with the one before it
        inner = next(g for g in m.groups() if g is not None).strip()
        # "$5. Then $" is two currency signs; a math block holds no words.
        prose = _WORD.search(_LATEX_NAMES.sub("", inner)) is not None
        if m.end() >= found[1] and re.search(r"\d", inner) and not prose:
            found = (m.start(), m.end(), inner)
    return found


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
    prose = _WORD.search(_LATEX_NAMES.sub("", _TEXT_MACRO.sub("", text))) is not None
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


def _equivalent(gold: list[Any], pred: list[Any], timeout: int | None) -> bool:
    """math-verify's verify (gold first), then again with percents as their number.

    math-verify lets an integer percent equal its number (35% == 35) but not a decimal one
    (35.0% != 35); the second pass gives decimals the same reading.
    """
    from math_verify import verify

    if verify(gold, pred, timeout_seconds=timeout):
        return True
    gold_n, pred_n = [_percent_value(g) for g in gold], [_percent_value(p) for p in pred]
    if gold_n == gold and pred_n == pred:
        return False
    return bool(verify(gold_n, pred_n, timeout_seconds=timeout))


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


def grade(gold: str | None, answer: str | None) -> bool | None:
    """Mathematical equivalence via math-verify, gold parsed first; None = could not be graded.

    >>> grade("\\\\frac{1}{2}", "0.5"), grade("18", "19"), grade(None, "3")
    (True, False, None)
    >>> grade("35", "35.0\\\\%"), grade("LXQS", "LQSX"), grade("A,B,E", "\\\\text{A, B, E}")
    (True, False, True)
    """
    if gold is None or not gold.strip():
        return None
    if (text_gold := _text_gold(gold)) is not None:
        if answer is None or not answer.strip() or len(answer) > MAX_ANSWER_CHARS:
            return False
        return _text_match(text_gold, answer)
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
        return bool(pred) and _equivalent(gold_parsed, pred, timeout)
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
