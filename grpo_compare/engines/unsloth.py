"""unsloth engine (CUDA only): `FastLanguageModel(fast_inference=True)` and `fast_generate`.

    engine = UnslothEngine(model_dir, [inspect_adapter(lora_dir, model_dir)])
    gens = engine.generate(requests, Sampling(temperature=0.0, top_p=1.0, max_tokens=256))

The same generation path as the unsloth GRPO notebooks: `fast_generate` is the vLLM engine that
unsloth builds inside `from_pretrained`. The adapter's `LoRARequest` comes from `load_lora` once,
here, and is reused for every prompt: `load_lora` hands out a new id on every call, and a new id
makes the engine load the adapter again. Base rows pass `None`; both arms share one call.
"""

from __future__ import annotations

import functools
from typing import Any, Iterator, Sequence

from ..adapters import AdapterInfo
from ..errors import UserError
from ..types import Generation, Request, Sampling
from .base import Engine, release
from .vllm import call_generate, engine_dtype

NO_UNSLOTH = (
    "the unsloth backend needs unsloth and a CUDA GPU: `pip install 'grpo-compare[gpu]'`, "
    "or use --backend vllm or --backend hf"
)


class UnslothEngine(Engine):
    """One unsloth model with its vLLM engine."""

    name = "unsloth"

    def __init__(self, model: str, adapters: Sequence[AdapterInfo] = (), max_model_len: int = 4096,
                 seed: int = 0, progress: bool = True, dtype: str = "auto", device: str = "auto", mode: str = "eager",
                 gpu_memory_utilization: float | None = None, load_in_4bit: bool = False, **kw: Any) -> None:
        fast_language_model = import_unsloth()
        half = engine_dtype(dtype)
        loaded, _ = fast_language_model.from_pretrained(
            model_name=str(model), max_seq_length=max_model_len, load_in_4bit=load_in_4bit, fast_inference=True,
            max_lora_rank=max((a.vllm_max_lora_rank for a in adapters), default=16),
            gpu_memory_utilization=0.5 if gpu_memory_utilization is None else gpu_memory_utilization,
            **({"dtype": half} if half != "auto" else {}), **kw,
        )
        self._adopt(loaded, adapters)
        self.weights, self.progress, self.owned = str(model), progress, True

    @classmethod
    def wrap(cls, model: Any, adapters: Sequence[AdapterInfo]) -> UnslothEngine:
        """The unsloth model the caller already holds (the training notebook's), left open at the end."""
        engine = cls.__new__(cls)
        engine._adopt(model, adapters)
        engine.weights, engine.progress, engine.owned = str(getattr(model.config, "_name_or_path", "")), False, False
        return engine

    def _adopt(self, model: Any, adapters: Sequence[AdapterInfo]) -> None:
        """Check the model can serve the adapters, read its real context back, load each LoRA once."""
        if len(adapters) > 1:
            raise UserError("the unsloth engine has one LoRA slot: compare several adapters with --backend vllm")
        llm = getattr(model, "vllm_engine", None)
        if llm is None:  # unsloth turns fast_inference off without a word when vLLM is missing
            raise UserError("the unsloth model has no vLLM engine (fast_inference is off: is vLLM installed?): "
                            "load it with FastLanguageModel.from_pretrained(..., fast_inference=True)")
        self.model = model
        # unsloth lowers max_seq_length to fit the KV cache: a longer prompt would abort the whole call
        self.max_model_len = int(llm.llm_engine.model_config.max_model_len)
        load_lora = self._lora_loader()
        self.loras = {a: load_lora(str(a.path)) for a in adapters}

    def _lora_loader(self) -> Any:
        """`model.load_lora`; unsloth attaches it only after `get_peft_model`, so fall back to
        the function it wraps for a freshly loaded base model."""
        loader = getattr(self.model, "load_lora", None)
        if loader is not None:
            return loader
        from unsloth_zoo.vllm_utils import load_lora

        return functools.partial(load_lora, self.model)

    def stream(self, requests: Sequence[Request], sampling: Sampling) -> Iterator[Generation]:
        """All requests in one `fast_generate` call; each keeps its own seed and adapter."""
        yield from call_generate(self.model.fast_generate, requests, sampling, self.loras, self.progress)

    def close(self) -> None:
        """Free unsloth's vLLM engine with unsloth_zoo's `delete_vllm` (a model the caller holds stays)."""
        model = getattr(self, "model", None)
        if model is not None and self.owned:
            from unsloth_zoo.vllm_utils import delete_vllm

            del self.model
            delete_vllm(model.vllm_engine)
            release(model)


def import_unsloth() -> Any:
    """`unsloth.FastLanguageModel`, or one clear line saying what to install or use instead."""
    try:
        from unsloth import FastLanguageModel
    except ImportError as e:
        if (e.name or "").split(".")[0] in ("unsloth", "unsloth_zoo"):
            raise UserError(NO_UNSLOTH) from None
        raise UserError(f"unsloth could not be imported ({e}): {NO_UNSLOTH}") from None
    except Exception as e:  # unsloth raises NotImplementedError at import when it finds no GPU
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"unsloth cannot run here ({first}); it needs a CUDA GPU: "
                        "use --backend vllm or --backend hf") from None
    return FastLanguageModel
