"""The run plan: the user's settings resolved once into what a run does, and never rewritten.

    p = plan(CompareConfig(adapter="outputs/grpo_lora", dataset="gsm8k_test.jsonl"))
    p.model, [a.name for a in p.arms]        # the model folder or hub id, ['base', 'grpo']
    p.arm("grpo").adapter.rank              # each adapter read and checked once, before any weights load
    p.sampling.temperature                  # 0.8: every field set (a dataset is named: the notebooks')

`plan()` resolves the model (the demo model when none is named), the adapters (a folder of
`checkpoint-<step>` folders is one arm per checkpoint) and the arms, each with its adapter's record
(`AdapterInfo`, the one shape of an adapter after this point) and its system prompt's text, and fills
every sampling field. What only the engine's start can decide (the backend `auto` picks, the LoRA
strategy and engine mode for the work at hand) is a `Launch`, decided once when the engine starts.
config.yaml records the plan with its launch (`record`), and `from_record` rebuilds it exactly.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Sequence
from urllib.parse import urlsplit

from rich.markup import escape

from .adapters import AdapterInfo, expand_adapters, inspect_adapter, read_model_config
from .config import ARM_NAME_RULE, DEFAULT_ARMS, ArmSpec, CompareConfig, prompt_text
from .demo import BUILTIN_DATASET, demo_adapter_path, demo_model_path
from .errors import DataError, UserError
from .prompts import PROMPTS
from .summary import ARM_COLUMNS
from .types import Arm, Sampling
from .ui import err

RECORDED = ("versions", "adapter_applied", "adapters")  # what config.yaml records beside the settings


@dataclass(frozen=True)
class Launch:
    """What the engine's start decides, once: the backend (`auto` made concrete, or moved to hf
    where only peft serves an adapter), the LoRA strategy and the engine mode."""

    backend: str
    lora_strategy: str
    engine_mode: str


@dataclass(frozen=True)
class RunPlan:
    """A run, resolved: `config` is the user's settings as given (flags over YAML); the other
    fields are what the run does with them. `backend` and `lora_strategy` are as asked (an engine
    the caller holds names its own backend and serves LoRA rows); `launch` is set on the plan a
    finished run records."""

    config: CompareConfig
    model: str  # a local folder or a hub id
    dataset: str  # a file, a hub id, or BUILTIN_DATASET
    adapters: tuple[AdapterInfo, ...]  # every adapter of the run, checked, in order
    arms: tuple[Arm, ...]
    sampling: Sampling
    backend: str
    lora_strategy: str
    demo: bool = False  # the embedded default: demo model, demo adapter, built-in problems
    launch: Launch | None = None

    def arm(self, name: str) -> Arm:
        """The arm called `name`."""
        return next(a for a in self.arms if a.name == name)

    def narrowed(self, arms: Sequence[str], config: CompareConfig) -> RunPlan:
        """The plan of one call: these arms, and `config`'s dataset settings (a call may name another
        dataset, split, size or batch size); everything else as planned."""
        return replace(self, config=config, dataset=config.dataset or self.dataset,
                       arms=tuple(self.arm(a) for a in arms))

    def joined(self, arms: Sequence[Arm]) -> RunPlan:
        """This plan with `arms` in place of its own: its own and those a run directory already holds
        beside them (earlier checkpoints), their adapters' records added."""
        adapters = tuple(dict.fromkeys([*self.adapters, *(a.adapter for a in arms if a.adapter is not None)]))
        return replace(self, arms=tuple(arms), adapters=adapters)

    def launched(self, launch: Launch) -> RunPlan:
        """This plan with what the engine's start decided: what a finished run records."""
        return replace(self, launch=launch)

    @property
    def num_samples(self) -> int:
        return self.config.num_samples

    @property
    def adapter(self) -> str | tuple[str, ...] | None:
        """The adapters as config.yaml's `adapter` says them: one folder, several, or none."""
        paths = tuple(str(a.path) for a in self.adapters)
        return None if not paths else paths[0] if len(paths) == 1 else paths


def plan(config: CompareConfig, engine: str | None = None, engine_model: str | None = None,
         engine_strategy: str = "mixed") -> RunPlan:
    """Resolve `config` once. `engine` is the name of an engine the caller holds (its weights are
    loaded: no context-window check against a folder), `engine_model` the model it holds, which is
    then the run's model unless the config names one, and `engine_strategy` how it serves adapters."""
    check_server(config)
    model_named = config.model or engine_model
    demo = config.is_demo and engine_model is None
    model = resolve_model(config.model) if engine_model is None else str(model_named)
    if engine is None:
        check_context_window(config.max_model_len, model)
    specs, adapters = resolve_adapters(config, model, demo_adapter=model_named is None)
    if len(adapters) == 1 and not adapters[0].served_name:
        check_lora_shape(config, adapters[0])
    single = adapters[0] if len(adapters) == 1 else None
    by_path = {a.path: a for a in adapters}
    arms = tuple(Arm(s.name, by_path[Path(s.lora).expanduser()] if isinstance(s.lora, str) else single if s.lora
                     else None, prompt_text(s.system_prompt), s.model) for s in specs)
    backend, strategy = config.backend, config.lora_strategy
    if engine is not None:  # an engine the caller holds serves the adapter rows itself
        backend = engine if engine in ("vllm", "unsloth", "hf", "ray", "openai") else backend
        strategy = engine_strategy if strategy == "auto" else strategy
    return RunPlan(config, model, config.dataset or BUILTIN_DATASET, adapters, arms,
                   config.sampling.filled("demo" if demo else "notebook"), backend, strategy, demo)


def resolve_model(model: str | None) -> str:
    """The model folder (demo model when none is given) or a hub id known to be loadable."""
    if model is None:
        return str(demo_model_path())
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise UserError(f"{path} has no config.json: pass a Hugging Face model folder or hub id to --model")
        return str(path)
    if path.exists() or model.startswith((".", "/", "~")) or model.count("/") != 1:
        raise UserError(f"model '{model}' not found: pass a local model folder or a hub id like org/name")
    return model


CONTEXT_KEYS = ("max_position_embeddings", "n_positions", "max_seq_len", "seq_length", "max_sequence_length")


def check_context_window(max_model_len: int, model: str) -> None:
    """Refuse a max_model_len above the local model's own context (vLLM refuses it only after
    loading the weights); rope scaling's factor extends that context, as vLLM counts it."""
    cfg = read_model_config(model)
    if cfg is None or os.environ.get("VLLM_ALLOW_LONG_MAX_MODEL_LEN") == "1":
        return
    lengths = [v for k in CONTEXT_KEYS if isinstance(v := cfg.get(k), int) and not isinstance(v, bool) and v > 0]
    if not lengths:
        return
    rope = cfg.get("rope_scaling")
    factor = rope.get("factor") if isinstance(rope, dict) else None
    limit = int(min(lengths) * (factor if isinstance(factor, (int, float)) and factor >= 1 else 1))
    if max_model_len > limit:
        raise UserError(f"max_model_len: {max_model_len} is above the context of {model} ({limit} tokens, from its "
                        f"config.json): pass --max-model-len {limit} or less")


def resolve_adapters(config: CompareConfig, model: str, demo_adapter: bool = False
                     ) -> tuple[tuple[ArmSpec, ...], tuple[AdapterInfo, ...]]:
    """The arms as written and the adapters to load (the shipped demo adapter for the demo model),
    each checked before any weights load. Several adapters, or a folder of checkpoints, with the
    default arms make one arm per adapter (named after its folder, with the XML-CoT prompt) beside
    the base arm."""
    value = config.adapter or (str(demo_adapter_path()) if demo_adapter else None)
    paths = expand_adapters(value, note) if value else []
    arms = config.arms
    if len(paths) > 1 and arms == DEFAULT_ARMS:
        arms = (arms[0], *(ArmSpec(name, lora=str(p), system_prompt="xml_cot") for name, p in zip(arm_names(paths), paths)))
    check_columns([a.name for a in arms])
    if any(a.lora is True for a in arms) and len(paths) != 1:
        raise UserError("no adapter given: pass --adapter <PEFT LoRA folder> (or arms without lora)" if not paths else
                        f"{len(paths)} adapters given but an arm says `lora: true`: name each arm's own adapter (lora: <folder>)")
    own = [Path(a.lora).expanduser() for a in arms if isinstance(a.lora, str)]
    return arms, tuple(adapter_info(p, model, config) for p in dict.fromkeys([*paths, *own]))


def adapter_info(path: Path, model: str, config: CompareConfig) -> AdapterInfo:
    """An adapter folder, checked; with --backend openai a name that is no path here is a LoRA the
    server serves by that name (the server's list of models is checked when the engine starts)."""
    if config.backend == "openai" and not path.exists():
        return AdapterInfo.served(str(path))
    return inspect_adapter(path, model, allow_pickle=config.allow_pickle)


SERVER_DECIDES = ("dtype", "device", "engine_mode", "gpu_memory_utilization")  # fixed when the server started


def check_server(config: CompareConfig) -> None:
    """--backend openai and --base-url go together, and nothing is asked of a running server that
    only its start decides: one line naming the setting otherwise."""
    if config.base_url and config.backend != "openai":
        raise UserError(f"base_url is set but the backend is {config.backend}: pass --backend openai to run through "
                        "the server, or drop --base-url")
    if config.backend != "openai":
        return
    url = urlsplit(config.base_url or "")
    if url.scheme not in ("http", "https") or not url.hostname:
        raise UserError("--backend openai needs --base-url, the server's address: e.g. http://127.0.0.1:8000/v1")
    if url.username or url.password:
        raise UserError("base_url holds credentials: put the key in an environment variable and pass its name to "
                        "--api-key-env")
    if config.api_key_env and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", config.api_key_env):
        raise UserError("api_key_env must name an environment variable (like VLLM_API_KEY), not hold the key: "
                        "export the key and pass the variable's name")
    defaults = {f.name: f.default for f in fields(CompareConfig)}
    for name in SERVER_DECIDES:
        if getattr(config, name) != defaults[name]:
            raise UserError(f"{name} is decided by the server when it starts, not by --backend openai: drop "
                            f"--{name.replace('_', '-')} (and start the server with it)")
    if config.lora_strategy == "merged":
        raise UserError("--backend openai serves adapters as LoRA names beside the base model: use --lora-strategy "
                        "mixed (or auto)")
    if any(a.model for a in config.arms):
        raise UserError("an arm served by another full model (its `model`) needs --backend vllm or hf: a server "
                        "serves one base model with its LoRAs")


def arm_names(paths: Sequence[Path]) -> list[str]:
    """An arm name per adapter folder: its name (checkpoint-200), with its parent's where two share
    one (or it is "base"), made a valid arm name where the folder's is not (said on the terminal).

    >>> arm_names([Path("out/checkpoint-100"), Path("a/final [v2]"), Path("b/base")])
    ['checkpoint-100', 'final_v2_', 'b-base']
    """
    names = [p.name.lower() for p in paths]
    raw = [f"{p.parent.name}-{p.name}" if names.count(p.name.lower()) > 1 or p.name.lower() == "base" else p.name
           for p in paths]
    out = []
    for path, name in zip(paths, raw):
        safe = re.sub(r"\.\.+", ".", re.sub(r"[^A-Za-z0-9_.-]+", "_", name)).lstrip(".-")[:64] or "adapter"
        if safe != name:
            note(f"the arm of {path} is named {safe} ({name!r} is not an arm name: {ARM_NAME_RULE})")
        out.append(safe)
    return out


def check_columns(names: Sequence[str]) -> None:
    """Refuse arms whose names make the same column of comparison.csv (`<arm>_<column>`: arms b and
    b_reward would both make b_reward_soft_format) or the same file name (results.<arm>.json),
    compared ignoring case, as file systems and spreadsheets may."""
    owner: dict[str, int] = {}
    for i, name in enumerate(names):
        for made in (name, *(f"{name}_{k}" for k in ARM_COLUMNS)):
            j = owner.setdefault(made.lower(), i)
            if j != i:
                raise UserError(f"arms '{names[j]}' and '{name}' both make '{made}' (a column of comparison.csv or a "
                                "file name, ignoring case): rename one of them (arms: in a YAML --config)")


def note(line: str) -> None:
    """A line about what the plan took and left out, printed as it is (no markup read in it)."""
    err.print(escape(line), highlight=False)


def check_lora_shape(config: CompareConfig, adapter: AdapterInfo) -> None:
    """Warn when the guide's model.lora disagrees with the adapter's adapter_config.json (which wins)."""
    saved = json.loads((adapter.path / "adapter_config.json").read_text(encoding="utf-8"))
    for key, theirs in (("r", saved.get("r")), ("alpha", saved.get("lora_alpha")), ("dropout", saved.get("lora_dropout"))):
        ours = getattr(config.lora_shape, key)
        if ours is not None and theirs is not None and float(ours) != float(theirs):
            err.print(f"[yellow]warning:[/] model.lora.{key} is {ours} but {escape(str(adapter.path))} was saved with "
                      f"{theirs}; the adapter's own value is used", highlight=False)


# --- config.yaml: the plan as recorded, and read back -------------------------------------------

def record(p: RunPlan) -> dict[str, Any]:
    """config.yaml's settings: the user's config in the flat layout, with what the plan resolved
    in place of what was left to it (the model, the adapters, each arm's own adapter folder, the
    dataset, every sampling field, and the launch's backend, strategy and mode), and each
    adapter's record (`adapters`)."""
    launch = p.launch or Launch(p.backend, p.lora_strategy, p.config.engine_mode)
    arms = [{"name": a.name, "lora": str(a.adapter.path) if a.adapter else False,
             "system_prompt": prompt_name(a.system_prompt), "model": a.model} for a in p.arms]
    return p.config.to_dict() | {
        "model": p.model, "adapter": list(p.adapter) if isinstance(p.adapter, tuple) else p.adapter,
        "dataset": p.dataset, "arms": arms, "sampling": asdict(p.sampling), **asdict(launch),
    } | {"adapters": [adapter_record(a) for a in p.adapters]}


def from_record(raw: dict[str, Any], source: str) -> RunPlan:
    """The plan a config.yaml records, rebuilt exactly: the arms with their adapters' records.
    config.yaml files written before adapters were recorded name each adapter by its folder only."""
    settings = {k: v for k, v in raw.items() if k not in RECORDED}
    config = CompareConfig.from_dict(settings, source)
    known = {str(Path(r["path"])): r for r in raw.get("adapters") or [] if isinstance(r, dict) and "path" in r}
    paths = [config.adapter] if isinstance(config.adapter, str) else list(config.adapter or ())
    try:
        adapters = tuple(AdapterInfo.from_record(known.get(str(Path(p)), {"path": p})) for p in paths)
    except (TypeError, ValueError):
        raise DataError(f"{source}: 'adapters' does not hold adapter records: delete it and run the same "
                        "`grpo-compare compare` to rebuild it") from None
    by_path = {a.path: a for a in adapters}
    single = adapters[0] if len(adapters) == 1 else None
    arms = []
    for s in config.arms:
        adapter = single if s.lora is True else None
        if isinstance(s.lora, str):
            adapter = by_path.get(Path(s.lora)) or AdapterInfo.from_record({"path": s.lora})
        arms.append(Arm(s.name, adapter, prompt_text(s.system_prompt), s.model))
    sampling = config.sampling.filled("notebook")  # a recorded plan has every field set
    return RunPlan(config, str(config.model), config.dataset or BUILTIN_DATASET, adapters, tuple(arms), sampling,
                   config.backend, config.lora_strategy,
                   launch=Launch(config.backend, config.lora_strategy, config.engine_mode))


def adapter_record(a: AdapterInfo) -> dict[str, Any]:
    """An adapter's record as config.yaml keeps it (plain YAML types)."""
    return {k: (str(v) if isinstance(v, Path) else list(v) if isinstance(v, tuple) else v) for k, v in asdict(a).items()}


def prompt_name(text: str | None) -> str | None:
    """A named prompt's name for its text (the XML-CoT prompt is recorded as xml_cot), else the text.

    >>> prompt_name(PROMPTS["xml_cot"]), prompt_name("Be terse.")
    ('xml_cot', 'Be terse.')
    """
    return next((name for name, t in PROMPTS.items() if t == text), text)
