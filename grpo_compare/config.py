"""The one run configuration, as the user gives it: every setting declared once, frozen
dataclasses, one validator, YAML in two layouts, CLI flags over it. What a run makes of it (the
model, the adapters checked, the arms, sampling with every field set) is `grpo_compare.plan`'s.

    cfg = CompareConfig.from_yaml("configs/default.yaml").override(max_samples=50, temperature=0)
    cfg.sampling.filled("notebook")        # unset fields filled with the notebooks' defaults

Each field is declared with `setting(...)` (`grpo_compare.settings`): its default (and, where the
default depends on the run's kind, the demo's and the notebooks'), its allowed range or choices,
its help text, its name in the GRPO inference guide's YAML and whether it is a CLI flag. The
validator (`validate`), the YAML readers (`from_dict`, `GUIDE_KEYS`), the CLI options (`flags`) and
the README's flag table (`flag_table`) are all read from those declarations.

Every knob has one name, used alike by the Python API, the YAML and the CLI flag (`max_tokens`
is `--max-tokens`). Sampling left unset is filled in one place (`SamplingConfig.filled`): the GRPO
notebooks' inference settings (0.8 / 0.95 / 1024) whenever a model, adapter or dataset is named,
greedy with 512 tokens for the embedded default (demo model, demo adapter, built-in problems).

Two YAML layouts are read: the flat one (keys are the fields below, `sampling:` and `arms:`
nested) and the GRPO inference guide's sections (`model / inference / evaluation / output /
optimization`), translated key by key onto the same fields. Errors name the key as the user wrote it.
"""

from __future__ import annotations

import dataclasses
import os
import re
import typing
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Optional, Union

from .errors import APIError, UserError, expect
from .files import note_input, read_yaml_mapping, shorten
from .guide import from_guide, guide_keys, is_guide, known, relabel
from .prompts import prompt_text
from .settings import KINDS, at_least, setting, validate
from .types import Sampling

BACKENDS = ("auto", "vllm", "unsloth", "hf", "ray", "openai")
STRATEGIES = ("auto", "mixed", "merged")
DEVICES = ("auto", "cpu", "cuda")
DTYPES = ("auto", "half", "float32", "bfloat16", "float16")
ENGINE_MODES = ("auto", "eager", "compiled")


@dataclass(frozen=True)
class SamplingConfig:
    """Sampling for every arm. None = the default of the run's kind (see `CompareConfig.resolved`)."""

    temperature: Optional[float] = setting(None, "Sampling temperature, 0 = greedy.", rule=lambda v: 0 <= v <= 2,
                                           allowed=">= 0 and <= 2 (vLLM's range)", guide="inference.temperature",
                                           demo=0.0, notebook=0.8)
    top_p: Optional[float] = setting(None, "Nucleus sampling.", rule=lambda v: 0 < v <= 1, allowed="in (0, 1]",
                                     guide="inference.top_p", demo=1.0, notebook=0.95)
    max_tokens: Optional[int] = setting(None, "Max new tokens per answer.", **at_least(1),
                                        guide="inference.max_new_tokens", demo=512, notebook=1024)
    seed: int = setting(0, "Base seed; each problem (and sample) gets one seed, the same in every arm.",
                        rule=lambda v: 0 <= v < 2**32, allowed="in [0, 2^32)",  # numpy and torch refuse larger seeds
                        guide="inference.seed")
    top_k: int = setting(0, "Top-k sampling (0 = off).", rule=lambda v: v >= 0, allowed=">= 0 (0 = off)",
                         guide="inference.top_k")

    def __post_init__(self) -> None:
        validate(self)

    def filled(self, kind: str) -> Sampling:
        """The sampling a run uses: unset fields take the default of the run's `kind`, "demo" (the
        embedded default: greedy, 512 tokens) or "notebook" (the GRPO notebooks' 0.8 / 0.95 / 1024).

        >>> SamplingConfig(temperature=0.3).filled("notebook")
        Sampling(temperature=0.3, top_p=0.95, max_tokens=1024, seed=0, top_k=0)
        """
        return Sampling(**{f.name: situational(kind).get(f.name) if getattr(self, f.name) is None
                           else getattr(self, f.name) for f in fields(self)})

    @classmethod
    def of(cls, sampling: Sampling, **changes: Any) -> Sampling:
        """`sampling` with `changes` (chat's /temperature), checked against the declarations.

        >>> SamplingConfig.of(Sampling(0.0, 1.0, 64), temperature=0.7).temperature
        0.7
        """
        return cls(**(dataclasses.asdict(sampling) | changes)).filled("notebook")


@dataclass(frozen=True)
class LoraShape:
    """The guide's `model.lora`: the adapter's expected shape, checked against its adapter_config.json."""

    r: Optional[int] = setting(None, "Expected LoRA rank.", **at_least(1), flag=False)
    alpha: Optional[float] = setting(None, "Expected LoRA alpha.", rule=lambda v: v > 0, allowed="> 0", flag=False)
    dropout: Optional[float] = setting(None, "Expected LoRA dropout.", rule=lambda v: 0 <= v < 1,
                                       allowed="in [0, 1)", flag=False)

    def __post_init__(self) -> None:
        validate(self)


_RAY = "--backend ray: "


@dataclass(frozen=True)
class DistributedConfig:
    """`--backend ray`: vLLM replicas on a Ray cluster. One replica is tp × pp workers; `device`
    decides GPU or CPU-only workers (auto: GPUs when the cluster has any)."""

    replicas: int = setting(1, _RAY + "vLLM engines sharing the rows (data parallel); a run may resume with more.",
                            **at_least(1))
    tensor_parallel_size: int = setting(1, _RAY + "GPUs (workers) splitting each layer of one replica.", **at_least(1))
    pipeline_parallel_size: int = setting(1, _RAY + "workers holding consecutive layers of one replica.",
                                          **at_least(1))
    batch_size: int = setting(16, "Problems per Ray batch (all their arms and samples); results are saved batch "
                                  "by batch.", **at_least(1), flag=False)
    max_concurrent_batches: int = setting(8, "Batches one replica decodes at once.", **at_least(1), flag=False)
    ray_address: Optional[str] = setting(None, _RAY + "an existing cluster (auto, host:6379).",
                                         shown="a local Ray for the run")
    accelerator_type: Optional[str] = setting(None, "The GPU each worker needs (H100, A100).", shown="any", flag=False)
    cpus_per_worker: int = setting(1, "CPUs each vLLM worker reserves.", **at_least(1), flag=False)
    num_cpus: Optional[int] = setting(None, "CPUs of the local Ray the tool starts.", **at_least(1),
                                      shown="all of this machine", flag=False)

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
    system_prompt: Optional[str] = dataclasses.field(default=None, metadata={"longest": None})  # text, any length
    model: Optional[str] = None

    def __post_init__(self) -> None:
        validate(self)
        if not ARM_NAME.fullmatch(self.name) or ".." in self.name:
            raise UserError(f"arm name {shorten(self.name)} is not allowed: an arm's name is a column of comparison.csv, "
                            f"part of file names and terminal text, so it is {ARM_NAME_RULE}, e.g. grpo_step-100")
        prompt_text(self.system_prompt)


# what an arm's name may be: no formula start (=, +, -, @), no path (/, ..), no markup ([), no space
ARM_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")
ARM_NAME_RULE = "ASCII letters, digits, _, - and . (not first: - or .; no ..), at most 64 characters"
DEFAULT_ARMS = (ArmSpec("base"), ArmSpec("grpo", lora=True, system_prompt="xml_cot"))


@dataclass(frozen=True)
class CompareConfig:
    """Everything one run needs. None for model/adapter/dataset means the embedded demo's."""

    model: Optional[str] = setting(None, "Base model: local folder or hub id (--backend openai: the served model's, for "
                                         "its tokenizer and chat template).", guide="model.base_model",
                                   shown="demo model")
    adapter: Optional[Union[str, tuple[str, ...]]] = setting(
        None, "PEFT LoRA folder (`model.save_lora(...)` / `save_pretrained`); give it several times, or a folder of "
              "`checkpoint-<step>` folders, to compare every checkpoint against base; --backend openai: also a LoRA "
              "the server serves, by its name.",
        guide="model.model_path", shown="demo adapter")
    dataset: Optional[str] = setting(None, "Local .jsonl/.json/.csv/.parquet/.txt or hub id (openai/gsm8k, "
                                           "HuggingFaceH4/MATH-500).", guide="evaluation.dataset_name",
                                     shown="built-in problems")
    split: str = setting("test", "Dataset split for hub datasets.", guide="evaluation.split")
    max_samples: Optional[int] = setting(None, "Use the first N problems.", **at_least(1),
                                         guide="evaluation.max_samples", shown="all")
    question_field: Optional[str] = setting(None, "Dataset field holding the question (GSM8K and MATH-500 need "
                                                  "none).", shown="auto")
    answer_field: Optional[str] = setting(None, "Dataset field holding the reference answer.", shown="auto")
    arms: tuple[ArmSpec, ...] = setting(DEFAULT_ARMS, "The arms; the first two are the compared pair.", flag=False)
    sampling: SamplingConfig = setting(None, "Sampling for every arm.", flag=False, factory=SamplingConfig)
    num_samples: int = setting(1, "Samples per problem and arm (k); k > 1 adds pass@k and maj@k.", **at_least(1),
                               guide="inference.num_return_sequences")
    backend: str = setting("auto", "vllm, unsloth (CUDA, the notebooks' fast_generate), hf (transformers + peft), "
                                   "ray (vLLM replicas on a Ray cluster) or openai (a running vLLM server at --base-url); "
                                   "auto: vllm where it runs, else hf (never ray or openai), and it says which it chose.",
                           choices=BACKENDS, guide="inference.backend")
    base_url: Optional[str] = setting(None, "--backend openai: the server's address (http://host:8000/v1); it serves "
                                            "the base model and the LoRAs by name.", shown="none")
    api_key_env: Optional[str] = setting(None, "--backend openai: the environment variable holding the server's API "
                                               "key (the key itself is never written anywhere).", shown="no key")
    concurrency: int = setting(32, "--backend openai: requests in flight at once.", **at_least(1))
    lora_strategy: str = setting("auto", "mixed: base and LoRA rows in one batch of one engine; merged: the adapter "
                                         "merged into a cached copy of the weights, base and merged model served one "
                                         "after the other; auto: merged for vLLM on CPU (runs of >= 64 generations), "
                                         "mixed elsewhere. The choice is printed and recorded in config.yaml.",
                                 choices=STRATEGIES)
    keep_merged: bool = setting(True, "merged: keep each adapter's merged copy of the weights in the cache for later "
                                      "runs; false: at most one copy on disk at a time, each built when its arm runs "
                                      "(many checkpoints on a small disk).")
    device: str = setting("auto", "cpu or cuda; auto: a CUDA GPU where one is visible.", choices=DEVICES,
                          guide="inference.device")
    dtype: str = setting("auto", "auto: the checkpoint's dtype on a GPU, float32 on CPU; half: bf16 where "
                                 "supported, else fp16 (the guide's fp16: true); or float32, bfloat16, float16.",
                         choices=DTYPES, guide="optimization.fp16")
    engine_mode: str = setting("auto", "eager starts in seconds; compiled decodes 15-30% faster and takes 40-90 s "
                                       "to start on CPU; auto: by the work's size.", choices=ENGINE_MODES)
    gpu_memory_utilization: Optional[float] = setting(
        None, "Share of GPU memory vLLM / unsloth may take (lower it beside a model already on the GPU).",
        rule=lambda v: 0 < v <= 1, allowed="in (0, 1]", guide="inference.gpu_memory_utilization", shown="theirs")
    max_model_len: int = setting(4096, "Context window of the engine (prompt + answer); longer prompts are "
                                       "reported and skipped.", **at_least(16), guide="inference.max_length")
    batch_size: int = setting(256, "Problems per engine call (all arms of a problem in the same call); a crash "
                                   "loses at most one batch.", **at_least(1), guide="optimization.batch_size")
    allow_pickle: bool = setting(False, "Accept a pickled adapter_model.bin (it can run code when loaded).")
    output_dir: Optional[str] = setting(None, "Where compare writes the run; an unfinished run there is resumed.",
                                        shown="`runs/<time>-<dataset>`")
    results_path: str = setting("results", "batch / evaluate: where per-arm result files go.",
                                guide="output.results_path", flag=False)
    save_detailed_log: bool = setting(False, "evaluate: also write a full run directory under log_path.",
                                      guide="output.save_detailed_log", flag=False)
    log_path: str = setting("logs", "Where evaluate's detailed run directories go.", guide="output.log_path",
                            flag=False)
    lora_shape: LoraShape = setting(None, "The adapter's expected shape (r, alpha, dropout).", guide="model.lora",
                                    flag=False, factory=LoraShape)
    distributed: DistributedConfig = setting(None, "--backend ray: replicas, tp/pp, the cluster.", flag=False,
                                             factory=DistributedConfig)
    min_delta: Optional[float] = setting(
        None, "Gate: exit 4 when the best adapter's accuracy gain over base has a 95% CI lower bound below this "
              "(e.g. 0.02 = 2 points); the run's files are still written.", rule=lambda v: -1 <= v <= 1,
        allowed="in [-1, 1] (accuracy points as a fraction)", guide="gate.min_delta", shown="no gate")

    def __post_init__(self) -> None:
        if isinstance(self.adapter, list):  # YAML and repeated flags give lists
            object.__setattr__(self, "adapter", tuple(self.adapter) if len(self.adapter) != 1 else self.adapter[0])
        object.__setattr__(self, "arms", expect(tuple(self.arms) if isinstance(self.arms, list) else self.arms, tuple,
                                                "arms", "a list of ArmSpec(name, lora, system_prompt, model)"))
        for value, kind, name in [(a, ArmSpec, "each of arms") for a in self.arms] + [
                (self.sampling, SamplingConfig, "sampling"), (self.lora_shape, LoraShape, "lora_shape"),
                (self.distributed, DistributedConfig, "distributed")]:  # the Python API's door: no dicts
            expect(value, kind, name, f"{kind.__name__}(...), e.g. {kind.__name__}(**d) for a dict d")
        validate(self)
        names = [a.name for a in self.arms]
        if len(names) < 2 or len(set(names)) != len(names):
            raise UserError(f"arms need at least two distinct names, got {names}")

    @property
    def is_demo(self) -> bool:
        return self.model is None and self.adapter is None and self.dataset is None

    def override(self, **flags: Any) -> CompareConfig:
        """A copy with flags applied (sampling keys go into `sampling`, Ray's into `distributed`); None
        leaves a field as is.

        >>> CompareConfig().override(temperature=0, max_samples=5).sampling.temperature
        0
        """
        names = {f.name for f in fields(CompareConfig)} | SAMPLING_KEYS | DISTRIBUTED_KEYS
        unknown = sorted(set(flags) - names)
        if unknown:
            raise UserError(f"unknown setting '{unknown[0]}'; allowed: {', '.join(sorted(names))}")
        top = {k: v for k, v in flags.items() if v is not None and k not in SAMPLING_KEYS | DISTRIBUTED_KEYS}
        samp = {k: v for k, v in flags.items() if v is not None and k in SAMPLING_KEYS}
        dist = {k: v for k, v in flags.items() if v is not None and k in DISTRIBUTED_KEYS}
        given = {k: expect(top.pop(k, getattr(self, k)), kind, k, f"{kind.__name__}(...), or its fields as flags")
                 for k, kind in (("sampling", SamplingConfig), ("distributed", DistributedConfig))}
        return dataclasses.replace(self, **top, sampling=dataclasses.replace(given["sampling"], **samp),
                                   distributed=dataclasses.replace(given["distributed"], **dist))

    @classmethod
    def from_yaml(cls, path: str | Path) -> CompareConfig:
        """A YAML file in either layout (flat, or the inference guide's sections)."""
        if not isinstance(path, (str, os.PathLike)):
            raise APIError(f"from_yaml: path must be a str or Path, got {type(path).__name__}")
        p = Path(path)
        if not p.is_file():
            raise UserError(f"config file {p} not found: pass an existing YAML file to --config")
        raw = read_yaml_mapping(p, "fix the config (settings as `key: value` lines, saved as UTF-8)")
        note_input(p, "the config")
        return cls.from_dict(raw, str(p))

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str = "config") -> CompareConfig:
        """Build from a YAML mapping of either layout, naming any unknown key or bad value."""
        guide = is_guide(raw)
        flat, labels = from_guide(raw, source, GUIDE_KEYS) if guide else (dict(raw), {})
        try:
            return _build(flat)
        except UserError as e:
            raise UserError(f"{source}: {relabel(str(e), labels, guide)}") from None

    def to_dict(self) -> dict[str, Any]:
        """Plain dict in the flat layout, ready for YAML (`from_dict` reads it back)."""
        return dataclasses.asdict(self) | {"arms": [dataclasses.asdict(a) for a in self.arms]}


InferenceConfig = CompareConfig  # the inference guide's name for the same config
SAMPLING_KEYS = {f.name for f in fields(SamplingConfig)}
# flags that set `distributed`; its batch_size is set in YAML only (--batch-size is the top-level one)
DISTRIBUTED_KEYS = {f.name for f in fields(DistributedConfig)} - {f.name for f in fields(CompareConfig)}


def situational(kind: str) -> dict[str, Any]:
    """The sampling an unset field takes: `kind` "demo" (the embedded default) or "notebook".

    >>> situational("demo")
    {'temperature': 0.0, 'top_p': 1.0, 'max_tokens': 512}
    """
    return {f.name: f.metadata[kind] for f in fields(SamplingConfig) if f.metadata[kind] is not None}


DEMO_SAMPLING, NOTEBOOK_SAMPLING = situational("demo"), situational("notebook")
GUIDE_KEYS = guide_keys(CompareConfig, SamplingConfig, DistributedConfig)


def declared() -> list[tuple[str, dataclasses.Field[Any]]]:
    """Every setting a user sets, top-level and nested, as (name, field), in declaration order:
    `sampling`'s fields where `sampling` stands, `distributed`'s after the rest."""
    out: list[tuple[str, dataclasses.Field[Any]]] = []
    for f in fields(CompareConfig):
        if f.name == "sampling":
            out += [(s.name, s) for s in fields(SamplingConfig)]
        elif f.name not in ("distributed", "lora_shape", "arms"):
            out.append((f.name, f))
    return out + [(d.name, d) for d in fields(DistributedConfig) if d.name in DISTRIBUTED_KEYS]


def shown_default(f: dataclasses.Field[Any]) -> str:
    """A setting's default as `--help` and the README say it.

    >>> shown_default(dict(declared())["temperature"]), shown_default(dict(declared())["max_model_len"])
    ('0.8; the demo: 0', '4096')
    """
    m = f.metadata
    if m.get("notebook") is not None:
        return f"{m['notebook']:g}; the demo: {m['demo']:g}"
    if m.get("shown"):
        return m["shown"]
    return str(f.default).lower() if isinstance(f.default, bool) else str(f.default)


def flags() -> dict[str, tuple[Any, str]]:
    """The CLI options: setting -> (the option's type, its help with the default)."""
    out: dict[str, tuple[Any, str]] = {}
    hints = {**typing.get_type_hints(CompareConfig), **typing.get_type_hints(SamplingConfig),
             **typing.get_type_hints(DistributedConfig)}
    for name, f in declared():
        if not f.metadata.get("flag"):
            continue
        kinds = [k for k in typing.get_args(hints[name]) or (hints[name],) if k in KINDS]
        kind = list[str] if name == "adapter" else kinds[0]  # --adapter may be given several times
        out[name] = (Optional[kind], f"{f.metadata['help']} (default: {shown_default(f)})")
    return out


def flag_table() -> str:
    """The README's table of flags, from the declarations."""
    rows = ["| flag | default | |", "|---|---|---|"]
    for name, f in declared():
        if f.metadata.get("flag"):
            shown = shown_default(f) if f.metadata.get("shown") else f"`{shown_default(f)}`"
            flag = f"`--{name.replace('_', '-')}`"
            if isinstance(f.default, bool):  # a switch: on and off
                flag += f" / `--no-{name.replace('_', '-')}`"
            rows.append(f"| {flag} | {shown} | {f.metadata['help']} |")
    return "\n".join(rows)


def load_config(path: str | Path | None, **flags: Any) -> CompareConfig:
    """The YAML at `path` (or the defaults) with CLI flags over it."""
    return (CompareConfig.from_yaml(path) if path else CompareConfig()).override(**flags)


def _build(raw: dict[str, Any]) -> CompareConfig:
    raw = dict(raw)
    gate = raw.pop("gate", None) or {}
    if not isinstance(gate, dict) or set(gate) - {"min_delta"}:
        raise UserError("'gate' must be a mapping holding min_delta")
    raw.update(gate)
    known(raw, [f.name for f in fields(CompareConfig)], "")
    nested: dict[str, Any] = {}
    for key, cls in (("sampling", SamplingConfig), ("lora_shape", LoraShape), ("distributed", DistributedConfig)):
        values = raw.pop(key, None) or {}
        if not isinstance(values, dict):
            raise UserError(f"'{key}' must be a mapping of {', '.join(f.name for f in fields(cls))}")
        known(values, [f.name for f in fields(cls)], key + ".")
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
    known(raw, [f.name for f in fields(ArmSpec)], f"arms.{raw['name']}.")
    return ArmSpec(**raw)
