"""The nouns of grpo_compare: problems, arms, requests, generations, scores, and the comparison
they add up to, with its typed summary.

Everything here is data; behaviour lives in the modules that use it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple, NotRequired, Optional, TypedDict

from .errors import DataError, expect

if TYPE_CHECKING:
    import pandas as pd

    from .adapters import AdapterInfo


@dataclass(frozen=True)
class Problem:
    """One question with its reference answer (`gold=None` when there is none)."""

    id: str
    question: str
    gold: str | None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Checked once, where every problem is made: strings, and text that UTF-8 can hold (a lone
        surrogate, as a broken JSON escape like "\\ud800" gives, fails the tokenizer and every file write)."""
        expect(self.id, str, "Problem.id")
        expect(self.question, str, "Problem.question", "the question's text")
        expect(self.gold, (str, type(None)), "Problem.gold", "the reference answer, or None")
        expect(self.meta, dict, "Problem.meta")
        texts = [("id", self.id), ("question", self.question), ("gold", self.gold or "")]
        texts += [(f"meta field {i + 1}", t) for i, (k, v) in enumerate(self.meta.items()) for t in (k, v)
                  if isinstance(t, str)]
        for what, text in texts:
            try:
                text.encode("utf-8")
            except UnicodeEncodeError as e:
                raise DataError(f"problem '{self.id.encode('utf-8', 'backslashreplace').decode()}': its {what} holds a "
                                f"lone surrogate (U+{ord(text[e.start]):04X} at character {e.start + 1}), which is not "
                                "text (a broken \\u escape?): fix or remove it") from None


@dataclass(frozen=True)
class Arm:
    """One way of asking the model: which adapter (its record, read once from its folder; None =
    base weights), which system prompt (the text), and, for an arm served by another full model
    (a merged fine-tune), that model."""

    name: str
    adapter: AdapterInfo | None = None
    system_prompt: str | None = None
    model: str | None = None


@dataclass(frozen=True)
class Sampling:
    """Sampling as a run uses it, every field set (`SamplingConfig.filled` fills a config's unset
    fields with the default of the run's kind). Engines take this and nothing looser."""

    temperature: float
    top_p: float
    max_tokens: int
    seed: int = 0
    top_k: int = 0


class GenKey(NamedTuple):
    """Which generation of a run a result is: problem, arm, sample (`Request.key`, `Generation.key`).

    >>> GenKey("gsm8k-0", "grpo") == ("gsm8k-0", "grpo", 0)
    True
    """

    problem_id: str
    arm: str
    sample: int = 0


@dataclass(frozen=True)
class Request:
    """One prompt to generate: a problem rendered for an arm, with the seed shared by all arms."""

    problem: Problem
    arm: Arm
    prompt_text: str
    prompt_token_ids: tuple[int, ...]
    seed: int
    sample: int = 0

    @property
    def key(self) -> GenKey:
        return GenKey(self.problem.id, self.arm.name, self.sample)


@dataclass(frozen=True)
class Generation:
    """What an engine returned for one request."""

    problem_id: str
    arm: str
    prompt_text: str
    completion: str
    completion_tokens: int
    finish_reason: str  # "stop" or "length"
    seconds: float
    sample: int = 0

    @property
    def key(self) -> GenKey:
        return GenKey(self.problem_id, self.arm, self.sample)


@dataclass(frozen=True)
class Score:
    """How one completion scored. `correct=None` means it could not be graded, never "wrong"."""

    answer: str | None
    extractor: str  # which rule found the answer (see scoring.extract_answer); "none" if nothing
    correct: bool | None
    strict_format: bool
    soft_format: bool
    rewards: dict[str, float]


@dataclass(frozen=True)
class ArmResult:
    """A generation together with its score."""

    generation: Generation
    score: Score


Results = dict[GenKey, ArmResult]  # every generation of a run, scored


class AdapterCheck(TypedDict, total=False):
    """Did the adapter change anything? `method` is "greedy output" (one prompt with and without
    the adapter) or "merged weights" (the largest weight change of the merge)."""

    method: str
    identical: bool
    problem_id: str
    arm: str
    without_adapter: str
    with_adapter: str
    max_abs_delta: float
    unchanged: list[str]  # merged: modules the adapter wraps that merging left as they were
    applied: str  # what the adapter applies (AdapterInfo.applied)


class ArmSummary(TypedDict, total=False):
    accuracy: Optional[float]
    graded: int
    correct: int
    last_number_verdicts: int
    strict_format_rate: Optional[float]
    soft_format_rate: Optional[float]
    mean_completion_tokens: Optional[float]
    truncated_rate: Optional[float]
    mean_rewards: dict[str, Optional[float]]
    samples: dict[str, Any]
    logged_reward: float  # the training reward the trainer logged at this checkpoint's step, where known


class Summary(TypedDict):
    """summary.json: per-arm rates and the paired statistics of treatment vs baseline."""

    n: int
    baseline: str
    treatment: str
    arms: dict[str, ArmSummary]
    delta_accuracy: Optional[float]
    delta_accuracy_ci: list[Optional[float]]
    fixed: int
    broken: int
    mcnemar_p: float
    outcomes: dict[str, int]
    skipped: list[str]
    adapter_check: Optional[AdapterCheck]
    # every adapter arm (each checkpoint) against the baseline arm, Holm-adjusted across them
    vs_baseline: NotRequired[dict[str, dict[str, Any]]]
    best: NotRequired[Optional[str]]  # the adapter arm of highest accuracy, ties to the earlier step
    alarm: NotRequired[list[dict[str, Any]]]  # the reward-hacking signals (grpo_compare.alarm), each with its detail


@dataclass(frozen=True)
class Comparison:
    """Every arm's results on the same problems, the side-by-side `table` (one row per problem)
    and the `summary`. Built by `grpo_compare.summary.comparison`."""

    config: Any  # the run's plan (grpo_compare.plan.RunPlan): the settings and what they resolved to
    problems: tuple[Problem, ...]
    arms: tuple[Arm, ...]
    results: dict[tuple[str, str], ArmResult]  # (problem id, arm) -> sample 0
    samples: dict[tuple[str, str], tuple[ArmResult, ...]]  # every sample, in sample order
    table: pd.DataFrame
    summary: Summary
    skipped: tuple[str, ...] = ()
