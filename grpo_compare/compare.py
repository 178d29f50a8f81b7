"""The orchestration: problems + arms -> one engine -> scores -> `Comparison`.

    from grpo_compare import compare
    result = compare(dataset="gsm8k_test.jsonl", adapter="outputs/grpo_lora", max_samples=50)
    result.table        # one row per problem, arms side by side
    result.summary      # accuracies, format rates, delta with CI, McNemar p

Every arm of a problem goes into the same engine call, with the same seed; large runs go to the
engine in chunks, and each finished chunk is scored and appended to generations.jsonl at once.
"""

from __future__ import annotations

import contextlib
import json
import zlib
from dataclasses import asdict, dataclass, field, replace
from dataclasses import fields as dataclass_fields
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Sequence

from rich.console import Console

from .adapters import AdapterInfo, inspect_adapter
from .backends import Backend, choose_backend, resolve_strategy, start_backend
from .config import BACKENDS, CompareConfig, demo_config
from .datasets import load_problems
from .errors import UserError
from .prompts import render
from .resume import RunLock, check_fingerprint, finished_records, fingerprint, record_key
from .scoring import score
from .types import Arm, ArmResult, Generation, Problem, Request, Score

console = Console(stderr=True)


@dataclass(frozen=True)
class Comparison:
    """Per-problem results of every arm; `table` and `summary` are computed on first use."""

    config: CompareConfig
    problems: tuple[Problem, ...]
    arms: tuple[Arm, ...]
    results: dict[tuple[str, str], ArmResult]
    skipped: tuple[str, ...] = ()
    adapter_check: dict[str, Any] | None = None
    # Every sample of a problem and arm, in sample order; `results` holds sample 0 of each.
    samples: dict[tuple[str, str], tuple[ArmResult, ...]] = field(default_factory=dict)

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
    problems: Sequence[Problem] | None = None,
    **flags: Any,
) -> Comparison:
    """Run every problem through every arm of one loaded model and score both answers.

    With no config and no flags this is the embedded demo. `flags` override config fields
    (`max_samples=5`, `temperature=0`, `num_samples=4`, ...). With `output_dir` the run's files are
    written there. `problems` replaces the config's dataset (e.g. questions typed by a user).
    """
    config = (config or demo_config()).override(**flags)
    model = resolve_model(config)
    adapter = resolve_adapter(config, model)
    arms = tuple(spec.resolve(adapter.path if adapter else None) for spec in config.arms)
    problems = list(problems) if problems is not None else resolve_problems(config)
    tokenizer = load_tokenizer(model)
    limit = getattr(backend, "max_model_len", None) or config.max_model_len
    k = config.num_samples
    requests, skipped = build_requests(problems, arms, tokenizer, config.sampling.seed, limit, k)
    if not requests:
        raise UserError("every problem is longer than the context window: raise max_model_len")
    # The run's config (and fingerprint) records the backend that really serves it.
    if backend is None:
        config = replace(config, backend=choose_backend(config.backend))
    elif getattr(backend, "name", None) in BACKENDS:
        config = replace(config, backend=backend.name)
    out = Path(output_dir) if output_dir else None
    with RunLock(out) if out else contextlib.nullcontext():
        done: dict = {}
        if out:
            fp = fingerprint(config, model, adapter, tokenizer, config.backend)
            if check_fingerprint(out, fp):
                done = finished_records(out / "generations.jsonl", fp["id"])
                console.print(f"[bold]Resuming[/] {out}: {len(done)} of {len(requests)} generations already done")
        todo = [r for r in requests if record_key(r.problem.id, r.prompt_text, r.arm.name, r.sample) not in done]
        if todo and backend is None:
            config, backend = _start(config, model, adapter, len(todo))
        by_id = {p.id: p for p in problems}
        results = {(r["problem_id"], r["arm"], r.get("sample", 0)): _result_from_record(r)
                   for r in done.values() if r.get("sample", 0) < k}
        check = _old_check(out)
        if todo and adapter:
            check = getattr(backend, "weights_check", None) or adapter_check(backend, requests, arms, tokenizer)
            if check and check.get("method") == "merged weights" and check["identical"]:
                console.print(f"[bold yellow]warning:[/] merging the adapter {adapter.path} changed no weight: "
                              "zero weights, wrong target modules or another base model?")
        sink = _jsonl_sink(out / "generations.jsonl", fp["id"]) if out else None
        results |= generate_scored(backend, todo, config.sampling, by_id, config.chunk_size * len(arms) * k, sink)
        kept = tuple(p for p in problems if p.id not in skipped)
        first, samples = split_samples(results)
        comparison = Comparison(config, kept, arms, first, tuple(skipped), check, samples)
        if out:
            from .report import write_outputs

            write_outputs(comparison, out)
    return comparison


def _start(config: CompareConfig, model: str, adapter: AdapterInfo | None, rows: int) -> tuple[CompareConfig, Backend]:
    """Start the engine(s) for the run's LoRA strategy; the config returned records the one chosen."""
    strategy, why = resolve_strategy(config.lora_strategy, config.backend, adapter is not None, rows)
    console.print(f"[bold]Loading[/] {model} with {config.backend}"
                  + (f" + adapter {adapter.path}, LoRA strategy {strategy}" if adapter else "")
                  + (f" ({why})" if why else ""), highlight=False)
    return replace(config, lora_strategy=strategy), start_backend(
        config.backend, strategy, model, adapter, max_model_len=config.max_model_len, seed=config.sampling.seed)


def generate_scored(
    backend: Backend, requests: Sequence[Request], sampling: Any, by_id: dict[str, Problem],
    chunk: int, sink: Callable[[ArmResult, Problem], None] | None = None,
) -> dict[tuple[str, str, int], ArmResult]:
    """Generate `requests` in engine calls of at most `chunk` rows and score each completion
    against its problem's gold; keyed by (problem id, arm, sample)."""
    results = {}
    for part in _chunks(list(requests), max(1, chunk)):
        for gen in backend.generate(part, sampling):
            res = ArmResult(gen, score(gen.completion, by_id[gen.problem_id].gold))
            results[(gen.problem_id, gen.arm, gen.sample)] = res
            if sink:
                sink(res, by_id[gen.problem_id])
    return results


def split_samples(results: dict[tuple[str, str, int], ArmResult]) -> tuple[
        dict[tuple[str, str], ArmResult], dict[tuple[str, str], tuple[ArmResult, ...]]]:
    """(sample 0 of each problem and arm, all samples of each in sample order)."""
    grouped: dict[tuple[str, str], list[tuple[int, ArmResult]]] = {}
    for (pid, arm, s), res in results.items():
        grouped.setdefault((pid, arm), []).append((s, res))
    samples = {key: tuple(r for _, r in sorted(rows, key=lambda x: x[0])) for key, rows in grouped.items()}
    first = {(pid, arm): res for (pid, arm, s), res in results.items() if s == 0}
    return first, samples


def adapter_check(backend: Backend, requests: Sequence[Request], arms: Sequence[Arm], tokenizer: Any,
                  max_tokens: int = 32) -> dict[str, Any] | None:
    """Does the adapter change anything? One prompt, the same messages with and without the LoRA,
    greedy; identical output means zero weights, wrong target modules or a wrong base model."""
    from .config import SamplingConfig

    lora_arm = next((a for a in arms if a.adapter is not None), None)
    if lora_arm is None:
        return None
    first = next(r for r in requests if r.arm.name == lora_arm.name)
    pair = [Arm(f"check_{name}", adapter, lora_arm.system_prompt)
            for name, adapter in (("base", None), ("lora", lora_arm.adapter))]
    gens = backend.generate([Request(first.problem, a, first.prompt_text, first.prompt_token_ids, first.seed)
                             for a in pair], SamplingConfig(temperature=0.0, top_p=1.0, max_tokens=max_tokens))
    identical = gens[0].completion == gens[1].completion
    if identical:
        console.print(f"[bold yellow]warning:[/] the adapter {lora_arm.adapter} did not change the output on problem "
                      f"{first.problem.id} (greedy, same messages): zero weights, wrong target modules or another base model?")
    return {"problem_id": first.problem.id, "arm": lora_arm.name, "identical": identical,
            "without_adapter": gens[0].completion, "with_adapter": gens[1].completion}


def _old_check(out: Path | None) -> dict[str, Any] | None:
    """The adapter check of a finished run being re-opened (nothing left to generate)."""
    path = out / "summary.json" if out else None
    return json.loads(path.read_text(encoding="utf-8")).get("adapter_check") if path and path.is_file() else None


def _result_from_record(rec: dict[str, Any]) -> ArmResult:
    gen = Generation(**{f.name: rec[f.name] for f in dataclass_fields(Generation) if f.name in rec})
    return ArmResult(gen, Score(**rec["score"]))


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
    return inspect_adapter(Path(path).expanduser(), model, allow_pickle=config.allow_pickle)


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
    problems: Sequence[Problem], arms: Sequence[Arm], tokenizer: Any, seed: int, max_model_len: int,
    num_samples: int = 1,
) -> tuple[list[Request], list[str]]:
    """Render each problem for each arm, arms of one problem adjacent; skip prompts too long.
    With `num_samples` k, each problem is asked k times per arm, sample s seeded alike in every arm."""
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
        requests.extend(replace(r, seed=problem_seed(seed, p.id, s), sample=s)
                        for s in range(num_samples) for r in rows)
    return requests, skipped


def _chunks(items: list[Request], size: int) -> list[list[Request]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def _jsonl_sink(path: Path, run_id: str) -> Callable[[ArmResult, Problem], None]:
    """Append each result as one flushed JSON line, so finished work survives a crash."""
    path.parent.mkdir(parents=True, exist_ok=True)

    def write(res: ArmResult, problem: Problem) -> None:
        record = {"run_id": run_id} | generation_record(res.generation, res, problem)
        with path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
            f.flush()

    return write


def generation_record(gen: Generation, res: ArmResult, problem: Problem | None = None) -> dict[str, Any]:
    """The generations.jsonl line of one result; with `problem`, also its question, gold and meta,
    so a run can be re-read and re-scored from its own files (`grpo_compare.runs.load_run`)."""
    record = asdict(gen) | {"score": asdict(res.score)}
    if problem is not None:
        record |= {"question": problem.question, "gold": problem.gold, "meta": problem.meta}
    return record
