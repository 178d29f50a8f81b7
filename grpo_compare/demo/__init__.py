"""The embedded default: demo model, shipped demo GRPO adapter, built-in problems."""

from __future__ import annotations

from pathlib import Path


def demo_model_path() -> Path:
    """The prepared demo model folder (see `grpo_compare.demo.model`), prepared on first use."""
    from .model import demo_model_path as prepare

    return prepare()


def demo_adapter_path() -> Path:
    """The GRPO LoRA shipped inside the package (trained by `grpo-compare train-demo`)."""
    return Path(__file__).parent / "adapter"


def demo_problems(split: str = "eval", n: int = 100, seed: int = 0) -> list:
    """Built-in arithmetic word problems (see `grpo_compare.demo.problems`)."""
    from .problems import demo_problems as generate

    return generate(split=split, n=n, seed=seed)


__all__ = ["demo_adapter_path", "demo_model_path", "demo_problems"]
