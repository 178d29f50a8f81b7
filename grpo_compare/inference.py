"""The GRPO inference guide's API, served by the comparison pipeline (render, generate, score).

    from grpo_compare import GRPOInference, InferenceConfig
    inf = GRPOInference(InferenceConfig.from_yaml("configs/inference_config.yaml"))
    inf.generate_response("What is 7 * 6?")        # {prompt, response, answer, full_output}
    inf.batch_inference(["1+1?", "2+2?"])          # [{problem, prompt, response, answer, index}]
    inf.evaluate_on_dataset("HuggingFaceH4/MATH-500", max_samples=100)   # {accuracy, correct, ...}

The guide's methods answer with one arm (`arm`, default "grpo"); `ask`, `batch_by_arm` and
`evaluate_arms` put several arms of a question into the same engine call, as `compare` does.
"""

from __future__ import annotations

import dataclasses
import json
import time
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

from rich.console import Console

from .backends import Backend, choose_backend, make_backend
from .compare import (Comparison, build_requests, compare, generate_scored, load_tokenizer, resolve_adapter,
                      resolve_model, split_samples)
from .config import CompareConfig
from .errors import UserError
from .inference_config import InferenceConfig
from .prompts import render
from .stats import sample_metrics
from .types import ArmResult, Problem

console = Console(stderr=True)


class GRPOInference:
    """One loaded engine answering questions with one or several arms (base, grpo).

    `backend` injects an already loaded engine; otherwise one is started on first use and kept.
    """

    def __init__(self, config: InferenceConfig | None = None, backend: Backend | None = None,
                 arm: str = "grpo") -> None:
        self.config = config or InferenceConfig()
        self.settings: CompareConfig = self.config.to_compare_config()
        self.model = resolve_model(self.settings)
        self.adapter = resolve_adapter(self.settings, self.model)
        if self.adapter is not None:
            _check_lora_shape(self.config, self.adapter.path)
        path = self.adapter.path if self.adapter else None
        self.arms = {spec.name: spec.resolve(path) for spec in self.settings.arms}
        self.arm = self.arm_names([arm])[0]
        self.tokenizer = load_tokenizer(self.model)
        self._backend = backend
        self._render = lru_cache(maxsize=4096)(self._render_uncached)
        self._questions: dict[str, str] = {}  # rendered prompt -> its question

    # --- engine and settings ---------------------------------------------------------------

    @property
    def backend(self) -> Backend:
        """The engine, started on first use and kept for every later call."""
        if self._backend is None:
            self._backend = self._start_engine()
        return self._backend

    def _start_engine(self) -> Backend:
        i, m = self.config.inference, self.config.model
        device = _device(i.device)
        self.settings = dataclasses.replace(self.settings, backend=choose_backend(self.settings.backend))
        kw: dict[str, Any] = dict(max_model_len=i.max_length, seed=i.seed)
        if self.config.optimization.fp16 and device == "cuda":
            kw["dtype"] = "float16"  # on CPU the backend keeps float32 (bf16/fp16 batch-dependent there)
        if not m.use_lora:
            from .backends.two_models import TwoModelBackend

            console.print(f"[bold]use_lora is false[/]: base {m.base_model} and merged {m.model_path} run one "
                          "after the other, each in its own engine: memory holds one model at a time, and "
                          "each switch between arms reloads an engine")
            models = {"base": self.model, "grpo": str(m.model_path)}
            return TwoModelBackend(models, lambda path: make_backend(self.settings.backend, path, [], **kw),
                                   max_model_len=i.max_length)
        console.print(f"[bold]Loading[/] {self.model} with {self.settings.backend}"
                      + (f" + adapter {self.adapter.path}" if self.adapter else ""))
        return make_backend(self.settings.backend, self.model, [self.adapter] if self.adapter else [], **kw)

    def set_sampling(self, **values: Any) -> None:
        """Change sampling between calls (temperature, top_p, top_k, max_tokens, seed)."""
        self.settings = self.settings.override(**values)

    def arm_names(self, arms: Sequence[str] | None) -> list[str]:
        """Validate arm names; None means every arm."""
        if arms is None:
            return list(self.arms)
        for a in arms:
            if a not in self.arms:
                raise UserError(f"unknown arm '{a}': choose one of {', '.join(self.arms)}")
        return list(dict.fromkeys(arms))

    # --- the guide's API ------------------------------------------------------------------

    def preprocess_prompt(self, problem: str, arm: str | None = None) -> str:
        """The prompt the model sees for `problem`: the arm's messages through the chat template.

        >>> inf.preprocess_prompt("What is 2+3?").endswith("<|im_start|>assistant\\n")  # doctest: +SKIP
        True
        """
        text = self._render(problem, self.arm_names([arm or self.arm])[0])
        self._questions[text] = problem
        return text

    def _render_uncached(self, problem: str, arm: str) -> str:
        return render(self.tokenizer, self.arms[arm], problem)

    def generate_response(self, prompt: str, arm: str | None = None) -> dict[str, Any]:
        """One answer: `prompt` is a question, or a prompt returned by `preprocess_prompt`.

        >>> inf.generate_response("What is 2+3?")["answer"]   # doctest: +SKIP
        '5'
        """
        question = self._questions.get(prompt, prompt)
        return self.ask(question, [arm or self.arm])[arm or self.arm]

    def ask(self, question: str, arms: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
        """One question through several arms in one engine call: {arm: {prompt, response, answer, full_output}}."""
        names = self.arm_names(arms)
        results = self.run([Problem("0", question, None)], names)
        return {a: response_record(results[("0", a, 0)]) for a in names}

    def batch_inference(self, problems: Sequence[str], batch_size: int | None = None) -> list[dict[str, Any]]:
        """The guide's batch format for this instance's arm: [{problem, prompt, response, answer, index}]."""
        return self.batch_by_arm(problems, batch_size, [self.arm])[self.arm]

    def batch_by_arm(self, problems: Sequence[str], batch_size: int | None = None,
                     arms: Sequence[str] | None = None) -> dict[str, list[dict[str, Any]]]:
        """The batch format per arm; all arms share the engine calls (`batch_size` problems each)."""
        names = self.arm_names(arms)
        probs = [Problem(str(i), q, None) for i, q in enumerate(problems)]
        results = self.run(probs, names, batch_size=batch_size)
        out: dict[str, list[dict[str, Any]]] = {}
        for a in names:
            rows = []
            for i, p in enumerate(probs):
                rec = response_record(results[(p.id, a, 0)])
                rows.append({"problem": p.question, "prompt": rec["prompt"], "response": rec["response"],
                             "answer": rec["answer"], "index": i})
            out[a] = rows
        return out

    def evaluate_on_dataset(self, dataset_name: str | None = None, split: str | None = None,
                            max_samples: int | None = None, batch_size: int | None = None) -> dict[str, Any]:
        """Accuracy of this instance's arm: {accuracy, correct, total, eval_time, results}."""
        return self.evaluate_arms(dataset_name, split, max_samples, batch_size, [self.arm])[0][self.arm]

    def evaluate_arms(self, dataset_name: str | None = None, split: str | None = None,
                      max_samples: int | None = None, batch_size: int | None = None,
                      arms: Sequence[str] | None = None, log_dir: str | Path | None = None,
                      ) -> tuple[dict[str, dict[str, Any]], Comparison | None]:
        """The evaluation format per arm, and (two or more arms) the paired `Comparison`, which
        `compare` produces and, with `log_dir`, writes there as a full run directory."""
        names = self.arm_names(arms)
        cfg = self.settings.override(dataset=dataset_name, split=split, max_samples=max_samples, chunk_size=batch_size)
        if cfg.dataset is None and not self.config.is_demo:
            raise UserError("no dataset to evaluate: pass --dataset (hub id or local file) or set evaluation.dataset_name")
        start = time.perf_counter()
        if len(names) >= 2:
            cfg = dataclasses.replace(cfg, arms=tuple(s for s in cfg.arms if s.name in names))
            c = compare(cfg, backend=self.backend, output_dir=log_dir)
            problems, samples = list(c.problems), c.samples
        else:
            from .compare import resolve_problems

            c, problems = None, resolve_problems(cfg)
            _, samples = split_samples(self.run(problems, names, batch_size=batch_size, config=cfg))
            problems = [p for p in problems if (p.id, names[0]) in samples]
        seconds = time.perf_counter() - start
        per_arm = {a: evaluation_record(problems, samples, a, seconds, cfg.num_samples) for a in names}
        return per_arm, c

    # --- the pipeline ---------------------------------------------------------------------

    def run(self, problems: Sequence[Problem], arms: Sequence[str], batch_size: int | None = None,
            config: CompareConfig | None = None) -> dict[tuple[str, str, int], ArmResult]:
        """Render, generate (all arms of a problem in the same engine call) and score."""
        cfg = config or self.settings
        arm_objs = [self.arms[a] for a in arms]
        limit = getattr(self.backend, "max_model_len", None) or cfg.max_model_len
        requests, skipped = build_requests(problems, arm_objs, self.tokenizer, cfg.sampling.seed, limit,
                                           cfg.num_samples)
        if not requests:
            raise UserError(f"the prompt is longer than the context window ({limit} tokens): raise --max-model-len")
        per_call = (batch_size or cfg.chunk_size) * len(arm_objs) * cfg.num_samples
        return generate_scored(self.backend, requests, cfg.sampling, {p.id: p for p in problems}, per_call)


def response_record(res: ArmResult) -> dict[str, Any]:
    """The guide's answer dict: {prompt, response, answer, full_output}."""
    g = res.generation
    return {"prompt": g.prompt_text, "response": g.completion, "answer": res.score.answer,
            "full_output": g.prompt_text + g.completion}


def evaluation_record(problems: Sequence[Problem], samples: dict[tuple[str, str], tuple[ArmResult, ...]],
                      arm: str, seconds: float, k: int = 1) -> dict[str, Any]:
    """The guide's evaluation dict for one arm, plus accuracy by level / subject when the rows
    have them and, with k samples, pass@1, pass@k and maj@k. `total` counts graded problems;
    ungraded ones (gold unparseable) stay in `results` with is_correct null."""
    results = []
    for i, p in enumerate(problems):
        rs = samples[(p.id, arm)]
        item = {"index": i, "problem": p.question, "reference_answer": p.gold} | _sample_fields(rs[0])
        if k > 1:
            item["samples"] = [_sample_fields(r) for r in rs]
        results.append(item)
    out = _accuracy([r["is_correct"] for r in results]) | {"eval_time": round(seconds, 3), "results": results}
    out["ungraded"] = sum(r["is_correct"] is None for r in results)
    for key in ("level", "subject"):
        if any(key in p.meta for p in problems):
            groups: dict[str, list[bool | None]] = {}
            for p, r in zip(problems, results):
                groups.setdefault(str(p.meta.get(key)), []).append(r["is_correct"])
            out[f"by_{key}"] = {name: _accuracy(v) for name, v in sorted(groups.items())}
    if k > 1:
        out["samples"] = sample_metrics([[(r.score.answer, r.score.correct) for r in samples[(p.id, arm)]]
                                         for p in problems], k)
    return out


def _sample_fields(res: ArmResult) -> dict[str, Any]:
    return {"model_answer": res.score.answer, "is_correct": res.score.correct,
            "model_response": res.generation.completion}


def _accuracy(correct: Sequence[bool | None]) -> dict[str, Any]:
    graded = [c for c in correct if c is not None]
    n = sum(bool(c) for c in graded)
    return {"accuracy": n / len(graded) if graded else None, "correct": n, "total": len(graded)}


def _device(device: str) -> str:
    """'auto' -> what is there; 'cuda' without a GPU is a user error."""
    import torch

    has_gpu = torch.cuda.is_available()
    if device == "cuda" and not has_gpu:
        raise UserError("inference.device is 'cuda' but no CUDA GPU is visible: use device: auto or cpu")
    return "cuda" if device in ("auto", "cuda") and has_gpu else "cpu"


def _check_lora_shape(config: InferenceConfig, adapter: Path) -> None:
    """Warn when model.lora disagrees with the adapter's own adapter_config.json (which wins)."""
    saved = json.loads((adapter / "adapter_config.json").read_text(encoding="utf-8"))
    lora = config.model.lora
    for key, theirs in (("r", saved.get("r")), ("alpha", saved.get("lora_alpha")), ("dropout", saved.get("lora_dropout"))):
        ours = getattr(lora, key)
        if ours is not None and theirs is not None and float(ours) != float(theirs):
            console.print(f"[yellow]warning:[/] model.lora.{key} is {ours} but {adapter} was saved with {theirs}; "
                          "the adapter's own value is used")
