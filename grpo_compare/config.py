"""The one run configuration: frozen dataclasses, one validator, YAML in two layouts, CLI flags over it.

    cfg = CompareConfig.from_yaml("configs/default.yaml").override(max_samples=50, temperature=0)
    cfg.resolved().sampling        # the sampling the run really uses

Every knob has one name, used alike by the Python API, the YAML and the CLI flag (`max_tokens`
is `--max-tokens`). Sampling left unset resolves in one place (`resolved`): the GRPO notebooks'
inference settings (0.8 / 0.95 / 1024) whenever a model, adapter or dataset is named, greedy with
512 tokens for the embedded default (demo model, demo adapter, built-in problems).

Two YAML layouts are read: the flat one (keys are the fields below, `sampling:` and `arms:`
nested) and the GRPO inference guide's sections (`model / inference / evaluation / output /
optimization`), translated key by key onto the same fields by `GUIDE_KEYS`. Errors name the key
as the user wrote it.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Optional, Union

import yaml

from .errors import UserError
from .prompts import PROMPTS
from .types import Arm

BACKENDS = ("auto", "vllm", "unsloth", "hf", "ray")
STRATEGIES = ("auto", "mixed", "merged")
DEVICES = ("auto", "cpu", "cuda")
DTYPES = ("auto", "half", "float32", "bfloat16", "float16")
ENGINE_MODES = ("auto", "eager", "compiled")
NOTEBOOK_SAMPLING = {"temperature": 0.8, "top_p": 0.95, "max_tokens": 1024}
DEMO_SAMPLING = {"temperature": 0.0, "top_p": 1.0, "max_tokens": 512}


# --- the one validator ------------------------------------------------------------------------

_NONEMPTY: Callable[[Any], bool] = lambda v: not isinstance(v, str) or v.strip() != ""  # noqa: E731
RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "temperature": (lambda v: 0 <= v <= 2, ">= 0 and <= 2 (vLLM's range)"), "top_p": (lambda v: 0 < v <= 1, "in (0, 1]"),
    "max_tokens": (lambda v: v >= 1, ">= 1"), "seed": (lambda v: 0 <= v < 2**32, "in [0, 2^32)"),  # numpy and torch refuse larger seeds
    "top_k": (lambda v: v >= 0, ">= 0 (0 = off)"), "max_samples": (lambda v: v >= 1, ">= 1"),
    "num_samples": (lambda v: v >= 1, ">= 1"), "max_model_len": (lambda v: v >= 16, ">= 16"),
    "batch_size": (lambda v: v >= 1, ">= 1"), "r": (lambda v: v >= 1, ">= 1"),
    **{k: (lambda v: v >= 1, ">= 1") for k in ("replicas", "tensor_parallel_size", "pipeline_parallel_size",
                                             "max_concurrent_batches", "cpus_per_worker", "num_cpus")},
    "alpha": (lambda v: v > 0, "> 0"), "dropout": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "backend": (lambda v: v in BACKENDS, "one of " + ", ".join(BACKENDS)),
    "lora_strategy": (lambda v: v in STRATEGIES, "one of " + ", ".join(STRATEGIES)),
    "device": (lambda v: v in DEVICES, "one of " + ", ".join(DEVICES)),
    "dtype": (lambda v: v in DTYPES, "one of " + ", ".join(DTYPES)),
    "engine_mode": (lambda v: v in ENGINE_MODES, "one of " + ", ".join(ENGINE_MODES)),
    "min_delta": (lambda v: -1 <= v <= 1, "in [-1, 1] (accuracy points as a fraction)"),
    "gpu_memory_utilization": (lambda v: 0 < v <= 1, "in (0, 1]"),
}
_KINDS = {bool: "true or false", int: "an integer", float: "a number", str: "a non-empty string"}


def validate(obj: Any) -> None:
    """Check every field of a config dataclass against its type and its rule in RULES: booleans
    must be booleans, integers whole, numbers finite, strings non-empty."""
    hints = typing.get_type_hints(type(obj))
    for f in fields(obj):
        value, kind = getattr(obj, f.name), hints[f.name]
        union = typing.get_origin(kind) in (typing.Union, types.UnionType)
        kinds = [k for k in (typing.get_args(kind) if union else (kind,)) if k is not type(None)]
        optional = union and type(None) in typing.get_args(kind)
        kinds = [k for k in kinds if k in _KINDS or k == tuple[str, ...]]
        if not kinds or (value is None and optional):
            continue
        rule = RULES.get(f.name)
        if not (any(_is_kind(value, k) for k in kinds) and _NONEMPTY(value) and (rule is None or rule[0](value))):
            what = " or ".join(_KINDS.get(k, "a list of them") for k in kinds)
            allowed = (rule[1] if rule and rule[1].startswith("one of") else
                       f"{what}{' ' + rule[1] if rule else ''}") + (" or null" if optional else "")
            raise UserError(f"{f.name}: {value!r} is not allowed; allowed: {allowed}")


def _is_kind(value: Any, kind: Any) -> bool:
    if kind == tuple[str, ...]:
        return isinstance(value, tuple) and len(value) > 0 and all(_is_kind(v, str) and v.strip() for v in value)
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def prompt_text(value: str | None) -> str | None:
    """A named prompt's text, or `value` itself when it is literal text.

    A bare lower-case word is taken as a name, so a misspelt one fails instead of reaching the
    model as the literal system prompt "xml_cott".

    >>> prompt_text("xml_cot").startswith("\\nRespond"), prompt_text("You are terse.")
    (True, 'You are terse.')
    """
    if value is None or value in PROMPTS:
        return PROMPTS.get(value) if value else None
    if re.fullmatch(r"[a-z][a-z0-9_]*", value):
        raise UserError(f"unknown named system prompt '{value}': the names are {', '.join(PROMPTS)}; "
                        "literal prompt text needs more than one word")
    return value


@dataclass(frozen=True)
class SamplingConfig:
    """Sampling for every arm. None = the default of the run's kind (see `CompareConfig.resolved`)."""

    temperature: Optional[float] = None  # 0 = greedy
    top_p: Optional[float] = None
    max_tokens: Optional[int] = None  # new tokens per answer
    seed: int = 0  # base seed: each problem (and sample) derives one, the same in every arm
    top_k: int = 0  # 0 = off

    def __post_init__(self) -> None:
        validate(self)


@dataclass(frozen=True)
class LoraShape:
    """The guide's `model.lora`: the adapter's expected shape, checked against its adapter_config.json."""

    r: Optional[int] = None
    alpha: Optional[float] = None
    dropout: Optional[float] = None

    def __post_init__(self) -> None:
        validate(self)


@dataclass(frozen=True)
class DistributedConfig:
    """`--backend ray`: vLLM replicas on a Ray cluster. One replica is tp × pp workers; `device`
    decides GPU or CPU-only workers (auto: GPUs when the cluster has any)."""

    replicas: int = 1  # vLLM engines sharing the rows (data parallel); a run may resume with more
    tensor_parallel_size: int = 1
    pipeline_parallel_size: int = 1
    batch_size: int = 16  # problems per Ray batch (all their arms and samples); results are saved batch by batch
    max_concurrent_batches: int = 8  # batches one replica decodes at once
    ray_address: Optional[str] = None  # an existing cluster ("auto", "host:6379"); none: a local Ray for the run
    accelerator_type: Optional[str] = None  # the GPU each worker needs ("H100", "A100"); none: any
    cpus_per_worker: int = 1  # CPUs each vLLM worker reserves
    num_cpus: Optional[int] = None  # CPUs of the local Ray the tool starts (default: all of this machine)

    def __post_init__(self) -> None:
        validate(self)
        if self.ray_address and self.num_cpus:
            raise UserError("num_cpus sizes a local Ray, but ray_address joins an existing cluster: drop one of them")


@dataclass(frozen=True)
class ArmSpec:
    """One arm as written in a config. `system_prompt` is a named prompt (`xml_cot`) or literal
    text; `model` serves the arm with another full model (a merged fine-tune) instead of the base."""

    name: str
    lora: Union[bool, str] = False  # true: the run's adapter; a path: this arm's own adapter
    system_prompt: Optional[str] = None
    model: Optional[str] = None

    def __post_init__(self) -> None:
        validate(self)
        prompt_text(self.system_prompt)

    def resolve(self, adapter: Path | None) -> Arm:
        """The `Arm` of a run whose adapter is `adapter` (an arm naming its own adapter keeps it)."""
        if isinstance(self.lora, str):
            adapter = Path(self.lora).expanduser()
        elif self.lora and adapter is None:
            raise UserError(f"arm '{self.name}' uses the adapter (lora: true), but no single --adapter was given: "
                            "pass one, or name the arm's own adapter (lora: <folder>)")
        return Arm(self.name, adapter if self.lora else None, prompt_text(self.system_prompt), self.model)


DEFAULT_ARMS = (ArmSpec("base"), ArmSpec("grpo", lora=True, system_prompt="xml_cot"))


@dataclass(frozen=True)
class CompareConfig:
    """Everything one run needs. None for model/adapter/dataset means the embedded demo's."""

    model: Optional[str] = None  # base model: local folder or hub id
    # PEFT LoRA folder(s): several, or a folder of checkpoint-<step> folders, make one arm each
    adapter: Optional[Union[str, tuple[str, ...]]] = None
    dataset: Optional[str] = None  # local file or hub id
    split: str = "test"
    max_samples: Optional[int] = None  # the first N problems
    question_field: Optional[str] = None
    answer_field: Optional[str] = None
    arms: tuple[ArmSpec, ...] = DEFAULT_ARMS  # the first two are the compared pair
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    num_samples: int = 1  # completions per problem and arm; > 1 adds pass@k and maj@k
    backend: str = "auto"  # vllm where it runs, else hf (transformers + peft); unsloth on CUDA
    lora_strategy: str = "auto"  # mixed (one batch), merged (a merged copy of the weights), auto
    device: str = "auto"
    dtype: str = "auto"  # auto: the model's on GPU, float32 on CPU; half: bf16 where supported, else fp16
    engine_mode: str = "auto"  # eager starts in seconds; compiled decodes ~15% faster; auto: by the work's size
    gpu_memory_utilization: Optional[float] = None  # share of GPU memory vLLM / unsloth may take (None: theirs)
    max_model_len: int = 4096  # context window (prompt + answer)
    batch_size: int = 256  # problems per engine call; a crash loses at most one batch
    allow_pickle: bool = False  # accept a pickled adapter_model.bin (it can run code when loaded)
    output_dir: Optional[str] = None  # compare: the run directory
    results_path: str = "results"  # batch / evaluate: where per-arm result files go
    save_detailed_log: bool = False  # evaluate: also write a full run directory under log_path
    log_path: str = "logs"
    lora_shape: LoraShape = field(default_factory=LoraShape)
    distributed: DistributedConfig = field(default_factory=DistributedConfig)  # --backend ray: replicas, tp/pp, cluster
    min_delta: Optional[float] = None  # gate: exit 4 when the best adapter's delta CI lower bound is below it

    def __post_init__(self) -> None:
        if isinstance(self.adapter, list):  # YAML and repeated flags give lists
            object.__setattr__(self, "adapter", tuple(self.adapter) if len(self.adapter) != 1 else self.adapter[0])
        validate(self)
        names = [a.name for a in self.arms]
        if len(names) < 2 or len(set(names)) != len(names):
            raise UserError(f"arms need at least two distinct names, got {names}")

    @property
    def is_demo(self) -> bool:
        return self.model is None and self.adapter is None and self.dataset is None

    def resolved(self) -> CompareConfig:
        """Unset sampling filled in: greedy / 512 for the embedded demo, the notebooks' otherwise."""
        defaults = DEMO_SAMPLING if self.is_demo else NOTEBOOK_SAMPLING
        unset = {k: v for k, v in defaults.items() if getattr(self.sampling, k) is None}
        return dataclasses.replace(self, sampling=dataclasses.replace(self.sampling, **unset))

    def override(self, **flags: Any) -> CompareConfig:
        """A copy with flags applied (sampling keys go into `sampling`, Ray's into `distributed`); None
        leaves a field as is.

        >>> CompareConfig().override(temperature=0, max_samples=5).sampling.temperature
        0
        """
        known = {f.name for f in fields(CompareConfig)} | SAMPLING_KEYS | DISTRIBUTED_KEYS
        unknown = sorted(set(flags) - known)
        if unknown:
            raise UserError(f"unknown setting '{unknown[0]}'; allowed: {', '.join(sorted(known))}")
        top = {k: v for k, v in flags.items() if v is not None and k not in SAMPLING_KEYS | DISTRIBUTED_KEYS}
        samp = {k: v for k, v in flags.items() if v is not None and k in SAMPLING_KEYS}
        dist = {k: v for k, v in flags.items() if v is not None and k in DISTRIBUTED_KEYS}
        distributed = dataclasses.replace(top.pop("distributed", self.distributed), **dist)
        return dataclasses.replace(self, **top, sampling=dataclasses.replace(self.sampling, **samp),
                                   distributed=distributed)

    @classmethod
    def from_yaml(cls, path: str | Path) -> CompareConfig:
        """A YAML file in either layout (flat, or the inference guide's sections)."""
        p = Path(path)
        if not p.is_file():
            raise UserError(f"config file {p} not found: pass an existing YAML file to --config")
        try:
            raw = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as e:
            raise UserError(f"{p} is not valid YAML: {str(e).splitlines()[0]}") from None
        except UnicodeDecodeError:
            raise UserError(f"{p} is not UTF-8 text: save the config as UTF-8") from None
        if not isinstance(raw, dict):
            raise UserError(f"{p} must hold a mapping of settings at the top level")
        return cls.from_dict(raw, str(p))

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str = "config") -> CompareConfig:
        """Build from a YAML mapping of either layout, naming any unknown key or bad value."""
        flat_too = ("model", "gate", "distributed")  # keys the flat layout has too
        guide = isinstance(raw.get("model"), dict) or any(k in raw for k in GUIDE_SECTIONS if k not in flat_too)
        flat, labels = _from_guide(raw, source) if guide else (dict(raw), {})
        try:
            return _build(flat)
        except UserError as e:
            raise UserError(f"{source}: {_relabel(str(e), labels, guide)}") from None

    def to_dict(self) -> dict[str, Any]:
        """Plain dict in the flat layout, ready for YAML (`from_dict` reads it back)."""
        return dataclasses.asdict(self) | {"arms": [dataclasses.asdict(a) for a in self.arms]}


InferenceConfig = CompareConfig  # the inference guide's name for the same config
SAMPLING_KEYS = {f.name for f in fields(SamplingConfig)}
# flags that set `distributed`; its batch_size is set in YAML only (--batch-size is the top-level one)
DISTRIBUTED_KEYS = {f.name for f in fields(DistributedConfig)} - {f.name for f in fields(CompareConfig)}


def load_config(path: str | Path | None, **flags: Any) -> CompareConfig:
    """The YAML at `path` (or the defaults) with CLI flags over it."""
    return (CompareConfig.from_yaml(path) if path else CompareConfig()).override(**flags)


def _relabel(message: str, labels: dict[str, str], guide: bool) -> str:
    """An error about a field, reworded with the key the user wrote in the guide's layout."""
    head, sep, rest = message.partition(": ")
    if head in labels:
        return labels[head] + sep + rest
    for name, label in labels.items():
        message = message.replace(f"'{name}'", f"'{label}'").replace(f"'{name}.", f"'{label}.")
    if not guide and message.startswith("unknown key") and "." not in message.split("'")[1]:
        message += f"; or the inference guide's sections {', '.join(GUIDE_SECTIONS)}"
    return message


def _build(raw: dict[str, Any]) -> CompareConfig:
    raw = dict(raw)
    gate = raw.pop("gate", None) or {}
    if not isinstance(gate, dict) or set(gate) - {"min_delta"}:
        raise UserError("'gate' must be a mapping holding min_delta")
    raw.update(gate)
    _known(raw, [f.name for f in fields(CompareConfig)], "")
    nested: dict[str, Any] = {}
    for key, cls in (("sampling", SamplingConfig), ("lora_shape", LoraShape), ("distributed", DistributedConfig)):
        values = raw.pop(key, None) or {}
        if not isinstance(values, dict):
            raise UserError(f"'{key}' must be a mapping of {', '.join(f.name for f in fields(cls))}")
        _known(values, [f.name for f in fields(cls)], key + ".")
        try:
            nested[key] = cls(**values)
        except UserError as e:  # distributed.batch_size is not the top-level batch_size: say which
            if key != "distributed":
                raise
            raise UserError(f"distributed.{e}") from None
    if "arms" in raw:
        arms = raw.pop("arms")
        if not isinstance(arms, list):
            raise UserError("'arms' must be a list of {name, lora, system_prompt, model}")
        nested["arms"] = tuple(_arm(a) for a in arms)
    return CompareConfig(**raw, **nested)


def _arm(raw: Any) -> ArmSpec:
    if not isinstance(raw, dict) or "name" not in raw:
        raise UserError("each entry of 'arms' needs at least a 'name'")
    _known(raw, [f.name for f in fields(ArmSpec)], f"arms.{raw['name']}.")
    return ArmSpec(**raw)


def _known(raw: dict[str, Any], allowed: Any, prefix: str) -> None:
    unknown = sorted(set(map(str, raw)) - set(allowed))
    if unknown:
        raise UserError(f"unknown key '{prefix}{unknown[0]}'; allowed keys: {', '.join(allowed)}")


# --- the inference guide's sectioned layout --------------------------------------------------

GUIDE_KEYS: dict[str, dict[str, str]] = {  # section -> {guide key: field ("sampling.x" is nested)}
    "model": {"base_model": "model", "model_path": "adapter", "use_lora": "", "lora": "lora_shape"},
    "inference": {"max_length": "max_model_len", "max_new_tokens": "sampling.max_tokens",
                  "temperature": "sampling.temperature", "top_p": "sampling.top_p", "top_k": "sampling.top_k",
                  "num_return_sequences": "num_samples", "device": "device", "seed": "sampling.seed",
                  "backend": "backend", "gpu_memory_utilization": "gpu_memory_utilization"},
    "evaluation": {"dataset_name": "dataset", "split": "split", "max_samples": "max_samples"},
    "output": {"results_path": "results_path", "save_detailed_log": "save_detailed_log", "log_path": "log_path"},
    "optimization": {"batch_size": "batch_size", "fp16": "dtype"},
    "gate": {"min_delta": "min_delta"},
    "distributed": {f.name: f"distributed.{f.name}" for f in fields(DistributedConfig)},
}
GUIDE_SECTIONS = tuple(GUIDE_KEYS)


def _from_guide(raw: dict[str, Any], source: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The guide's sections as a flat mapping, and field -> guide key for error messages."""
    try:
        _known(raw, GUIDE_SECTIONS, "")
    except UserError as e:
        raise UserError(f"{source}: {e}") from None
    flat: dict[str, Any] = {"sampling": {}, "distributed": {}}
    labels = {"r": "model.lora.r", "alpha": "model.lora.alpha", "dropout": "model.lora.dropout",
              "lora_shape": "model.lora", "dtype": "optimization.fp16"}
    for section, keys in GUIDE_KEYS.items():
        values = raw.get(section) or {}
        if not isinstance(values, dict):
            raise UserError(f"{source}: '{section}' must be a mapping of settings, got {values!r}")
        try:
            _known(values, keys, section + ".")
        except UserError as e:
            raise UserError(f"{source}: {e}") from None
        for key, value in values.items():
            target = keys[key]
            if target.startswith("distributed."):  # its errors already name the section
                flat["distributed"][key] = value
                continue
            labels[target.split(".")[-1]] = f"{section}.{key}"
            if target.startswith("sampling."):
                flat["sampling"][target.split(".")[1]] = value
            elif target == "dtype":
                if not isinstance(value, bool):
                    raise UserError(f"{source}: {section}.{key}: {value!r} is not allowed; allowed: true or false")
                flat["dtype"] = "half" if value else "auto"
            elif target:
                flat[target] = value
    model = raw.get("model") or {}
    use_lora = model.get("use_lora", True)
    if not isinstance(use_lora, bool):
        raise UserError(f"{source}: model.use_lora: {use_lora!r} is not allowed; allowed: true or false")
    if not use_lora:
        if not (model.get("base_model") and model.get("model_path")):
            raise UserError(f"{source}: model.use_lora is false: set model.base_model (the base) and "
                            "model.model_path (the merged fine-tuned model) to compare the two")
        merged = flat.pop("adapter")
        flat["arms"] = [{"name": "base"}, {"name": "grpo", "system_prompt": "xml_cot", "model": merged}]
    return flat, labels
