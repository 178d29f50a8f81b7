"""The nouns of grpo_compare: problems, arms, generations, scores and their pairing.

Everything here is a small frozen dataclass; behaviour lives in the modules that use them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One question with its reference answer (`gold=None` when there is none)."""

    id: str
    question: str
    gold: str | None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Arm:
    """One way of asking the model: which adapter (None = base weights) and which system prompt."""

    name: str
    adapter: Path | None = None
    system_prompt: str | None = None


@dataclass(frozen=True)
class Request:
    """One prompt to generate: a problem rendered for an arm, with the seed shared by all arms."""

    problem: Problem
    arm: Arm
    prompt_text: str
    prompt_token_ids: tuple[int, ...]
    seed: int
    sample: int = 0


@dataclass(frozen=True)
class Generation:
    """What a backend returned for one request."""

    problem_id: str
    arm: str
    prompt_text: str
    completion: str
    completion_tokens: int
    finish_reason: str  # "stop" or "length"
    seconds: float
    sample: int = 0


@dataclass(frozen=True)
class Score:
    """How one completion scored. `correct=None` means it could not be graded, never "wrong"."""

    answer: str | None
    extractor: str  # answer_tag | boxed | hash | last_number | none
    correct: bool | None
    strict_format: bool
    soft_format: bool
    rewards: dict[str, float]


@dataclass(frozen=True)
class ArmResult:
    """A generation together with its score."""

    generation: Generation
    score: Score
