"""Answers math-verify misreads, read here as written before anything is parsed: text answers
(choice letters, names, words), unicode math ("25√2/2", "x²"), times of day and dates."""

from __future__ import annotations

import re
import unicodedata

from .patterns import _BOX, _MOMENT, _brace_pairs

# --- text answers ---------------------------------------------------------------------------------
#
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


# --- unicode math, read as written ----------------------------------------------------------------
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


# --- times of day and dates -----------------------------------------------------------------------
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
