"""A trainer's checkpoints as arms of one run: step order, statistics against base, the curve, the gate."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner

from grpo_compare.adapters import expand_adapters
from grpo_compare.cli import app
from grpo_compare.demo import demo_adapter_path, demo_model_path
from grpo_compare.stats import holm_adjust, mcnemar_exact

CLI = [sys.executable, "-m", "grpo_compare.cli"]
pytestmark = pytest.mark.slow  # three adapters and a run of their own
STEPS = (90, 100, 1000)  # step order is not name order: "checkpoint-1000" < "checkpoint-90" as text


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> Path:
    """A TRL output folder: the shipped demo adapter as the last checkpoint, and two earlier ones
    with its LoRA B matrices scaled down (real adapters with other weights)."""
    root = tmp_path_factory.mktemp("grpo_out")
    tensors = load_file(demo_adapter_path() / "adapter_model.safetensors")
    for step, scale in zip(STEPS, (0.15, 0.5, 1.0)):
        folder = root / f"checkpoint-{step}"
        folder.mkdir()
        shutil.copy(demo_adapter_path() / "adapter_config.json", folder)
        save_file({k: (v * scale if "lora_B" in k else v).contiguous() for k, v in tensors.items()},
                  str(folder / "adapter_model.safetensors"))
        (folder / "trainer_state.json").write_text("{}")  # what else a checkpoint folder holds
    (root / "runs").mkdir()  # TensorBoard logs beside them: not a checkpoint
    return root


@pytest.fixture(scope="module")
def run(checkpoints, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    out = tmp_path_factory.mktemp("ckpt_run") / "run"
    proc = subprocess.run(CLI + ["compare", "--adapter", str(checkpoints), "--max-samples", "8", "--temperature", "0",
                                 "--max-tokens", "64", "--lora-strategy", "mixed", "--output-dir", str(out)],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, proc


def test_a_checkpoint_folder_expands_in_step_order(checkpoints):
    assert [p.name for p in expand_adapters(str(checkpoints))] == [f"checkpoint-{s}" for s in STEPS]
    one = checkpoints / "checkpoint-100"
    assert expand_adapters([str(one), str(checkpoints)]) == [one, *expand_adapters(str(checkpoints))]


def test_every_checkpoint_is_an_arm_of_one_run_with_one_engine(run):
    out, proc = run
    summary = json.loads((out / "summary.json").read_text())
    names = [f"checkpoint-{s}" for s in STEPS]
    assert list(summary["arms"]) == ["base", *names] and list(summary["vs_baseline"]) == names
    assert proc.stderr.count("Loading") == 1  # one engine start for base and all three checkpoints
    table = pd.read_csv(out / "comparison.csv")
    assert all(f"{arm}_correct" in table.columns and f"{arm}_answer" in table.columns for arm in ["base", *names])
    config = yaml.safe_load((out / "config.yaml").read_text())  # each arm names its own checkpoint folder
    assert [(a["name"], a["lora"], a["system_prompt"]) for a in config["arms"][1:]] == [
        (n, str(Path(config["adapter"][i])), "xml_cot") for i, n in enumerate(names)]
    assert [Path(p).name for p in config["adapter"]] == names


def test_statistics_against_base_and_the_best_checkpoint(run):
    out, _ = run
    summary = json.loads((out / "summary.json").read_text())
    table = pd.read_csv(out / "comparison.csv")
    raw = []
    for arm, v in summary["vs_baseline"].items():
        both = table[table["base_correct"].notna() & table[f"{arm}_correct"].notna()]
        before, after = both["base_correct"].astype(bool), both[f"{arm}_correct"].astype(bool)
        fixed, broken = int((after & ~before).sum()), int((before & ~after).sum())
        assert (v["fixed"], v["broken"]) == (fixed, broken)
        assert v["delta_accuracy"] == pytest.approx((after.sum() - before.sum()) / len(both))
        assert v["mcnemar_p"] == pytest.approx(mcnemar_exact(fixed, broken))
        assert v["delta_accuracy_ci"][0] <= v["delta_accuracy"] <= v["delta_accuracy_ci"][1]
        raw.append(v["mcnemar_p"])
    assert [v["mcnemar_p_holm"] for v in summary["vs_baseline"].values()] == pytest.approx(holm_adjust(raw))
    accuracy = {arm: summary["arms"][arm]["accuracy"] for arm in summary["vs_baseline"]}
    assert summary["best"] == next(a for a in accuracy if accuracy[a] == max(accuracy.values()))  # ties: earlier step


def test_the_report_shows_the_curve_and_lets_the_reader_pick_two_arms(run):
    out, _ = run
    html = (out / "report.html").read_text()
    assert "Checkpoints: accuracy (95% Wilson CI)" in html and "Checkpoints: mean completion length" in html
    assert 'class="arm-pick"' in html and 'data-arm="checkpoint-1000"' in html
    assert "Which checkpoint beats" in html


@pytest.mark.parametrize("threshold, code", [("0.99", 4), ("-1", 0)])  # out of reach; always reached
def test_the_gate_exits_4_below_min_delta_and_keeps_the_files(run, checkpoints, threshold, code, monkeypatch):
    out, _ = run

    def no_engine(*a, **k):
        raise AssertionError("the finished run started an engine")

    monkeypatch.setattr("grpo_compare.session.start_engine", no_engine)  # nothing is generated again
    result = CliRunner().invoke(app, ["compare", "--adapter", str(checkpoints), "--max-samples", "8", "--temperature", "0",
                                      "--max-tokens", "64", "--lora-strategy", "mixed", "--output-dir", str(out),
                                      "--min-delta", threshold])
    assert result.exit_code == code, result.stderr[-2000:]
    assert "Resuming" in result.stderr and "error" not in result.stderr
    assert ("gate:" in result.stderr) == (code == 4) and (out / "summary.json").is_file()


def test_diff_takes_two_arms_of_one_run(run):
    out, _ = run
    proc = subprocess.run(CLI + ["diff", str(out), "--arm-a", "checkpoint-90", "--arm-b", "checkpoint-1000"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "b_checkpoint-1000 − a_checkpoint-90" in " ".join(proc.stdout.split())


def test_merged_checkpoints_swap_in_place_and_match_the_mixed_batch(run, checkpoints, tmp_path):
    out, _ = run
    merged = tmp_path / "merged"
    proc = subprocess.run(CLI + ["compare", "--adapter", str(checkpoints), "--max-samples", "8", "--temperature", "0",
                                 "--max-tokens", "64", "--lora-strategy", "merged", "--output-dir", str(merged)],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr.count("Loading") == 1  # the merged checkpoints are swapped into one engine
    assert (merged / "comparison.csv").read_text() == (out / "comparison.csv").read_text()


def test_keep_merged_false_holds_at_most_one_merged_copy_and_leaves_none(run, checkpoints, tmp_path):
    out, _ = run
    cache = tmp_path / "cache"
    demo = demo_model_path()
    shutil.copytree(demo, cache / demo.name)  # the prepared demo model, so only merged copies are built here
    proc = subprocess.Popen(CLI + ["compare", "--adapter", str(checkpoints), "--max-samples", "8", "--temperature", "0",
                                   "--max-tokens", "64", "--lora-strategy", "merged", "--no-keep-merged",
                                   "--output-dir", str(tmp_path / "one")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, GRPO_COMPARE_CACHE=str(cache)))
    most = 0
    while proc.poll() is None:
        merged = cache / "merged"
        copies = [p for p in merged.iterdir() if p.is_dir() and (p / "merge.json").is_file()] if merged.is_dir() else []
        most = max(most, len(copies))
        time.sleep(0.05)
    assert proc.returncode == 0, proc.stderr.read()[-3000:]
    assert most == 1  # each checkpoint's copy built when its arm ran, the one before it removed first
    assert not [p for p in (cache / "merged").iterdir() if p.is_dir()]  # none left behind
    assert (tmp_path / "one" / "comparison.csv").read_text() == (out / "comparison.csv").read_text()
