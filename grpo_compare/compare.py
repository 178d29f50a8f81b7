"""The orchestration: problems + arms -> one engine -> scores -> `Comparison`.

    from grpo_compare import compare
    result = compare(dataset="gsm8k_test.jsonl", adapter="outputs/grpo_lora", max_samples=50)
    result.table        # one row per problem, arms side by side
    result.summary      # accuracies, format rates, delta with CI, McNemar p

Every arm of a problem goes into the same engine call, with the same seed; large runs go to the
engine in chunks, and each finished chunk is scored and appended to generations.jsonl at once.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Sequence

from rich.console import Console

from .adapters import AdapterInfo, inspect_adapter
from .backends import Backend, make_backend
from .config import CompareConfig, demo_config
from .datasets import load_problems
from .errors import UserError
from .prompts import render
from .scoring import score
from .types import Arm, ArmResult, Generation, Problem, Request

console = Console(stderr=True)


@dataclass(frozen=True)
class Comparison:
    """Per-problem results of every arm; `table` and `summary` are computed on first use."""

    config: CompareConfig
    problems: tuple[Problem, ...]
    arms: tuple[Arm, ...]
    results: dict[tuple[str, str], ArmResult]
    skipped: tuple[str, ...] = ()

    @cached_property
    def table(self) -> Any:
        from .report import comparison_table

        return comparison_table(self)

    @cached_property
    def summary(self) -> dict[str, Any]:
        from .report import summarize

        return summarize(self)


def compare(
    config: CompareConfig | None = None,
    backend: Backend | None = None,
    output_dir: str | Path | None = None,
    **flags: Any,
) -> Comparison:
    """Run every problem through every arm of one loaded model and score both answers.

    With no config and no flags this is the embedded demo. `flags` override config fields
    (`max_samples=5`, `temperature=0`, ...). With `output_dir` the run's files are written there.
    """
    config = (config or demo_config()).override(**flags)
    model = resolve_model(config)
    adapter = resolve_adapter(config, model)
    arms = tuple(spec.resolve(adapter.path if adapter else None) for spec in config.arms)
    problems = resolve_problems(config)
    tokenizer = load_tokenizer(model)
    limit = getattr(backend, "max_model_len", None) or config.max_model_len
    requests, skipped = build_requests(problems, arms, tokenizer, config.sampling.seed, limit)
    if not requests:
        raise UserError("every problem is longer than the context window: raise max_model_len")
    if backend is None:
        console.print(f"[bold]Loading[/] {model} with vLLM" + (f" + adapter {adapter.path}" if adapter else ""))
        backend = make_backend(config.backend, model, [adapter] if adapter else [],
                               max_model_len=config.max_model_len, seed=config.sampling.seed)
    out = Path(output_dir) if output_dir else None
    sink = _jsonl_sink(out / "generations.jsonl") if out else None
    gold = {p.id: p.gold for p in problems}
    results: dict[tuple[str, str], ArmResult] = {}
    for chunk in _chunks(requests, config.chunk_size * len(arms)):
        for gen in backend.generate(chunk, config.sampling):
            res = ArmResult(gen, score(gen.completion, gold[gen.problem_id]))
            results[(gen.problem_id, gen.arm)] = res
            if sink:
                sink(res)
    done = tuple(p for p in problems if p.id not in skipped)
    comparison = Comparison(config, done, arms, results, tuple(skipped))
    if out:
        from .report import write_outputs

        write_outputs(comparison, out)
    return comparison


def resolve_model(config: CompareConfig) -> str:
    """The model folder (demo model when none is given) or a hub id known to be loadable."""
    if config.model is None:
        from .demo import demo_model_path

        return str(demo_model_path())
    path = Path(config.model).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise UserError(f"{path} has no config.json: pass a Hugging Face model folder or hub id to --model")
        return str(path)
    if path.exists() or config.model.startswith((".", "/", "~")) or config.model.count("/") != 1:
        raise UserError(f"model '{config.model}' not found: pass a local model folder or a hub id like org/name")
    return config.model


def resolve_adapter(config: CompareConfig, model: str) -> AdapterInfo | None:
    """The adapter to load (the shipped demo adapter for the demo), validated before loading."""
    path = config.adapter
    if path is None and config.model is None:
        from .demo import demo_adapter_path

        path = str(demo_adapter_path())
    if path is None:
        if any(a.lora for a in config.arms):
            raise UserError("no adapter given: pass --adapter <PEFT LoRA folder> (or arms without lora)")
        return None
    return inspect_adapter(Path(path).expanduser(), model)


def resolve_problems(config: CompareConfig) -> list[Problem]:
    """The dataset's problems, or the built-in held-out demo problems when no dataset is given."""
    if config.dataset is None:
        from .demo import demo_problems

        return demo_problems("eval", n=config.max_samples or 100)
    return load_problems(config.dataset, config.split, config.max_samples,
                         config.question_field, config.answer_field)


def load_tokenizer(model: str) -> Any:
    """The model's tokenizer, which must carry a chat template."""
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(model)
    except (OSError, ValueError) as e:
        raise UserError(f"could not load the tokenizer of '{model}': {str(e).splitlines()[0]}") from None
    if not getattr(tok, "chat_template", None):
        raise UserError(f"'{model}' has no chat template: use an instruct/chat model, or add a chat_template")
    return tok


def problem_seed(base_seed: int, problem_id: str, sample: int = 0) -> int:
    """One seed per problem (and sample), the same in every arm, stable across runs and chunks."""
    return zlib.crc32(f"{base_seed}:{problem_id}:{sample}".encode()) & 0x7FFFFFFF


def build_requests(
    problems: Sequence[Problem], arms: Sequence[Arm], tokenizer: Any, seed: int, max_model_len: int
) -> tuple[list[Request], list[str]]:
    """Render each problem for each arm, arms of one problem adjacent; skip prompts too long."""
    requests, skipped = [], []
    for p in problems:
        rows = []
        for arm in arms:
            text = render(tokenizer, arm, p.question)
            ids = tuple(tokenizer(text, add_special_tokens=False).input_ids)
            rows.append(Request(p, arm, text, ids, problem_seed(seed, p.id)))
        longest = max(len(r.prompt_token_ids) for r in rows)
        if longest >= max_model_len:
            console.print(f"[yellow]skipped problem {p.id}: its prompt has {longest} tokens, "
                          f"the context window {max_model_len} (raise --max-model-len)[/]")
            skipped.append(p.id)
            continue
        requests.extend(rows)
    return requests, skipped


def _chunks(items: list[Request], size: int) -> list[list[Request]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def _jsonl_sink(path: Path) -> Callable[[ArmResult], None]:
    """Append each result as one flushed JSON line, so finished work survives a crash."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("", encoding="utf-8")

    def write(res: ArmResult) -> None:
        with path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(generation_record(res.generation, res), ensure_ascii=False) + "\n")

    return write


def generation_record(gen: Generation, res: ArmResult) -> dict[str, Any]:
    """The generations.jsonl line of one result."""
    return asdict(gen) | {"score": asdict(res.score)}
