"""Load problems from a local file or a hub dataset, recognising GSM8K and MATH-500 shapes.

    problems = load_problems("gsm8k_test.jsonl", max_samples=50)

Local files: .jsonl, .json, .csv, .parquet, .txt (one question per line, no gold). GSM8K rows
(`question`, `answer` ending in `#### n`) and MATH-500 rows (`problem`, `answer`, with `level`,
`subject`, `unique_id` kept in `meta`) need no flags; other shapes name their fields.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

from .errors import APIError, DataError, UserError, expect
from .files import note_input, shorten
from .scoring import extract_hash_answer
from .types import Problem

QUESTION_FIELDS = ("question", "problem", "prompt", "input")
ANSWER_FIELDS = ("answer", "gold", "target")
ID_FIELDS = ("unique_id", "id")
SUFFIXES = (".jsonl", ".json", ".csv", ".parquet", ".txt")


def load_problems(
    source: str | Path,
    split: str = "test",
    max_samples: int | None = None,
    question_field: str | None = None,
    answer_field: str | None = None,
) -> list[Problem]:
    """Read problems from a local file, or from the hub when `source` is not a local path."""
    path = Path(source)
    if path.exists() or path.suffix in SUFFIXES:
        rows = _read_local(path)
    else:
        rows = _read_hub(str(source), split)
    rows = rows[:max_samples] if max_samples else rows
    problems = [_to_problem(r, i, str(source), question_field, answer_field) for i, r in rows]
    if not problems:
        raise DataError(f"{source}: no problems found; the dataset is empty")
    _check_unique([p.id for p in problems], str(source))
    return problems


def _read_local(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(line or row number, row) pairs; errors name the file and the line."""
    if not path.exists():
        raise UserError(f"dataset file {path} not found: check the path given to --dataset")
    if path.is_dir():
        raise UserError(f"{path} is a directory: pass a .jsonl/.json/.csv/.parquet/.txt file")
    note_input(path, "the dataset")
    if path.suffix == ".parquet":
        import pandas as pd

        try:
            return list(enumerate(pd.read_parquet(path).to_dict("records"), 1))
        except ImportError:
            raise UserError("reading .parquet files needs pyarrow: `pip install pyarrow`") from None
        except Exception as e:  # pyarrow raises many types for a damaged file; all mean "unreadable"
            first = (str(e).splitlines() or [type(e).__name__])[0]
            raise DataError(f"{path} is not a readable parquet file ({first}); re-export it") from None
    lines = _text_lines(path)
    if path.suffix == ".jsonl":
        return [(n, _json_row(text, path, n)) for n, text in lines if text.strip()]
    if path.suffix == ".txt":
        return [(n, {"question": text.strip()}) for n, text in lines if text.strip()]
    if path.suffix == ".csv":
        import csv

        reader = csv.DictReader(text for _, text in lines)
        try:
            return [(reader.line_num, dict(row)) for row in reader]
        except csv.Error as e:
            raise DataError(f"{path}:{reader.line_num}: not readable as CSV ({e}); fix or remove that line") from None
    if path.suffix == ".json":
        data = _json_row("\n".join(t for _, t in lines), path, 1, whole=True)
        data = data.get("data", data) if isinstance(data, dict) else data
        if not isinstance(data, list):
            raise DataError(f"{path}: expected a JSON list of rows (or {{'data': [...]}})")
        for n, row in enumerate(data, 1):
            if not isinstance(row, dict):
                raise DataError(f"{path}: row {n} is a {type(row).__name__}, expected an object with a question field")
        return list(enumerate(data, 1))
    raise UserError(f"{path}: unsupported file type '{path.suffix}'; use one of {', '.join(SUFFIXES)}")


def _text_lines(path: Path) -> list[tuple[int, str]]:
    """Decode as UTF-8 (a BOM is accepted), naming the first line that is not UTF-8."""
    raw = path.read_bytes()
    lines = raw.splitlines()
    out = []
    for n, line in enumerate(lines, 1):
        try:
            text = line.decode("utf-8-sig" if n == 1 else "utf-8")
        except UnicodeDecodeError as e:
            raise DataError(
                f"{path}:{n}: not UTF-8 (byte {line[e.start]:#04x} at column {e.start + 1}); "
                "re-save the file as UTF-8"
            ) from None
        out.append((n, text))
    return out


def _json_row(text: str, path: Path, n: int, whole: bool = False) -> Any:
    try:
        row = json.loads(text)
    except json.JSONDecodeError as e:
        line = e.lineno if whole else n
        raise DataError(f"{path}:{line}: malformed JSON ({e.msg}); fix or remove that line") from None
    if not whole and not isinstance(row, dict):
        raise DataError(f"{path}:{n}: expected a JSON object per line, got {type(row).__name__}")
    return row


def _read_hub(name: str, split: str) -> list[tuple[int, dict[str, Any]]]:
    """Load a hub dataset through `datasets` (GSM8K needs its `main` config)."""
    try:
        import datasets
    except ImportError:
        raise UserError("loading hub datasets needs `pip install datasets`") from None
    config = "main" if name.rstrip("/").endswith("gsm8k") else None
    try:
        ds = datasets.load_dataset(name, config, split=split)
    except Exception as e:  # the hub raises many types; all mean "could not load"
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise UserError(
            f"could not load dataset '{name}' (split '{split}') from the hub: {first}; "
            "check the name, or pass a local .jsonl/.json/.csv/.parquet/.txt file"
        ) from None
    return list(enumerate(ds, 1))


def _to_problem(
    row: dict[str, Any], n: int, source: str, qf: str | None, af: str | None
) -> Problem:
    qkey = qf or _first(QUESTION_FIELDS, row)
    if qkey is None or qkey not in row:
        wanted = qf or " / ".join(QUESTION_FIELDS)
        raise DataError(
            f"{source}:{n}: no question field '{wanted}'; fields found: {', '.join(map(str, row))}; "
            "name it with --question-field"
        )
    if af is not None and af not in row:
        raise DataError(f"{source}:{n}: no answer field '{af}'; fields found: {', '.join(map(str, row))}")
    akey = af or _first(ANSWER_FIELDS, row)
    value = row[qkey]
    # a short CSV row gives None, an empty parquet cell NaN: neither may become the text "None"
    question = "" if value is None or (isinstance(value, float) and value != value) else str(value).strip()
    if not question:
        raise DataError(f"{source}:{n}: the question field '{qkey}' is empty")
    gold = _gold(row.get(akey) if akey else None)
    id_key = _first(ID_FIELDS, row)
    pid = str(row[id_key]) if id_key else str(n)
    meta = {k: v for k, v in row.items()  # the other scalar fields
            if k not in (qkey, akey) and isinstance(v, (str, int, float, bool, type(None)))}
    try:
        return Problem(pid, question, gold, meta)
    except DataError as e:
        raise DataError(f"{source}:{n}: {e}") from None


def _gold(value: Any) -> str | None:
    """GSM8K golds are the text after `####`; anything else is taken as it is."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    text = str(value).strip()
    if "####" in text:
        return extract_hash_answer(text)
    return text or None


def _first(keys: Iterable[str], row: dict[str, Any]) -> str | None:
    return next((k for k in keys if k in row), None)


def _check_unique(ids: list[str], source: str) -> None:
    seen: set[str] = set()
    for pid in ids:
        if pid in seen:
            raise DataError(f"{source}: duplicate problem id '{pid}'; ids must be unique")
        seen.add(pid)


def checked_problems(problems: Any) -> list[Problem]:
    """`problems` as a list of Problem, or an APIError naming what it holds instead."""
    if isinstance(problems, (str, bytes)) or not isinstance(problems, Iterable):
        raise APIError(f"problems must be a list of Problem, got {type(problems).__name__} {shorten(problems, 40)}")
    out = list(problems)
    for i, p in enumerate(out):
        expect(p, Problem, f"problems[{i}]", "Problem(id, question, gold), e.g. Problem('1', 'What is 7 * 6?', '42')")
    return out
