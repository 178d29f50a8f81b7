"""The demo trainer really trains: a smoke run (2 SFT + 2 GRPO steps) yields a loadable LoRA."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grpo_compare.demo.problems import demo_problems
from grpo_compare.demo.train import sft_target, worked_steps


def test_worked_steps_follow_the_expression_left_to_right() -> None:
    assert worked_steps("4 * 3") == "4 * 3 = 12."
    assert worked_steps("8 + 7 + 1") == "8 + 7 = 15, 15 + 1 = 16."
    assert worked_steps("12 // 4") == "12 / 4 = 3."


def test_sft_targets_earn_every_training_reward() -> None:
    from grpo_compare import scoring

    for p in demo_problems("train", n=50):
        text = sft_target(p)
        assert scoring.strict_format_reward(text) == 0.5
        assert scoring.soft_format_reward(text) == 0.0  # the notebook's regex has no DOTALL
        assert scoring.score(text, p.gold).soft_format  # the corrected one passes
        assert scoring.int_reward(text) == 0.5
        assert scoring.correctness_reward(text, p.gold) == 2.0
        assert scoring.xmlcount_reward(text) == pytest.approx(0.5)


@pytest.mark.slow
def test_smoke_training_writes_a_trained_peft_adapter(tmp_path: Path) -> None:
    import torch
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    from grpo_compare.demo import demo_model_path
    from grpo_compare.demo.train import train

    out = tmp_path / "adapter"
    summary = train(out, smoke=True)

    assert summary["grpo_steps_done"] == 2
    assert summary["sft_steps_done"] == 2
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == "SmolLM2-135M-Instruct"
    assert not config.get("modules_to_save")
    assert config["r"] <= 16
    weights = load_file(out / "adapter_model.safetensors")
    lora_b = [t for name, t in weights.items() if "lora_B" in name]
    assert lora_b and any(t.abs().sum() > 0 for t in lora_b)  # B starts at zero: non-zero means it trained

    base = AutoModelForCausalLM.from_pretrained(demo_model_path(), dtype=torch.float32)
    model = PeftModel.from_pretrained(base, out)
    assert any("lora_B" in name for name, _ in model.named_parameters())
    assert "rewards/correctness/mean" in summary["final_reward_means"]
