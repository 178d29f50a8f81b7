"""One config and one set of defaults: the same inputs give the same run from Python, YAML and the CLI."""

from __future__ import annotations

import json
import math
import sys

import pytest
from typer.testing import CliRunner

from conftest import Recording
from grpo_compare import CompareConfig, compare
from grpo_compare.cli import app
from grpo_compare.config import DEMO_SAMPLING, NOTEBOOK_SAMPLING, prompt_text
from grpo_compare.errors import UserError


class StopsAtTheRun(Recording):
    """The session engine until the run's own generation starts: that call's sampling is kept and
    the run is interrupted there (as Ctrl-C would), so nothing long is generated."""

    def __init__(self, engine) -> None:
        super().__init__(engine)
        self.sampling: list = []

    def stream(self, requests, sampling):
        self.sampling.append(sampling)
        raise KeyboardInterrupt


@pytest.mark.slow
def test_python_api_and_cli_sample_alike(engine, fixture_lora, demo_model, tmp_path, monkeypatch):
    data = tmp_path / "one.jsonl"
    data.write_text(json.dumps({"question": "What is 2 + 2?", "answer": "#### 4"}) + "\n")
    named = dict(model=str(demo_model), adapter=str(fixture_lora), dataset=str(data))
    api = StopsAtTheRun(engine)
    with pytest.raises(KeyboardInterrupt):
        compare(engine=api, output_dir=tmp_path / "api", max_model_len=2048, **named)
    cli = StopsAtTheRun(engine)
    monkeypatch.setattr(sys.modules["grpo_compare.session"], "start_engine", lambda *a, **k: cli)
    args = [f"--{k.replace('_', '-')}={v}" for k, v in named.items()]
    result = CliRunner().invoke(app, ["compare", *args, "--max-model-len", "2048", "--output-dir", str(tmp_path / "cli")])
    assert result.exit_code == 130 and "interrupted" in result.stderr, result.stderr[-2000:]
    assert api.sampling == cli.sampling and len(api.sampling) == 1
    run = api.sampling[0]
    assert (run.temperature, run.top_p, run.max_tokens) == tuple(NOTEBOOK_SAMPLING.values())
    # what each run recorded before generating: the same settings, with what was really used
    recorded = [json.loads((tmp_path / d / "fingerprint.json").read_text()) for d in ("api", "cli")]
    assert recorded[0]["sampling"] == recorded[1]["sampling"] and recorded[0]["sampling"]["max_tokens"] == 1024
    assert {k: v for k, v in recorded[0].items() if k not in ("id", "lora_strategy")} == {
        k: v for k, v in recorded[1].items() if k not in ("id", "lora_strategy")}  # an engine passed in is mixed
    assert recorded[0]["model"] == str(demo_model) and recorded[0]["arms"]["grpo"]["adapter"] == str(fixture_lora.resolve())
    assert recorded[0]["dataset"] == str(data) and recorded[0]["backend"] == "vllm"
    assert recorded[0]["versions"]["transformers"]


@pytest.mark.parametrize("flags, expected", [
    ({}, DEMO_SAMPLING),                                       # the embedded default: greedy, 512
    ({"model": "org/model"}, NOTEBOOK_SAMPLING),               # any named input: the notebooks' settings
    ({"adapter": "lora"}, NOTEBOOK_SAMPLING),
    ({"dataset": "gsm8k.jsonl"}, NOTEBOOK_SAMPLING),
    ({"dataset": "gsm8k.jsonl", "temperature": 0.0}, {**NOTEBOOK_SAMPLING, "temperature": 0.0}),  # a flag wins
    ({"max_tokens": 64}, {**DEMO_SAMPLING, "max_tokens": 64}),
])
def test_unset_sampling_resolves_in_one_place(flags, expected):
    cfg = CompareConfig().override(**flags)
    s = cfg.sampling.filled("demo" if cfg.is_demo else "notebook")
    assert {"temperature": s.temperature, "top_p": s.top_p, "max_tokens": s.max_tokens} == expected


def test_guide_yaml_and_flat_yaml_are_one_config(tmp_path):
    guide, flat = tmp_path / "guide.yaml", tmp_path / "flat.yaml"
    guide.write_text("model: {base_model: org/m, model_path: lora}\ninference: {max_new_tokens: 64, max_length: 2048}\n"
                     "evaluation: {dataset_name: d.jsonl}\noptimization: {batch_size: 8, fp16: false}\n")
    flat.write_text("model: org/m\nadapter: lora\ndataset: d.jsonl\nsampling: {max_tokens: 64}\n"
                    "max_model_len: 2048\nbatch_size: 8\n")
    assert CompareConfig.from_yaml(guide) == CompareConfig.from_yaml(flat)


@pytest.mark.parametrize("flags, culprit", [
    ({"allow_pickle": "false"}, "allow_pickle"),     # a quoted string is not a boolean
    ({"max_samples": 2.5}, "max_samples"),           # fractional count
    ({"num_samples": True}, "num_samples"),          # a boolean is not a count
    ({"temperature": math.nan}, "temperature"),      # not finite
    ({"top_p": math.inf}, "top_p"),
    ({"max_model_len": "4096"}, "max_model_len"),    # a string where a number belongs
    ({"model": 123}, "model"),                       # a number where a path belongs
    ({"dataset": "  "}, "dataset"),                  # blank
])
def test_every_value_is_checked_before_anything_loads(flags, culprit):
    with pytest.raises(UserError, match=f"^{culprit}: .* is not allowed; allowed: "):
        CompareConfig().override(**flags)


def test_named_and_literal_system_prompts():
    assert prompt_text("xml_cot").startswith("\nRespond in the following format:")
    assert prompt_text("Answer tersely.") == "Answer tersely."
    with pytest.raises(UserError, match="unknown named system prompt 'xml_cott'"):
        prompt_text("xml_cott")


def test_each_setting_is_declared_once_and_everything_reads_the_declaration():
    """The README's flag table, the CLI's options and help, the guide's YAML keys and the validator
    all come from the settings' declarations: change one and all follow."""
    from pathlib import Path

    from grpo_compare.config import GUIDE_KEYS, SamplingConfig, declared, flag_table, flags, shown_default

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    block = readme.split("<!-- flags:")[1].split("\n", 1)[1].split("<!-- /flags -->")[0].strip()
    assert block == flag_table(), "README's flag table is stale: paste config.flag_table()"
    help_text = " ".join(CliRunner().invoke(app, ["compare", "--help"], env={"COLUMNS": "400"}).output.split())
    fields = dict(declared())
    for name, (_, text) in flags().items():
        assert "--" + name.replace("_", "-") in help_text
        assert " ".join(text.split()) in help_text, name
        assert shown_default(fields[name]) in text
    # the guide's keys land on declared fields, and a declared range refuses a value from any door
    targets = {t.split(".")[-1] for keys in GUIDE_KEYS.values() for t in keys.values() if t}
    assert {"temperature", "max_tokens", "max_model_len", "dataset", "min_delta"} <= targets
    assert GUIDE_KEYS["inference"]["temperature"] == "sampling.temperature"
    assert fields["temperature"].metadata["allowed"] == ">= 0 and <= 2 (vLLM's range)"
    with pytest.raises(UserError, match=r"inference\.temperature: 3 is not allowed; allowed: a number >= 0 and <= 2"):
        CompareConfig.from_dict({"inference": {"temperature": 3}})
    with pytest.raises(UserError, match=r"^temperature: 3 is not allowed; allowed: a number >= 0 and <= 2"):
        SamplingConfig(temperature=3)
