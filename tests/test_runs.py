"""Run directories without a model: load back, re-score, and diff two runs problem by problem."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

from grpo_compare.errors import DataError, UserError
from grpo_compare.files import build_folder
from grpo_compare.runs import diff_runs, load_run, rescore_run, write_outputs


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grpo_compare.cli", *args], capture_output=True, text=True,
                          timeout=600)


def records(run: Path) -> list[dict]:
    return [json.loads(x) for x in (run / "generations.jsonl").read_text(encoding="utf-8").splitlines()]


def rewrite(run: Path, change) -> None:
    lines = [json.dumps(change(r), ensure_ascii=False) for r in records(run)]
    (run / "generations.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture
def run(math500_run, tmp_path) -> Path:
    return shutil.copytree(math500_run, tmp_path / "run")


def test_a_run_loads_back_as_the_comparison_it_wrote(run):
    c = load_run(run)
    assert len(c.problems) == 4 and [a.name for a in c.arms] == ["base", "grpo"]
    assert all(p.meta.get("level") and p.meta.get("subject") for p in c.problems)  # MATH-500 meta kept
    assert c.summary == json.loads((run / "summary.json").read_text())
    again = run.parent / "again"
    write_outputs(again, c)
    for name in ("comparison.csv", "summary.json", "config.yaml", "report.html"):
        assert (again / name).read_text() == (run / name).read_text(), name


def test_the_parquet_table_is_the_csv_table_with_its_types(run):
    import datasets

    csv, parquet = pd.read_csv(run / "comparison.csv"), pd.read_parquet(run / "comparison.parquet")
    assert list(parquet.columns) == list(csv.columns) and len(parquet) == len(csv)
    assert str(parquet["grpo_correct"].dtype) == "boolean" and str(parquet["base_completion_tokens"].dtype) == "Int64"
    assert str(parquet["level"].dtype) == "Int64" and parquet["grpo_reward_int"].dtype == "float64"
    assert parquet["grpo_correct"].tolist() == [None if pd.isna(x) else bool(x) for x in csv["grpo_correct"]]
    rows = datasets.load_dataset("parquet", data_files=str(run / "comparison.parquet"), split="train")
    assert rows.features["grpo_correct"].dtype == "bool" and rows.features["base_completion_tokens"].dtype == "int64"


def test_rescore_restores_scores_from_the_completions(run):
    csv, summary = (run / "comparison.csv").read_text(), json.loads((run / "summary.json").read_text())
    scores = [r["score"] for r in records(run)]
    # Damage every saved score: rescore must recompute them from the completions, not copy them.
    rewrite(run, lambda r: r | {"score": r["score"] | {"answer": "tampered", "correct": None, "extractor": "none"}})
    assert load_run(run).table.outcome.eq("ungraded").all()
    proc = cli("rescore", str(run))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "accuracy" in proc.stdout and "McNemar" in proc.stdout
    assert [r["score"] for r in records(run)] == scores
    assert (run / "comparison.csv").read_text() == csv
    assert json.loads((run / "summary.json").read_text()) == summary
    assert "tampered" not in (run / "report.html").read_text()


def test_rescore_keeps_what_only_the_run_knew(run):
    summary = json.loads((run / "summary.json").read_text())
    summary["adapter_check"] = {"problem_id": "x", "identical": True}
    (run / "summary.json").write_text(json.dumps(summary))
    rescore_run(run)
    assert json.loads((run / "summary.json").read_text())["adapter_check"] == {"problem_id": "x", "identical": True}
    assert "the same output with and without the adapter" in (run / "report.html").read_text()


def test_older_runs_without_questions_in_their_records_load_from_the_csv(run):
    table = load_run(run).table
    rewrite(run, lambda r: {k: v for k, v in r.items() if k not in ("question", "gold", "meta")})
    pd.testing.assert_frame_equal(load_run(run).table, table, check_dtype=False)


def test_a_torn_last_line_is_dropped_and_a_damaged_middle_line_named(run):
    text = (run / "generations.jsonl").read_text()
    (run / "generations.jsonl").write_text(text + '{"problem_id": "torn', encoding="utf-8")
    assert len(load_run(run).problems) == 4
    lines = text.splitlines()
    (run / "generations.jsonl").write_text("\n".join([lines[0], "{oops", *lines[1:]]) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"generations.jsonl:2 is not valid JSON"):
        load_run(run)


def test_diff_of_one_runs_two_arms_matches_its_own_statistics(run):
    d = diff_runs(run, run, arm_a="base")
    own = load_run(run).summary
    assert [a.name for a in d.arms] == ["a_base", "b_grpo"]
    for key in ("n", "fixed", "broken", "mcnemar_p", "delta_accuracy", "delta_accuracy_ci", "outcomes"):
        assert d.summary[key] == own[key], key


def test_diff_of_a_run_with_itself_changes_nothing(run):
    s = diff_runs(run, run).summary
    assert s["fixed"] == s["broken"] == 0 and s["mcnemar_p"] == 1.0
    assert s["delta_accuracy"] in (0.0, None)
    assert s["outcomes"]["fixed"] == s["outcomes"]["broken"] == 0


def test_diff_command_prints_and_writes_csv_and_html(run, tmp_path):
    other = shutil.copytree(run, tmp_path / "other")
    # Run B answers one problem differently: its grade flips, so the diff has one discordant problem.
    first = records(run)[1]
    flipped = not first["score"]["correct"]
    rewrite(other, lambda r: r | {"score": r["score"] | {"correct": flipped}}
            if (r["problem_id"], r["arm"]) == (first["problem_id"], "grpo") else r)
    proc = cli("diff", str(run), str(other), "--csv", str(tmp_path / "diff.csv"), "--html", str(tmp_path / "d.html"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    table = pd.read_csv(tmp_path / "diff.csv")
    assert len(table) == 4 and {"a_grpo_correct", "b_grpo_correct", "outcome"} <= set(table.columns)
    row = table.set_index("id").loc[first["problem_id"]]
    assert row.outcome == ("fixed" if flipped else "broken")
    assert (table.outcome.isin(["fixed", "broken"])).sum() == 1
    assert "McNemar" in proc.stdout and "b_grpo" in proc.stdout
    assert (tmp_path / "d.html").read_text().count('<tr class="problem"') == 4


def test_diff_names_a_missing_arm_and_disjoint_runs(run, tmp_path):
    proc = cli("diff", str(run), str(run), "--arm-b", "nope")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "no arm 'nope'" in proc.stderr and "base, grpo" in proc.stderr
    other = shutil.copytree(run, tmp_path / "other")
    rewrite(other, lambda r: r | {"problem_id": "other-" + r["problem_id"]})
    with pytest.raises(DataError, match="share no problem id"):
        diff_runs(run, other)
    with pytest.raises(UserError, match="not found"):
        diff_runs(run, tmp_path / "nowhere")


def test_two_runs_building_one_cache_folder_build_it_once(tmp_path):
    builds = []

    def build(tmp: Path) -> None:
        builds.append(tmp)
        time.sleep(0.5)  # both runs are past their first look at the cache by now
        (tmp / "model.safetensors").write_text("weights")

    def ready(t: Path) -> bool:
        return (t / "model.safetensors").is_file()

    with ThreadPoolExecutor(2) as pool:
        paths = list(pool.map(lambda _: build_folder(tmp_path / "model", build, ready), range(2)))
    assert len(builds) == 1 and paths == [tmp_path / "model"] * 2 and ready(tmp_path / "model")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".model.lock", "model"]  # no half-built folder left
