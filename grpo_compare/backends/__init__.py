"""Backends: anything with `generate(requests, sampling) -> list[Generation]`.

    backend = make_backend("vllm", model_dir, adapters=[info], max_model_len=4096)

Each factory imports its heavy dependency lazily, so a missing one fails with the install
command only when that backend is chosen.
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


def _vllm(model: str | Path, adapters: Sequence[AdapterInfo], **kw: Any) -> Backend:
    from .vllm import VLLMBackend

    return VLLMBackend(model, adapters, **kw)


FACTORIES: dict[str, Callable[..., Backend]] = {"vllm": _vllm}


def make_backend(name: str, model: str | Path, adapters: Sequence[AdapterInfo], **kw: Any) -> Backend:
    """Build the named backend; the error lists the valid names."""
    if name not in FACTORIES:
        raise UserError(f"unknown backend '{name}': choose one of {', '.join(FACTORIES)}")
    return FACTORIES[name](model, adapters, **kw)
