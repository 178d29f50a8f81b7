"""Engines: one loaded model serving every arm, behind one contract.

    engine = start_engine("vllm", "mixed", model_dir, adapter, max_model_len=4096)
    gens = engine.generate(requests, sampling)      # one Generation per request, in order
    engine.close()                                   # weights and KV cache freed

Each engine imports its heavy dependency lazily, so a missing one fails with the install
command only when that engine is chosen. `auto` is vLLM where it can run, else transformers;
`openai` runs through a vLLM server that is already running (`--base-url`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from ..adapters import AdapterInfo
from ..config import BACKENDS
from ..errors import APIError, UserError
from .base import Engine, checked, has_cuda
from .hf import HFEngine
from .merge import merged_model, space_shortfall
from .openai import OpenAIEngine
from .ray import RayEngine
from .switch import SwitchingEngine
from .unsloth import UnslothEngine
from .vllm import VLLMEngine

__all__ = ["Engine", "adopt", "choose_backend", "has_cuda", "held_backend", "live_vllm", "make_engine", "resolve_strategy",
           "space_shortfall", "start_engine", "vllm_problem", "way"]

MERGED_MIN_ROWS = 64  # below this, a second engine start costs more than the merged model saves


def choose_backend(name: str) -> tuple[str, str]:
    """The engine to build for `name`, and why ("" when named explicitly).

    `auto` is vllm when it can run here, else hf (transformers + peft).
    """
    if name not in BACKENDS:
        raise UserError(f"unknown backend '{name}': choose one of {', '.join(BACKENDS)}")
    if name != "auto":
        return name, ""
    problem = vllm_problem()
    if problem is None:
        return "vllm", "auto: vLLM runs on this machine"
    return "hf", f"auto: {problem}, using transformers + peft"


def resolve_strategy(strategy: str, backend: str, adapters: Sequence[AdapterInfo], rows: int) -> tuple[str, str]:
    """How LoRA arms are served, and why ("" when named explicitly).

    `mixed`: base and LoRA rows in one batch of one engine. `merged`: the adapter merged into a
    copy of the weights, base and merged model served one after the other. `auto` is merged for
    vLLM on CPU (LoRA rows cost about two base rows there) when the run is big enough to pay
    for the second engine start, else mixed (GPU LoRA kernels batch both arms at a small cost);
    and never a strategy that cannot serve every adapter exactly (`AdapterInfo.refusal`): a
    named strategy that cannot is refused in one line naming one that can.
    """
    if strategy == "merged" and backend == "unsloth":
        raise UserError("the unsloth backend serves the adapter unmerged: use --lora-strategy mixed, or --backend vllm")
    if strategy == "merged" and backend == "ray":  # its replicas cannot swap in merged weights mid-run
        raise UserError("the ray backend serves adapters as LoRA rows beside the base rows: use --lora-strategy mixed")
    if not adapters:
        return ("mixed" if strategy == "auto" else strategy), ""
    if strategy != "auto":
        _refuse(adapters, way(backend, strategy))
        return strategy, ""
    chosen, why = "mixed", "auto: base and LoRA rows in one batch"
    if backend == "vllm" and not has_cuda() and rows >= MERGED_MIN_ROWS:
        chosen, why = "merged", "auto: vLLM on CPU runs a merged copy of the weights faster than LoRA rows"
    other = {"mixed": "merged", "merged": "mixed"}[chosen]
    if any(a.refusal(way(backend, chosen)) for a in adapters) and backend in ("vllm", "hf") \
            and not any(a.refusal(way(backend, other)) for a in adapters):
        unserved = sorted({f for a in adapters for f in a.unserved(way(backend, chosen))})
        return other, f"auto: {'merged' if other == 'merged' else 'LoRA rows'} serve the adapter's {', '.join(unserved)}"
    _refuse(adapters, way(backend, chosen))
    return chosen, why


def way(backend: str, strategy: str) -> str:
    """How adapter rows are computed (a key of adapters.SERVED_BY): peft itself, a merged copy, or
    vLLM's LoRA rows (the vllm, unsloth and ray backends)."""
    if strategy == "merged":
        return "merged"
    return "hf" if backend == "hf" else "mixed"


def _refuse(adapters: Sequence[AdapterInfo], how: str) -> None:
    for a in adapters:
        if (why := a.refusal(how)) is not None:
            raise UserError(why)


def make_engine(name: str, model: str, adapters: Sequence[AdapterInfo] = (), **kw: Any) -> Engine:
    """Build one engine of the named kind on `model`, serving `adapters`."""
    engines = {"vllm": VLLMEngine, "unsloth": UnslothEngine, "hf": HFEngine, "ray": RayEngine, "openai": OpenAIEngine}
    if name in engines:
        return engines[name](model, adapters, **kw)
    raise UserError(f"unknown backend '{name}': choose one of {', '.join(BACKENDS)}")


def start_engine(name: str, strategy: str, model: str, adapters: Sequence[AdapterInfo] = (),
                 other_models: Sequence[str] = (), keep_merged: bool = True, **kw: Any) -> Engine:
    """The engine of a run: one engine serving the adapter; or, when other full weights serve some
    arms (the merged strategy, an arm served by another model), one engine swapping them in place."""
    if other_models and name in ("unsloth", "ray"):  # neither swaps weights in place
        raise UserError(f"the {name} backend serves one model with its adapters; an arm served by another full "
                        "model (use_lora: false) needs --backend vllm or hf")
    merged: dict[AdapterInfo, Path | None] = {a: None for a in adapters} if strategy == "merged" else {}
    if not merged and not other_models:
        return make_engine(name, model, adapters, **kw)
    loras = [] if merged else list(adapters)
    # each merged copy is built when its arm's rows first run; without keep_merged, one at a time
    return SwitchingEngine(model, [model, *other_models], lambda m: make_engine(name, m, loras if m == model else [], **kw),
                           merged, lambda a: merged_model(model, a), keep_merged)


def live_vllm(engine: Any) -> Any:
    """The `vllm.LLM` inside an engine the caller holds (itself, or unsloth's `vllm_engine`), or None."""
    if engine is None or isinstance(engine, Engine):
        return None
    llm = getattr(engine, "vllm_engine", engine)
    return llm if hasattr(llm, "llm_engine") else None


def held_backend(engine: Any) -> str:
    """The backend of an engine the caller holds: its own `name` (an engine of this package, or one
    that brings `stream` and `max_model_len`), unsloth (a model loaded with fast_inference=True) or
    vllm (a `vllm.LLM`)."""
    if _is_engine(engine):
        name = getattr(engine, "name", None)
        if not isinstance(name, str) or not name:
            raise APIError(f"engine= of type {type(engine).__name__} brings stream and max_model_len but no `name` "
                           f"(a str: vllm, hf, unsloth or ray), got {type(name).__name__}")
        return name
    if hasattr(engine, "fast_generate"):
        return "unsloth"
    if hasattr(engine, "llm_engine") and hasattr(engine, "generate"):
        return "vllm"
    raise UserError(f"engine= takes a vllm.LLM, an unsloth model loaded with fast_inference=True, or a "
                    f"grpo_compare engine; got {type(engine).__name__}")


def adopt(engine: Any, adapters: Sequence[AdapterInfo]) -> Engine:
    """An engine the caller already holds as this package's Engine, serving `adapters` (never closed here)."""
    kind = held_backend(engine)
    if isinstance(engine, Engine):  # one of this package's: it takes adapters saved since it started
        engine.serve(adapters)
        return engine
    if _is_engine(engine):
        return Held(engine)
    return (UnslothEngine if kind == "unsloth" else VLLMEngine).wrap(engine, adapters)


class Held(Engine):
    """An engine of the caller's that brings `name`, `stream` and `max_model_len` without deriving
    from Engine: what else it brings is used, the contract's defaults stand in for the rest."""

    def __init__(self, engine: Any) -> None:
        self.held = engine
        self.name = engine.name
        self.whole_run = bool(getattr(engine, "whole_run", False))

    def __getattr__(self, name: str) -> Any:  # what the engine has beyond the contract (tests' recorded calls)
        return getattr(self.held, name)

    @property
    def max_model_len(self) -> int:  # type: ignore[override]
        return self.held.max_model_len

    def stream(self, requests: Sequence[Any], sampling: Any) -> Any:
        return checked(self.held, self.held.stream(requests, sampling))

    def generate(self, requests: Sequence[Any], sampling: Any) -> Any:
        own = getattr(self.held, "generate", None)
        return own(requests, sampling) if callable(own) else super().generate(requests, sampling)

    def weights_check(self, adapter: AdapterInfo) -> Any:
        own = getattr(self.held, "weights_check", None)
        return own(adapter) if callable(own) else None

    def close(self) -> None:
        own = getattr(self.held, "close", None)
        if callable(own):
            own()


def _is_engine(engine: Any) -> bool:
    return isinstance(engine, Engine) or (hasattr(engine, "stream") and hasattr(engine, "max_model_len"))


def vllm_problem() -> str | None:
    """Why vLLM cannot run here (not installed, broken install, no supported device), or None."""
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        return "vLLM is not installed"
    try:
        from vllm.platforms import current_platform
    except Exception as e:  # a broken or mismatched install fails in many ways
        return f"vLLM does not import ({type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''})"
    if current_platform.is_unspecified():
        return "vLLM found no device it supports"
    return None
