"""The one pipeline: a `Session` resolves model, adapter, tokenizer, arms and engine once, then
turns problems × arms into scored results. `compare`, `evaluate`, `ask`, `batch`, `chat` and the
`GRPOInference` API all run through it.

    session = Session(CompareConfig(dataset="gsm8k_test.jsonl", adapter="outputs/grpo_lora"))
    result = session.compare(output_dir="runs/gsm8k")      # a Comparison, the run's files written
    session.run([Problem("0", "What is 7 * 6?", "42")], ["base", "grpo"])
    session.close()

Every arm of a problem goes into the same engine call, with the same seed; large runs go to the
engine in batches, and each finished result is scored and appended to generations.jsonl at once.
"""

from __future__ import annotations

import contextlib
import os
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any, Callable, Sequence

from rich.markup import escape

from .alarm import trainer_rewards
from .config import CompareConfig
from .datasets import checked_problems, load_problems
from .demo import BUILTIN_DATASET, demo_problems
from .engines import (
    Engine,
    adopt,
    choose_backend,
    has_cuda,
    held_backend,
    live_vllm,
    resolve_strategy,
    space_shortfall,
    start_engine,
    way,
)
from .errors import APIError, UserError, expect
from .files import gib, shorten
from .plan import Launch, RunPlan, plan
from .prompts import build_requests, checked_tokenizer, load_tokenizer, render
from .rundir import RunDir, fingerprint, record_key, result
from .runs import held_arms, write_outputs
from .scoring import score
from .summary import comparison
from .types import AdapterCheck, Arm, ArmResult, Comparison, Generation, Problem, Request, Results, Sampling
from .ui import err, progress

COMPILE_MIN_TOKENS = 400_000  # token budget (rows x max_tokens) past which a compiled engine pays off on CPU


class Session:
    """One loaded model serving every arm. `engine` is an engine the caller already holds: a
    `vllm.LLM`, an unsloth model loaded with `fast_inference=True`, or one of `grpo_compare.engines`;
    it is used as it is (its model and tokenizer too, unless given) and left open. Otherwise one is
    started on first use and closed by `close()`.

    `config` is the user's settings as given; `plan` is what the run does with them, resolved
    once; `launch` what the engine's start decided (None before it)."""

    def __init__(self, config: CompareConfig | None = None, engine: Any = None, tokenizer: Any = None,
                 **flags: Any) -> None:
        hint = (f"CompareConfig.from_yaml({str(config)!r}) reads a YAML file" if isinstance(config, (str, os.PathLike))
                else "CompareConfig(...), or the settings as keyword arguments")
        self.config = (expect(config, CompareConfig, "config", hint) if config is not None else CompareConfig()
                       ).override(**flags)
        live = live_vllm(engine)
        self.plan = plan(self.config, held_backend(engine) if engine is not None else None,
                         str(live.llm_engine.model_config.model) if live is not None else None,
                         str(getattr(engine, "lora_strategy", "mixed")) if live is None else "mixed")
        self.arms = {a.name: a for a in self.plan.arms}
        self._tokenizer = tokenizer or (live.get_tokenizer() if live else None)
        self._engine = adopt(engine, self.plan.adapters) if engine is not None else None
        self._owned = engine is None
        if engine is not None:  # refused before generating
            resolve_strategy(self.plan.lora_strategy, self.plan.backend, self.plan.adapters, 0)
        self._backend: tuple[str, bool] | None = None  # the backend once decided, and whether `auto` decided it
        self.launch: Launch | None = None
        self.render = lru_cache(maxsize=4096)(self._render)

    @cached_property
    def tokenizer(self) -> Any:
        """The model's tokenizer, loaded on first use: a wrong dataset path is named before it loads."""
        return checked_tokenizer(self._tokenizer, self.plan.model) if self._tokenizer else load_tokenizer(self.plan.model)

    # --- engine --------------------------------------------------------------------------------

    def backend(self) -> str:
        """The backend, `auto` decided on first need: asking whether vLLM runs here imports it (seconds),
        so a wrong dataset path is named before that. After the engine starts, the launch's."""
        if self.launch is not None:
            return self.launch.backend
        if self._backend is None:
            backend, why = choose_backend(self.plan.backend)
            if why:
                err.print(f"[bold]backend {backend}[/] ({escape(why)})", highlight=False)
            self._backend = backend, bool(why)
        return self._backend[0]

    @property
    def engine(self) -> Engine:
        """The engine, started on first use and kept for every later call."""
        return self.start(0)

    def start(self, rows: int) -> Engine:
        """Start the engine for a first workload of `rows` generations (the LoRA strategy `auto`
        weighs a second engine start against it); `launch` records what was decided."""
        if self._engine is None:
            p, launch = self.plan, self.decide(rows)
            backend = launch.backend
            others = sorted({a.model for a in p.arms if a.model})
            self._engine = start_engine(backend, launch.lora_strategy, p.model, p.adapters, others, p.config.keep_merged,
                                        mode=launch.engine_mode,
                                        max_model_len=p.config.max_model_len, seed=p.sampling.seed,
                                        dtype=p.config.dtype, device=p.config.device, progress=False,
                                        gpu_memory_utilization=p.config.gpu_memory_utilization,
                                        **({"distributed": p.config.distributed, "warn": warn} if backend == "ray" else {}),
                                        **({"base_url": p.config.base_url, "api_key_env": p.config.api_key_env,
                                            "concurrency": p.config.concurrency, "warn": warn} if backend == "openai" else {}))
            self.launch = launch
        elif self.launch is None:  # an engine the caller holds
            self.launch = Launch(self.backend(), self.plan.lora_strategy, self.plan.config.engine_mode)
        return self._engine

    def decide(self, rows: int) -> Launch:
        """The backend, LoRA strategy and engine mode for a first workload of `rows` generations,
        each said on the terminal with why."""
        p, backend = self.plan, self.backend()
        if p.config.device == "cuda" and not has_cuda() and backend != "ray":  # Ray's GPUs are on its workers
            raise UserError("device is 'cuda' but no CUDA GPU is visible: use device auto or cpu")
        try:
            strategy, why = resolve_strategy(p.lora_strategy, backend, p.adapters, rows)
        except UserError:  # the auto backend moves to peft itself when vLLM cannot serve an adapter
            auto = self._backend is not None and self._backend[1]
            if not auto or p.lora_strategy != "auto" or any(a.refusal("hf") for a in p.adapters):
                raise
            unserved = sorted({f for a in p.adapters for f in a.unserved("mixed") + a.unserved("merged")})
            err.print(f"[bold]backend hf[/] (auto: only transformers + peft serves the adapter's "
                      f"{', '.join(unserved)})", highlight=False)
            backend = "hf"
            strategy, why = resolve_strategy(p.lora_strategy, backend, p.adapters, rows)
        if strategy == "merged":
            strategy, why = self.merged_space(backend, why)
        mode = p.config.engine_mode
        if backend == "openai":  # the server was started as it was: nothing here to decide
            names = [str(a.path) for a in p.adapters] if len(p.adapters) < 3 else [f"{len(p.adapters)} adapters"]
            err.print(f"[bold]Serving[/] {p.model} through the server at {p.config.base_url}"
                      + (f" + {', '.join(names)} as LoRAs" if p.adapters else ""), highlight=False)
            return Launch(backend, strategy, mode)
        if mode == "auto":  # compiling costs 40-90 s at every start on CPU (its cache never loads)
            mode = "compiled" if has_cuda() or rows * p.sampling.max_tokens >= COMPILE_MIN_TOKENS else "eager"
        others = sorted({a.model for a in p.arms if a.model})
        names = [str(a.path) for a in p.adapters] if len(p.adapters) < 3 else [f"{len(p.adapters)} adapters"]
        err.print("[bold]Loading[/] " + escape(f"{p.model} with {backend} ({mode})"
                  + (f" + {', '.join(names)}, LoRA strategy {strategy}" if p.adapters else "")
                  + (f" ({why})" if why else "")
                  + (f"; {', '.join(others)} swapped in for the arms it serves" if others else "")), highlight=False)
        return Launch(backend, strategy, mode)

    def merged_space(self, backend: str, why: str) -> tuple[str, str]:
        """The merged strategy where its copies of the weights (one per adapter) fit on the cache's
        disk; else, for `auto`, LoRA rows (mixed) where they serve the adapters, and a named
        `merged` is refused in one line with the space needed and free."""
        p = self.plan
        short = space_shortfall(p.model, p.adapters if p.config.keep_merged else p.adapters[:1])
        if short is None:
            return "merged", why
        copies, need, free, where = short
        said = (f"{copies} merged {'copy' if copies == 1 else 'copies'} of the weights need about {gib(need)} in {where}, "
                f"{gib(free)} free there")
        if p.lora_strategy == "auto" and not any(a.refusal(way(backend, "mixed")) for a in p.adapters):
            return "mixed", f"auto: {said}"
        raise UserError(f"{said}: pass --lora-strategy mixed, which builds none (or free space, or set "
                        "GRPO_COMPARE_CACHE to a larger disk)")

    def close(self) -> None:
        """Free the engine this session started (an engine the caller passed in stays open)."""
        if self._owned and self._engine is not None:
            self._engine.close()
            self._engine = None

    # --- problems × arms -> results --------------------------------------------------------------

    def arm_names(self, arms: Sequence[str] | None) -> list[str]:
        """Validate arm names; None means every arm."""
        if isinstance(arms, str) or not isinstance(arms, (Sequence, type(None))):
            raise APIError(f"arms must be a list of arm names, got {type(arms).__name__} {shorten(arms, 40)}: "
                           f"e.g. arms=[{arms!r}]" if isinstance(arms, str) else "e.g. arms=['base', 'grpo']")
        for a in arms or ():
            if a not in self.arms:
                raise UserError(f"unknown arm '{a}': choose one of {', '.join(self.arms)}")
        return list(dict.fromkeys(arms)) if arms else list(self.arms)

    def _render(self, question: str, arm: str) -> str:
        return render(self.tokenizer, self.arms[arm], question)

    def requests(self, problems: Sequence[Problem], arms: Sequence[str], num_samples: int = 1
                 ) -> tuple[list[Request], list[str]]:
        """`build_requests` for this session's arms, tokenizer and context window."""
        limit = self._engine.max_model_len if self._engine is not None else self.plan.config.max_model_len
        return build_requests(problems, [self.arms[a] for a in arms], self.tokenizer, self.plan.sampling.seed,
                              limit, num_samples, lambda question, arm: self.render(question, arm.name))

    def generate(self, requests: Sequence[Request], batch: int, sampling: Sampling | None = None,
                 sink: Callable[[ArmResult, Problem], None] | None = None) -> Results:
        """Generate in engine calls of at most `batch` rows and score each completion against its
        problem's gold; keyed by (problem id, arm, sample). `sampling` defaults to the plan's."""
        results: Results = {}
        if not requests:
            return results
        engine = self.start(len(requests))
        step = len(requests) if engine.whole_run else max(1, batch)  # batches bound memory, nothing else
        with progress("generating", len(requests)) as advance:
            for i in range(0, len(requests), step):
                part = requests[i:i + step]
                problems = {r.problem.id: r.problem for r in part}
                for gen in engine.stream(part, sampling or self.plan.sampling):
                    if not isinstance(gen, Generation) or gen.problem_id not in problems:  # an engine of one's own
                        raise APIError(f"the engine {type(engine).__name__}'s stream must yield grpo_compare.Generation "
                                       "of a request it was given (engines.base.generation makes one), got "
                                       f"{type(gen).__name__} {shorten(gen, 60)}")
                    res = ArmResult(gen, score(gen.completion, problems[gen.problem_id].gold))
                    results[gen.key] = res
                    if sink:
                        sink(res, problems[gen.problem_id])
                    advance(gen.completion_tokens)
        return results

    def run(self, problems: Sequence[Problem], arms: Sequence[str], batch_size: int | None = None,
            num_samples: int | None = None, sampling: Sampling | None = None) -> Results:
        """Render, generate (all arms of a problem in the same engine call) and score."""
        k = num_samples or self.plan.num_samples
        requests, _ = self.requests(checked_problems(problems), self.arm_names(arms), k)
        if not requests:
            raise UserError(f"the prompt is longer than the context window ({self.plan.config.max_model_len} tokens): "
                            "raise --max-model-len")
        return self.generate(requests, (batch_size or self.plan.config.batch_size) * len(arms) * k, sampling)

    def problems(self, call: RunPlan | None = None) -> list[Problem]:
        """The dataset's problems, or the built-in held-out demo problems."""
        p = call or self.plan
        c = p.config
        if p.dataset == BUILTIN_DATASET:
            return demo_problems("eval", n=c.max_samples or 100)
        return load_problems(p.dataset, c.split, c.max_samples, c.question_field, c.answer_field)

    def for_call(self, arms: Sequence[str], **flags: Any) -> RunPlan:
        """The plan of one call: these arms, and the dataset settings `flags` (dataset, split,
        max_samples, batch_size) over the session's; everything else as planned."""
        return self.plan.narrowed(arms, self.config.override(**flags))

    # --- a whole comparison ----------------------------------------------------------------------

    def compare(self, output_dir: str | Path | None = None, problems: Sequence[Problem] | None = None,
                arms: Sequence[str] | None = None, **flags: Any) -> Comparison:
        """Every problem through every arm (or `arms`), scored and paired. With `output_dir` the
        run's files are written there, and an unfinished run there is resumed. `flags` override
        the dataset settings for this call (dataset, split, max_samples, batch_size)."""
        names = self.arm_names(arms)
        call = self.for_call(names, **flags)
        if output_dir is not None:
            expect(output_dir, (str, os.PathLike), "output_dir", "the run directory's path")
        problems = checked_problems(problems) if problems is not None else self.problems(call)
        k = call.num_samples
        # a server is asked first what it serves: its window bounds the prompts, its models go in the fingerprint
        server = getattr(self.start(len(problems) * len(names) * k), "identity", None) \
            if self.backend() == "openai" else None
        requests, skipped = self.requests(problems, names, k)
        if not requests:
            raise UserError("every problem is longer than the context window: raise --max-model-len")
        run = RunDir(output_dir) if output_dir else None
        with run or contextlib.nullcontext():
            resumed = run is not None and run.start(fingerprint(call, self.backend(), self.tokenizer, server))
            done = run.finished() if run is not None and resumed else {}
            todo = [r for r in requests if record_key(r.problem.id, r.prompt_text, r.arm.name, r.sample) not in done]
            if resumed:
                err.print(f"[bold]Resuming[/] {escape(str(run.path))}: {len(requests) - len(todo)} of {len(requests)} "
                          "generations already done", highlight=False)
            held = held_arms(run.path, names, [p.id for p in problems if p.id not in skipped], done, k) if resumed else []
            keep = set(names) | {a.name for a in held}
            results: Results = {}
            for rec in done.values():
                res = result(rec)
                if res.generation.sample < k and res.generation.arm in keep:
                    results[res.generation.key] = res
            check = run.saved_summary().get("adapter_check") if run else None
            new, check = self.generate_run(todo, requests, call.config.batch_size * len(names) * k, run, check)
            results |= new
            launch = self.launch or Launch(self.backend(), call.lora_strategy, call.config.engine_mode)
            order = {name: i for i, name in enumerate(run.arms() if run else names)}
            arms = [call.arms[0], *sorted([*call.arms[1:], *held], key=lambda a: order.get(a.name, len(order)))]
            c = comparison(call.joined(arms).launched(launch), problems, arms, results, skipped, check,
                           trainer_rewards(arms))
            if run:
                write_outputs(run.path, c)
        return c

    def generate_run(self, todo: Sequence[Request], requests: Sequence[Request], batch: int, run: RunDir | None,
                     check: AdapterCheck | None) -> tuple[Results, AdapterCheck | None]:
        """`generate` for a run, and the adapter check: a call of its own; or, where every engine call
        restarts the workers (`whole_run`), two more rows of the run's one call, never written to the run."""
        lora_arm, ride = None, []
        if self.plan.adapters and (todo or check is None):  # a deleted summary.json gets its check again
            engine = self.start(len(todo))
            if engine.whole_run and todo:
                lora_arm, ride = self.check_pair(requests)
            else:
                check = self.adapter_check(requests, engine)
        extra = [r.key for r in ride]

        def sink(res: ArmResult, problem: Problem) -> None:
            if run and res.generation.key not in extra:
                run.append(res, problem)

        results = self.generate([*todo, *ride], batch, sink=sink)
        gens = [results.pop(key).generation for key in extra if key in results]
        if lora_arm is not None and len(gens) == 2:  # same seed in both rows: only the LoRA differs
            method = "greedy output" if self.plan.sampling.temperature == 0 else "same-seed output"
            check = self.judge_check(lora_arm, ride, gens, method)
        first = next((a.adapter for a in self.arms.values() if a.adapter is not None), None)
        if check is not None and first is not None and "applied" not in check:
            check = AdapterCheck(**check, applied=first.applied)
        return results, check

    def adapter_check(self, requests: Sequence[Request], engine: Engine, max_tokens: int = 32) -> AdapterCheck | None:
        """Does the adapter (of the first adapter arm) change anything? The merged weights' largest
        change where the engine knows it; else one prompt, the same messages with and without the
        LoRA, greedy: identical output means zero weights, wrong target modules or another base model."""
        lora_arm, pair = self.check_pair(requests)
        if lora_arm is None or lora_arm.adapter is None:
            return None
        known = engine.weights_check(lora_arm.adapter)
        if known is not None:
            if known.get("unchanged"):
                err.print(f"[bold yellow]warning:[/] merging {escape(str(lora_arm.adapter.path))} left {len(known['unchanged'])} of "
                          f"the modules it wraps unchanged ({escape(', '.join(known['unchanged'][:3]))}...): zero "
                          "weights there?", highlight=False)
            return known
        gens = engine.generate(pair, Sampling(temperature=0.0, top_p=1.0, max_tokens=max_tokens))
        return self.judge_check(lora_arm, pair, gens, "greedy output")

    def check_pair(self, requests: Sequence[Request]) -> tuple[Arm | None, list[Request]]:
        """The first adapter arm and the check's two rows: its first prompt without and with the LoRA."""
        lora_arm = next((a for a in self.arms.values() if a.adapter is not None), None)
        first = next((r for r in requests if lora_arm and r.arm.name == lora_arm.name), None)
        if lora_arm is None or first is None:
            return None, []
        return lora_arm, [Request(first.problem, Arm(f"check_{name}", adapter, lora_arm.system_prompt), first.prompt_text,
                                  first.prompt_token_ids, first.seed)
                          for name, adapter in (("base", None), ("lora", lora_arm.adapter))]

    def judge_check(self, lora_arm: Arm, pair: Sequence[Request], gens: Sequence[Generation], method: str) -> AdapterCheck:
        """The check's verdict from the pair's two completions (same seed, so only the LoRA differs)."""
        identical = gens[0].completion == gens[1].completion
        if identical:
            path = lora_arm.adapter.path if lora_arm.adapter else None
            err.print(f"[bold yellow]warning:[/] the adapter {escape(str(path))} did not change the output on problem "
                      f"{escape(pair[0].problem.id)} ({method}, same messages): zero weights, wrong target modules or "
                      "another base model?", highlight=False)
        return AdapterCheck(method=method, identical=identical, problem_id=pair[0].problem.id, arm=lora_arm.name,
                            without_adapter=gens[0].completion, with_adapter=gens[1].completion)


def warn(line: str) -> None:
    """A warning of an engine's on the terminal: the run goes on."""
    err.print(f"[yellow]warning:[/] {escape(line)}", highlight=False)


def compare(config: CompareConfig | None = None, engine: Any = None, output_dir: str | Path | None = None,
            problems: Sequence[Problem] | None = None, tokenizer: Any = None, **flags: Any) -> Comparison:
    """Run every problem through every arm of one loaded model and score every answer.

    With no config and no flags this is the embedded demo. `flags` override config fields
    (`max_samples=5`, `temperature=0`, `num_samples=4`, ...). With `output_dir` the run's files are
    written there. `problems` replaces the config's dataset. `engine` is an engine already loaded
    (a `vllm.LLM`, or the unsloth model still in memory after training: nothing else is loaded,
    and it stays open); its tokenizer is used unless `tokenizer` is given.

    >>> compare(max_samples=20).summary["delta_accuracy"]   # doctest: +SKIP
    0.6
    >>> compare(engine=model, adapter="grpo_saved_lora", dataset="gsm8k_test.jsonl")   # doctest: +SKIP
    """
    session = Session(config, engine, tokenizer, **flags)
    try:
        return session.compare(output_dir, problems)
    finally:
        session.close()
