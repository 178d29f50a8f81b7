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
from .types import Arm, ArmResult, Comparison, Generation, Problem, Score, Summary

__all__ = [
    "Arm", "ArmResult", "ArmSpec", "CompareConfig", "Comparison", "GRPOInference", "Generation",
    "InferenceConfig", "Problem", "SamplingConfig", "Score", "Session", "Summary", "XML_COT", "compare",
    "diff_runs", "load_problems", "load_run", "notebook_rewards", "rescore_run", "score",
]
