"""The GRPO inference guide's sectioned YAML layout (`model / inference / evaluation / output /
optimization`, plus `gate` and `distributed`), translated key by key onto the flat config's fields.
Which guide key sets which field is read from each setting's declaration (`setting(guide=...)`).

    keys = guide_keys(CompareConfig, SamplingConfig, DistributedConfig)
    flat, labels = from_guide({"inference": {"temperature": 0}}, "config.yaml", keys)
    flat["sampling"]          # {'temperature': 0}
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from .errors import UserError

GUIDE_SECTIONS = ("model", "inference", "evaluation", "output", "optimization", "gate", "distributed")


def guide_keys(config: type, sampling: type, distributed: type) -> dict[str, dict[str, str]]:
    """section -> {guide key: field ("sampling.x" is nested)}, from the declarations' `guide`."""
    keys: dict[str, dict[str, str]] = {s: {} for s in GUIDE_SECTIONS}
    keys["model"]["use_lora"] = ""  # false: model_path is a merged model (see `from_guide`)
    for f in fields(config):
        inner = [(s.metadata["guide"], f"sampling.{s.name}") for s in fields(sampling)] \
            if f.name == "sampling" else [(f.metadata.get("guide"), f.name)]
        for guide, target in inner:
            if guide:
                section, key = guide.split(".")
                keys[section][key] = target
    keys["distributed"] = {f.name: f"distributed.{f.name}" for f in fields(distributed)}
    return keys


def known(raw: dict[str, Any], allowed: Any, prefix: str) -> None:
    """Refuse the first key of `raw` that is not in `allowed`, naming the allowed ones."""
    unknown = sorted(set(map(str, raw)) - set(allowed))
    if unknown:
        raise UserError(f"unknown key '{prefix}{unknown[0]}'; allowed keys: {', '.join(allowed)}")


def is_guide(raw: dict[str, Any]) -> bool:
    """Whether a YAML mapping is in the guide's layout (its sections) rather than the flat one."""
    flat_too = ("model", "gate", "distributed")  # keys the flat layout has too
    return isinstance(raw.get("model"), dict) or any(k in raw for k in GUIDE_SECTIONS if k not in flat_too)


def from_guide(raw: dict[str, Any], source: str, keys: dict[str, dict[str, str]]
               ) -> tuple[dict[str, Any], dict[str, str]]:
    """The guide's sections as a flat mapping, and field -> guide key for error messages."""
    try:
        known(raw, GUIDE_SECTIONS, "")
    except UserError as e:
        raise UserError(f"{source}: {e}") from None
    flat: dict[str, Any] = {"sampling": {}, "distributed": {}}
    labels = {"r": "model.lora.r", "alpha": "model.lora.alpha", "dropout": "model.lora.dropout",
              "lora_shape": "model.lora", "dtype": "optimization.fp16"}
    for section, names in keys.items():
        values = raw.get(section) or {}
        if not isinstance(values, dict):
            raise UserError(f"{source}: '{section}' must be a mapping of settings, got {values!r}")
        try:
            known(values, names, section + ".")
        except UserError as e:
            raise UserError(f"{source}: {e}") from None
        for key, value in values.items():
            target = names[key]
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


def relabel(message: str, labels: dict[str, str], guide: bool) -> str:
    """An error about a field, reworded with the key the user wrote in the guide's layout."""
    head, sep, rest = message.partition(": ")
    if head in labels:
        return labels[head] + sep + rest
    for name, label in labels.items():
        message = message.replace(f"'{name}'", f"'{label}'").replace(f"'{name}.", f"'{label}.")
    if not guide and message.startswith("unknown key") and "." not in message.split("'")[1]:
        message += f"; or the inference guide's sections {', '.join(GUIDE_SECTIONS)}"
    return message
