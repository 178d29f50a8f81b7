"""How a setting is declared and checked: `setting(...)` makes a dataclass field that carries its
default, its range or choices, its help text, its name in the GRPO inference guide's YAML and
whether it is a CLI flag; `validate` checks every field of a config dataclass against its type and
that declaration, with one line naming the field and what is allowed.

    temperature: Optional[float] = setting(None, "Sampling temperature.", rule=lambda v: 0 <= v <= 2,
                                           allowed=">= 0 and <= 2")
"""

from __future__ import annotations

import math
import types
import typing
from dataclasses import field, fields
from typing import Any, Callable

from .errors import UserError
from .files import shorten


def setting(default: Any, help: str, *, rule: Callable[[Any], bool] | None = None, allowed: str = "",
            choices: tuple[str, ...] = (), guide: str = "", flag: bool = True, shown: str = "",
            demo: Any = None, notebook: Any = None, factory: Callable[[], Any] | None = None) -> Any:
    """One setting's declaration, as a dataclass field.

    `rule`/`allowed`: the range a value must be in, and how an error says it; `choices`: the
    allowed words; `guide`: its `section.key` in the inference guide's YAML layout; `flag`: a CLI
    option `--name-with-dashes`; `shown`: how the README and `--help` show a default of None;
    `demo`/`notebook`: the default of an unset value for the embedded demo and for any named input.
    """
    if choices:
        rule, allowed = (lambda v: v in choices), "one of " + ", ".join(choices)
    meta = {"help": help, "rule": rule, "allowed": allowed, "choices": choices, "guide": guide, "flag": flag,
            "shown": shown, "demo": demo, "notebook": notebook}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


def at_least(n: int) -> dict[str, Any]:
    """The rule of a whole number of at least `n`, for `setting(..., **at_least(1))`."""
    return {"rule": lambda v: v >= n, "allowed": f">= {n}"}


MAX_CHARS = 4096  # a path's longest (PATH_MAX); a longer name, id or path is no setting's value


def _text(v: Any, longest: int | None = MAX_CHARS) -> bool:
    """Not a string, or one with a character besides spaces, at most `longest` characters, all of it
    text UTF-8 can hold (no lone surrogate, as a broken "\\ud800" escape in YAML gives)."""
    if not isinstance(v, str):
        return True
    try:
        v.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return v.strip() != "" and (longest is None or len(v) <= longest)


KINDS = {bool: "true or false", int: "an integer", float: "a number",
         str: f"a non-empty string (UTF-8 text, at most {MAX_CHARS:,} characters)"}


def validate(obj: Any) -> None:
    """Check every field of a config dataclass against its type and its declared rule: booleans
    must be booleans, integers whole, numbers finite, strings non-empty."""
    hints = typing.get_type_hints(type(obj))
    for f in fields(obj):
        value, kind = getattr(obj, f.name), hints[f.name]
        union = typing.get_origin(kind) in (typing.Union, types.UnionType)
        kinds = [k for k in (typing.get_args(kind) if union else (kind,)) if k is not type(None)]
        optional = union and type(None) in typing.get_args(kind)
        kinds = [k for k in kinds if k in KINDS or k == tuple[str, ...]]
        if not kinds or (value is None and optional):
            continue
        rule, said = f.metadata.get("rule"), f.metadata.get("allowed", "")
        longest = f.metadata.get("longest", MAX_CHARS)  # None: text of any length (a system prompt)
        if not (any(_is_kind(value, k) for k in kinds) and _text(value, longest) and (rule is None or rule(value))):
            what = " or ".join(KINDS.get(k, "a list of them") for k in kinds)
            allowed = (said if said.startswith("one of") else f"{what}{' ' + said if said else ''}") \
                + (" or null" if optional else "")
            raise UserError(f"{f.name}: {shorten(value)} is not allowed; allowed: {allowed}")


def _is_kind(value: Any, kind: Any) -> bool:
    if kind == tuple[str, ...]:
        return isinstance(value, tuple) and len(value) > 0 and all(_is_kind(v, str) and _text(v) for v in value)
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)
