"""transformers + peft backend: one copy of the weights, base rows under `disable_adapter()`.

    engine = HFEngine(model_dir, [inspect_adapter(lora_dir, model_dir)], batch_size=16)
    gens = engine.generate(requests, Sampling(temperature=0.0, top_p=1.0, max_tokens=256))

Runs anywhere torch runs (CPU or CUDA, `device="auto"`). Rows are grouped by adapter, sorted by
prompt length and generated in left-padded batches. Sampling draws each row's token from its own
`torch.Generator` seeded with the request's seed, so a row's completion does not depend on which
rows share its batch; at temperature 0 decoding is greedy.
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from typing import Any, Iterator, Sequence

from ..adapters import AdapterInfo
from ..errors import UserError
from ..types import Generation, Request, Sampling
from .base import Engine, generation, has_cuda, release
from .vllm import engine_dtype

# what adapters may use and still share one PeftModel (each wraps linear layers only)
SHAREABLE = {"use_rslora", "rank_pattern", "alpha_pattern", "layers_to_transform", "use_dora", "lora_bias"}


class HFEngine(Engine):
    """One transformers model (wrapped in a PeftModel when adapters are given), all arms."""

    name = "hf"

    def __init__(
        self,
        model: str,
        adapters: Sequence[AdapterInfo] = (),
        max_model_len: int = 4096,
        seed: int = 0,
        progress: bool = True,
        batch_size: int = 16,
        device: str = "auto",
        dtype: str = "auto",
        mode: str = "eager",
        gpu_memory_utilization: float | None = None,  # vLLM's and unsloth's setting: transformers takes what it needs
    ) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if batch_size < 1:
            raise UserError(f"batch_size must be >= 1, got {batch_size}")
        self.device = ("cuda" if has_cuda() else "cpu") if device == "auto" else device
        try:
            base = AutoModelForCausalLM.from_pretrained(str(model), dtype=_torch_dtype(dtype))
            self.tokenizer = AutoTokenizer.from_pretrained(str(model))
        except (OSError, ValueError) as e:
            raise UserError(f"could not load model '{model}' with transformers: {str(e).splitlines()[0]}") from None
        # Adapters that wrap more than linear layers (saved modules, trainable tokens, embeddings)
        # cannot share one PeftModel, and unloading one keeps its saved modules: such adapters are
        # loaded one at a time, each on the base weights loaded afresh, as peft loads it alone.
        self.together = all(set(a.features) <= SHAREABLE for a in adapters)
        self._fresh = lambda: AutoModelForCausalLM.from_pretrained(str(model), dtype=_torch_dtype(dtype))
        self.model = _with_adapters(base, adapters if self.together else []).to(self.device).eval()
        self.weights = str(model)  # the folder of the weights loaded now
        self.adapter_names = {a: f"adapter{i}" for i, a in enumerate(adapters, 1)}
        self.alone: Any = None  # the adapter loaded by itself, where they are not together
        self.eos_ids = _eos_ids(base)
        self.pad_id = base.generation_config.pad_token_id
        if self.pad_id is None:
            self.pad_id = self.eos_ids[0]
        self.max_model_len = max_model_len
        self.batch_size = batch_size
        torch.manual_seed(seed)

    def stream(self, requests: Sequence[Request], sampling: Sampling) -> Iterator[Generation]:
        """Every request of every arm, batch by batch; batches never mix adapters."""
        for adapter, rows in self._batches(requests):
            start = time.perf_counter()
            with self._adapter(adapter):
                outs = self._generate_batch([requests[i] for i in rows], sampling)
            for i, (text, n, by_length) in zip(rows, outs):
                yield generation(requests[i], text, n, by_length, time.perf_counter() - start)

    def served(self) -> set[AdapterInfo]:
        return set(self.adapter_names)

    def serve(self, adapters: Sequence[AdapterInfo]) -> None:
        """Serve these adapters too, loaded into the PeftModel beside the others (adapters that wrap
        only linear layers: the others need the base weights loaded afresh, by an engine of their own)."""
        from peft import PeftModel

        for a in [a for a in adapters if a not in self.adapter_names]:
            if not (self.together and set(a.features) <= SHAREABLE):
                super().serve([a])
            name = f"adapter{len(self.adapter_names) + 1}"
            if isinstance(self.model, PeftModel):
                self.model.load_adapter(str(a.path), adapter_name=name)
            else:
                self.model = PeftModel.from_pretrained(self.model, str(a.path), adapter_name=name).to(self.device).eval()
            self.adapter_names[a] = name

    def close(self) -> None:
        model = getattr(self, "model", None)
        if model is not None:
            del self.model
            release(model)

    def _batches(self, requests: Sequence[Request]) -> Iterator[tuple[Any, list[int]]]:
        """(adapter, row indices) per batch: one adapter per batch, similar lengths together."""
        by_adapter: dict[Any, list[int]] = {}
        for i, r in enumerate(requests):
            by_adapter.setdefault(r.arm.adapter, []).append(i)
        for adapter, rows in by_adapter.items():
            rows.sort(key=lambda i: len(requests[i].prompt_token_ids))
            for k in range(0, len(rows), self.batch_size):
                yield adapter, rows[k:k + self.batch_size]

    def _adapter(self, adapter: Any) -> Any:
        if not self.together and adapter is not None and adapter != self.alone:
            from peft import PeftModel

            base = self._fresh() if self.alone is not None else self.model
            self.model = PeftModel.from_pretrained(base, str(adapter.path)).to(self.device).eval()
            self.alone = adapter
        if not self.adapter_names or (not self.together and self.alone is None):
            return nullcontext()
        if adapter is None:
            return self.model.disable_adapter()
        if self.together:
            self.model.set_adapter(self.adapter_names[adapter])
        return nullcontext()

    def _generate_batch(self, batch: Sequence[Request], sampling: Sampling) -> list[tuple[str, int, bool]]:
        """Left-pad, generate, and cut each row at its first end-of-sequence token."""
        import torch
        from transformers import GenerationConfig, LogitsProcessorList

        width = max(len(r.prompt_token_ids) for r in batch)
        ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, r in enumerate(batch):
            n = len(r.prompt_token_ids)
            ids[row, width - n:] = torch.tensor(r.prompt_token_ids)
            mask[row, width - n:] = 1
        budget = min(sampling.max_tokens, self.max_model_len - width)
        # Every knob explicit: unset ones would be filled from the model's generation_config.json
        # (e.g. a repetition penalty), which the vLLM backend's SamplingParams do not apply either.
        config = GenerationConfig(do_sample=False, num_beams=1, max_new_tokens=max(budget, 1), min_new_tokens=0,
                                  repetition_penalty=1.0, no_repeat_ngram_size=0, temperature=1.0, top_p=1.0,
                                  top_k=0, pad_token_id=self.pad_id, eos_token_id=self.eos_ids)
        processors = LogitsProcessorList()
        if sampling.temperature > 0:
            processors.append(SeededSampler([r.seed for r in batch], sampling, self.device))
        with torch.inference_mode():
            out = self.model.generate(input_ids=ids.to(self.device), attention_mask=mask.to(self.device),
                                      generation_config=config, logits_processor=processors)
        return [self._finish(row.tolist()) for row in out[:, width:].cpu()]

    def _finish(self, tokens: list[int]) -> tuple[str, int, bool]:
        """(text, completion tokens counting the end token, cut by length?), as vLLM reports them."""
        end = next((k for k, t in enumerate(tokens) if t in self.eos_ids), None)
        kept = tokens if end is None else tokens[:end + 1]
        text = self.tokenizer.decode(kept, skip_special_tokens=True)
        return text, len(kept), end is None


class SeededSampler:
    """Logits processor drawing each row's next token with that row's own generator.

    It leaves only the drawn token finite, so the (greedy) decoder picks it: rows sample
    independently of batch composition, and a request's seed reproduces its completion.
    """

    def __init__(self, seeds: Sequence[int], sampling: Sampling, device: Any) -> None:
        import torch

        self.temperature, self.top_p = sampling.temperature, sampling.top_p
        self.top_k = sampling.top_k
        self.generators = [torch.Generator(device=device).manual_seed(s) for s in seeds]

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        scores = scores.float() / self.temperature
        if 0 < self.top_k < scores.shape[-1]:
            kth = scores.topk(self.top_k, dim=-1).values[:, -1:]
            scores = scores.masked_fill(scores < kth, float("-inf"))
        probs = torch.softmax(scores, dim=-1)
        if self.top_p < 1.0:
            sorted_p, order = probs.sort(dim=-1, descending=True)
            drop = sorted_p.cumsum(-1) - sorted_p >= self.top_p  # keep the smallest set reaching top_p
            sorted_p[drop] = 0.0
            probs = torch.zeros_like(probs).scatter(-1, order, sorted_p)
        picks = [torch.multinomial(probs[i], 1, generator=g) for i, g in enumerate(self.generators)]
        out = torch.full_like(scores, float("-inf"))
        out.scatter_(-1, torch.stack(picks), 0.0)
        return out


def _torch_dtype(dtype: str) -> Any:
    """The shared dtype rule (`engines.vllm.engine_dtype`) as a torch dtype, or "auto"."""
    import torch

    name = engine_dtype(dtype)
    if name == "auto":
        return "auto"
    if not isinstance(getattr(torch, name, None), torch.dtype):
        raise UserError(f"unknown dtype '{dtype}': use auto, half, bfloat16, float16 or float32")
    return getattr(torch, name)


def _with_adapters(base: Any, adapters: Sequence[AdapterInfo]) -> Any:
    """Wrap the model in a PeftModel holding every adapter under its own name."""
    if not adapters:
        return base
    from peft import PeftModel

    model = PeftModel.from_pretrained(base, str(adapters[0].path), adapter_name="adapter1")
    for i, a in enumerate(adapters[1:], 2):
        model.load_adapter(str(a.path), adapter_name=f"adapter{i}")
    return model


def _eos_ids(model: Any) -> list[int]:
    eos = model.generation_config.eos_token_id
    if eos is None:
        eos = model.config.eos_token_id
    if eos is None:
        raise UserError("the model declares no eos_token_id in config.json or generation_config.json")
    return list(eos) if isinstance(eos, (list, tuple)) else [eos]
