"""The shipped demo adapter: small, vLLM-servable, and it changes what the model says."""

from __future__ import annotations

import json

import pytest

from grpo_compare.demo import demo_adapter_path, demo_model_path
from grpo_compare.demo.problems import demo_problems

ADAPTER = demo_adapter_path()


@pytest.fixture(scope="module")
def adapter_config() -> dict:
    path = ADAPTER / "adapter_config.json"
    assert path.is_file(), f"{path} is missing: train it with `python -m grpo_compare.demo.train`"
    return json.loads(path.read_text())


def test_adapter_is_a_small_plain_lora(adapter_config: dict) -> None:
    assert adapter_config["peft_type"] == "LORA"
    assert adapter_config["r"] <= 16
    assert not adapter_config.get("modules_to_save")
    assert adapter_config.get("bias", "none") == "none"
    assert not adapter_config.get("use_dora")
    assert adapter_config["base_model_name_or_path"] == "SmolLM2-135M-Instruct"
    size = sum(f.stat().st_size for f in ADAPTER.iterdir() if f.is_file())
    assert size < 20 * 2**20
    assert (ADAPTER / "README.md").read_text().count("## Evaluation") == 1


def test_greedy_output_differs_from_the_base_model() -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(demo_model_path())
    base = AutoModelForCausalLM.from_pretrained(demo_model_path(), dtype=torch.float32)
    model = PeftModel.from_pretrained(base, ADAPTER)
    model.eval()
    question = demo_problems("eval", n=1)[0].question
    text = tokenizer.apply_chat_template([{"role": "user", "content": question}],
                                         tokenize=False, add_generation_prompt=True)
    inputs = tokenizer(text, return_tensors="pt", add_special_tokens=False)
    kwargs = dict(max_new_tokens=12, do_sample=False, pad_token_id=tokenizer.eos_token_id)
    with torch.no_grad():
        with_lora = model.generate(**inputs, **kwargs)
        with model.disable_adapter():
            without = model.generate(**inputs, **kwargs)
    assert with_lora.shape[1] > inputs["input_ids"].shape[1]
    assert not torch.equal(with_lora, without)


@pytest.mark.slow
def test_short_default_run_with_the_shipped_adapter(tmp_path) -> None:
    from test_cli import run_cli

    # the default run's way (a merged copy, which auto takes from 64 generations), on 16 problems
    out = tmp_path / "demo"
    proc = run_cli("compare", "--max-samples", "16", "--lora-strategy", "merged", "--output-dir", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n"] == 16 and summary["adapter_check"]["identical"] is False
    assert len((out / "generations.jsonl").read_text().splitlines()) == 32  # 16 problems x 2 arms
    assert summary["arms"]["grpo"]["soft_format_rate"] >= 0.75  # the format it was trained on
    assert summary["alarm"] == []  # format and correctness together, and shorter answers: no reward hacking
    assert "accuracy" in proc.stdout and "McNemar" in proc.stdout
