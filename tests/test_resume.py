"""Long runs survive: resume after SIGKILL or Ctrl-C, refuse mixed settings, lock the run dir."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from grpo_compare import CompareConfig, compare
from grpo_compare.errors import UserError
from grpo_compare.resume import LOCK_FILE, finished_records, record_key

from conftest import shared_file

CLI = [sys.executable, "-m", "grpo_compare.cli"]


def _cli_args(lora: Path, out: Path, n: int = 6) -> list[str]:
    return ["compare", "--adapter", str(lora), "--dataset", str(shared_file("gsm8k_test.jsonl")),
            "--max-samples", str(n), "--temperature", "0", "--max-tokens", "24", "--chunk-size", "1",
            "--max-model-len", "2048", "--output-dir", str(out)]


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines() if path.is_file() else []


def _start_and_wait(args: list[str], jsonl: Path, at_least: int, timeout: float = 900) -> subprocess.Popen:
    """Start the CLI and return once `jsonl` holds `at_least` finished lines."""
    proc = subprocess.Popen(CLI + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout
    while len(_lines(jsonl)) < at_least:
        assert proc.poll() is None, f"run ended early: {proc.communicate()[1][-2000:]}"
        assert time.monotonic() < deadline, "run made no progress"
        time.sleep(0.2)
    return proc


def test_sigkill_half_way_then_resume_equals_an_uninterrupted_run(engine, fixture_lora, tmp_path):
    out = tmp_path / "run"
    jsonl = out / "generations.jsonl"
    proc = _start_and_wait(_cli_args(fixture_lora, out), jsonl, at_least=5)
    proc.kill()
    proc.wait()
    before = _lines(jsonl)
    assert 5 <= len(before) < 12 and (out / LOCK_FILE).exists()  # killed mid-run, lock left behind

    done = subprocess.run(CLI + _cli_args(fixture_lora, out), capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Resuming" in done.stderr
    after = _lines(jsonl)
    complete = [x for x in before if x.endswith("}")]
    assert after[: len(complete)] == complete  # finished work kept as it was
    keys = [(r["problem_id"], r["arm"], r["sample"]) for r in map(json.loads, after)]
    assert len(keys) == 12 and len(set(keys)) == 12  # nothing generated twice
    assert not (out / LOCK_FILE).exists()

    reference = compare(CompareConfig(), backend=engine, adapter=str(fixture_lora),
                        dataset=str(shared_file("gsm8k_test.jsonl")), max_samples=6,
                        temperature=0.0, max_tokens=24)
    resumed = pd.read_csv(out / "comparison.csv")
    expected = pd.read_csv(pd.io.common.StringIO(reference.table.to_csv(index=False)))
    pd.testing.assert_frame_equal(resumed, expected)


def test_ctrl_c_keeps_work_prints_resume_command_and_exits_130(fixture_lora, tmp_path):
    out = tmp_path / "run"
    proc = _start_and_wait(_cli_args(fixture_lora, out, n=20), out / "generations.jsonl", at_least=2)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 130, stderr[-2000:]
    assert "interrupted" in stderr and f"--output-dir {out}" in " ".join(stderr.split())
    assert "Traceback" not in stderr
    assert len(_lines(out / "generations.jsonl")) >= 2
    assert not (out / LOCK_FILE).exists()
    with pytest.raises(ProcessLookupError):  # the engine lived in that process: nothing left running
        os.kill(proc.pid, 0)


def test_changed_settings_are_refused_naming_the_fields(engine, fixture_lora, tmp_path):
    kw = dict(backend=engine, output_dir=tmp_path, adapter=str(fixture_lora),
              dataset=str(shared_file("gsm8k_test.jsonl")), max_samples=2, max_tokens=8)
    compare(CompareConfig(), temperature=0.0, **kw)
    with pytest.raises(UserError, match=r"other settings \(sampling differ\)"):
        compare(CompareConfig(), temperature=0.5, **kw)


def test_rerunning_a_finished_run_generates_nothing(engine, fixture_lora, tmp_path):
    kw = dict(backend=engine, output_dir=tmp_path, adapter=str(fixture_lora),
              dataset=str(shared_file("gsm8k_test.jsonl")), max_samples=2, max_tokens=8, temperature=0.0)
    first = compare(CompareConfig(), **kw)
    engine.calls.clear()
    again = compare(CompareConfig(), **kw)
    assert engine.calls == []
    assert again.summary == first.summary
    assert len(_lines(tmp_path / "generations.jsonl")) == 4


def test_a_live_run_holds_the_directory(engine, fixture_lora, tmp_path):
    other = subprocess.Popen(["sleep", "60"])
    try:
        (tmp_path / LOCK_FILE).write_text(str(other.pid))
        with pytest.raises(UserError, match="in use by another run"):
            compare(CompareConfig(), backend=engine, output_dir=tmp_path, adapter=str(fixture_lora),
                    dataset=str(shared_file("gsm8k_test.jsonl")), max_samples=1, max_tokens=4)
    finally:
        other.kill()


def test_torn_last_line_is_dropped_and_cut(tmp_path):
    path = tmp_path / "generations.jsonl"
    good = {"run_id": "r", "problem_id": "1", "prompt_text": "p", "arm": "base", "sample": 0}
    path.write_text(json.dumps(good) + "\n" + '{"run_id": "r", "problem_id": "2", "prom')
    done = finished_records(path, "r")
    assert list(done) == [record_key("1", "p", "base", 0)]
    assert path.read_text() == json.dumps(good) + "\n"


def test_a_damaged_middle_line_is_an_error(tmp_path):
    path = tmp_path / "generations.jsonl"
    good = json.dumps({"run_id": "r", "problem_id": "1", "prompt_text": "p", "arm": "base"})
    path.write_text(good + "\n{oops\n" + good + "\n")
    with pytest.raises(UserError, match="generations.jsonl:2"):
        finished_records(path, "r")


def test_csv_cells_that_look_like_formulas_are_neutralised(engine, fixture_lora, tmp_path):
    data = tmp_path / "evil.jsonl"
    data.write_text(json.dumps({"question": "=HYPERLINK(\"http://x\")", "answer": "#### -3"}) + "\n")
    compare(CompareConfig(), backend=engine, output_dir=tmp_path / "run", adapter=str(fixture_lora),
            dataset=str(data), max_tokens=4, temperature=0.0)
    table = pd.read_csv(tmp_path / "run" / "comparison.csv", dtype=str)
    assert table.loc[0, "question"] == "'=HYPERLINK(\"http://x\")"
    assert table.loc[0, "gold"] == "-3"  # a plain number stays a number
    saved = json.loads(_lines(tmp_path / "run" / "generations.jsonl")[0])
    assert saved["question"] == "=HYPERLINK(\"http://x\")"  # JSON stays lossless
