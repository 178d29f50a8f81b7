"""An engine the user already holds: a live `vllm.LLM`, or the unsloth model of a training notebook.

Each test starts an engine of its own, so each runs in a process of its own (a second vLLM engine
in the test process would disturb the session engine).
"""

from __future__ import annotations

import gc
import json
from pathlib import Path

import pytest

from conftest import in_own_process, shared_file
from grpo_compare import GRPOInference, compare
from grpo_compare.demo import demo_adapter_path
from grpo_compare.engines.vllm import VLLMEngine
from grpo_compare.errors import UserError

pytestmark = pytest.mark.slow  # each test starts an engine in a process of its own


def _llm(model: Path, **lora):
    from vllm import LLM

    return LLM(model=str(model), max_model_len=2048, dtype="float32", enforce_eager=True,
               kv_cache_memory_bytes=256 * 2**20, **lora)


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_a_live_vllm_llm_serves_the_comparison_without_a_second_engine(demo_model, request, monkeypatch, tmp_path):
    if not in_own_process(request):
        return
    llm = _llm(demo_model, enable_lora=True, max_loras=2, max_lora_rank=16)

    def no_second_engine(*a, **k):
        raise AssertionError("a second engine was started")

    monkeypatch.setattr(VLLMEngine, "__init__", no_second_engine)
    result = compare(engine=llm, adapter=str(demo_adapter_path()), dataset=str(shared_file("gsm8k_test.jsonl")),
                     max_samples=4, temperature=0.0, max_tokens=32, output_dir=tmp_path / "run")
    assert result.summary["n"] == 4 and result.config.model == str(demo_model)  # the model the engine holds
    assert result.summary["adapter_check"]["identical"] is False  # the adapter reached the engine
    config = json.loads((tmp_path / "run" / "fingerprint.json").read_text())
    assert config["backend"] == "vllm"
    # the engine stays the caller's: open, and still generating
    assert llm.generate(["1 + 1 ="], use_tqdm=False)[0].outputs[0].text is not None
    inf = GRPOInference(engine=llm, adapter=str(demo_adapter_path()), temperature=0.0, max_tokens=16)
    assert set(inf.ask("What is 2 + 3?")) == {"base", "grpo"}


def test_a_live_vllm_llm_without_lora_gets_one_clear_line(demo_model, request):
    # the engine core in the test's process (the test above keeps vLLM's default, a process of its own)
    if not in_own_process(request, VLLM_ENABLE_V1_MULTIPROCESSING="0"):
        return
    llm = _llm(demo_model)
    with pytest.raises(UserError, match=r"started without LoRA support: start it with LLM\(\.\.\., enable_lora=True, "
                                        r"max_loras=2, max_lora_rank=16\)"):
        compare(engine=llm, adapter=str(demo_adapter_path()), max_samples=1)


def test_the_notebooks_unsloth_model_is_used_as_it_is(demo_model, fixture_lora, request, tmp_path):
    if not in_own_process(request):
        return
    stand_in = request.getfixturevalue("stand_in")
    model, tokenizer = stand_in.FastLanguageModel.from_pretrained(str(demo_model), max_seq_length=2048,
                                                                   fast_inference=True, max_lora_rank=16)
    result = compare(engine=model, tokenizer=tokenizer, adapter=str(fixture_lora),
                     dataset=str(shared_file("gsm8k_test.jsonl")), max_samples=3, temperature=0.0, max_tokens=24)
    assert result.summary["n"] == 3 and result.config.backend == "unsloth"
    assert stand_in.load_lora_calls == [str(fixture_lora)]  # a fresh model has no load_lora: unsloth_zoo's, once
    assert not stand_in.deleted  # the notebook's engine is left open
    assert len(model.fast_generate_calls) == 2  # the adapter check, then both arms in one call


def test_a_fast_inference_model_without_its_engine_is_refused(demo_model, stand_in):
    # without fast_inference the stand-in starts no engine: this one runs in the test process
    model, _ = stand_in.FastLanguageModel.from_pretrained(str(demo_model), fast_inference=False)
    model.fast_generate = lambda *a, **k: None  # unsloth keeps the name; without vLLM it cannot take requests
    with pytest.raises(UserError, match="fast_inference is off"):
        compare(engine=model, adapter=str(demo_adapter_path()), model=str(demo_model), max_samples=1)


def test_close_gives_the_memory_back(demo_model, request):
    if not in_own_process(request):
        return
    before = _rss_mib()
    engine = VLLMEngine(str(demo_model), max_model_len=1024, progress=False, kv_cache_memory_bytes=512 * 2**20)
    loaded = _rss_mib()
    engine.close()
    gc.collect()
    after = _rss_mib()
    print(f"RSS MiB: before {before:.0f}, engine loaded {loaded:.0f}, after close {after:.0f}")
    assert loaded - before > 300  # the weights and a 512 MiB KV cache
    assert after - before < 0.5 * (loaded - before)  # at least half of it came back
