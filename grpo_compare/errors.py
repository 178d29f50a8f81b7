"""User-facing errors: one clear line naming the problem and the fix, and an exit code."""

from __future__ import annotations

from typing import Any


class UserError(Exception):
    """A mistake the user can fix (bad flag, missing file, wrong adapter). Exit code 2."""

    exit_code = 2


class DataError(UserError):
    """Input data that cannot be read (malformed row, missing field, empty dataset). Exit code 3."""

    exit_code = 3


class APIError(UserError, TypeError):
    """A Python API call given an argument of the wrong type: a TypeError, said in one line naming
    the argument and the type it takes."""


def expect(value: Any, kinds: type | tuple[type, ...], argument: str, hint: str = "") -> Any:
    """`value` when it is one of `kinds`, else an APIError naming `argument` and what it takes.

    >>> expect("runs/x", str, "output_dir")
    'runs/x'
    >>> expect(5, str, "question")
    Traceback (most recent call last):
    ...
    grpo_compare.errors.APIError: question must be a str, got int 5
    """
    if isinstance(value, kinds) and not (isinstance(value, bool) and bool not in (kinds if isinstance(kinds, tuple) else (kinds,))):
        return value
    names = " or ".join(k.__name__ for k in (kinds if isinstance(kinds, tuple) else (kinds,)))
    shown = repr(value)
    shown = shown if len(shown) <= 60 else shown[:60] + "..."
    article = "an" if names[0] in "AEIOUaeiou" else "a"
    raise APIError(f"{argument} must be {article} {names}, got {type(value).__name__} {shown}"
                   + (f": {hint}" if hint else ""))
