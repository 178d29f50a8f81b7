"""Arms served by different full weights (the base, a merged copy of base + adapter, a merged
fine-tune) from one engine, the weights swapped in place between them.

    engine = SwitchingEngine(base, [base, merged_dir], lambda m: make_engine("vllm", m))

A merged model has no adapter to switch off, so its rows cannot share a batch with the base
model's. The loaded weights' rows go first; then the engine swaps the other weights in
(`load_weights`: about 0.3 s for vLLM, no second engine start). An engine that cannot swap is
closed and another started: memory holds one model and its KV cache at a time either way.

Weights are swapped in place only where the result is the same as a fresh engine on them: the
same config.json, and in a model that ties its output head to its input embeddings, the same
embeddings (vLLM reloads the embeddings but keeps the head it tied at start, so a fine-tune with
other embeddings would answer with the base model's head). Otherwise a fresh engine starts.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import re
import shutil
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from ..adapters import AdapterInfo
from ..errors import UserError
from ..types import AdapterCheck, Generation, Request, Sampling
from .base import Engine
from .merge import merged_model, ready, space_shortfall, target


class SwitchingEngine(Engine):
    """`factory(model)` starts an engine on one of `models`. A request goes to its arm's own
    model, to the merged copy when its adapter is a merged one, else to the base model.

    `merged`: the adapters served merged, with their copy's folder, or None until `merge(adapter)`
    builds it on first need. With `keep` False at most one merged copy this engine built is on disk
    at a time: the engine goes back to the base weights, the copy is removed, the next is built."""

    def __init__(self, base: str, models: Sequence[str], factory: Callable[[str], Any],
                 merged: dict[AdapterInfo, Path | None] | None = None,
                 merge: Callable[[AdapterInfo], Path] | None = None, keep: bool = True) -> None:
        self.base, self.models, self.factory, self.merged = base, list(models), factory, dict(merged or {})
        self.merge, self.keep = merge or (lambda a: merged_model(base, a)), keep
        self.built: set[Path] = set()  # copies this engine built (the only ones it may remove)
        self.engine: Any = None
        self.swaps = 0

    @property
    def name(self) -> str:
        return self._engine(self.base).name if self.engine is None else self.engine.name

    @property
    def max_model_len(self) -> int:
        return self._engine(self.base).max_model_len if self.engine is None else self.engine.max_model_len

    def route(self, r: Request) -> str | AdapterInfo:
        """The weights a request's rows run on: a model folder, or the adapter whose merged copy."""
        if r.arm.model:
            return r.arm.model
        if r.arm.adapter in self.merged:
            return r.arm.adapter  # type: ignore[return-value]
        return self.base

    def folder(self, adapter: AdapterInfo) -> Path:
        """The adapter's merged copy, built on first need (and, without `keep`, once the last copy
        this engine built is gone: the engine is moved to the base weights first)."""
        path = self.merged[adapter]
        if path is not None and path.is_dir():
            return path
        if not self.keep:
            self.drop_copies()
        short = space_shortfall(self.base, [adapter])
        if short is not None:
            raise UserError(f"a merged copy of {adapter.path} needs about {short[1] / 2**30:.1f} GiB in {short[3]}, "
                            f"{short[2] / 2**30:.1f} GiB free there: free space, pass --lora-strategy mixed, or set "
                            "GRPO_COMPARE_CACHE to a larger disk")
        fresh = not ready(target(self.base, adapter))
        path = self.merged[adapter] = self.merge(adapter)
        if fresh:
            self.built.add(path)
        return path

    def drop_copies(self) -> None:
        """Remove the merged copies this engine built, the engine moved to the base weights first."""
        if not self.built:
            return
        if self.engine is not None and Path(self.engine.weights) in self.built:
            if hasattr(self.engine, "load_weights") and swappable(self.engine.weights, self.base):
                self._engine(self.base)
            else:  # the next weights start an engine of their own anyway
                self._shut()
        for path in self.built:
            shutil.rmtree(path, ignore_errors=True)
        self.merged = {a: None if p in self.built else p for a, p in self.merged.items()}
        self.built.clear()

    @property
    def lora_strategy(self) -> str:  # type: ignore[override]
        return "merged" if self.merged else "mixed"

    def served(self) -> set[AdapterInfo]:
        return set(self.merged) if self.merged else (self.engine.served() if self.engine is not None else set())

    def serve(self, adapters: Sequence[AdapterInfo]) -> None:
        """Serve these adapters too: merged, each into its own cached copy of the base weights."""
        new = [a for a in adapters if a not in self.served()]
        if new and not self.merged:
            self._engine(self.base).serve(new)
        for a in new if self.merged else ():  # built when its rows run
            self.merged[a] = None

    def weights_check(self, adapter: AdapterInfo) -> AdapterCheck | None:
        """Did merging the adapter change any weight? (recorded by the merge, no generation needed)"""
        if adapter not in self.merged:
            return None
        record = json.loads((self.folder(adapter) / "merge.json").read_text())
        delta = record["max_abs_delta"]
        return AdapterCheck(method="merged weights", identical=delta == 0.0, max_abs_delta=delta,
                            unchanged=record.get("unchanged", []))

    def stream(self, requests: Sequence[Request], sampling: Sampling) -> Iterator[Generation]:
        """Each model's rows in one stream of the engine, the loaded weights first."""
        groups: dict[str | AdapterInfo, list[Request]] = {}
        for r in requests:
            groups.setdefault(self.route(r), []).append(r)
        current = self.engine.weights if self.engine is not None else None
        loaded = {a: str(p) for a, p in self.merged.items() if p is not None}
        for key in sorted(groups, key=lambda k: loaded.get(k, k) != current):  # type: ignore[call-overload]
            model = str(self.folder(key)) if isinstance(key, AdapterInfo) else key
            # merged weights are complete: their rows go without an adapter
            rows = groups[key] if model == self.base else [
                dataclasses.replace(r, arm=dataclasses.replace(r.arm, adapter=None)) for r in groups[key]]
            yield from self._engine(model).stream(rows, sampling)

    def _engine(self, model: str) -> Any:
        if self.engine is not None and self.engine.weights != model:
            if hasattr(self.engine, "load_weights") and swappable(self.engine.weights, model):
                self.engine.load_weights(model)
                self.swaps += 1
            else:
                self._shut()
        if self.engine is None:
            self.engine = self.factory(model)
        return self.engine

    def _shut(self) -> None:
        if self.engine is not None:
            engine, self.engine = self.engine, None
            engine.close()

    def close(self) -> None:
        self._shut()
        if not self.keep:
            self.drop_copies()


# config.json keys that say nothing about the computation (names, the saved dtype, versions)
_IGNORED = {"_name_or_path", "torch_dtype", "dtype", "transformers_version", "architectures"}
_EMBEDDING = re.compile(r"(^|\.)(embed_tokens|wte|word_embeddings|tok_embeddings|embed_in)\.weight$")


def swappable(loaded: str, other: str) -> bool:
    """Whether swapping `other`'s weights into an engine started on `loaded` serves `other` as a
    fresh engine would (see the module's docstring): local folders with the same config, and with
    tied embeddings, the same embeddings."""
    if _origin(loaded) == _origin(other):  # the base and merged copies of it that left its ends alone
        return True
    a, b = _config(loaded), _config(other)
    if a is None or b is None or a != b:
        return False
    tied = a.get("tie_word_embeddings", a.get("text_config", {}).get("tie_word_embeddings", True))
    digest = _embedding_digest(loaded)
    return not tied or (digest is not None and digest == _embedding_digest(other))


def _origin(folder: str) -> str:
    """The base model of a merged copy (merge.py) whose embeddings and head are the base's, else the folder."""
    record = Path(folder) / "merge.json"
    if not record.is_file():
        return folder
    info = json.loads(record.read_text(encoding="utf-8"))
    return str(info["model"]) if not info.get("untied") and info.get("ends_changed") == [] else folder


def _config(folder: str) -> dict[str, Any] | None:
    path = Path(folder) / "config.json"
    if not path.is_file():
        return None
    cfg = json.loads(path.read_text(encoding="utf-8"))
    return {k: v for k, v in cfg.items() if k not in _IGNORED} if isinstance(cfg, dict) else None


@functools.lru_cache(maxsize=16)
def _embedding_digest(folder: str) -> str | None:
    """sha256 of the input embeddings' values (as float32, so a bf16 base and its float32 merged
    copy compare equal where their values do), read from the folder's safetensors files."""
    import torch
    from safetensors import safe_open

    for f in sorted(Path(folder).glob("*.safetensors")):
        with safe_open(str(f), "pt") as st:
            for name in st.keys():
                if _EMBEDDING.search(name):
                    t = st.get_tensor(name).to(torch.float32).contiguous()
                    return hashlib.sha256(t.numpy().tobytes()).hexdigest()
    return None
