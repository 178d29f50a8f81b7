"""Answer extraction: the answer a completion states (extract_answer), and the training's own
readings of the <answer> tag and of a GSM8K gold's "####" line."""

from __future__ import annotations

import json
import re
from typing import NamedTuple

from .last_number import _degenerate, _last_number
from .patterns import _BOX, _DISPLAY, _LATEX_NAMES, _WORD, _brace_pairs

# --- training's own extraction (faithful, quirks included) ----------------------------------------

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


# --- the answer the model stated ------------------------------------------------------------------
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


# What a completion may be and still be nothing but an answer: a word or a choice letter, a
# \text{...}, a number (rule 3; math is read by _math_value).
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
