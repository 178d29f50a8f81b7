"""Run configuration: frozen dataclasses, loaded from YAML, overridden by CLI flags.

    cfg = CompareConfig.from_yaml("configs/gsm8k.yaml").override(max_samples=50)

Arms are data: each names whether it uses the run's adapter and which system prompt it sends
(`xml_cot` for the training prompt, null for none, anything else is used literally).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from .errors import UserError
from .prompts import XML_COT
from .types import Arm

BACKENDS = ("auto", "vllm", "unsloth", "hf")
STRATEGIES = ("auto", "mixed", "merged")


@dataclass(frozen=True)
class SamplingConfig:
    """Sampling for every arm. Defaults are the GRPO notebook's inference cell."""

    temperature: float = 0.8
    top_p: float = 0.95
    max_tokens: int = 1024
    seed: int = 0
    top_k: int = 0  # 0 = off (every token is a candidate)

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise UserError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise UserError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.max_tokens < 1:
            raise UserError(f"max_tokens must be >= 1, got {self.max_tokens}")
        if self.top_k < 0:
            raise UserError(f"top_k must be >= 0 (0 = off), got {self.top_k}")


@dataclass(frozen=True)
class ArmSpec:
    """One arm as written in a config: a name, whether the adapter is applied, a system prompt."""

    name: str
    lora: bool = False
    system_prompt: str | None = None

    def resolve(self, adapter: Path | None) -> Arm:
        """Turn the spec into an `Arm` for a run whose adapter is `adapter`."""
        if self.lora and adapter is None:
            raise UserError(f"arm '{self.name}' uses the adapter, but no --adapter was given")
        prompt = XML_COT if self.system_prompt == "xml_cot" else self.system_prompt
        return Arm(self.name, adapter if self.lora else None, prompt)


DEFAULT_ARMS = (ArmSpec("base"), ArmSpec("grpo", lora=True, system_prompt="xml_cot"))


@dataclass(frozen=True)
class CompareConfig:
    """Everything one comparison needs. `None` for model/adapter/dataset means the embedded demo."""

    model: str | None = None
    adapter: str | None = None
    dataset: str | None = None
    split: str = "test"
    max_samples: int | None = None
    question_field: str | None = None
    answer_field: str | None = None
    arms: tuple[ArmSpec, ...] = DEFAULT_ARMS
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    backend: str = "auto"  # vllm where it runs, else hf (transformers + peft)
    max_model_len: int = 4096
    chunk_size: int = 256
    allow_pickle: bool = False
    output_dir: str | None = None
    num_samples: int = 1  # completions per problem and arm; > 1 adds pass@k and maj@k
    lora_strategy: str = "auto"  # mixed (one batch), merged (merged copy, one engine at a time), auto

    def __post_init__(self) -> None:
        if self.max_samples is not None and self.max_samples < 1:
            raise UserError(f"max_samples must be >= 1, got {self.max_samples}")
        if self.backend not in BACKENDS:
            raise UserError(f"unknown backend '{self.backend}': choose one of {', '.join(BACKENDS)}")
        names = [a.name for a in self.arms]
        if len(names) < 2 or len(set(names)) != len(names):
            raise UserError(f"arms need at least two distinct names, got {names}")
        if self.chunk_size < 1:
            raise UserError(f"chunk_size must be >= 1, got {self.chunk_size}")
        if self.lora_strategy not in STRATEGIES:
            raise UserError(f"unknown LoRA strategy '{self.lora_strategy}': choose one of {', '.join(STRATEGIES)}")
        if self.num_samples < 1:
            raise UserError(f"num_samples must be >= 1, got {self.num_samples}")

    @property
    def is_demo(self) -> bool:
        return self.model is None and self.adapter is None and self.dataset is None

    def override(self, **flags: Any) -> CompareConfig:
        """Return a copy with the given flags applied; `None` values leave a field unchanged.

        >>> CompareConfig().override(temperature=0, max_samples=5).sampling.temperature
        0
        """
        sampling_keys = {f.name for f in fields(SamplingConfig)}
        top = {k: v for k, v in flags.items() if v is not None and k not in sampling_keys}
        samp = {k: v for k, v in flags.items() if v is not None and k in sampling_keys}
        return dataclasses.replace(self, **top, sampling=dataclasses.replace(self.sampling, **samp))

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str = "config") -> CompareConfig:
        """Build from a plain dict (as read from YAML), naming any unknown key."""
        raw = dict(raw)
        _check_keys(raw, cls, source)
        sampling = raw.pop("sampling", None) or {}
        _check_keys(sampling, SamplingConfig, f"{source}: sampling")
        arms = raw.pop("arms", None)
        kwargs: dict[str, Any] = dict(raw, sampling=SamplingConfig(**sampling))
        if arms is not None:
            kwargs["arms"] = tuple(_arm_from_dict(a, source) for a in arms)
        return cls(**kwargs)

    @classmethod
    def from_yaml(cls, path: str | Path) -> CompareConfig:
        """Load a YAML config file."""
        p = Path(path)
        if not p.is_file():
            raise UserError(f"config file {p} not found: pass an existing YAML file to --config")
        try:
            raw = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as e:
            raise UserError(f"{p} is not valid YAML: {str(e).splitlines()[0]}") from None
        if not isinstance(raw, dict):
            raise UserError(f"{p} must hold a mapping of settings at the top level")
        return cls.from_dict(raw, str(p))

    def to_dict(self) -> dict[str, Any]:
        """Plain dict, ready for YAML (written into every run directory)."""
        return dataclasses.asdict(self) | {"arms": [dataclasses.asdict(a) for a in self.arms]}


def demo_config() -> CompareConfig:
    """The embedded default run: demo model, shipped adapter, 100 built-in problems, greedy."""
    return CompareConfig(sampling=SamplingConfig(temperature=0.0, top_p=1.0, max_tokens=512))


def _arm_from_dict(raw: Any, source: str) -> ArmSpec:
    if not isinstance(raw, dict) or "name" not in raw:
        raise UserError(f"{source}: each entry of 'arms' needs at least a 'name'")
    _check_keys(raw, ArmSpec, f"{source}: arm '{raw['name']}'")
    return ArmSpec(**raw)


def _check_keys(raw: dict[str, Any], cls: type, where: str) -> None:
    allowed = [f.name for f in fields(cls)]
    unknown = sorted(set(raw) - set(allowed))
    if unknown:
        raise UserError(f"{where}: unknown key '{unknown[0]}'; allowed keys: {', '.join(allowed)}")
