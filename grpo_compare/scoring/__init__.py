"""Scoring: the answer a completion states, its math-verify grade, and the GRPO training rewards.

    s = score("<reasoning>\\n9*2\\n</reasoning>\\n<answer>\\n18\\n</answer>\\n", gold="18")
    s.correct, s.extractor, s.rewards["xmlcount"]     # (True, 'answer_tag', 0.5)

`score` is the face; one module per concern does the work:
  extract      the answer a completion states, and training's own readings of the <answer> tag
               and of a GSM8K gold's "####" line (last_number: the weak evidence read when
               nothing is stated; patterns: what extraction and grading both read);
  grading      math-verify correctness, in a worker process so that no grade outlasts
               GRADE_TIMEOUT_S (sympy cannot be interrupted inside C); None = ungraded
               (forms: text answers, unicode math, times and dates, read as written);
  rewards      the five `notebook_rewards`, which reproduce the unsloth GRPO notebooks' reward
               functions exactly, quirks included (no re.DOTALL, re.match anchoring, xmlcount's
               length penalties): they are what training rewarded. The corrected checks (DOTALL
               formats, math-verify correctness) sit beside them under their own names: they are
               what is actually right.
Every function here is a pure function of strings; math-verify is imported on first use so
importing this package stays cheap.
"""

from __future__ import annotations

from ..types import Score
from .extract import extract_answer, extract_hash_answer, extract_xml_answer
from .grading import GRADE_TIMEOUT_S, MAX_ANSWER_CHARS, grade
from .rewards import (
    NOTEBOOK_REWARDS,
    SOFT_PATTERN,
    STRICT_PATTERN,
    corrected_formats,
    corrected_rewards,
    correctness_reward,
    int_reward,
    notebook_rewards,
    soft_format_reward,
    strict_format_reward,
    xmlcount_reward,
)

__all__ = [
    "GRADE_TIMEOUT_S", "MAX_ANSWER_CHARS", "NOTEBOOK_REWARDS", "SOFT_PATTERN", "STRICT_PATTERN",
    "correctness_reward", "extract_answer", "extract_hash_answer", "extract_xml_answer", "grade",
    "int_reward", "notebook_rewards", "score", "soft_format_reward", "strict_format_reward",
    "xmlcount_reward",
]


def score(completion: str, gold: str | None) -> Score:
    """Extract, grade, check the format (DOTALL) and replay the training rewards.

    >>> s = score("<reasoning>\\nfirst\\nsecond\\n</reasoning>\\n<answer>\\n4\\n</answer>\\n", "4")
    >>> s.correct, s.soft_format, s.rewards["soft_format"], s.rewards["soft_format_dotall"]
    (True, True, 0.0, 0.5)
    """
    answer, extractor = extract_answer(completion)
    correct = grade(gold, answer)
    strict, soft = corrected_formats(completion)
    rewards = notebook_rewards(completion, gold) | corrected_rewards(strict, soft, correct)
    return Score(answer, extractor, correct, strict, soft, rewards)
