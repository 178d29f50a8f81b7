"""The inference front end's config: the GRPO inference guide's YAML sections, validated.

    cfg = InferenceConfig.from_yaml("configs/inference_config.yaml").override(temperature=0)
    cfg.to_compare_config()     # the same run, as the comparison pipeline's CompareConfig

Sections: `model` (model_path, base_model, use_lora, lora {r, alpha, dropout}), `inference`
(max_length, max_new_tokens, temperature, top_p, top_k, num_return_sequences, device, seed),
`evaluation` (dataset_name, split, max_samples), `output` (results_path, save_detailed_log,
log_path), `optimization` (batch_size, fp16). Unknown keys and bad values fail with one line
naming the key and what is allowed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable

import yaml

from .config import DEFAULT_ARMS, ArmSpec, CompareConfig, SamplingConfig
from .errors import UserError

DEVICES = ("auto", "cpu", "cuda")
BACKENDS = ("auto", "vllm", "unsloth", "hf")

# (type check, description of the allowed values) per field; None is allowed where `optional`.
_INT = (lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer")
_NUM = (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool), "a number")
_BOOL = (lambda v: isinstance(v, bool), "true or false")
_STR = (lambda v: isinstance(v, str) and v.strip() != "", "a non-empty string")


def _rule(kind: tuple[Callable[[Any], bool], str], ok: Callable[[Any], bool] = lambda v: True,
          allowed: str = "", optional: bool = False) -> tuple[Callable[[Any], bool], str, bool]:
    check, what = kind
    return (lambda v: check(v) and ok(v)), f"{what}{' ' + allowed if allowed else ''}" + (" or null" if optional else ""), optional


RULES: dict[str, dict[str, tuple[Callable[[Any], bool], str, bool]]] = {
    "model": {"model_path": _rule(_STR, optional=True), "base_model": _rule(_STR, optional=True),
              "use_lora": _rule(_BOOL)},
    "lora": {"r": _rule(_INT, lambda v: v >= 1, ">= 1", True), "alpha": _rule(_NUM, lambda v: v > 0, "> 0", True),
             "dropout": _rule(_NUM, lambda v: 0 <= v < 1, "in [0, 1)", True)},
    "inference": {
        "max_length": _rule(_INT, lambda v: v >= 16, ">= 16"),
        "max_new_tokens": _rule(_INT, lambda v: v >= 1, ">= 1"),
        "temperature": _rule(_NUM, lambda v: v >= 0, ">= 0"),
        "top_p": _rule(_NUM, lambda v: 0 < v <= 1, "in (0, 1]"),
        "top_k": _rule(_INT, lambda v: v >= 0, ">= 0 (0 = off)"),
        "num_return_sequences": _rule(_INT, lambda v: v >= 1, ">= 1"),
        "device": (lambda v: v in DEVICES, "one of " + ", ".join(DEVICES), False),
        "backend": (lambda v: v in BACKENDS, "one of " + ", ".join(BACKENDS), False),
        "seed": _rule(_INT, lambda v: v >= 0, ">= 0"),
    },
    "evaluation": {"dataset_name": _rule(_STR, optional=True), "split": _rule(_STR),
                   "max_samples": _rule(_INT, lambda v: v >= 1, ">= 1", True)},
    "output": {"results_path": _rule(_STR), "save_detailed_log": _rule(_BOOL), "log_path": _rule(_STR)},
    "optimization": {"batch_size": _rule(_INT, lambda v: v >= 1, ">= 1"), "fp16": _rule(_BOOL)},
}


class _Section:
    """Validates every field against RULES[<section>] on construction."""

    _name = ""

    def __post_init__(self) -> None:
        for f in fields(self):  # type: ignore[arg-type]
            if f.name not in RULES[self._name]:
                continue
            check, allowed, optional = RULES[self._name][f.name]
            value = getattr(self, f.name)
            if not ((value is None and optional) or (value is not None and check(value))):
                where = "model.lora" if self._name == "lora" else self._name
                raise UserError(f"{where}.{f.name}: {value!r} is not allowed; allowed: {allowed}")


@dataclass(frozen=True)
class LoraSection(_Section):
    """The adapter's LoRA shape; checked against its adapter_config.json when given."""

    _name = "lora"
    r: int | None = None
    alpha: float | None = None
    dropout: float | None = None


@dataclass(frozen=True)
class ModelSection(_Section):
    """model_path: the GRPO LoRA folder (use_lora true) or a merged fine-tuned model (false)."""

    _name = "model"
    model_path: str | None = None
    base_model: str | None = None
    use_lora: bool = True
    lora: LoraSection = field(default_factory=LoraSection)


@dataclass(frozen=True)
class InferenceSection(_Section):
    _name = "inference"
    max_length: int = 4096
    max_new_tokens: int = 1024
    temperature: float = 0.8
    top_p: float = 0.95
    top_k: int = 0
    num_return_sequences: int = 1
    device: str = "auto"
    seed: int = 0
    backend: str = "auto"  # not in the guide: which engine serves the arms


@dataclass(frozen=True)
class EvaluationSection(_Section):
    _name = "evaluation"
    dataset_name: str | None = None
    split: str = "test"
    max_samples: int | None = None


@dataclass(frozen=True)
class OutputSection(_Section):
    _name = "output"
    results_path: str = "results"
    save_detailed_log: bool = False
    log_path: str = "logs"


@dataclass(frozen=True)
class OptimizationSection(_Section):
    _name = "optimization"
    batch_size: int = 256
    fp16: bool = True


SECTIONS = {"model": ModelSection, "inference": InferenceSection, "evaluation": EvaluationSection,
            "output": OutputSection, "optimization": OptimizationSection}

# CLI flag -> (section, key): the flags every front-end command shares.
FLAGS = {
    "model": ("model", "base_model"), "adapter": ("model", "model_path"),
    "max_model_len": ("inference", "max_length"), "max_tokens": ("inference", "max_new_tokens"),
    "temperature": ("inference", "temperature"), "top_p": ("inference", "top_p"),
    "top_k": ("inference", "top_k"), "num_samples": ("inference", "num_return_sequences"),
    "device": ("inference", "device"), "seed": ("inference", "seed"), "backend": ("inference", "backend"),
    "dataset": ("evaluation", "dataset_name"), "split": ("evaluation", "split"),
    "max_samples": ("evaluation", "max_samples"), "batch_size": ("optimization", "batch_size"),
}


@dataclass(frozen=True)
class InferenceConfig:
    """The guide's config. Empty model paths mean the embedded demo (demo model + demo adapter)."""

    model: ModelSection = field(default_factory=ModelSection)
    inference: InferenceSection = field(default_factory=InferenceSection)
    evaluation: EvaluationSection = field(default_factory=EvaluationSection)
    output: OutputSection = field(default_factory=OutputSection)
    optimization: OptimizationSection = field(default_factory=OptimizationSection)

    def __post_init__(self) -> None:
        m = self.model
        if not m.use_lora and not (m.base_model and m.model_path):
            raise UserError("model.use_lora is false: set model.base_model (the base) and model.model_path "
                            "(the merged fine-tuned model) to compare the two")

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str = "config") -> InferenceConfig:
        """Build from the YAML mapping, naming the first unknown key or bad value."""
        _known(raw, SECTIONS, source, "")
        sections: dict[str, Any] = {}
        for name, section_cls in SECTIONS.items():
            values = raw.get(name) or {}
            if not isinstance(values, dict):
                raise UserError(f"{source}: '{name}' must be a mapping of settings, got {values!r}")
            _known(values, [f.name for f in fields(section_cls)], source, name + ".")
            values = dict(values)
            if name == "model":
                lora = values.pop("lora", None) or {}
                if not isinstance(lora, dict):
                    raise UserError(f"{source}: 'model.lora' must be a mapping of r, alpha, dropout")
                _known(lora, [f.name for f in fields(LoraSection)], source, "model.lora.")
                values["lora"] = _build(LoraSection, lora, source)
            sections[name] = _build(section_cls, values, source)
        return cls(**sections)

    @classmethod
    def from_yaml(cls, path: str | Path) -> InferenceConfig:
        """Load configs/inference_config.yaml (or any file of the same shape)."""
        return cls.from_dict(read_yaml(path), str(path))

    def override(self, **flags: Any) -> InferenceConfig:
        """A copy with CLI flags applied (see FLAGS); `None` leaves a setting unchanged.

        >>> InferenceConfig().override(temperature=0, adapter="lora").model.model_path
        'lora'
        """
        unknown = sorted(set(flags) - set(FLAGS))
        if unknown:
            raise UserError(f"unknown setting '{unknown[0]}'; allowed: {', '.join(FLAGS)}")
        changed: dict[str, dict[str, Any]] = {}
        for flag, value in flags.items():
            if value is not None:
                section, key = FLAGS[flag]
                changed.setdefault(section, {})[key] = value
        return dataclasses.replace(self, **{s: dataclasses.replace(getattr(self, s), **kv) for s, kv in changed.items()})

    @property
    def is_demo(self) -> bool:
        return self.model.base_model is None and self.model.model_path is None

    def to_compare_config(self) -> CompareConfig:
        """The comparison pipeline's config for this run. With use_lora false the GRPO arm is
        the merged model (served by its own engine), so no arm applies an adapter."""
        m, i, e = self.model, self.inference, self.evaluation
        arms = DEFAULT_ARMS if m.use_lora else (ArmSpec("base"), ArmSpec("grpo", system_prompt="xml_cot"))
        sampling = SamplingConfig(temperature=i.temperature, top_p=i.top_p, max_tokens=i.max_new_tokens,
                                  seed=i.seed, top_k=i.top_k)
        return CompareConfig(model=m.base_model, adapter=m.model_path if m.use_lora else None,
                             dataset=e.dataset_name, split=e.split, max_samples=e.max_samples, arms=arms,
                             sampling=sampling, max_model_len=i.max_length, backend=i.backend,
                             chunk_size=self.optimization.batch_size, num_samples=i.num_return_sequences)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict in the YAML's shape."""
        return {name: {k: v for k, v in dataclasses.asdict(getattr(self, name)).items()} for name in SECTIONS}


def read_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML file's top-level mapping, or one clear error."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"config file {p} not found: pass an existing YAML file to --config")
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise UserError(f"{p} is not valid YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(raw, dict):
        raise UserError(f"{p} must hold a mapping of settings at the top level")
    return raw


def is_inference_config(raw: dict[str, Any]) -> bool:
    """True for the guide's sectioned layout (vs. the flat CompareConfig layout)."""
    return isinstance(raw.get("model"), dict) or any(k in raw for k in SECTIONS if k != "model")


def _known(raw: dict[str, Any], allowed: Any, source: str, prefix: str) -> None:
    unknown = sorted(set(map(str, raw)) - set(allowed))
    if unknown:
        raise UserError(f"{source}: unknown key '{prefix}{unknown[0]}'; allowed keys: {', '.join(allowed)}")


def _build(cls: type, values: dict[str, Any], source: str) -> Any:
    try:
        return cls(**values)
    except UserError as e:
        raise UserError(f"{source}: {e}") from None
