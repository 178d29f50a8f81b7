"""The `grpo-compare` command as a user runs it: every bad input's one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import save_file


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grpo_compare.cli", *args],
                          capture_output=True, text=True, cwd=cwd, timeout=900)


def assert_one_line_error(proc: subprocess.CompletedProcess, *words: str, code: int = 2) -> None:
    assert proc.returncode == code, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    lines = [x for x in proc.stderr.splitlines() if x.startswith("error:")]
    assert len(lines) == 1, proc.stderr[-2000:]
    for w in words:
        assert w in proc.stderr.replace("\n", " "), proc.stderr


@pytest.fixture
def gsm8k_rows(tmp_path) -> Path:
    path = tmp_path / "rows.jsonl"
    path.write_text('{"question": "1+1?", "answer": "#### 2"}\n')
    return path


def test_unknown_model(fixture_lora, gsm8k_rows):
    proc = run_cli("compare", "--model", "/nowhere/model", "--adapter", str(fixture_lora), "--dataset", str(gsm8k_rows))
    assert_one_line_error(proc, "/nowhere/model", "not found")


def test_adapter_without_config(tmp_path, gsm8k_rows):
    (tmp_path / "lora").mkdir()
    proc = run_cli("compare", "--adapter", str(tmp_path / "lora"), "--dataset", str(gsm8k_rows))
    assert_one_line_error(proc, "adapter_config.json")


def test_adapter_for_another_base_model(fixture_lora, tmp_path, gsm8k_rows):
    import torch

    bad = tmp_path / "bad_lora"
    bad.mkdir()
    (bad / "adapter_config.json").write_text((fixture_lora / "adapter_config.json").read_text())
    name = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"
    save_file({name: torch.zeros(8, 2048)}, str(bad / "adapter_model.safetensors"))
    proc = run_cli("compare", "--adapter", str(bad), "--dataset", str(gsm8k_rows))
    assert_one_line_error(proc, "another base model", "[8, 2048]", "576")


def test_malformed_dataset_row_names_file_and_line(fixture_lora, tmp_path):
    data = tmp_path / "broken.jsonl"
    data.write_text('{"question": "1+1?", "answer": "#### 2"}\n{"question": oops}\n')
    proc = run_cli("compare", "--adapter", str(fixture_lora), "--dataset", str(data))
    assert_one_line_error(proc, "broken.jsonl:2", "malformed JSON", code=3)


def test_unknown_field_lists_fields_found(fixture_lora, tmp_path):
    data = tmp_path / "other.jsonl"
    data.write_text('{"q": "1+1?", "a": "2"}\n')
    proc = run_cli("compare", "--adapter", str(fixture_lora), "--dataset", str(data))
    assert_one_line_error(proc, "other.jsonl:1", "fields found: q, a", "--question-field", code=3)


def test_empty_dataset(fixture_lora, tmp_path):
    data = tmp_path / "empty.jsonl"
    data.write_text("\n")
    proc = run_cli("compare", "--adapter", str(fixture_lora), "--dataset", str(data))
    assert_one_line_error(proc, "empty", code=3)


def test_missing_dataset_file(fixture_lora):
    proc = run_cli("compare", "--adapter", str(fixture_lora), "--dataset", "/nowhere/data.jsonl")
    assert_one_line_error(proc, "/nowhere/data.jsonl", "not found")


def test_negative_temperature(fixture_lora, gsm8k_rows):
    proc = run_cli("compare", "--adapter", str(fixture_lora), "--dataset", str(gsm8k_rows), "--temperature", "-1")
    assert_one_line_error(proc, "temperature")


def test_unknown_config_key_names_it(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("sampling:\n  temprature: 0.5\n")
    proc = run_cli("compare", "--config", str(cfg))
    assert_one_line_error(proc, "temprature", "allowed keys: temperature")


def test_directory_instead_of_dataset_file(fixture_lora, tmp_path):
    proc = run_cli("compare", "--adapter", str(fixture_lora), "--dataset", str(tmp_path))
    assert_one_line_error(proc, str(tmp_path), "directory")


def test_non_utf8_dataset_names_the_line(fixture_lora, tmp_path):
    data = tmp_path / "latin1.jsonl"
    data.write_bytes(b'{"question": "1+1?", "answer": "#### 2"}\n{"question": "caf\xe9?", "answer": "#### 1"}\n')
    proc = run_cli("compare", "--adapter", str(fixture_lora), "--dataset", str(data))
    assert_one_line_error(proc, "latin1.jsonl:2", "UTF-8", code=3)


@pytest.mark.parametrize("flag", ["--max-samples", "--max-tokens"])
def test_zero_counts_are_usage_errors(fixture_lora, gsm8k_rows, flag):
    proc = run_cli("compare", "--adapter", str(fixture_lora), "--dataset", str(gsm8k_rows), flag, "0")
    assert_one_line_error(proc, flag.removeprefix("--").replace("-", "_"))


def test_duplicate_arm_names_are_refused(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("arms:\n  - {name: base}\n  - {name: base, lora: true}\n")
    proc = run_cli("compare", "--config", str(cfg))
    assert_one_line_error(proc, "distinct names")


def test_pickled_adapter_is_refused_without_allow_pickle(fixture_lora, tmp_path, gsm8k_rows):
    import shutil

    lora = tmp_path / "pickled"
    lora.mkdir()
    shutil.copy(fixture_lora / "adapter_config.json", lora)
    (lora / "adapter_model.bin").write_bytes(b"not loaded")
    proc = run_cli("compare", "--adapter", str(lora), "--dataset", str(gsm8k_rows))
    assert_one_line_error(proc, "adapter_model.bin", "pickle", "--allow-pickle")
