"""Runs that survive: a fingerprint of everything that shapes the output, the finished work read
back from generations.jsonl, and a lock so two runs never write one directory.

    fp = fingerprint(config, model, adapter, tokenizer, backend="vllm")
    check_fingerprint(out, fp)          # raises if the directory holds a run with other settings
    done = finished_records(out / "generations.jsonl", fp["id"])

A generation is done when its key (problem id + prompt hash, arm, sample) is in the file; the
same command run again continues where the last one stopped and regenerates nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from importlib import metadata
from pathlib import Path
from typing import Any

from .adapters import AdapterInfo
from .config import CompareConfig
from .errors import UserError

FINGERPRINT_FILE = "fingerprint.json"
LOCK_FILE = ".lock"


def prompt_hash(prompt_text: str) -> str:
    return hashlib.sha256(prompt_text.encode("utf-8")).hexdigest()[:16]


def record_key(problem_id: str, prompt_text: str, arm: str, sample: int = 0) -> tuple[str, str, str, int]:
    """The identity of one generation inside a run."""
    return (problem_id, prompt_hash(prompt_text), arm, sample)


def _file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def fingerprint(config: CompareConfig, model: str, adapter: AdapterInfo | None, tokenizer: Any,
                backend: str) -> dict[str, Any]:
    """Every setting that changes what the run generates, plus `id`, a hash of them all."""
    adapter_files = {}
    if adapter is not None:
        adapter_files = {f.name: _file_hash(f) for f in sorted(adapter.path.iterdir())
                         if f.name in ("adapter_config.json", "adapter_model.safetensors", "adapter_model.bin")}
    fields = {
        "model": model,
        "adapter": str(adapter.path) if adapter else None,
        "adapter_files": adapter_files,
        "dataset": config.dataset,
        "split": config.split,
        "sampling": asdict(config.sampling),
        "arms": [asdict(a) for a in config.arms],
        "chat_template": hashlib.sha256(str(tokenizer.chat_template).encode()).hexdigest()[:16],
        "backend": backend,
        "lora_strategy": config.lora_strategy,
        "max_model_len": config.max_model_len,
        "versions": {p: _version(p) for p in ("grpo-compare", "vllm", "transformers", "torch", "peft")},
    }
    fields["id"] = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]
    return fields


def check_fingerprint(out: Path, fp: dict[str, Any]) -> bool:
    """True when `out` already holds this run (resume); writes the fingerprint for a new run.

    A directory holding a run with other settings is refused, naming the fields that differ.
    """
    path = out / FINGERPRINT_FILE
    if path.is_file():
        old = json.loads(path.read_text(encoding="utf-8"))
        if old.get("id") == fp["id"]:
            return True
        differ = sorted(k for k in fp if k != "id" and old.get(k) != fp[k])
        raise UserError(
            f"{out} holds a run with other settings ({', '.join(differ) or 'fingerprint'} differ): "
            "pass another --output-dir, or the same settings to resume it"
        )
    if (out / "generations.jsonl").is_file() and (out / "generations.jsonl").stat().st_size:
        raise UserError(f"{out} holds generations of an unknown run: pass another --output-dir")
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(fp, indent=2) + "\n", encoding="utf-8")
    return False


def finished_records(path: Path, run_id: str) -> dict[tuple[str, str, str, int], dict[str, Any]]:
    """The finished generations of a run, by key; a torn last line (a crash mid-write) is dropped."""
    done: dict[tuple[str, str, str, int], dict[str, Any]] = {}
    if not path.is_file():
        return done
    lines = path.read_bytes().split(b"\n")
    for i, raw in enumerate(lines):
        if not raw.strip():
            continue
        try:
            rec = json.loads(raw)
        except json.JSONDecodeError:
            if i >= len(lines) - 2:  # only the last written line may be incomplete
                break
            raise UserError(f"{path}:{i + 1} is not valid JSON: the run directory is damaged") from None
        if rec.get("run_id", run_id) == run_id:
            done[record_key(rec["problem_id"], rec["prompt_text"], rec["arm"], rec.get("sample", 0))] = rec
    _truncate_torn_tail(path)
    return done


def _truncate_torn_tail(path: Path) -> None:
    """Cut an unterminated last line so appended records start on a line of their own."""
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with open(path, "r+b") as f:
            f.truncate(data.rfind(b"\n") + 1)


class RunLock:
    """An exclusive lock file in the run directory; a lock left by a dead process is taken over."""

    def __init__(self, out: Path) -> None:
        self.path = out / LOCK_FILE

    def __enter__(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                pid = int(self.path.read_text().strip() or 0)
                if _alive(pid):
                    raise UserError(
                        f"{self.path.parent} is in use by another run (pid {pid}): wait for it or pass another --output-dir"
                    ) from None
                self.path.unlink(missing_ok=True)
                continue
            with os.fdopen(fd, "w") as f:
                f.write(str(os.getpid()))
            return self
        raise UserError(f"could not lock {self.path.parent}: remove {self.path} if no run is using it")

    def __exit__(self, *exc: Any) -> None:
        self.path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
