"""In the training loop: a real TRL GRPOTrainer with the CompareCallback, and `grpo-compare watch` on a
folder where checkpoints appear while it runs. One training run (and one without the callback, for
the losses) and one watch per module."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner

from grpo_compare.cli import app
from grpo_compare.demo import demo_adapter_path

SLOW = pytest.mark.slow  # a training run, and engines of their own
CLI = [sys.executable, "-m", "grpo_compare.cli"]
EVAL = dict(max_samples=6, max_tokens=48, temperature=0.0)
FLAGS = ["--max-samples", "6", "--max-tokens", "48", "--temperature", "0"]


def grpo_train(out: Path, callbacks: list) -> tuple[list[dict], object]:
    """Four GRPO steps from the shipped demo adapter on the demo model, a checkpoint every two;
    the trainer's log history and state."""
    import torch
    from datasets import Dataset
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer, set_seed
    from trl import GRPOConfig, GRPOTrainer

    from grpo_compare.demo import demo_model_path, demo_problems
    from grpo_compare.demo.train import reward_funcs
    from grpo_compare.prompts import XML_COT

    set_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(demo_model_path())
    base = AutoModelForCausalLM.from_pretrained(demo_model_path(), dtype=torch.float32)
    model = PeftModel.from_pretrained(base, str(demo_adapter_path()), is_trainable=True)
    rows = [{"prompt": [{"role": "system", "content": XML_COT}, {"role": "user", "content": p.question}],
             "answer": p.gold} for p in demo_problems("train", n=8)]
    args = GRPOConfig(output_dir=str(out), max_steps=4, save_strategy="steps", save_steps=2, per_device_train_batch_size=2,
                      num_generations=2, max_completion_length=16, learning_rate=1e-4, beta=0.0, seed=0, use_cpu=True,
                      bf16=False, report_to="none", logging_steps=1, disable_tqdm=True,
                      metric_for_best_model="grpo_compare/accuracy")
    trainer = GRPOTrainer(model=model, reward_funcs=reward_funcs(), args=args, train_dataset=Dataset.from_list(rows),
                          processing_class=tokenizer, callbacks=callbacks)
    trainer.train()
    return trainer.state.log_history, trainer.state


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from grpo_compare import CompareCallback

    out = tmp_path_factory.mktemp("grpo") / "out"
    history, state = grpo_train(out, [CompareCallback(**EVAL)])
    plain, _ = grpo_train(tmp_path_factory.mktemp("plain") / "out", [])
    return out, history, state, plain


@SLOW
def test_every_checkpoint_is_an_arm_of_one_run_and_its_metrics_reach_the_trainer_log(trained):
    out, history, state, _ = trained
    run = out / "grpo_compare"
    summary = json.loads((run / "summary.json").read_text())
    assert list(summary["arms"]) == ["base", "checkpoint-2", "checkpoint-4"]
    records = [json.loads(x) for x in (run / "generations.jsonl").read_text().splitlines()]
    assert len(records) == len({(r["arm"], r["problem_id"]) for r in records}) == 3 * 6  # base once, each checkpoint once
    logged = [h for h in history if "grpo_compare/accuracy" in h]
    assert [h["grpo_compare/step"] for h in logged] == [2, 4]
    for h in logged:
        arm = f"checkpoint-{int(h['grpo_compare/step'])}"
        assert h["grpo_compare/accuracy"] == summary["arms"][arm]["accuracy"]
        assert h["grpo_compare/base_accuracy"] == summary["arms"]["base"]["accuracy"]
    assert (run / "watch.log").read_text().count("Loading") == 1  # one engine for the whole training run
    best = max(("checkpoint-2", "checkpoint-4"), key=lambda a: summary["arms"][a]["accuracy"])  # ties: the earlier
    assert state.best_model_checkpoint == str(out / best)


@SLOW
def test_training_is_the_same_with_and_without_the_callback(trained):
    _, history, _, plain = trained
    losses = [(h["step"], h["loss"]) for h in history if "loss" in h]
    assert losses and losses == [(h["step"], h["loss"]) for h in plain if "loss" in h]


@SLOW
def test_after_training_compare_and_report_give_the_same_run_with_nothing_generated_again(trained, monkeypatch):
    out, _, _, _ = trained
    run = out / "grpo_compare"
    before = (run / "generations.jsonl").read_text()

    def no_engine(*a, **k):
        raise AssertionError("the finished run started an engine")

    monkeypatch.setattr("grpo_compare.session.start_engine", no_engine)
    result = CliRunner().invoke(app, ["compare", "--adapter", str(out), *FLAGS, "--output-dir", str(run)])
    assert result.exit_code == 0, result.stderr[-2000:]
    assert (run / "generations.jsonl").read_text() == before
    assert CliRunner().invoke(app, ["report", str(run)]).exit_code == 0
    assert "checkpoint-4" in (run / "report.html").read_text()


# --- watch ----------------------------------------------------------------------------------------

def checkpoint(root: Path, step: int, scale: float, finished: bool = True) -> Path:
    """A checkpoint folder as the Trainer writes it: the demo adapter's LoRA B scaled, then trainer_state.json last."""
    folder = root / f"checkpoint-{step}"
    folder.mkdir(parents=True)
    shutil.copy(demo_adapter_path() / "adapter_config.json", folder)
    tensors = load_file(demo_adapter_path() / "adapter_model.safetensors")
    save_file({k: (v * scale if "lora_B" in k else v).contiguous() for k, v in tensors.items()},
              str(folder / "adapter_model.safetensors"))
    if finished:
        (folder / "trainer_state.json").write_text(json.dumps({"log_history": [{"reward": scale, "step": step}]}))
    return folder


def lines(run: Path) -> list[dict]:
    path = run / "checkpoints.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.is_file() else []


def wait_for(predicate, seconds: float = 600) -> None:
    end = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError("timed out")
        time.sleep(0.5)


@SLOW
def test_watch_evaluates_each_checkpoint_once_never_half_written_and_resumes_after_a_kill(tmp_path):
    folder, run = tmp_path / "out", tmp_path / "out" / "grpo_compare"
    checkpoint(folder, 100, 0.3)
    cmd = CLI + ["watch", str(folder), *FLAGS, "--until-step", "300", "--poll", "0.5"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: len(lines(run)) == 1)
        half = checkpoint(folder, 200, 0.6, finished=False)  # the adapter being written, trainer_state.json not yet
        weights = (half / "adapter_model.safetensors").read_bytes()
        (half / "adapter_model.safetensors").write_bytes(weights[:len(weights) // 2])
        time.sleep(8)
        assert len(lines(run)) == 1  # a half-written checkpoint is left alone, however long it rests
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    (half / "adapter_model.safetensors").write_bytes(weights)
    (half / "trainer_state.json").write_text("{}")
    checkpoint(folder, 300, 4.0)  # LoRA B four times the trained one: the answers degenerate, the logged reward rose
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stderr[-3000:]
    assert [m["arm"] for m in lines(run)] == ["checkpoint-100", "checkpoint-200", "checkpoint-300"]
    records = [json.loads(x) for x in (run / "generations.jsonl").read_text().splitlines()]
    assert len(records) == 4 * 6 and len({(r["arm"], r["problem_id"]) for r in records}) == 24  # none repeated
    assert again.stdout.count("checkpoint-") >= 2 and "best so far" in again.stdout
    summary = json.loads((run / "summary.json").read_text())
    assert list(summary["arms"]) == ["base", "checkpoint-100", "checkpoint-200", "checkpoint-300"]
    fired = {(s["signal"], s["arm"]) for s in summary["alarm"]}
    assert any(arm == "checkpoint-300" for _, arm in fired), summary["alarm"]  # the diverging checkpoint is named
    assert lines(run)[-1]["metrics"]["grpo_compare/alarm"] >= 1


def test_a_checkpoint_stopped_mid_evaluation_is_pending_again(tmp_path):
    """The run records an arm before its first generation; only its metrics line marks it evaluated."""
    from grpo_compare.config import CompareConfig
    from grpo_compare.watch import Watcher

    folder = tmp_path / "out"
    for step in (100, 200):
        checkpoint(folder, step, 1.0)
    watcher = Watcher(CompareConfig(), folder)
    watcher.run_dir.mkdir()
    (watcher.run_dir / "fingerprint.json").write_text(json.dumps({"arms": {"base": {}, "checkpoint-100": {},
                                                                            "checkpoint-200": {}}}))
    (watcher.run_dir / "checkpoints.jsonl").write_text(json.dumps({"arm": "checkpoint-100", "step": 100}) + "\n{\"arm\": \"che")
    assert [p.name for _, p in watcher.pending()] == ["checkpoint-200"]
    assert not watcher.reached(200) and watcher.done() == {"checkpoint-100"}
