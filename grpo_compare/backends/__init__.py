"""Backends: anything with `generate(requests, sampling) -> list[Generation]`.

    name, why = resolve_backend("auto")         # ("vllm", "...") or ("hf", "...")
    backend = make_backend(name, model_dir, adapters=[info], max_model_len=4096)

Each factory imports its heavy dependency lazily, so a missing one fails with the install
command only when that backend is chosen. `auto` is vLLM where it can run, else transformers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

from ..adapters import AdapterInfo
from ..config import SamplingConfig
from ..errors import UserError
from ..types import Generation, Request


class Backend(Protocol):
    """One loaded model serving every arm."""

    def generate(self, requests: Sequence[Request], sampling: SamplingConfig) -> list[Generation]:
        """Generate one completion per request, in request order."""
        ...


def _vllm(model: str | Path, adapters: Sequence[AdapterInfo], batch_size: int | None = None, **kw: Any) -> Backend:
    from .vllm import VLLMBackend

    return VLLMBackend(model, adapters, **kw)  # the engine schedules its own batches


def _unsloth(model: str | Path, adapters: Sequence[AdapterInfo], batch_size: int | None = None, **kw: Any) -> Backend:
    from .unsloth import UnslothBackend

    return UnslothBackend(model, adapters, **kw)


def _hf(model: str | Path, adapters: Sequence[AdapterInfo], batch_size: int | None = None, **kw: Any) -> Backend:
    from .hf import HFBackend

    return HFBackend(model, adapters, **kw, **({"batch_size": batch_size} if batch_size else {}))


FACTORIES: dict[str, Callable[..., Backend]] = {"vllm": _vllm, "unsloth": _unsloth, "hf": _hf}


def make_backend(name: str, model: str | Path, adapters: Sequence[AdapterInfo], **kw: Any) -> Backend:
    """Build the named backend (`auto` resolved first); the error lists the valid names."""
    name = resolve_backend(name)[0]
    if name not in FACTORIES:
        raise UserError(f"unknown backend '{name}': choose one of auto, {', '.join(FACTORIES)}")
    return FACTORIES[name](model, adapters, **kw)


def resolve_backend(name: str) -> tuple[str, str]:
    """The backend to build for `name`, and why ("" when named explicitly).

    `auto` is vllm when it can run here, else hf (transformers + peft).
    """
    if name != "auto":
        return name, ""
    problem = vllm_problem()
    if problem is None:
        return "vllm", "auto: vLLM runs on this machine"
    return "hf", f"auto: {problem}, using transformers + peft"


def choose_backend(name: str) -> str:
    """`resolve_backend`, saying on stderr which backend `auto` chose and why; unknown names fail."""
    from ..config import BACKENDS

    if name not in BACKENDS:
        raise UserError(f"unknown backend '{name}': choose one of {', '.join(BACKENDS)}")
    chosen, why = resolve_backend(name)
    if why:
        from rich.console import Console

        Console(stderr=True).print(f"[bold]backend {chosen}[/] ({why})", highlight=False)
    return chosen


MERGED_MIN_ROWS = 64  # below this, a second engine start costs more than the merged model saves


def resolve_strategy(strategy: str, backend: str, has_adapter: bool, rows: int) -> tuple[str, str]:
    """How LoRA arms are served, and why ("" when named explicitly).

    `mixed`: base and LoRA rows in one batch of one engine. `merged`: the adapter merged into a
    copy of the weights, base and merged model served one after the other. `auto` is merged for
    vLLM on CPU (LoRA rows cost about three base rows there) when the run is big enough to pay
    for the second engine start, else mixed (GPU LoRA kernels batch both arms at a small cost).
    """
    if strategy == "merged" and backend == "unsloth":
        raise UserError("the unsloth backend serves the adapter unmerged: use --lora-strategy mixed, or --backend vllm")
    if strategy != "auto" or not has_adapter:
        return ("mixed" if strategy == "auto" else strategy), ""
    import torch

    if backend == "vllm" and not torch.cuda.is_available() and rows >= MERGED_MIN_ROWS:
        return "merged", "auto: vLLM on CPU runs a merged copy of the weights faster than LoRA rows"
    return "mixed", "auto: base and LoRA rows in one batch"


def start_backend(name: str, strategy: str, model: str, adapter: AdapterInfo | None, **kw: Any) -> Backend:
    """The engine(s) for a run: one engine serving the adapter, or base + merged copy one at a time."""
    if strategy == "merged" and adapter is not None:
        from ..merge import merged_model, weights_check
        from .two_models import TwoModelBackend

        merged = merged_model(model, adapter)
        two = TwoModelBackend({"base": model, "lora": str(merged)}, lambda m: make_backend(name, m, [], **kw),
                              max_model_len=kw.get("max_model_len", 4096),
                              route=lambda r: "lora" if r.arm.adapter is not None else "base")
        two.weights_check = weights_check(merged)  # no extra engine switch for an output check
        return two
    return make_backend(name, model, [adapter] if adapter else [], **kw)


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
