"""grpo_compare: did the GRPO LoRA make the model better, and how?

    from grpo_compare import compare
    result = compare(max_samples=20)          # demo model + demo adapter + built-in problems
    result.table.query("outcome == 'fixed'")
"""

from .compare import Comparison, compare
from .config import ArmSpec, CompareConfig, SamplingConfig
from .datasets import load_problems
from .inference import GRPOInference
from .inference_config import InferenceConfig
from .prompts import XML_COT
from .scoring import notebook_rewards, score
from .types import Arm, ArmResult, Generation, Problem, Score

__all__ = [
    "Arm", "ArmResult", "ArmSpec", "CompareConfig", "Comparison", "GRPOInference", "Generation",
    "InferenceConfig", "Problem",
    "SamplingConfig", "Score", "XML_COT", "compare", "load_problems", "notebook_rewards", "score",
]
