"""Arms served by different full weights (the base, a merged copy of base + adapter, a merged
fine-tune) from one engine, the weights swapped in place between them.

    engine = SwitchingEngine(base, [base, merged_dir], lambda m: make_engine("vllm", m))

A merged model has no adapter to switch off, so its rows cannot share a batch with the base
model's. The loaded weights' rows go first; then the engine swaps the other weights in
(`load_weights`: about 0.3 s for vLLM, no second engine start). An engine that cannot swap is
closed and another started: memory holds one model and its KV cache at a time either way.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from ..config import SamplingConfig
from ..types import AdapterCheck, Generation, Request
from .base import Engine


class SwitchingEngine(Engine):
    """`factory(model)` starts an engine on one of `models`. A request goes to its arm's own
    model, to the merged copy when its adapter is the merged one, else to the base model."""

    def __init__(self, base: str, models: Sequence[str], factory: Callable[[str], Any],
                 merged: dict[Path, Path] | None = None) -> None:
        self.base, self.models, self.factory, self.merged = base, list(models), factory, merged or {}
        self.engine: Any = None
        self.swaps = 0

    @property
    def name(self) -> str:
        return self._engine(self.base).name if self.engine is None else self.engine.name

    @property
    def max_model_len(self) -> int:
        return self._engine(self.base).max_model_len if self.engine is None else self.engine.max_model_len

    def route(self, r: Request) -> str:
        if r.arm.model:
            return r.arm.model
        if r.arm.adapter in self.merged:
            return str(self.merged[r.arm.adapter])
        return self.base

    def weights_check(self, adapter: Path) -> AdapterCheck | None:
        """Did merging the adapter change any weight? (recorded by the merge, no generation needed)"""
        if adapter not in self.merged:
            return None
        delta = json.loads((self.merged[adapter] / "merge.json").read_text())["max_abs_delta"]
        return AdapterCheck(method="merged weights", identical=delta == 0.0, max_abs_delta=delta)

    def stream(self, requests: Sequence[Request], sampling: SamplingConfig) -> Iterator[Generation]:
        """Each model's rows in one stream of the engine, the loaded weights first."""
        groups: dict[str, list[Request]] = {}
        for r in requests:
            groups.setdefault(self.route(r), []).append(r)
        current = self.engine.weights if self.engine is not None else None
        for model in sorted(groups, key=lambda m: m != current):
            # merged weights are complete: their rows go without an adapter
            rows = groups[model] if model == self.base else [
                dataclasses.replace(r, arm=dataclasses.replace(r.arm, adapter=None)) for r in groups[model]]
            yield from self._engine(model).stream(rows, sampling)

    def _engine(self, model: str) -> Any:
        if self.engine is not None and self.engine.weights != model:
            if hasattr(self.engine, "load_weights"):
                self.engine.load_weights(model)
                self.swaps += 1
            else:
                self.close()
        if self.engine is None:
            self.engine = self.factory(model)
        return self.engine

    def close(self) -> None:
        if self.engine is not None:
            engine, self.engine = self.engine, None
            engine.close()

