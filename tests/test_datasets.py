"""Loading problems: every file type, GSM8K and MATH-500 shapes, and the errors users hit."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from conftest import shared_file
from grpo_compare.adapters import AdapterInfo
from grpo_compare.config import CompareConfig
from grpo_compare.datasets import load_problems
from grpo_compare.errors import DataError, UserError
from grpo_compare.plan import plan


def test_gsm8k_file_shape_is_recognised():
    probs = load_problems(shared_file("gsm8k_test.jsonl"), max_samples=3)
    assert [p.gold for p in probs] == ["18", "3", "70000"]
    assert probs[0].question.startswith("Janet")


def test_math500_file_keeps_level_subject_and_id():
    p = load_problems(shared_file("math500_test.jsonl"), max_samples=1)[0]
    assert p.id == "test/precalculus/807.json"
    assert p.gold == r"\left( 3, \frac{\pi}{2} \right)"
    assert p.meta["level"] == 2 and p.meta["subject"] == "Precalculus"


@pytest.mark.parametrize("suffix", [".csv", ".json", ".parquet", ".txt"])
def test_other_file_types(tmp_path, suffix):
    rows = [{"question": "What is 2+2?", "answer": "4"}, {"question": "What is 3+3?", "answer": "6"}]
    path = tmp_path / f"rows{suffix}"
    if suffix == ".csv":
        pd.DataFrame(rows).to_csv(path, index=False)
    elif suffix == ".json":
        path.write_text(json.dumps(rows))
    elif suffix == ".parquet":
        pd.DataFrame(rows).to_parquet(path)
    else:
        path.write_text("What is 2+2?\nWhat is 3+3?\n")
    probs = load_problems(path)
    assert [p.question for p in probs] == ["What is 2+2?", "What is 3+3?"]
    assert [p.gold for p in probs] == ([None, None] if suffix == ".txt" else ["4", "6"])


def test_custom_fields(tmp_path):
    path = tmp_path / "custom.jsonl"
    path.write_text('{"q": "1+1?", "a": "2"}\n')
    p = load_problems(path, question_field="q", answer_field="a")[0]
    assert (p.question, p.gold) == ("1+1?", "2")


def test_utf8_bom_is_accepted(tmp_path):
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + b'{"question": "1+1?", "answer": "2"}\n')
    assert load_problems(path)[0].question == "1+1?"


def test_non_utf8_names_the_line(tmp_path):
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(b'{"question": "ok", "answer": "1"}\n{"question": "caf\xe9", "answer": "2"}\n')
    with pytest.raises(DataError, match=r"latin1.jsonl:2: not UTF-8"):
        load_problems(path)


def test_directory_instead_of_file(tmp_path):
    with pytest.raises(UserError, match="is a directory"):
        load_problems(tmp_path)


def test_duplicate_ids(tmp_path):
    path = tmp_path / "dup.jsonl"
    path.write_text('{"id": 1, "question": "a"}\n{"id": 1, "question": "b"}\n')
    with pytest.raises(DataError, match="duplicate problem id '1'"):
        load_problems(path)


def test_unknown_hub_dataset_fails_with_one_line():
    with pytest.raises(UserError, match="could not load dataset 'nobody/nothing'"):
        load_problems("nobody/nothing")


@pytest.mark.parametrize("rank,expected", [(1, 1), (4, 8), (16, 16), (17, 32), (64, 64), (300, 320)])
def test_max_lora_rank_rounds_up_to_a_vllm_value(tmp_path, rank, expected):
    assert AdapterInfo(tmp_path, rank, ()).vllm_max_lora_rank == expected


def test_yaml_config_arms_are_data(tmp_path):
    path = tmp_path / "arms.yaml"
    path.write_text(
        "arms:\n  - {name: base}\n  - {name: prompt_only, system_prompt: xml_cot}\n"
        "  - {name: grpo, lora: true, system_prompt: xml_cot}\nsampling: {temperature: 0}\n"
    )
    cfg = CompareConfig.from_yaml(path).override(max_samples=4)
    assert [a.name for a in cfg.arms] == ["base", "prompt_only", "grpo"]
    assert cfg.sampling.temperature == 0 and cfg.max_samples == 4
    # unset sampling resolves to the demo's (no model, adapter or dataset named), else the notebooks'
    assert cfg.sampling.filled("demo").max_tokens == 512 and cfg.sampling.filled("notebook").max_tokens == 1024
    arm = plan(cfg).arm("prompt_only")
    assert arm.adapter is None and arm.system_prompt.startswith("\nRespond in the following format:")
