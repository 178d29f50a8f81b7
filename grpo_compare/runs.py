"""What is done with a finished run, without a model: load it back as a Comparison, rescore it,
diff two runs, and write its outputs (comparison.csv and .parquet, summary.json, config.yaml, report.html).
The run directory itself (lock, fingerprint, generations) is `grpo_compare.rundir`'s.

    write_outputs("runs/demo", comparison)           # the files a run leaves beside its generations
    load_run("runs/demo").summary["delta_accuracy"]
    rescore_run("runs/demo")                          # the saved completions scored by the current scorer
    diff_runs("runs/ckpt-100", "runs/ckpt-200")       # run B's arm against run A's
"""

from __future__ import annotations

import errno
import json
import os
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Sequence

import pandas as pd
import yaml
from rich.markup import escape

from .errors import DataError, UserError, expect
from .files import atomic_write, output_file, read_yaml_mapping
from .html_report import render_report
from .plan import RunPlan, from_record, record
from .report import csv_safe
from .rundir import (
    ELSEWHERE,
    FINGERPRINT_FILE,
    GENERATIONS,
    RESULTS,
    RunDir,
    read_records,
    rerun_advice,
    result,
    versions,
)
from .scoring import score
from .summary import comparison
from .types import Arm, ArmResult, Comparison, GenKey, Problem, Summary
from .ui import err


def applied(summary: Summary) -> dict[str, str]:
    """config.yaml's record of what the (first) adapter applies, from the summary's adapter check."""
    check = summary.get("adapter_check") or {}
    return {"adapter_applied": check["applied"]} if isinstance(check.get("applied"), str) else {}


def typed(table: pd.DataFrame, arms: Sequence[str]) -> pd.DataFrame:
    """The table with pandas' nullable types, so parquet keeps them: grades as booleans with nulls
    (ungraded), counts as integers, the rest as it is.

    >>> t = pd.DataFrame({"base_correct": [True, None], "base_completion_tokens": [3, 4], "base_reward_int": [0.5, 0]})
    >>> typed(t, ["base"]).dtypes.tolist()
    [BooleanDtype, Int64Dtype(), dtype('float64')]
    """
    kinds = {"correct": "boolean", "strict_format": "boolean", "soft_format": "boolean", "completion_tokens": "Int64"}
    columns = {f"{arm}_{k}": kind for arm in arms for k, kind in kinds.items()} | {"level": "Int64"}
    return table.astype({c: kind for c, kind in columns.items() if c in table.columns})


def write_outputs(run_dir: str | Path, c: Comparison, summary: Summary | None = None) -> None:
    """config.yaml (the plan, with the library versions), summary.json, comparison.csv and
    comparison.parquet (the same table, typed), and report.html, in that order: config.yaml first,
    as every later command on the run reads it. An interrupt while they are written leaves the
    files not yet rewritten named in the interrupt's `unwritten`."""
    path = Path(run_dir).expanduser()
    summary = summary if summary is not None else c.summary
    texts = {"config.yaml": lambda: yaml.safe_dump(record(c.config) | applied(summary) | {"versions": versions()},
                                                   sort_keys=False),
             "summary.json": lambda: json.dumps(summary, indent=2, ensure_ascii=False) + "\n",
             "comparison.csv": lambda: csv_safe(c.table).to_csv(index=False),
             "comparison.parquet": lambda: typed(c.table, [a.name for a in c.arms]).to_parquet(index=False),
             "report.html": lambda: render_report(c, summary)}
    written: list[str] = []
    name = RESULTS[0]
    try:
        path.mkdir(parents=True, exist_ok=True)
        for name in RESULTS:  # a folder in a file's place fails before any file is rewritten
            if (path / name).is_dir():
                raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR))
        for name in RESULTS:
            atomic_write(path / name, texts[name](), ELSEWHERE)
            written.append(name)
    except OSError as e:
        raise UserError(f"cannot write the results into {path} ({name}: {e.strerror}); the generations are kept "
                        f"in {path / GENERATIONS}: free space or make it writable, and run the same command again "
                        "(nothing finished is generated again)") from None
    except KeyboardInterrupt as e:
        e.unwritten = [n for n in RESULTS if n not in written]  # type: ignore[attr-defined]
        raise


def unwritten_note(e: BaseException, run: Path) -> str:
    """What an interrupt left unwritten of a run's results, in words ("" when nothing was)."""
    names = getattr(e, "unwritten", [])
    stale = [n for n in names if (run / n).exists()]
    if not names:
        return ""
    return (f"{', '.join(names)} of {run} not rewritten" + (f" ({', '.join(stale)} there is stale, from before)"
                                                            if stale else "") + "; ")


def _run_file(run_dir: str | Path, name: str) -> Path:
    run = Path(expect(run_dir, (str, os.PathLike), "run_dir", "a run directory's path")).expanduser()
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
    plan = _read_plan(_run_file(run_dir, "config.yaml"))
    records = this_run(read_records(path), Path(run_dir).expanduser(), say=True)
    if not records:
        raise DataError(f"{path} holds no generations: the run stopped before its first result")
    problems = _problems(records, path)
    arms = plan.arms
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
    logged = {name: a["logged_reward"] for name, a in (saved.get("arms") or {}).items()
              if isinstance(a, dict) and isinstance(a.get("logged_reward"), (int, float))}
    c = comparison(plan, list(problems.values()), arms, every, saved.get("skipped", ()), saved.get("adapter_check"), logged)
    if len(c.problems) < len(problems):
        err.print(f"[yellow]{len(problems) - len(c.problems)} problems lack a completion of some arm "
                      "(an interrupted run): left out[/]")
    return c


def recorded_plan(run_dir: str | Path) -> RunPlan | None:
    """The plan a run directory's config.yaml records (None where it has none yet)."""
    config_file = Path(run_dir).expanduser() / "config.yaml"
    return _read_plan(config_file) if config_file.is_file() else None


def _read_plan(config_file: Path) -> RunPlan:
    return from_record(read_yaml_mapping(config_file, rerun_advice(config_file), DataError), str(config_file))


def held_arms(run: Path, names: Sequence[str], problems: Sequence[str], done: dict[Any, dict[str, Any]],
              k: int) -> list[Arm]:
    """The arms a run directory holds beside this call's (earlier checkpoints), as its config.yaml
    records them, where they answered every problem of this call; the others are named and left out."""
    recorded = recorded_plan(run)
    if recorded is None:
        return []
    have = {(r["problem_id"], r["arm"], r.get("sample", 0)) for r in done.values()}
    held, short = [], []
    for arm in recorded.arms:
        if arm.name not in names:
            full = all((pid, arm.name, s) in have for pid in problems for s in range(k))
            (held if full else short).append(arm)
    if short:
        err.print(f"[yellow]{escape(str(run))} also holds {', '.join(escape(a.name) for a in short)}, without "
                  "an answer to every problem of this run: left out of its comparison[/]", highlight=False)
    return held


def run_id(run: Path) -> str | None:
    """The id of the run a directory holds (its fingerprint's), or None where that is unknown."""
    try:
        found = json.loads((run / FINGERPRINT_FILE).read_text(encoding="utf-8")).get("id")
    except (OSError, ValueError, AttributeError):
        return None
    return found if isinstance(found, str) else None


def this_run(records: list[dict[str, Any]], run: Path, say: bool = False) -> list[dict[str, Any]]:
    """The records of the run the directory holds: records of another run (another run_id) are left
    out, as a resume leaves them out; `say` tells how many."""
    rid = run_id(run)
    kept = [r for r in records if rid is None or r.get("run_id", rid) == rid]
    if say and len(kept) < len(records):
        err.print(f"[yellow]{len(records) - len(kept)} generations in {escape(str(run / GENERATIONS))} are of another "
                  f"run (not run_id {rid}): left out[/]", highlight=False)
    return kept


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
        atomic_write(path, render_report(c, _summary(c, run_dir)), "make the run directory writable")
    except OSError as e:
        raise UserError(f"cannot write {path} ({e.strerror}): make the run directory writable") from None
    return path


def rescore_run(run_dir: str | Path) -> Comparison:
    """Score the saved completions with the current scorer; rewrite the scores in generations.jsonl,
    comparison.csv and .parquet, summary.json and report.html. Returns the re-scored comparison."""
    _run_file(run_dir, GENERATIONS)  # a run directory, before the lock would create one
    with RunDir(run_dir) as run:
        c = load_run(run_dir, rescore=True)
        path = run.path / GENERATIONS
        fresh = {(r.generation.key, r.generation.completion): r.score
                 for rows in c.samples.values() for r in rows}
        records = read_records(path)
        ours, lines = {id(r) for r in this_run(records, run.path)}, []
        for rec in records:
            if id(rec) not in ours:  # another run's record: kept as it is, never scored as this run's
                lines.append(json.dumps(rec, ensure_ascii=False))
                continue
            key = (GenKey(rec["problem_id"], rec["arm"], rec.get("sample", 0)), rec["completion"])
            # an earlier duplicate of a resumed record, or a problem left out, is scored on its own
            new = fresh.get(key) or score(rec["completion"], rec.get("gold"))
            lines.append(json.dumps(rec | {"score": asdict(new)}, ensure_ascii=False))
        try:
            atomic_write(path, "\n".join(lines) + "\n", ELSEWHERE)
        except OSError as e:
            raise UserError(f"cannot rewrite {path} ({e.strerror}): make the run directory writable") from None
        write_outputs(run.path, c, _summary(c, run_dir))
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
    only = len(a.problems) - len(shared), len(b.problems) - len(shared)
    if any(only):
        err.print(f"[yellow]{escape(f'{only[0]} problems only in {run_a}, {only[1]} only in {run_b}: left out')}[/]")
    differ = sum(p.question != in_b[p.id].question for p in shared)
    if differ:
        err.print(f"[yellow]{differ} shared ids ask different questions in the two runs: "
                      "check that both used the same dataset[/]")
    plan = replace(a.config, config=a.config.config.override(num_samples=1), arms=arms)  # one sample of each
    return comparison(plan, shared, arms, results)


def _pick_arm(c: Comparison, name: str | None, run: str | Path) -> str:
    names = [a.name for a in c.arms]
    if name is None:
        return names[1]
    if name not in names:
        raise UserError(f"run {run} has no arm '{name}': choose one of {', '.join(names)}")
    return name


def _named(c: Comparison, name: str) -> Arm:
    return next(a for a in c.arms if a.name == name)


def write_file(path: str | Path, text: str, inputs: Sequence[tuple[Path, str]] = ()) -> Path:
    """Write a file the user named (a diff's CSV or HTML), never over `inputs` (path, what), or say
    in one line why it cannot be."""
    out = Path(path).expanduser()
    if out.is_dir():
        raise UserError(f"{out} is a directory: pass a file name")
    output_file(out, "pass another path", inputs)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(out, text, "pass another path")
    except OSError as e:
        raise UserError(f"cannot write {out} ({e.strerror}): pass a writable path") from None
    return out


def run_inputs(*runs: str | Path) -> list[tuple[Path, str]]:
    """The files of finished runs a command reads, as `write_file`'s inputs."""
    return [(Path(r).expanduser() / name, f"a file of the run {r}") for r in runs
            for name in (GENERATIONS, FINGERPRINT_FILE, *RESULTS)]
