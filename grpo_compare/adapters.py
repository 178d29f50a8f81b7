"""Check a PEFT LoRA folder before any weights load: config, rank, and tensor shapes.

    info = inspect_adapter("outputs/grpo_lora", model_dir="SmolLM2-135M-Instruct")
    info.rank, info.vllm_max_lora_rank   # (64, 64)

Shapes are read from the safetensors header only (no tensors are loaded), and compared with
the base model's config.json, so an adapter made for another model fails in seconds.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import re
import typing
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from .errors import UserError
from .files import file_hash, read_json_object

VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)  # vLLM 0.32's, where vLLM is not installed


@functools.lru_cache(maxsize=1)
def lora_ranks() -> tuple[int, ...]:
    """The `max_lora_rank` values the installed vLLM accepts (its `MaxLoRARanks`)."""
    try:
        from vllm.config.lora import MaxLoRARanks
    except ImportError:
        return VLLM_LORA_RANKS
    return tuple(sorted(typing.get_args(MaxLoRARanks))) or VLLM_LORA_RANKS


@dataclass(frozen=True)
class AdapterInfo:
    """What the engine needs to know about an adapter, read from its config and tensor names."""

    path: Path
    rank: int  # the largest rank of any module: `r`, or a higher one in `rank_pattern`
    target_modules: tuple[str, ...]
    alpha: float = 8.0
    features: tuple[str, ...] = ()  # what it uses beyond LoRA on linear layers (keys of FEATURES)
    saved_modules: tuple[str, ...] = ()  # modules_to_save: whole copies of these modules
    applied: str = ""  # what it applies, in one line (modules, ranks, scaling, extras), for the record
    served_name: str = ""  # a LoRA a server serves by this name (--backend openai): no folder here to read

    @classmethod
    def served(cls, name: str) -> AdapterInfo:
        """A LoRA known only by the name a server serves it under; the server says what it is.

        >>> AdapterInfo.served("grpo").served_name, AdapterInfo.served("grpo").file_hashes()
        ('grpo', {})
        """
        return cls(Path(name), 0, (), applied=f"the LoRA the server serves as '{name}'", served_name=name)

    @property
    def vllm_max_lora_rank(self) -> int:
        """The smallest rank vLLM accepts that holds this adapter."""
        ranks = lora_ranks()
        for r in ranks:
            if r >= self.rank:
                return r
        raise UserError(f"{self.path}: LoRA rank {self.rank} is above vLLM's maximum {ranks[-1]}")

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> AdapterInfo:
        """An adapter as a run recorded it (config.yaml's `adapters`), without reading its folder."""
        tuples = {k: tuple(rec.get(k) or ()) for k in ("target_modules", "features", "saved_modules")}
        return cls(Path(rec["path"]), int(rec.get("rank", 0)), alpha=float(rec.get("alpha", 8.0)),
                   applied=str(rec.get("applied", "")), served_name=str(rec.get("served_name") or ""), **tuples)

    def file_hashes(self) -> dict[str, str]:
        """sha256 of the adapter's config and weights: what identifies its content (none for a LoRA
        known by its served name: the server's record of it identifies it)."""
        if self.served_name:
            return {}
        return {f.name: file_hash(f) for f in sorted(self.path.iterdir())
                if f.name in ("adapter_config.json", "adapter_model.safetensors", "adapter_model.bin")}

    def unserved(self, way: str) -> list[str]:
        """The features of this adapter that `way` (a key of SERVED_BY) cannot serve exactly."""
        return [f for f in self.features if way not in FEATURES.get(f, ("", ("hf",)))[1]]

    def refusal(self, way: str) -> str | None:
        """One line saying why `way` cannot serve this adapter and which ways can, or None."""
        missing = self.unserved(way)
        if not missing:
            return None
        can = [SERVED_BY[w] for w in SERVED_BY if w != way and not self.unserved(w)]
        what = ", ".join(FEATURES[f][0] if f in FEATURES else f"'{f}'" for f in missing)
        return (f"adapter {self.path} uses {what}, which {WAYS[way]} cannot serve exactly: "
                f"use {' or '.join(can)}")


# What an adapter may use beyond plain LoRA on linear layers: its name in messages, and the ways
# of serving it that agree with peft's own PeftModel on it (tests/test_adapter_shapes.py checks
# each against peft). "mixed" is vLLM's LoRA rows (also unsloth and ray), "merged" the adapter
# merged into a copy of the weights by peft, "hf" peft itself. A config key not listed here that
# differs from peft's default is served by peft alone.
FEATURES: dict[str, tuple[str, tuple[str, ...]]] = {
    "use_rslora": ("rank-stabilised scaling (use_rslora)", ("mixed", "merged", "hf")),
    "rank_pattern": ("per-module ranks (rank_pattern)", ("mixed", "merged", "hf")),
    "alpha_pattern": ("per-module alphas (alpha_pattern)", ("mixed", "merged", "hf")),
    "layers_to_transform": ("LoRA on some layers only (layers_to_transform)", ("mixed", "merged", "hf")),
    "embedding_lora": ("LoRA on the token embeddings", ("mixed", "merged", "hf")),  # the lookup only, not a tied head
    "modules_to_save": ("whole modules saved (modules_to_save)", ("merged", "hf")),
    "trainable_token_indices": ("trainable tokens (trainable_token_indices)", ("merged", "hf")),
    "use_dora": ("DoRA (use_dora)", ("merged", "hf")),
    "bias": ("trained biases (bias)", ("merged",)),  # peft loads them over the base's own: base rows change too
    "lora_bias": ("a bias on lora_B (lora_bias)", ("hf",)),
}
SERVED_BY = {"mixed": "--lora-strategy mixed", "merged": "--lora-strategy merged", "hf": "--backend hf"}
WAYS = {"mixed": "vLLM's LoRA rows (--lora-strategy mixed)", "merged": "a merged copy (--lora-strategy merged)",
        "hf": "transformers + peft (--backend hf)"}
# Config keys that do not change what a saved adapter computes (training-time settings, names).
NEUTRAL_KEYS = {"task_type", "peft_type", "auto_mapping", "peft_version", "base_model_name_or_path", "revision",
                "inference_mode", "r", "lora_alpha", "lora_dropout", "target_modules", "exclude_modules",
                "init_lora_weights", "layers_pattern", "loftq_config", "eva_config", "corda_config",
                "lora_ga_config", "megatron_core", "runtime_config", "fan_in_fan_out", "qalora_group_size"}
EMBEDDINGS = re.compile(r"(^|\.)(embed_tokens|wte|word_embeddings|tok_embeddings|embed_in)$")


def adapter_features(cfg: dict[str, Any], shapes: dict[str, list[int]]) -> tuple[str, ...]:
    """The keys of FEATURES (and any other non-default config key) an adapter really uses. peft's
    defaults are read (importing peft, seconds) only for a set key that is not a known one."""
    off = lambda v: v is None or v is False or v == [] or v == {} or v == "none"  # noqa: E731 (layer 0 is on)
    used = [k for k, v in cfg.items() if k not in NEUTRAL_KEYS and not off(v)]
    if any(k not in FEATURES for k in used):
        defaults = _peft_defaults()
        used = [k for k in used if k in FEATURES or k not in defaults or cfg[k] != defaults[k]]
    if any(EMBEDDINGS.search(m) for m in _targets(cfg)) or any("lora_embedding_" in n for n in shapes):
        used.append("embedding_lora")
    return tuple(dict.fromkeys(used))


def describe(cfg: dict[str, Any], r: int, features: Sequence[str]) -> str:
    """What an adapter applies, in one line: modules, rank, scaling and what else it uses."""
    alpha = float(cfg.get("lora_alpha", 8))
    scale = alpha / (math.sqrt(r) if cfg.get("use_rslora") else r)
    parts = [f"LoRA r={r} alpha={alpha:g} (scaling {scale:.4g}) on {', '.join(sorted(_targets(cfg))) or 'no module'}"]
    for f in features:
        value = cfg.get(f)
        parts.append(FEATURES[f][0] + (f" {json.dumps(value)}" if isinstance(value, (dict, list, str)) else "")
                     if f in FEATURES else f"{f}: {json.dumps(value, default=str)}")
    return "; ".join(parts)


@functools.lru_cache(maxsize=1)
def _peft_defaults() -> dict[str, Any]:
    """peft's LoraConfig defaults, for the keys whose default is not off."""
    try:
        from peft import LoraConfig
    except ImportError:
        return {}
    return {f.name: getattr(LoraConfig(), f.name) for f in dataclasses.fields(LoraConfig)}


def _targets(cfg: dict[str, Any]) -> list[str]:
    targets = cfg.get("target_modules") or []
    return [targets] if isinstance(targets, str) else list(targets)


def inspect_adapter(path: str | Path, model_dir: str | Path | None = None, allow_pickle: bool = False) -> AdapterInfo:
    """Validate a LoRA folder; with a local `model_dir`, also check shapes against its config.

    Pickled weights (`adapter_model.bin`) can run code when loaded: refused unless `allow_pickle`.
    """
    p = Path(path)
    if not p.is_dir():
        raise UserError(f"adapter folder {p} not found: pass the folder written by save_pretrained/save_lora")
    cfg_file = p / "adapter_config.json"
    if not cfg_file.is_file():
        raise UserError(f"{p} has no adapter_config.json: pass a PEFT LoRA folder (model.save_lora / save_pretrained)")
    cfg = read_adapter_config(cfg_file)
    if str(cfg.get("peft_type", "")).upper() != "LORA":
        raise UserError(f"{cfg_file}: peft_type is {cfg.get('peft_type')!r}, only LoRA adapters are supported")
    weights = p / "adapter_model.safetensors"
    pickled = (p / "adapter_model.bin").is_file()
    if not weights.is_file() and not (pickled and allow_pickle):
        if pickled:
            raise UserError(f"{p}/adapter_model.bin is a pickle, which can run code when loaded: re-save it with "
                            "safetensors (save_pretrained(..., safe_serialization=True)) or pass --allow-pickle")
        raise UserError(f"{p} has no adapter_model.safetensors: re-save the adapter with safetensors")
    r = int(cfg.get("r", 8))
    shapes: dict[str, list[int]] = {}  # tensor name -> shape, from the header alone
    if weights.is_file():
        shapes = tensor_shapes(weights)
        if not cfg.get("rank_pattern"):
            _check_rank(weights, shapes, r, cfg_file)
        _check_saved(weights, shapes, cfg, cfg_file)
    elif not _is_torch_checkpoint(p / "adapter_model.bin"):
        raise UserError(f"{p}/adapter_model.bin is not a PyTorch checkpoint (truncated or damaged): "
                        "re-save the adapter, with safetensors (save_pretrained(..., safe_serialization=True))")
    pattern = [v for v in (cfg.get("rank_pattern") or {}).values() if isinstance(v, int) and not isinstance(v, bool)]
    features = adapter_features(cfg, shapes)
    info = AdapterInfo(p, max([r, *pattern]), tuple(sorted(_targets(cfg))), float(cfg.get("lora_alpha", 8)),
                       features, tuple(cfg.get("modules_to_save") or ()), describe(cfg, r, features))
    model_cfg = read_model_config(model_dir) if model_dir is not None else None
    if shapes and model_cfg is not None:
        _check_shapes(weights, shapes, model_cfg, model_dir)  # type: ignore[arg-type]
    return info


def read_model_config(model_dir: str | Path) -> dict[str, Any] | None:
    """A local model folder's config.json as a mapping; None for a hub id (nothing local to read)."""
    path = Path(model_dir) / "config.json"
    if not path.is_file():
        return None
    return read_json_object(path, "restore the model folder's config.json")


# The types PEFT writes in adapter_config.json: key -> (check, what it must be, null allowed).
# vLLM and peft read these without checking them, so a wrong type fails deep inside the engine.
_STRINGS: Callable[[Any], bool] = lambda v: isinstance(v, list) and all(isinstance(x, str) and x for x in v)  # noqa: E731
_NUMBER: Callable[[Any], bool] = lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)  # noqa: E731
_INTS: Callable[[Any], bool] = lambda v: isinstance(v, list) and all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in v)  # noqa: E731
CONFIG_TYPES: dict[str, tuple[Callable[[Any], bool], str, bool]] = {
    "peft_type": (lambda v: isinstance(v, str), "a string (LORA)", False),
    "r": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1, "a whole number >= 1", False),
    "lora_alpha": (_NUMBER, "a finite number", False),
    "lora_dropout": (lambda v: _NUMBER(v) and 0 <= v < 1, "a number in [0, 1)", False),
    "target_modules": (lambda v: (isinstance(v, str) and v != "") or (_STRINGS(v) and v != []),
                       "a module name, a regex, or a list of module names", True),
    "modules_to_save": (_STRINGS, "a list of module names", True),
    "use_dora": (lambda v: isinstance(v, bool), "true or false", False),
    "use_rslora": (lambda v: isinstance(v, bool), "true or false", False),
    "lora_bias": (lambda v: isinstance(v, bool), "true or false", False),
    "bias": (lambda v: v in ("none", "all", "lora_only"), "one of none, all, lora_only", False),
    "rank_pattern": (lambda v: isinstance(v, dict) and all(isinstance(x, int) and not isinstance(x, bool) and x >= 1
                                                            for x in v.values()), "a mapping to whole numbers >= 1", True),
    "alpha_pattern": (lambda v: isinstance(v, dict), "a mapping", True),
    "base_model_name_or_path": (lambda v: isinstance(v, str), "a string", True),
    "trainable_token_indices": (lambda v: _INTS(v) or (isinstance(v, dict) and all(map(_INTS, v.values()))),
                                "a list of token ids, or a mapping of module names to lists of token ids", True),
    "layers_to_transform": (lambda v: _INTS(v) or (isinstance(v, int) and not isinstance(v, bool)),
                            "a layer index or a list of them", True),
}
DAMAGED = "re-save the adapter (save_pretrained) or copy it again"


def read_adapter_config(path: Path) -> dict[str, Any]:
    """adapter_config.json as a mapping whose values have the types PEFT writes, or one error
    naming the key."""
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise UserError(f"{path} is not UTF-8 text: {DAMAGED}") from None
    except json.JSONDecodeError as e:
        raise UserError(f"{path} is not valid JSON ({e.msg}, line {e.lineno}): {DAMAGED}") from None
    if not isinstance(cfg, dict):
        raise UserError(f"{path} must hold a JSON object (PEFT's adapter config), not a {type(cfg).__name__}: {DAMAGED}")
    for key, (ok, want, nullable) in CONFIG_TYPES.items():
        if key in cfg and not ((cfg[key] is None and nullable) or (cfg[key] is not None and ok(cfg[key]))):
            raise UserError(f"{path}: '{key}' is {cfg[key]!r}, but it must be {want}: {DAMAGED}")
    return cfg


def tensor_shapes(path: Path) -> dict[str, list[int]]:
    """Tensor name -> shape, from the safetensors header alone. safetensors checks the header
    against the file (it parses, every tensor's dtype, shape and byte range agree, the ranges end
    where the file ends), so a truncated or damaged copy fails here in milliseconds, not after
    the engine has started."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), "np") as f:
            shapes = {name: f.get_slice(name).get_shape() for name in f.keys()}
    except SafetensorError as e:
        reason = str(e).rpartition("deserializing header: ")[2]
        raise UserError(f"{path} is truncated or damaged ({reason}; the file holds {path.stat().st_size} bytes): "
                        f"{DAMAGED}") from None
    if not shapes:
        raise UserError(f"{path} holds no tensors: {DAMAGED}")
    return shapes


def _check_rank(weights: Path, shapes: dict[str, list[int]], rank: int, cfg_file: Path) -> None:
    """Every lora_A has `rank` rows and every lora_B `rank` columns, as adapter_config.json says
    (the engine sizes its buffers by the config and fails on a mismatch with a shape error)."""
    for name, shape in shapes.items():
        side = re.search(r"\.lora_([AB])(\.[^.]+)?\.weight$", name)
        if side and (len(shape) != 2 or shape[0 if side.group(1) == "A" else 1] != rank):
            raise UserError(f"{weights}: '{name}' has shape {shape}, but {cfg_file} says r = {rank}: "
                            "the config and the weights are of different adapters; re-save the adapter")


def _check_saved(weights: Path, shapes: dict[str, list[int]], cfg: dict[str, Any], cfg_file: Path) -> None:
    """What the config says the adapter trained beyond LoRA is in the weights (peft would quietly
    start a missing DoRA magnitude or saved module from the base's own)."""
    wanted = [("use_dora", "DoRA magnitude vectors (lora_magnitude_vector)", "lora_magnitude_vector"),
              ("trainable_token_indices", "token deltas (trainable_tokens_delta)", "trainable_tokens_delta")]
    wanted += [("modules_to_save", f"saved copy of '{m}'", f".{m}.") for m in cfg.get("modules_to_save") or []]
    for key, what, part in wanted:
        if cfg.get(key) and not any(part in name for name in shapes):
            raise UserError(f"{cfg_file} sets '{key}', but {weights} holds no {what}: the config and the weights "
                            "are of different adapters; re-save the adapter")


def _is_torch_checkpoint(path: Path) -> bool:
    """A file torch.save wrote: a zip archive (the current format) or a bare pickle (the legacy one)."""
    with open(path, "rb") as f:
        start = f.read(2)
    return zipfile.is_zipfile(path) or (len(start) == 2 and start[0] == 0x80)


def _expected_dims(cfg: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """(in_features, out_features) of each projection in a Llama/Qwen-style decoder layer."""
    hidden = cfg["hidden_size"]
    heads = cfg["num_attention_heads"]
    head_dim = cfg.get("head_dim") or hidden // heads
    kv = cfg.get("num_key_value_heads", heads) * head_dim
    inter = cfg.get("intermediate_size", 0)
    return {
        "q_proj": (hidden, heads * head_dim), "k_proj": (hidden, kv), "v_proj": (hidden, kv),
        "o_proj": (heads * head_dim, hidden), "gate_proj": (hidden, inter),
        "up_proj": (hidden, inter), "down_proj": (inter, hidden),
    }


def _check_shapes(weights: Path, shapes: dict[str, list[int]], model_cfg: dict[str, Any],
                  model_dir: str | Path) -> None:
    try:
        expected = _expected_dims(model_cfg)
    except (KeyError, TypeError, ZeroDivisionError):
        return  # not a decoder config we know; the engine will judge
    layers = model_cfg.get("num_hidden_layers")
    for name, shape in shapes.items():
        m = re.search(r"layers\.(\d+)\..*?(\w+_proj)\.lora_([AB])", name)
        if not m or m.group(2) not in expected or len(shape) != 2:
            continue
        if isinstance(layers, int) and int(m.group(1)) >= layers:
            raise UserError(
                f"{weights}: '{name}' is for layer {m.group(1)}, but {model_dir} has {layers} layers; "
                "this adapter was made for another base model"
            )
        fan_in, fan_out = expected[m.group(2)]
        want, got = (fan_in, shape[1]) if m.group(3) == "A" else (fan_out, shape[0])
        if want != got:
            raise UserError(
                f"{weights}: '{name}' has shape {shape}, but {model_dir} needs {want} features there; "
                "this adapter was made for another base model — pass the matching --model"
            )


def expand_adapters(value: str | Sequence[str], say: Callable[[str], None] = lambda line: None) -> list[Path]:
    """The adapter folders a run compares: each folder given, where a folder holding
    `checkpoint-<step>` subfolders (the TRL / transformers layout) stands for every checkpoint
    with an adapter_config.json, in step order. `say` is told, in one line per folder, which
    checkpoints were taken and which folders were left out and why; a final adapter beside its
    checkpoints is taken alone, and said so. Two folders of one step are refused.

    >>> expand_adapters("outputs/grpo")   # doctest: +SKIP
    [PosixPath('outputs/grpo/checkpoint-100'), PosixPath('outputs/grpo/checkpoint-200')]
    """
    out: list[Path] = []
    for item in [value] if isinstance(value, str) else value:
        path = Path(item).expanduser()
        steps, left = checkpoints(path)
        final = (path / "adapter_config.json").is_file()
        if steps and final:
            say(f"{path}: using its final adapter; its {_few([p.name for p in steps.values()])} are left out "
                "(pass each with --adapter to compare them)")
        elif steps:
            say(f"{path}: {len(steps)} checkpoint{'s' if len(steps) > 1 else ''}, one arm each: "
                f"{_few([p.name for p in steps.values()])}"
                + (f"; left out: {_few(left)}" if left else ""))
            out += list(steps.values())
            continue
        elif left:
            say(f"{path}: no checkpoint taken; left out: {_few(left)}")
        out.append(path)
    return out


def checkpoints(path: Path) -> tuple[dict[int, Path], list[str]]:
    """The `checkpoint-<step>` folders of `path` with an adapter, by step in step order, and the
    other folders named checkpoint-* with why each was left out. The step is ASCII digits (int()
    would also read other scripts' digits); two folders of one step (checkpoint-100 and
    checkpoint-0100) are refused."""
    steps: dict[int, Path] = {}
    left: list[str] = []
    folders = sorted(p for p in path.iterdir() if p.name.startswith("checkpoint-") and p.is_dir()) if path.is_dir() else []
    for p in folders:
        digits = p.name[len("checkpoint-"):]
        if not re.fullmatch(r"[0-9]+", digits):
            left.append(f"{p.name} (not a step number)")
        elif not (p / "adapter_config.json").is_file():
            left.append(f"{p.name} (no adapter_config.json)")
        elif int(digits) in steps:
            raise UserError(f"{steps[int(digits)]} and {p} are both step {int(digits)}: remove or rename one of them")
        else:
            steps[int(digits)] = p
    return dict(sorted(steps.items())), left


def _few(names: Sequence[str], most: int = 8) -> str:
    """`names` joined, the middle left out where there are many.

    >>> _few([str(i) for i in range(20)], 4)
    '0, 1, ... 18, 19 (20)'
    """
    if len(names) <= most:
        return ", ".join(names)
    return f"{', '.join(names[:most // 2])}, ... {', '.join(names[-(most // 2):])} ({len(names)})"
