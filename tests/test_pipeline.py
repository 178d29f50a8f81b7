"""The whole comparison on the real vLLM CPU engine with the demo model and a real LoRA."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from conftest import shared_file
from grpo_compare import CompareConfig, compare
from grpo_compare.config import ArmSpec
from grpo_compare.prompts import XML_COT
from grpo_compare.session import build_requests, load_tokenizer
from grpo_compare.summary import ARM_COLUMNS, OUTCOMES

SUMMARY_ARM_KEYS = {"accuracy", "graded", "strict_format_rate", "soft_format_rate",
                    "mean_completion_tokens", "truncated_rate"}


@pytest.fixture(scope="module")
def gsm8k_run(engine, fixture_lora, tmp_path_factory):
    """Six GSM8K rows through both arms, greedy, files written."""
    from conftest import Recording

    out = tmp_path_factory.mktemp("run") / "gsm8k"
    recorded = Recording(engine)
    result = compare(CompareConfig(), engine=recorded, output_dir=out, model=None,
                     adapter=str(fixture_lora), dataset=str(shared_file("gsm8k_test.jsonl")),
                     max_samples=6, temperature=0.0, max_tokens=48)
    return result, out, recorded.calls


def test_run_writes_the_four_files(gsm8k_run):
    result, out, _ = gsm8k_run
    table = pd.read_csv(out / "comparison.csv")
    assert len(table) == 6
    for arm in ("base", "grpo"):
        assert {f"{arm}_{c}" for c in ARM_COLUMNS} <= set(table.columns)
    assert {"id", "question", "gold", "outcome"} <= set(table.columns)
    assert set(table.outcome) <= set(OUTCOMES)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n"] == 6
    assert SUMMARY_ARM_KEYS <= set(summary["arms"]["base"]) and SUMMARY_ARM_KEYS <= set(summary["arms"]["grpo"])
    for key in ("delta_accuracy", "delta_accuracy_ci", "fixed", "broken", "mcnemar_p"):
        assert key in summary
    assert summary == result.summary
    config = (out / "config.yaml").read_text()
    assert "temperature: 0.0" in config and "max_samples: 6" in config
    lines = [json.loads(x) for x in (out / "generations.jsonl").read_text().splitlines()]
    assert len(lines) == 12 and {x["arm"] for x in lines} == {"base", "grpo"}


def test_gsm8k_gold_is_the_number_after_hashes(gsm8k_run):
    result, _, _ = gsm8k_run
    assert result.problems[0].gold == "18"  # Janet's ducks
    assert result.table.loc[0, "gold"] == "18"


def test_each_arm_keeps_its_rendered_prompt(gsm8k_run):
    result, _, _ = gsm8k_run
    pid = result.problems[0].id
    base = result.results[(pid, "base")].generation.prompt_text
    grpo = result.results[(pid, "grpo")].generation.prompt_text
    # SmolLM's template inserts its own system prompt when none is sent: the record shows it.
    assert "You are a helpful AI assistant named SmolLM" in base and XML_COT not in base
    assert XML_COT in grpo and "named SmolLM" not in grpo


def test_both_arms_share_one_engine_call(gsm8k_run):
    result, _, calls = gsm8k_run
    check, main = calls[0], calls[1:]  # the one-prompt adapter check, then the run itself
    assert check == ["check_base", "check_lora"]
    assert len(main) == 1
    assert main[0].count("base") == 6 and main[0].count("grpo") == 6


def test_adapter_check_sees_the_lora_change_the_output(gsm8k_run):
    result, out, _ = gsm8k_run
    check = json.loads((out / "summary.json").read_text())["adapter_check"]
    assert check["identical"] is False
    assert check["with_adapter"] != check["without_adapter"]


def test_base_rows_of_mixed_call_equal_base_run_alone(gsm8k_run, engine, demo_model):
    result, _, _ = gsm8k_run
    base_arm = result.arms[0]
    assert base_arm.adapter is None
    tok = load_tokenizer(str(demo_model))
    requests, _ = build_requests(result.problems, [base_arm], tok, seed=0, max_model_len=2048)
    alone = engine.generate(requests, result.config.sampling)
    mixed = [result.results[(p.id, "base")].generation.completion for p in result.problems]
    assert [g.completion for g in alone] == mixed


def test_lora_changes_outputs_with_identical_messages(engine, fixture_lora):
    arms = (ArmSpec("base"), ArmSpec("lora_only", lora=True))
    result = compare(CompareConfig(arms=arms), engine=engine, adapter=str(fixture_lora),
                     dataset=str(shared_file("gsm8k_test.jsonl")), max_samples=6,
                     temperature=0.0, max_tokens=64)
    p0 = result.problems[0].id
    assert result.results[(p0, "base")].generation.prompt_text == result.results[(p0, "lora_only")].generation.prompt_text
    differ = sum(result.results[(p.id, "base")].generation.completion
                 != result.results[(p.id, "lora_only")].generation.completion for p in result.problems)
    assert differ >= 4, f"only {differ}/6 completions changed under the LoRA"


def test_math500_rows_keep_level_and_subject(engine, fixture_lora):
    result = compare(CompareConfig(), engine=engine, adapter=str(fixture_lora),
                     dataset=str(shared_file("math500_test.jsonl")), max_samples=4,
                     temperature=0.0, max_tokens=32)
    table = result.table
    assert {"level", "subject"} <= set(table.columns)
    assert table.loc[0, "id"] == "test/precalculus/807.json"
    assert table["base_correct"].notna().all()  # every MATH-500 gold here is gradable


def test_problem_gets_same_seed_in_every_arm(demo_model):
    from grpo_compare.types import Arm, Problem

    tok = load_tokenizer(str(demo_model))
    probs = [Problem("a", "1+1?", "2"), Problem("b", "2+2?", "4")]
    reqs, _ = build_requests(probs, [Arm("base"), Arm("grpo", None, XML_COT)], tok, seed=3, max_model_len=2048)
    assert reqs[0].seed == reqs[1].seed and reqs[2].seed == reqs[3].seed and reqs[0].seed != reqs[2].seed


def test_sampled_run_is_reproducible_with_a_seed(engine, fixture_lora):
    kw = dict(engine=engine, adapter=str(fixture_lora), dataset=str(shared_file("gsm8k_test.jsonl")),
              max_samples=3, temperature=0.8, max_tokens=24, seed=7)
    a, b = compare(CompareConfig(), **kw), compare(CompareConfig(), **kw)
    texts = lambda r: [x.generation.completion for x in r.results.values()]  # noqa: E731
    assert texts(a) == texts(b)


def test_prompt_longer_than_context_is_skipped_not_fatal(engine, fixture_lora, tmp_path):
    data = tmp_path / "long.jsonl"
    rows = [{"question": "What is 2+3?", "answer": "#### 5"},
            {"question": "word " * 3000, "answer": "#### 1"}]
    data.write_text("\n".join(json.dumps(r) for r in rows))
    result = compare(CompareConfig(), engine=engine, adapter=str(fixture_lora), dataset=str(data),
                     temperature=0.0, max_tokens=8)
    assert result.skipped == ("2",) and len(result.table) == 1
