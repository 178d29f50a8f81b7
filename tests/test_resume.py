"""Long runs survive: resume after SIGKILL or Ctrl-C, refuse mixed settings, lock the run dir."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import grpo_compare.rundir
from conftest import jsonl_lines, shared_file, start_and_wait
from grpo_compare import CompareConfig, Problem, compare
from grpo_compare.errors import UserError
from grpo_compare.rundir import LOCK_FILE, RunDir, read_records, record_key

CLI = [sys.executable, "-m", "grpo_compare.cli"]


def _cli_args(lora: Path, out: Path, n: int = 6, *extra: str, dataset: bool = True) -> list[str]:
    data = ["--dataset", str(shared_file("gsm8k_test.jsonl"))] if dataset else []  # else the built-in problems
    return ["compare", "--adapter", str(lora), *data, "--max-samples", str(n), "--temperature", "0",
            "--max-tokens", "24", "--max-model-len", "2048", "--output-dir", str(out), *extra]




@pytest.mark.slow
def test_sigkill_half_way_then_resume_equals_an_uninterrupted_run(engine, fixture_lora, tmp_path):
    # 16 built-in problems, a merged copy (base arm, then the adapter arm): results are streamed to
    # disk as each finishes, so a kill loses only what was in flight
    out = tmp_path / "run"
    jsonl = out / "generations.jsonl"
    args = CLI + _cli_args(fixture_lora, out, 16, "--lora-strategy", "merged", dataset=False)
    proc = start_and_wait(args, jsonl, at_least=8)
    proc.kill()
    proc.wait()
    before = jsonl_lines(jsonl)
    assert 8 <= len(before) < 32 and (out / LOCK_FILE).exists()  # killed mid-run, lock left behind

    done = subprocess.run(args, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Resuming" in done.stderr
    after = jsonl_lines(jsonl)
    complete = [x for x in before if x.endswith("}")]
    assert after[: len(complete)] == complete  # finished work kept as it was
    keys = [(r["problem_id"], r["arm"], r["sample"]) for r in map(json.loads, after)]
    assert len(keys) == 32 and len(set(keys)) == 32  # nothing generated twice
    assert not (out / LOCK_FILE).exists()

    reference = compare(CompareConfig(), engine=engine, adapter=str(fixture_lora), max_samples=16,
                        temperature=0.0, max_tokens=24)
    resumed = pd.read_csv(out / "comparison.csv")
    expected = pd.read_csv(pd.io.common.StringIO(reference.table.to_csv(index=False)))
    pd.testing.assert_frame_equal(resumed, expected)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])  # Ctrl-C; schedulers, `timeout`, container stops; a closed terminal
def test_interrupt_keeps_work_prints_resume_command_and_exits_128_plus_signal(fixture_lora, tmp_path, sig):
    out = tmp_path / "run"
    proc = start_and_wait(CLI + _cli_args(fixture_lora, out, 20, "--batch-size", "1"), out / "generations.jsonl", at_least=2)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 128 + sig, stderr[-2000:]
    assert "interrupted" in stderr and f"--output-dir {out}" in " ".join(stderr.split())
    assert "Traceback" not in stderr
    assert len(jsonl_lines(out / "generations.jsonl")) >= 2
    assert not (out / LOCK_FILE).exists()
    with pytest.raises(ProcessLookupError):  # the engine lived in that process: nothing left running
        os.kill(proc.pid, 0)


def test_changed_settings_are_refused_naming_the_fields(engine, fixture_lora, tmp_path):
    kw = dict(engine=engine, output_dir=tmp_path, adapter=str(fixture_lora),
              dataset=str(shared_file("gsm8k_test.jsonl")), max_samples=2, max_tokens=8)
    compare(CompareConfig(), temperature=0.0, **kw)
    with pytest.raises(UserError, match=r"other settings \(sampling.temperature differs\)"):
        compare(CompareConfig(), temperature=0.5, **kw)


def test_rerunning_a_finished_run_generates_nothing(recorded, fixture_lora, tmp_path):
    kw = dict(engine=recorded, output_dir=tmp_path, adapter=str(fixture_lora),
              dataset=str(shared_file("gsm8k_test.jsonl")), max_samples=2, max_tokens=8, temperature=0.0)
    first = compare(CompareConfig(), **kw)
    recorded.calls.clear()
    again = compare(CompareConfig(), **kw)
    assert recorded.calls == []
    assert again.summary == first.summary
    assert len(jsonl_lines(tmp_path / "generations.jsonl")) == 4


def test_a_live_run_holds_the_directory(engine, fixture_lora, tmp_path):
    # another process holds the directory's lock, as a running compare does
    hold = ("import fcntl, sys, time; f = open(sys.argv[1], 'a'); fcntl.flock(f, fcntl.LOCK_EX); "
            "f.write('4242'); f.flush(); print('locked', flush=True); time.sleep(60)")
    other = subprocess.Popen([sys.executable, "-c", hold, str(tmp_path / LOCK_FILE)], stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline().strip() == "locked"
        with pytest.raises(UserError, match=r"in use by another run \(pid 4242\)"):
            compare(CompareConfig(), engine=engine, output_dir=tmp_path, adapter=str(fixture_lora),
                    dataset=str(shared_file("gsm8k_test.jsonl")), max_samples=1, max_tokens=4)
    finally:
        other.kill()


def test_a_lock_file_nobody_holds_is_not_stale(tmp_path):
    (tmp_path / LOCK_FILE).write_text("not a pid at all")  # left by a dead process, or by hand
    with RunDir(tmp_path) as run:
        assert (tmp_path / LOCK_FILE).read_text() == str(os.getpid()) and run.path == tmp_path
    assert not (tmp_path / LOCK_FILE).exists()


def _record(pid: str) -> dict:
    return {"run_id": "r", "problem_id": pid, "prompt_text": "p", "arm": "base", "sample": 0, "completion": "c",
            "completion_tokens": 1, "finish_reason": "stop", "seconds": 0.1,
            "score": {"answer": None, "extractor": "none", "correct": None, "strict_format": False,
                      "soft_format": False, "rewards": {}}}


def test_torn_last_line_is_ignored_on_read_and_cut_on_append(tmp_path):
    path = tmp_path / "generations.jsonl"
    text = json.dumps(_record("1")) + "\n" + '{"run_id": "r", "problem_id": "2", "prom'
    path.write_text(text)
    assert [r["problem_id"] for r in read_records(path)] == ["1"]
    assert path.read_text() == text  # reading changes nothing
    with RunDir(tmp_path) as run:
        run.run_id = "r"
        assert list(run.finished()) == [record_key("1", "p", "base", 0)]
        res = grpo_compare.rundir.result(_record("3"))
        run.append(res, Problem("3", "q", None))
    assert [json.loads(x)["problem_id"] for x in path.read_text().splitlines()] == ["1", "3"]


def test_a_damaged_middle_line_is_an_error(tmp_path):
    path = tmp_path / "generations.jsonl"
    good = json.dumps(_record("1"))
    path.write_text(good + "\n{oops\n" + good + "\n")
    with pytest.raises(UserError, match="generations.jsonl:2"):
        read_records(path)


def test_csv_cells_that_look_like_formulas_are_neutralised(engine, fixture_lora, tmp_path):
    data = tmp_path / "evil.jsonl"
    data.write_text(json.dumps({"question": "=HYPERLINK(\"http://x\")", "answer": "#### -3"}) + "\n")
    compare(CompareConfig(), engine=engine, output_dir=tmp_path / "run", adapter=str(fixture_lora),
            dataset=str(data), max_tokens=4, temperature=0.0)
    table = pd.read_csv(tmp_path / "run" / "comparison.csv", dtype=str)
    assert table.loc[0, "question"] == "'=HYPERLINK(\"http://x\")"
    assert table.loc[0, "gold"] == "-3"  # a plain number stays a number
    saved = json.loads(jsonl_lines(tmp_path / "run" / "generations.jsonl")[0])
    assert saved["question"] == "=HYPERLINK(\"http://x\")"  # JSON stays lossless
