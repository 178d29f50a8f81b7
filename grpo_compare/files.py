"""Files read and written safely: every output file a run writes is opened here (never through a
symbolic link, never over a file the run read as input), atomic replacement, folders built aside
and renamed in, content hashes, YAML read without its hazards, and the cache directory that holds
prepared models.

    note_input("data/gsm8k.jsonl", "the dataset")        # what this process read: never written over
    atomic_write(Path("runs/x/summary.json"), text)     # readers never see half a file
    with open_output(Path("runs/x/generations.jsonl")) as f: f.write(line)   # appended, never through a link
    build_folder(cache_dir() / "merged" / key, build, ready)   # built once, never half, never twice at once
    read_yaml_mapping(Path("c.yaml"), "fix it")         # duplicate keys, alias bombs, deep nesting refused
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import IO, Any, Callable, Iterable

import yaml
from filelock import FileLock

from .errors import UserError

MAX_YAML_VALUES, MAX_YAML_DEPTH = 100_000, 40  # far beyond any config; an alias bomb or a deep nest is not one
_INPUTS: dict[str, tuple[str, str]] = {}  # resolved path -> (the path as given, what it is)


def cache_dir() -> Path:
    """Where prepared models live: `$GRPO_COMPARE_CACHE`, else `~/.cache/grpo_compare`."""
    return Path(os.environ.get("GRPO_COMPARE_CACHE", Path.home() / ".cache" / "grpo_compare"))


def clip(text: str, limit: int = 80) -> str:
    """`text`, cut to `limit` characters: an error quotes a value, never a whole document.

    >>> clip("x" * 1000, 8)
    'xxxxxxxx... (1,000 characters)'
    """
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def shorten(value: Any, limit: int = 80) -> str:
    """`repr(value)`, clipped: what an error message quotes of a value."""
    return clip(repr(value), limit)


# --- inputs and outputs --------------------------------------------------------------------------

def note_input(path: str | Path, what: str) -> None:
    """Remember that this process read the file `path` as `what` ("the dataset"): no output file
    is ever written over it."""
    p = Path(path).expanduser()
    if p.is_file():
        _INPUTS[str(p.resolve())] = (str(path), what)


def _input_at(path: Path, extra: Iterable[tuple[str | Path, str]]) -> tuple[str, str] | None:
    """(the input as given, what it is) when writing `path` would overwrite a file read as input:
    the same path, or another name of the same file (a hard link)."""
    inputs = dict(_INPUTS)
    for p, what in extra:
        if Path(p).expanduser().is_file():
            inputs[str(Path(p).expanduser().resolve())] = (str(p), what)
    target = path.resolve()
    if str(target) in inputs:
        return inputs[str(target)]
    if path.is_file():
        for resolved, named in inputs.items():
            try:
                if os.path.samefile(resolved, path):
                    return named
            except OSError:  # an input removed since it was read
                continue
    return None


def output_file(path: str | Path, fix: str = "write it elsewhere",
                inputs: Iterable[tuple[str | Path, str]] = ()) -> Path:
    """`path`, checked as the target of an output file: refused in one line where it is a
    symbolic link (writing would change the file it points to, or replace the link) or where it
    is a file this process read as input (`note_input`, and `inputs` as (path, what) pairs)."""
    p = Path(path).expanduser()
    if p.is_symlink():
        raise UserError(f"{p} is a symbolic link (to {os.readlink(p)}), and output files are never written "
                        f"through a link: remove it, or {fix}")
    found = _input_at(p, inputs)
    if found is not None:
        raise UserError(f"{p} would overwrite {found[0]}, {found[1]} this command reads: {fix}")
    return p


def open_output(path: Path, mode: str = "a", fix: str = "write it elsewhere") -> IO[Any]:
    """One output file opened for appending ("a") or mended in place ("r+b"), checked by
    `output_file` and opened with O_NOFOLLOW, so a link put there after the check is refused too."""
    target = output_file(path, fix)
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT if mode == "a" else os.O_RDWR
    try:
        fd = os.open(target, flags | os.O_NOFOLLOW, 0o666)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise UserError(f"{target} is a symbolic link, and output files are never written through a link: "
                            f"remove it, or {fix}") from None
        raise
    return os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"}))


def atomic_write(path: Path, data: str | bytes, fix: str = "write it elsewhere") -> None:
    """Write to a temporary file beside `path`, then rename: readers never see half a file. The
    target is checked by `output_file` first.

    The file gets the permissions the user's umask gives a new file (mkstemp alone gives 0600).
    """
    output_file(path, fix)
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


def file_hash(path: Path) -> str:
    """sha256 of a file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# --- reading -------------------------------------------------------------------------------------

def read_json_object(path: Path, fix: str, error: type[UserError] = UserError) -> dict[str, Any]:
    """The JSON object a file holds, or one `error` line naming the file and the fix."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise error(f"{path} is not valid JSON: {fix}") from None
    if not isinstance(data, dict):
        raise error(f"{path} does not hold a JSON object: {fix}")
    return data


class _Refused(yaml.MarkedYAMLError):
    """What the safe loader refuses, at the place in the file where it found it."""


class _Loader(yaml.SafeLoader):
    """PyYAML's SafeLoader, refusing what it would take quietly or slowly: a key given twice (the
    last would win), and, while the document is composed (before anything is built from it), a
    document nested deeper than MAX_YAML_DEPTH or holding more than MAX_YAML_VALUES values once
    its aliases are expanded (an alias bomb is small on disk and huge in memory)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._sizes: dict[int, int] = {}  # node id -> values under it, aliases expanded

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise _Refused(problem=f"nested deeper than {MAX_YAML_DEPTH} levels",
                               problem_mark=self.peek_event().start_mark)
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if id(node) not in self._sizes:
            children = (node.value if isinstance(node, yaml.SequenceNode) else
                        [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else [])
            size = 1 + sum(self._sizes.get(id(c), 1) for c in children)
            if size > MAX_YAML_VALUES:
                raise _Refused(problem=f"expands to more than {MAX_YAML_VALUES:,} values through its aliases",
                               problem_mark=node.start_mark)
            self._sizes[id(node)] = size
        return node

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: list[Any] = []
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *defaults` is overridden on purpose
                continue
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise _Refused(problem=f"the key {shorten(key, 40)} is given twice (only the last would count)",
                               problem_mark=key_node.start_mark)
            seen.append(key)
        return super().construct_mapping(node, deep=deep)


def read_yaml_mapping(path: Path, fix: str, error: type[UserError] = UserError) -> dict[str, Any]:
    """The mapping a YAML file holds ({} for an empty file), read by the safe loader above, or one
    `error` line naming the file, the line and the fix."""
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506 (a SafeLoader)
    except UnicodeDecodeError:
        raise error(f"{path} is not UTF-8 text: {fix}") from None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise error(f"{path} is not valid YAML{where}: {clip(e.problem or e.context or '', 120)}: {fix}") from None
    except (yaml.YAMLError, RecursionError) as e:
        raise error(f"{path} is not valid YAML: {clip((str(e).splitlines() or [''])[0], 120)}: {fix}") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise error(f"{path} does not hold a mapping of settings at the top level (it holds a {type(raw).__name__}, "
                    f"{shorten(raw, 40)}): {fix}")
    return raw


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


def gib(n: int) -> str:
    """A size in GiB, for the terminal.

    >>> gib(780 * 2**30)
    '780.0 GiB'
    """
    return f"{n / 2**30:,.1f} GiB"
