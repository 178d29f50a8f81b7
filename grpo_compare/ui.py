"""The terminal: the tool's own lines and progress on it; what engines print in an engine log.

    with engine_output(run_dir / "engine.log"):
        ...                          # vLLM, torch and transformers logs, warnings and bars go to the log
    err.print("Loading ...")         # the tool's lines still reach the terminal
    with progress("generating", total=200) as advance:
        advance(tokens=57)           # one finished generation: n/N, tokens/s, ETA

Engines write to the process's file descriptors 1 and 2 from Python, C++ and progress bars alike,
so `engine_output` points those descriptors at the log and keeps the terminal for `out` and `err`.
"""

from __future__ import annotations

import io
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from .errors import UserError
from .files import open_output


class _Terminal(io.TextIOBase):
    """stdout or stderr of the terminal, still reached while descriptors 1 and 2 go to a log."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.target: Any = None  # the terminal's stream while an engine log holds the descriptors

    def _stream(self) -> Any:
        return self.target or (sys.stdout if self.fd == 1 else sys.stderr)

    def write(self, text: str) -> int:
        return self._stream().write(text)

    def flush(self) -> None:
        self._stream().flush()

    def isatty(self) -> bool:
        return self._stream().isatty()

    def fileno(self) -> int:
        return self._stream().fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._stream(), "encoding", "utf-8")


OUT, ERR = _Terminal(1), _Terminal(2)
out = Console(file=OUT)  # results: tables, JSON
err = Console(file=ERR, soft_wrap=True)  # what the tool is doing, warnings, errors: one line each


@contextmanager
def engine_output(log: Path, verbose: bool = False,
                  fix: str = "make its folder writable, or pass --verbose to keep the engine's log on the terminal",
                  ) -> Iterator[None]:
    """Send everything written to descriptors 1 and 2 to `log` (appended); `out` and `err` keep
    the terminal. With `verbose`, or where the descriptors are not the process's own (a test
    runner's capture), nothing is redirected. A log that cannot be written is a UserError ending in `fix`."""
    try:
        real = sys.stdout.fileno() == 1 and sys.stderr.fileno() == 2
    except (AttributeError, ValueError, io.UnsupportedOperation):
        real = False
    if verbose or not real:
        yield
        return
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        opened = open_output(log, "a", fix)
    except OSError as e:
        raise UserError(f"cannot write the engine log {log} ({e.strerror}): {fix}") from None
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    OUT.target, ERR.target = (os.fdopen(fd, "w", buffering=1, closefd=False) for fd in saved)
    with opened as f:
        f.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(sys.argv)}\n")
        f.flush()
        os.dup2(f.fileno(), 1)
        os.dup2(f.fileno(), 2)
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        OUT.target = ERR.target = None
        for fd in saved:
            os.close(fd)


@contextmanager
def progress(what: str, total: int) -> Iterator[Callable[..., None]]:
    """A transient progress line on the terminal: what, bar, n/N, tokens/s, ETA. Yields
    `advance(tokens=0)`, called once per finished item; a summary line stays afterwards."""
    start, tokens = time.perf_counter(), [0]
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[rate]}"), TimeRemainingColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task(what, total=total, rate="")

        def advance(tokens_done: int = 0) -> None:
            tokens[0] += tokens_done
            rate = tokens[0] / max(time.perf_counter() - start, 1e-9)
            bar.update(task, advance=1, rate=f"{rate:,.0f} tok/s")

        yield advance
    seconds = time.perf_counter() - start
    if total:
        err.print(f"{what}: {total} in {seconds:.1f} s ({tokens[0]:,} tokens, {tokens[0] / max(seconds, 1e-9):,.0f} tok/s)",
                  highlight=False)
