"""The GRPO training rewards: the five reward functions of the unsloth GRPO notebooks replayed
exactly, quirks included (no re.DOTALL, re.match anchoring, xmlcount's length penalties), and the
corrected checks beside them under their own names.
"""

from __future__ import annotations

import re

from .extract import extract_xml_answer

NOTEBOOK_REWARDS = ("xmlcount", "soft_format", "strict_format", "int", "correctness")
SOFT_PATTERN = r"<reasoning>.*?</reasoning>\s*<answer>.*?</answer>"
STRICT_PATTERN = r"^<reasoning>\n.*?\n</reasoning>\n<answer>\n.*?\n</answer>\n$"


# --- training's own rewards (faithful, quirks included) -------------------------------------------

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


# --- the corrected checks: what is actually right -------------------------------------------------

def corrected_formats(text: str) -> tuple[bool, bool]:
    """(strict, soft) format with '.' crossing newlines (DOTALL); soft also forgives surrounding
    whitespace.

    >>> corrected_formats("<reasoning>\\nfirst\\nsecond\\n</reasoning>\\n<answer>\\n4\\n</answer>\\n")
    (True, True)
    >>> corrected_formats(" <reasoning>r</reasoning>\\n<answer>4</answer>\\n")
    (False, True)
    """
    soft = re.match(SOFT_PATTERN, text.strip(), re.DOTALL) is not None
    strict = re.match(STRICT_PATTERN, text, re.DOTALL) is not None
    return strict, soft


def corrected_rewards(strict: bool, soft: bool, correct: bool | None) -> dict[str, float]:
    """The corrected checks on the training rewards' scale, each under its own name.

    >>> corrected_rewards(True, True, None)
    {'soft_format_dotall': 0.5, 'strict_format_dotall': 0.5, 'correctness_math': 0.0}
    """
    return {
        "soft_format_dotall": 0.5 if soft else 0.0,
        "strict_format_dotall": 0.5 if strict else 0.0,
        "correctness_math": 2.0 if correct else 0.0,
    }
