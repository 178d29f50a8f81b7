"""Extraction's weak evidence: the last number of a completion (rule 4 of extract_answer), read
whole and only where the text does not show it is no answer; and the check for a completion stuck in
a loop (rule 5), which states nothing."""

from __future__ import annotations

import re

from .patterns import _DISPLAY, _LABEL, _LATEX_NAMES, _MOMENT, _WORD

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
_LABEL_BEFORE = re.compile(_LABEL + "$", re.IGNORECASE)  # a label right before a number
# Unicode math glued to a number is part of it ("25√2/2" is not 2/2); so are the ASCII
# operators between the pieces.
_UNICODE_MATH = "√∛∜π×·⋅÷−±°⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻ⁿ¼½¾⅐⅑⅒⅓⅔⅕⅖⅗⅘⅙⅚⅛⅜⅝⅞"
_GLUED = re.compile(
    rf"[\w{_UNICODE_MATH}.^/*()+-]+(?:[ \t]*[-+*/×÷−·⋅±][ \t]*[\w{_UNICODE_MATH}.^/*()+-]+)*"
)
# A loop: a piece of at most _LOOP_UNIT characters, repeated _LOOP_REPEATS times and over
# _LOOP_CHARS characters at least, ending the text.
_LOOP_UNIT, _LOOP_REPEATS, _LOOP_CHARS = 200, 4, 40


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
