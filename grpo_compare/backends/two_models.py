"""Arms served by different full models (base vs a merged fine-tuned model), one engine at a time.

    backend = TwoModelBackend({"base": base_dir, "grpo": merged_dir}, lambda m: make_backend("vllm", m, []))

A merged model has no adapter to switch off, so the two arms cannot share one engine. Loading
both at once would double the weights and KV cache; here only one engine lives at a time: the
loaded model's rows go first, then the engine is released and the other model's is started.
Peak memory is one model and its KV cache; the price is an engine start per switch.
"""

from __future__ import annotations

import dataclasses
import gc
from typing import Any, Callable, Sequence

from rich.console import Console

from ..config import SamplingConfig
from ..types import Generation, Request

console = Console(stderr=True)


class TwoModelBackend:
    """`models` maps a route (by default the arm name) to the model serving it; `factory(model)`
    starts an engine; `route(request)` names a request's route."""

    def __init__(self, models: dict[str, str], factory: Callable[[str], Any], max_model_len: int = 4096,
                 route: Callable[[Request], str] = lambda r: r.arm.name) -> None:
        self.models = models
        self.factory = factory
        self.route = route
        self.max_model_len = max_model_len
        self.loaded: tuple[str, Any] | None = None
        self.starts: list[str] = []  # every engine start, in order (for inspection)
        self.calls: list[list[str]] = []
        self.weights_check: dict[str, Any] | None = None  # the merged strategy's adapter check

    def generate(self, requests: Sequence[Request], sampling: SamplingConfig) -> list[Generation]:
        """Each model's rows in one call to its engine, the already loaded model first."""
        groups: dict[str, list[int]] = {}
        for i, r in enumerate(requests):
            groups.setdefault(self.models[self.route(r)], []).append(i)
        current = self.loaded[0] if self.loaded else None
        out: list[Generation | None] = [None] * len(requests)
        for model in sorted(groups, key=lambda m: m != current):
            idx = groups[model]
            self.calls.append([requests[i].arm.name for i in idx])
            # Each model is complete: its engine serves no adapter, so the rows go without one.
            rows = [dataclasses.replace(requests[i], arm=dataclasses.replace(requests[i].arm, adapter=None)) for i in idx]
            for i, gen in zip(idx, self._engine(model).generate(rows, sampling)):
                out[i] = gen
        return [g for g in out if g is not None]

    def _engine(self, model: str) -> Any:
        if self.loaded and self.loaded[0] == model:
            return self.loaded[1]
        self.release()
        console.print(f"[bold]Loading[/] {model}")
        self.loaded = (model, self.factory(model))
        self.starts.append(model)
        return self.loaded[1]

    def release(self) -> None:
        """Free the loaded engine (weights and KV cache) before another starts."""
        if self.loaded is None:
            return
        engine = self.loaded[1]
        self.loaded = None
        llm = getattr(engine, "llm", None)
        shutdown = getattr(getattr(llm, "llm_engine", None), "shutdown", None)
        if callable(shutdown):
            shutdown()
        del engine, llm
        gc.collect()
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:
            pass
