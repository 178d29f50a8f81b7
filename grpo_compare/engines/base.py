"""What every engine shares: the contract, the one CUDA check, and the Generation it reports."""

from __future__ import annotations

import functools
import gc
from typing import Any, Iterable, Iterator, Sequence

from ..adapters import AdapterInfo
from ..errors import APIError, UserError
from ..files import shorten
from ..types import AdapterCheck, Generation, Request, Sampling


class Engine:
    """What the pipeline asks of an engine, and the defaults: `generate` from `stream`, no weights
    check. An engine the caller holds may also bring these members without deriving from it."""

    name: str  # vllm | hf | unsloth | ray
    max_model_len: int  # the context window the engine really has
    whole_run = False  # True: give `stream` every request of a run at once (each call restarts workers)

    def stream(self, requests: Sequence[Request], sampling: Sampling) -> Iterator[Generation]:
        """One completion per request, each yielded as soon as it is finished, in any order."""
        raise NotImplementedError

    def generate(self, requests: Sequence[Request], sampling: Sampling) -> list[Generation]:
        """One completion per request, in request order."""
        order = {r.key: i for i, r in enumerate(requests)}
        out: list[Generation | None] = [None] * len(requests)
        for g in checked(self, self.stream(requests, sampling)):
            out[order[g.key]] = g
        return [g for g in out if g is not None]

    def close(self) -> None:
        """Free the weights and KV cache (a no-op for an engine the user owns)."""

    lora_strategy = "mixed"  # how the engine serves adapter rows: LoRA rows beside base rows, or merged copies

    def serve(self, adapters: Sequence[AdapterInfo]) -> None:
        """Serve these adapters too, beside those it started with (a checkpoint saved since)."""
        new = [a for a in adapters if a not in self.served()]
        if new:
            raise UserError(f"the {self.name} engine serves the adapters it started with: compare {new[0].path} "
                            "with an engine started for it")

    def served(self) -> set[AdapterInfo]:
        """The adapters this engine serves."""
        return set(getattr(self, "loras", {}))

    def weights_check(self, adapter: AdapterInfo) -> AdapterCheck | None:
        """The adapter check, where the engine knows it without generating (merged weights)."""
        return None


def checked(engine: Any, items: Iterable[Any]) -> Iterator[Generation]:
    """What an engine's `stream` yields, each checked to be a Generation of a request it was given
    (an engine of the caller's may yield anything)."""
    for g in items:
        if not isinstance(g, Generation):
            raise APIError(f"the engine {type(engine).__name__}'s stream must yield grpo_compare.Generation "
                           f"(engines.base.generation makes one), got {type(g).__name__} {shorten(g, 60)}")
        yield g


@functools.lru_cache(maxsize=1)
def has_cuda() -> bool:
    """Whether torch sees a CUDA GPU: decided here, once, for the whole package."""
    import torch

    return torch.cuda.is_available()


def generation(req: Request, text: str, tokens: int, finished_by_length: bool, seconds: float) -> Generation:
    """The Generation of one request, as every engine reports it."""
    return Generation(req.problem.id, req.arm.name, req.prompt_text, text, tokens,
                      "length" if finished_by_length else "stop", seconds, req.sample)


def release(obj: Any) -> None:
    """Collect an engine's memory (and the CUDA cache, where there is one)."""
    del obj
    gc.collect()
    if has_cuda():
        import torch

        torch.cuda.empty_cache()
