"""Run directories read back without a model: rebuild the report, re-score, diff two runs.

    c = load_run("runs/20261122-231500-gsm8k_test")   # a Comparison from the saved files
    rebuild_report("runs/...")                        # report.html again
    rescore_run("runs/...")                           # current scorer -> csv, summary, report
    d = diff_runs("runs/ckpt-100", "runs/ckpt-200")   # the grpo arm of each, problem by problem

A run directory holds generations.jsonl (one line per completion, with its problem) and
config.yaml; summary.json keeps what only the run knew (the skipped problems, the adapter check).
"""

from __future__ import annotations

import json
from dataclasses import MISSING, asdict, fields, replace
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console

from .compare import Comparison, split_samples
from .config import CompareConfig
from .errors import DataError, UserError
from .prompts import XML_COT
from .report import _atomic_write, write_outputs
from .scoring import score
from .types import Arm, ArmResult, Generation, Problem, Score

console = Console(stderr=True)
_GEN_FIELDS = {f.name for f in fields(Generation)}
_SCORE_FIELDS = {f.name for f in fields(Score)}
_REQUIRED = {cls: sorted(f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING)
             for cls in (Generation, Score)}

__all__ = ["diff_runs", "load_run", "read_generations", "rebuild_report", "rescore_run", "write_diff_csv"]


def _run_path(run_dir: str | Path, name: str) -> Path:
    run = Path(run_dir).expanduser()
    if not run.is_dir():
        raise UserError(f"run directory {run} not found: pass a folder written by `grpo-compare compare`")
    path = run / name
    if not path.is_file():
        raise UserError(f"{run} has no {name}: pass a folder written by `grpo-compare compare`")
    return path


def read_generations(path: Path) -> list[dict[str, Any]]:
    """The records of a generations.jsonl; a torn last line (a crash mid-write) is dropped."""
    lines = path.read_text(encoding="utf-8").splitlines()
    records = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            if n == len(lines):
                break
            raise DataError(f"{path}:{n}: not valid JSON: the run's generations file is damaged") from None
        missing = ([k for k in _REQUIRED[Generation] if k not in rec]
                   or [k for k in _REQUIRED[Score] if k not in (rec.get("score") or {})])
        if missing:
            raise DataError(f"{path}:{n}: record has no '{missing[0]}': not a grpo-compare generations file")
        records.append(rec)
    if not records:
        raise DataError(f"{path} holds no generations: the run stopped before its first chunk finished")
    return records


def load_run(run_dir: str | Path, rescore: bool = False) -> Comparison:
    """The run's Comparison from its own files; `rescore=True` scores every completion afresh.

    >>> load_run("runs/demo").summary["delta_accuracy"]   # doctest: +SKIP
    0.12
    """
    gens_path = _run_path(run_dir, "generations.jsonl")
    config = CompareConfig.from_yaml(_run_path(run_dir, "config.yaml"))
    records = read_generations(gens_path)
    problems = _problems(records, gens_path)
    arms = tuple(_arm(spec, config) for spec in config.arms)
    every: dict[tuple[str, str, int], ArmResult] = {}
    for rec in records:  # a resumed run may repeat a record: the later one wins
        gen = Generation(**{k: v for k, v in rec.items() if k in _GEN_FIELDS})
        sc = Score(**{k: v for k, v in rec["score"].items() if k in _SCORE_FIELDS})
        if rescore:
            sc = score(gen.completion, problems[gen.problem_id].gold)
        every[(gen.problem_id, gen.arm, gen.sample)] = ArmResult(gen, sc)
    results, samples = split_samples(every)
    names = {a.name for a in arms}
    if names - {arm for _, arm in results}:
        raise DataError(f"{gens_path} has no completions of arm '{sorted(names - {a for _, a in results})[0]}' "
                        f"named in config.yaml")
    complete = tuple(p for pid, p in problems.items() if all((pid, a) in results for a in names))
    if len(complete) < len(problems):
        console.print(f"[yellow]{len(problems) - len(complete)} problems lack a completion of some arm "
                      "(an interrupted run): left out[/]")
    saved = _saved_summary(run_dir)
    return Comparison(config, complete, arms, results, tuple(saved.get("skipped", ())), saved.get("adapter_check"),
                      samples)


def _problems(records: list[dict[str, Any]], path: Path) -> dict[str, Problem]:
    """Each problem once, in the run's order, from the question/gold/meta its records carry."""
    if any("question" not in r for r in records):
        return _problems_from_csv(path.parent / "comparison.csv", records)
    out: dict[str, Problem] = {}
    for r in records:
        out.setdefault(r["problem_id"], Problem(r["problem_id"], r["question"], r["gold"], r.get("meta") or {}))
    return out


def _problems_from_csv(path: Path, records: list[dict[str, Any]]) -> dict[str, Problem]:
    """Older runs kept questions only in comparison.csv: read them (as text) from there."""
    if not path.is_file():
        raise DataError(f"{path.parent}/generations.jsonl has no questions and there is no comparison.csv: "
                        "rerun the comparison")
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    rows = {r["id"]: r for r in table.to_dict("records")}
    out: dict[str, Problem] = {}
    for pid in dict.fromkeys(r["problem_id"] for r in records):
        if pid not in rows:
            raise DataError(f"{path}: no row for problem '{pid}' of generations.jsonl: rerun the comparison")
        row = rows[pid]
        meta = {k: int(row[k]) if row[k].isdigit() else row[k] for k in ("level", "subject") if row.get(k)}
        out[pid] = Problem(pid, row["question"], row["gold"] or None, meta)
    return out


def _arm(spec: Any, config: CompareConfig) -> Arm:
    """The arm as the run resolved it (the adapter path is only a label here; nothing is loaded)."""
    adapter = Path(config.adapter or "demo adapter") if spec.lora else None
    prompt = XML_COT if spec.system_prompt == "xml_cot" else spec.system_prompt
    return Arm(spec.name, adapter, prompt)


def _saved_summary(run_dir: str | Path) -> dict[str, Any]:
    path = Path(run_dir) / "summary.json"
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        raise DataError(f"{path} is not valid JSON: delete it and run `grpo-compare rescore`") from None


def _summary(c: Comparison, run_dir: str | Path) -> dict[str, Any]:
    """The recomputed summary, keeping what only the run recorded (e.g. the adapter check)."""
    saved = _saved_summary(run_dir)
    return c.summary | {k: v for k, v in saved.items() if k not in c.summary}


def rebuild_report(run_dir: str | Path) -> Path:
    """Write report.html again from the run's saved completions and scores (no model, no scoring)."""
    from .html_report import write_report

    c = load_run(run_dir)
    return write_report(c, Path(run_dir), _summary(c, run_dir))


def rescore_run(run_dir: str | Path) -> Comparison:
    """Score the saved completions with the current scorer; rewrite the scores in generations.jsonl,
    comparison.csv, summary.json and report.html. Returns the re-scored comparison."""
    c = load_run(run_dir, rescore=True)
    path = _run_path(run_dir, "generations.jsonl")
    fresh = {(r.generation.problem_id, r.generation.arm, r.generation.sample, r.generation.completion): r.score
             for rows in c.samples.values() for r in rows}
    lines = []
    for rec in read_generations(path):
        key = (rec["problem_id"], rec["arm"], rec.get("sample", 0), rec["completion"])
        # An earlier duplicate of a resumed record, or a problem left out, is scored on its own.
        new = fresh.get(key) or score(rec["completion"], rec.get("gold"))
        lines.append(json.dumps(rec | {"score": asdict(new)}, ensure_ascii=False))
    mode = path.stat().st_mode
    _atomic_write(path, "\n".join(lines) + "\n")
    path.chmod(mode)  # the replacement keeps the file's permissions
    write_outputs(c, Path(run_dir), _summary(c, run_dir))
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
    shared = tuple(p for p in a.problems if p.id in in_b)
    if not shared:
        raise DataError(f"{run_a} and {run_b} share no problem id: were they run on the same dataset?")
    results: dict[tuple[str, str], ArmResult] = {}
    for p in shared:
        results[(p.id, label_a)] = _relabel(a.results[(p.id, pick_a)], label_a)
        results[(p.id, label_b)] = _relabel(b.results[(p.id, pick_b)], label_b)
    arms = (replace(_named(a, pick_a), name=label_a), replace(_named(b, pick_b), name=label_b))
    specs = (_spec(a, pick_a, label_a), _spec(b, pick_b, label_b))
    config = replace(a.config, arms=specs, num_samples=1)  # the diff pairs sample 0 of each run
    only = len(a.problems) - len(shared), len(b.problems) - len(shared)
    if any(only):
        console.print(f"[yellow]{only[0]} problems only in {run_a}, {only[1]} only in {run_b}: left out[/]")
    differ = sum(p.question != in_b[p.id].question for p in shared)
    if differ:
        console.print(f"[yellow]{differ} shared ids ask different questions in the two runs: "
                      "check that both used the same dataset[/]")
    return Comparison(config, shared, arms, results)


def _pick_arm(c: Comparison, name: str | None, run: str | Path) -> str:
    names = [a.name for a in c.arms]
    if name is None:
        return names[1]
    if name not in names:
        raise UserError(f"run {run} has no arm '{name}': choose one of {', '.join(names)}")
    return name


def _spec(c: Comparison, name: str, label: str) -> Any:
    return replace(next(s for s in c.config.arms if s.name == name), name=label)


def _named(c: Comparison, name: str) -> Arm:
    return next(a for a in c.arms if a.name == name)


def _relabel(res: ArmResult, arm: str) -> ArmResult:
    return ArmResult(replace(res.generation, arm=arm), res.score)


def write_diff_csv(d: Comparison, path: str | Path) -> Path:
    """The diff's per-problem table as CSV."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(out, d.table.to_csv(index=False))
    return out
