"""Train the demo GRPO LoRA: a short SFT warm-up on the XML format, then TRL's GRPOTrainer.

The demo model (SmolLM2-135M-Instruct) is too weak to discover the `<reasoning>`/`<answer>`
format by sampling alone, so a few supervised steps first show it the format on generated
problems (train split); GRPO then optimises the five training rewards of `grpo_compare.scoring`,
the same ones the comparison replays. Everything runs on CPU with transformers generation.

    python -m grpo_compare.demo.train --output grpo_compare/demo/adapter   # the shipped adapter
    python -m grpo_compare.demo.train --smoke                             # ~1-2 min check, temp dir

The result is a plain PEFT LoRA folder (rank <= 16, attention + MLP projections, no bias, no
modules_to_save) that vLLM can serve, with `training_summary.json` and a model card beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable

from .. import scoring
from ..prompts import XML_COT
from ..types import Problem
from .model import demo_model_path
from .problems import demo_problems

BASE_MODEL_NAME = "SmolLM2-135M-Instruct"
TARGET_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
_OPS = {"+": "+", "-": "-", "*": "*", "//": "/"}


@dataclass(frozen=True)
class TrainSettings:
    """Every knob of a demo training run; the defaults are the shipped adapter's."""

    steps: int = 40  # GRPO optimisation steps (one generation batch each), ~40 s each on 2 CPU cores
    sft_steps: int = 40
    seed: int = 0
    n_train: int = 2000  # distinct train-split problems drawn from the generator
    rank: int = 16
    alpha: int = 32
    sft_learning_rate: float = 2e-4
    learning_rate: float = 2e-5
    sft_batch_size: int = 8
    prompts_per_step: int = 2
    num_generations: int = 8
    max_completion_length: int = 64
    temperature: float = 1.0
    max_minutes: float | None = None  # stop GRPO early (keeping what was learned) past this wall time
    smoke: bool = False


SMOKE = TrainSettings(steps=2, sft_steps=2, n_train=8, prompts_per_step=1, num_generations=2,
                      max_completion_length=16, sft_batch_size=2, smoke=True)


def worked_steps(expression: str) -> str:
    """One line of worked arithmetic for a left-to-right expression.

    >>> worked_steps("11 + 10 - 15")
    '11 + 10 = 21, 21 - 15 = 6.'
    >>> worked_steps("30 // 5")
    '30 / 5 = 6.'
    """
    tokens = expression.split()
    value, steps = int(tokens[0]), []
    for op, num in zip(tokens[1::2], tokens[2::2]):
        new = eval(f"{value} {op} {int(num)}", {"__builtins__": {}})
        steps.append(f"{value} {_OPS[op]} {num} = {new}")
        value = new
    return ", ".join(steps) + "."


def sft_target(problem: Problem) -> str:
    """The completion the warm-up teaches: one-line reasoning, then the bare integer answer."""
    return (f"<reasoning>\n{worked_steps(problem.meta['expression'])}\n</reasoning>\n"
            f"<answer>\n{problem.gold}\n</answer>\n")


def _messages(problem: Problem, system_prompt: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": system_prompt}, {"role": "user", "content": problem.question}]


def reward_funcs() -> list[Callable[..., list[float]]]:
    """The five training rewards of `grpo_compare.scoring` as TRL reward functions, in order.

    TRL calls each with `prompts`, `completions` (conversational: a list of message dicts) and
    every extra dataset column (here `answer`); the function name becomes the logged metric name.
    """
    def text(completion: Any) -> str:
        return completion[0]["content"] if isinstance(completion, list) else completion

    def xmlcount(completions, **_: Any) -> list[float]:
        return [scoring.xmlcount_reward(text(c)) for c in completions]

    def soft_format(completions, **_: Any) -> list[float]:
        return [scoring.soft_format_reward(text(c)) for c in completions]

    def strict_format(completions, **_: Any) -> list[float]:
        return [scoring.strict_format_reward(text(c)) for c in completions]

    def int_answer(completions, **_: Any) -> list[float]:
        return [scoring.int_reward(text(c)) for c in completions]

    def correctness(completions, answer, **_: Any) -> list[float]:
        return [scoring.correctness_reward(text(c), gold) for c, gold in zip(completions, answer)]

    return [xmlcount, soft_format, strict_format, int_answer, correctness]


def _lora_config(s: TrainSettings):
    from peft import LoraConfig

    # No bias, no modules_to_save, no DoRA: vLLM refuses adapters that have them.
    return LoraConfig(r=s.rank, lora_alpha=s.alpha, lora_dropout=0.0, bias="none",
                      target_modules=TARGET_MODULES, task_type="CAUSAL_LM")


def _common_args(s: TrainSettings, work: Path) -> dict[str, Any]:
    """Trainer arguments shared by both phases: CPU, fp32, no checkpoints, no reporting."""
    return dict(output_dir=str(work), seed=s.seed, data_seed=s.seed, use_cpu=True, bf16=False,
                gradient_checkpointing=False, save_strategy="no", report_to="none",
                logging_steps=1 if s.smoke else 5, lr_scheduler_type="constant_with_warmup",
                warmup_steps=0 if s.smoke else 5, disable_tqdm=True)


def _sft(model, tokenizer, problems: list[Problem], system_prompt: str, s: TrainSettings, work: Path):
    """Supervised warm-up: returns the PeftModel with the format learned."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    rows = [{"prompt": _messages(p, system_prompt),
             "completion": [{"role": "assistant", "content": sft_target(p)}]} for p in problems]
    args = SFTConfig(max_steps=s.sft_steps, per_device_train_batch_size=s.sft_batch_size,
                     learning_rate=s.sft_learning_rate, max_length=256, packing=False,
                     **_common_args(s, work / "sft"))
    trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows),
                         processing_class=tokenizer, peft_config=_lora_config(s))
    trainer.train()
    return trainer.model, trainer.state.log_history


def _grpo(model, tokenizer, problems: list[Problem], system_prompt: str, s: TrainSettings, work: Path):
    """GRPO on the warm-started LoRA; one generation batch (prompts x generations) per step."""
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    class TimeLimit(TrainerCallback):
        def __init__(self) -> None:
            self.start = time.monotonic()

        def on_step_end(self, args, state, control, **kwargs):
            if s.max_minutes is not None and time.monotonic() - self.start > 60 * s.max_minutes:
                control.should_training_stop = True

    rows = [{"prompt": _messages(p, system_prompt), "answer": p.gold} for p in problems]
    args = GRPOConfig(max_steps=s.steps, per_device_train_batch_size=s.prompts_per_step * s.num_generations,
                      num_generations=s.num_generations, max_completion_length=s.max_completion_length,
                      temperature=s.temperature, learning_rate=s.learning_rate, beta=0.0,
                      **_common_args(s, work / "grpo"))
    trainer = GRPOTrainer(model=model, reward_funcs=reward_funcs(), args=args,
                          train_dataset=Dataset.from_list(rows), processing_class=tokenizer,
                          callbacks=[TimeLimit()])
    trainer.train()
    return trainer.model, trainer.state.log_history


def _final_means(history: list[dict[str, Any]], last: int = 5) -> dict[str, float]:
    """Mean of the last `last` logged values of every reward metric."""
    out: dict[str, float] = {}
    for key in sorted({k for h in history for k in h if k.startswith("reward")}):
        values = [h[key] for h in history if key in h][-last:]
        out[key] = round(sum(values) / len(values), 4)
    return out


def train(output: str | Path | None = None, settings: TrainSettings | None = None, *,
          smoke: bool = False, **overrides: Any) -> dict[str, Any]:
    """Train the demo LoRA into `output` (a temp dir when None) and return the run summary.

    >>> summary = train(smoke=True)            # doctest: +SKIP
    >>> Path(summary["output"], "adapter_model.safetensors").is_file()   # doctest: +SKIP
    True
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, set_seed

    s = replace(settings or (SMOKE if smoke else TrainSettings()), **overrides)
    out = Path(output) if output else Path(tempfile.mkdtemp(prefix="grpo_compare_demo_"))
    work = Path(tempfile.mkdtemp(prefix="grpo_compare_train_"))
    set_seed(s.seed)
    model_path = demo_model_path()
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
    problems = demo_problems("train", n=s.n_train, seed=s.seed)
    started = time.monotonic()
    try:
        model, sft_log = _sft(model, tokenizer, problems, XML_COT, s, work)
        sft_seconds = time.monotonic() - started
        model, grpo_log = _grpo(model, tokenizer, problems, XML_COT, s, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    seconds = time.monotonic() - started
    summary = {
        "base_model": BASE_MODEL_NAME, "settings": asdict(s), "output": str(out),
        "sft_steps_done": max((h.get("step", 0) for h in sft_log), default=0),
        "grpo_steps_done": max((h.get("step", 0) for h in grpo_log), default=0),
        "sft_seconds": round(sft_seconds, 1), "total_seconds": round(seconds, 1),
        "threads": torch.get_num_threads(), "final_reward_means": _final_means(grpo_log),
        "grpo_log": [h for h in grpo_log if "step" in h],
    }
    save_adapter(model, out, summary)
    return summary


def save_adapter(model, out: Path, summary: dict[str, Any]) -> None:
    """Write the LoRA as safetensors with a neutral base-model name, the summary and a model card."""
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    config_path = out / "adapter_config.json"
    config = json.loads(config_path.read_text())
    config["base_model_name_or_path"] = BASE_MODEL_NAME  # no local paths in a shipped file
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    (out / "training_summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    (out / "README.md").write_text(model_card(summary))


def model_card(summary: dict[str, Any]) -> str:
    """The adapter's README: what it is, how it was trained, and where its evaluation goes."""
    s = summary["settings"]
    rewards = "\n".join(f"| `{k}` | {v} |" for k, v in summary["final_reward_means"].items())
    return f"""# Demo GRPO LoRA for {summary['base_model']}

A rank-{s['rank']} LoRA (alpha {s['alpha']}) on the attention and MLP projections of
{summary['base_model']}, trained to answer grade-school arithmetic in the XML-CoT format
(`<reasoning>` ... `</reasoning>` `<answer>` ... `</answer>`). It is the embedded default of
`grpo_compare`: a small, real GRPO adapter to compare against the base model.

## Training

- Data: `grpo_compare.demo.problems`, train split, seed {s['seed']}, {s['n_train']} problems
  (generated, disjoint from the eval split by a hash of the question text).
- Prompt: the XML-CoT system prompt (`grpo_compare.prompts.XML_COT`) + the question.
- SFT warm-up: {summary['sft_steps_done']} steps, batch {s['sft_batch_size']}, lr {s['sft_learning_rate']},
  targets `<reasoning>` one line of worked steps `</reasoning>` `<answer>` N `</answer>`.
- GRPO (TRL `GRPOTrainer`): {summary['grpo_steps_done']} steps, {s['prompts_per_step']} prompts x
  {s['num_generations']} generations per step, temperature {s['temperature']}, max completion
  {s['max_completion_length']} tokens, lr {s['learning_rate']}, beta 0.
- Rewards (weights 1): `xmlcount`, `soft_format`, `strict_format`, `int`, `correctness`
  from `grpo_compare.scoring`.
- Time: {summary['total_seconds'] / 60:.1f} min wall ({summary['sft_seconds'] / 60:.1f} min SFT), CPU only,
  {summary['threads']} torch threads.
- Reproduce: `python -m grpo_compare.demo.train --output DIR --steps {s['steps']} --sft-steps {s['sft_steps']} --seed {s['seed']}`

Mean training rewards over the last logged GRPO steps:

| metric | value |
|---|---|
{rewards}

## Evaluation

Not measured yet.
"""


def _parse(argv: list[str] | None) -> argparse.Namespace:
    d = TrainSettings()
    p = argparse.ArgumentParser(prog="python -m grpo_compare.demo.train", description=__doc__.splitlines()[0])
    p.add_argument("--output", type=Path, default=None, help="adapter folder (default: a temp dir)")
    p.add_argument("--steps", type=int, default=None, help=f"GRPO steps (default {d.steps})")
    p.add_argument("--sft-steps", type=int, default=None, help=f"SFT warm-up steps (default {d.sft_steps})")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--learning-rate", type=float, default=None, help=f"GRPO lr (default {d.learning_rate})")
    p.add_argument("--num-generations", type=int, default=None, help=f"default {d.num_generations}")
    p.add_argument("--max-minutes", type=float, default=None, help="stop GRPO after this wall time")
    p.add_argument("--smoke", action="store_true", help="2 SFT + 2 GRPO steps on a few problems")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """CLI entry: train, print where the adapter went and the final reward means."""
    a = _parse(argv)
    overrides = {k: v for k, v in vars(a).items() if k not in ("output", "smoke") and v is not None}
    summary = train(a.output, smoke=a.smoke, **overrides)
    print(json.dumps({k: summary[k] for k in ("output", "sft_steps_done", "grpo_steps_done",
                                               "total_seconds", "final_reward_means")}, indent=1))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    raise SystemExit(main())
