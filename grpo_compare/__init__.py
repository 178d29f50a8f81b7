"""grpo_compare: did the GRPO LoRA make the model better, and how?

    from grpo_compare import compare
    result = compare(max_samples=20)          # demo model + demo adapter + built-in problems
    result.table.query("outcome == 'fixed'")
"""

from .config import ArmSpec, CompareConfig, InferenceConfig, SamplingConfig
from .datasets import load_problems
from .frontend import GRPOInference
from .prompts import XML_COT
from .runs import diff_runs, load_run, rescore_run
from .scoring import notebook_rewards, score
from .session import Session, compare
from .types import Arm, ArmResult, Comparison, Generation, Problem, Sampling, Score, Summary


def __getattr__(name: str) -> object:
    """`CompareCallback` on first use: it imports transformers' Trainer machinery (torch), which the
    command line does not need."""
    if name == "CompareCallback":
        from .callback import CompareCallback

        return CompareCallback
    raise AttributeError(f"module 'grpo_compare' has no attribute '{name}'")


__all__ = [
    "Arm", "ArmResult", "ArmSpec", "CompareCallback", "CompareConfig", "Comparison", "GRPOInference", "Generation",
    "InferenceConfig", "Problem", "Sampling", "SamplingConfig", "Score", "Session", "Summary", "XML_COT", "compare",
    "diff_runs", "load_problems", "load_run", "notebook_rewards", "rescore_run", "score",
]
