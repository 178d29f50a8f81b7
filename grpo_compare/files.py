"""Files written safely: atomic replacement, folders built aside and renamed in, content hashes,
and the cache directory that holds prepared models.

    atomic_write(Path("runs/x/summary.json"), text)     # readers never see half a file
    build_folder(cache_dir() / "merged" / key, build, ready)   # built once, never half, never twice at once
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

from filelock import FileLock

from .errors import UserError


def cache_dir() -> Path:
    """Where prepared models live: `$GRPO_COMPARE_CACHE`, else `~/.cache/grpo_compare`."""
    return Path(os.environ.get("GRPO_COMPARE_CACHE", Path.home() / ".cache" / "grpo_compare"))


def read_json_object(path: Path, fix: str, error: type[UserError] = UserError) -> dict[str, Any]:
    """The JSON object a file holds, or one `error` line naming the file and the fix."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise error(f"{path} is not valid JSON: {fix}") from None
    if not isinstance(data, dict):
        raise error(f"{path} does not hold a JSON object: {fix}")
    return data


def file_hash(path: Path) -> str:
    """sha256 of a file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def atomic_write(path: Path, data: str | bytes) -> None:
    """Write to a temporary file beside `path`, then rename: readers never see half a file.

    The file gets the permissions the user's umask gives a new file (mkstemp alone gives 0600).
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def check_writable(path: Path) -> None:
    """Raise the OSError that writing `path` would raise, now: its folder is made, and a file is
    created there and removed (permission bits alone do not say it, e.g. for root)."""
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".")
    os.close(fd)
    os.unlink(tmp)


def build_folder(target: Path, build: Callable[[Path], None], ready: Callable[[Path], bool]) -> Path:
    """`target` once `ready` says it is complete; else `build` runs into a temporary sibling that is
    then renamed into place, so an interrupted build never leaves half a model behind. Processes
    building the same folder at once (two runs on one cache) wait for one build, under a lock."""
    if ready(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(target.parent / f".{target.name}.lock"):
        if ready(target):  # built by the process that held the lock before us
            return target
        tmp = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
        try:
            build(tmp)
            if target.exists():  # an incomplete folder of an older version
                shutil.rmtree(target)
            tmp.rename(target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target
