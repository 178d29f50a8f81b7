"""The patterns that answer extraction and grading both read: boxes and their braces, math spans,
prose words, times of day and dates, and the labels that make a number name a thing."""

from __future__ import annotations

import re

_BOX = re.compile(r"\\(?:boxed|fbox)\s*\{")
_DISPLAY = re.compile(  # $$...$$, \[...\], \(...\), $...$ (one line; "\$" is a dollar sign)
    r"\$\$(.+?)\$\$|\\\[(.+?)\\\]|\\\((.+?)\\\)|\$((?:\\.|[^$\\\n])+)\$", re.DOTALL
)
_LATEX_NAMES = re.compile(r"\\(?:begin|end)\{[^}]*\}|\\[A-Za-z]+")  # \begin{pmatrix} is no prose
_WORD = re.compile(r"[A-Za-z]{2,}")
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


def _brace_pairs(text: str) -> dict[int, int]:
    """Index of each `{` that is closed -> index of its `}`, in one pass over the text."""
    pairs, stack = {}, []
    for j, char in enumerate(text):
        if char == "{":
            stack.append(j)
        elif char == "}" and stack:
            pairs[stack.pop()] = j
    return pairs
