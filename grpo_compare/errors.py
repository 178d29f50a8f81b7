"""User-facing errors: one clear line naming the problem and the fix, and an exit code."""

from __future__ import annotations


class UserError(Exception):
    """A mistake the user can fix (bad flag, missing file, wrong adapter). Exit code 2."""

    exit_code = 2


class DataError(UserError):
    """Input data that cannot be read (malformed row, missing field, empty dataset). Exit code 3."""

    exit_code = 3
