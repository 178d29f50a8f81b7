"""The inference front end (GRPOInference, ask / batch / evaluate, k samples) on the real engine.

Library calls and in-process CLI runs share the session's vLLM engine (the pipeline's engine
start is pointed at it); config errors need no engine at all.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import shared_file
from grpo_compare import CompareConfig, GRPOInference, InferenceConfig, compare
from grpo_compare.cli import app
from grpo_compare.engines.switch import SwitchingEngine
from grpo_compare.errors import UserError
from grpo_compare.prompts import XML_COT
from grpo_compare.session import build_requests, load_tokenizer
from grpo_compare.stats import pass_at_k, sample_metrics
from grpo_compare.types import Arm, Problem

RESPONSE_KEYS = {"prompt", "response", "answer", "full_output"}
BATCH_KEYS = {"problem", "prompt", "response", "answer", "index"}
EVAL_KEYS = {"accuracy", "correct", "total", "eval_time", "results", "ungraded"}
EVAL_ITEM_KEYS = {"index", "problem", "reference_answer", "model_answer", "is_correct", "model_response"}


@pytest.fixture(scope="module")
def inf(engine, fixture_lora) -> GRPOInference:
    cfg = InferenceConfig().override(adapter=str(fixture_lora), temperature=0.0, max_tokens=24)
    return GRPOInference(cfg, engine=engine)


@pytest.fixture
def cli(engine, monkeypatch):
    """Run the CLI in this process, the pipeline's engine start handing out the session engine."""
    from conftest import Recording

    monkeypatch.setattr(sys.modules["grpo_compare.session"], "start_engine", lambda *a, **k: Recording(engine))
    runner = CliRunner()

    def invoke(*args: str):
        result = runner.invoke(app, list(args), catch_exceptions=False)
        assert result.exit_code == 0, result.stderr[-3000:]
        return result

    return invoke


# --- the guide's API ------------------------------------------------------------------------

def test_preprocess_prompt_is_cached_and_per_arm(inf):
    q = "What is 2+3?"
    before = inf.session.render.cache_info().hits
    grpo = inf.preprocess_prompt(q)
    assert inf.preprocess_prompt(q) is grpo
    assert inf.session.render.cache_info().hits == before + 1
    base = inf.preprocess_prompt(q, "base")
    assert XML_COT in grpo and XML_COT not in base and q in base


def test_generate_response_fields(inf):
    q = "What is 2+3?"
    r = inf.generate_response(q)
    assert set(r) == RESPONSE_KEYS
    assert r["prompt"] == inf.preprocess_prompt(q)
    assert r["full_output"] == r["prompt"] + r["response"] and r["response"]
    assert r["answer"] is None or isinstance(r["answer"], str)
    # a prompt from preprocess_prompt is taken as it is, not rendered twice (greedy: same text)
    assert inf.generate_response(inf.preprocess_prompt(q)) == r


def test_ask_puts_both_arms_in_one_engine_call(fixture_lora, recorded):
    inf = GRPOInference(InferenceConfig().override(adapter=str(fixture_lora), temperature=0.0, max_tokens=24),
                        engine=recorded)
    answers = inf.ask("What is 3+4?")
    assert recorded.calls == [["base", "grpo"]]
    assert list(answers) == ["base", "grpo"] and all(set(a) == RESPONSE_KEYS for a in answers.values())
    assert answers["grpo"] == inf.generate_response("What is 3+4?", "grpo")


def test_batch_inference_format_and_batch_size(inf, recorded):
    questions = ["1+1?", "2+2?", "3+3?"]
    inf = GRPOInference(inf.config, engine=recorded)
    rows = inf.batch_inference(questions, batch_size=2)
    assert len(recorded.calls) == 2 and recorded.calls[0] == ["grpo", "grpo"]
    assert [r["index"] for r in rows] == [0, 1, 2]
    for q, r in zip(questions, rows):
        assert set(r) == BATCH_KEYS
        assert r["problem"] == q and r["prompt"] == inf.preprocess_prompt(q) and isinstance(r["response"], str)
    both = inf.batch_by_arm(questions)
    assert list(both) == ["base", "grpo"] and both["grpo"] == rows


def test_evaluate_on_dataset_format(inf):
    ev = inf.evaluate_on_dataset(str(shared_file("gsm8k_test.jsonl")), max_samples=3)
    assert set(ev) == EVAL_KEYS
    assert ev["total"] == 3 and ev["ungraded"] == 0 and ev["eval_time"] > 0
    assert ev["accuracy"] == ev["correct"] / ev["total"]
    assert [r["index"] for r in ev["results"]] == [0, 1, 2]
    first = ev["results"][0]
    assert set(first) == EVAL_ITEM_KEYS
    assert first["reference_answer"] == "18" and first["problem"].startswith("Janet")
    assert all(isinstance(r["is_correct"], bool) for r in ev["results"])
    assert ev["correct"] == sum(r["is_correct"] for r in ev["results"])


@pytest.mark.slow
def test_evaluate_arms_math500_by_level_and_subject(inf):
    per_arm, comparison = inf.evaluate_arms(str(shared_file("math500_test.jsonl")), max_samples=4)
    assert list(per_arm) == ["base", "grpo"] and comparison.summary["n"] == 4
    for ev in per_arm.values():
        assert {"by_level", "by_subject"} <= set(ev)
        assert sum(g["total"] for g in ev["by_level"].values()) == ev["total"] == 4
        assert sum(g["correct"] for g in ev["by_subject"].values()) == ev["correct"]
    # the paired run and the per-arm files agree
    assert per_arm["grpo"]["correct"] == comparison.summary["arms"]["grpo"]["correct"]


def test_evaluate_with_k_samples_lists_each_sample(engine, fixture_lora):
    cfg = InferenceConfig().override(adapter=str(fixture_lora), temperature=0.9, max_tokens=16, num_samples=2)
    ev = GRPOInference(cfg, engine=engine).evaluate_on_dataset(str(shared_file("gsm8k_test.jsonl")), max_samples=2)
    assert all(len(r["samples"]) == 2 and set(r["samples"][0]) == {"model_answer", "is_correct", "model_response"}
               for r in ev["results"])
    assert ev["results"][0]["model_response"] == ev["results"][0]["samples"][0]["model_response"]
    assert set(ev["samples"]) == {"k", "graded", "pass@1", "pass@2", "maj@2"} and ev["samples"]["k"] == 2


# --- k samples in compare: pass@k and maj@k --------------------------------------------------

def test_k_samples_share_seeds_across_arms_and_differ_across_samples(demo_model):
    tok = load_tokenizer(str(demo_model))
    reqs, _ = build_requests([Problem("a", "1+1?", "2")], [Arm("base"), Arm("grpo", None, XML_COT)], tok,
                             seed=3, max_model_len=2048, num_samples=3)
    assert [(r.arm.name, r.sample) for r in reqs] == [("base", 0), ("grpo", 0), ("base", 1), ("grpo", 1),
                                                        ("base", 2), ("grpo", 2)]
    seeds = [r.seed for r in reqs]
    assert seeds[0::2] == seeds[1::2] and len(set(seeds[0::2])) == 3
    one, _ = build_requests([Problem("a", "1+1?", "2")], [Arm("base")], tok, seed=3, max_model_len=2048)
    assert one[0].seed == reqs[0].seed  # k=1 keeps the seeds runs had before


def test_compare_k_samples_summary_matches_closed_form(engine, fixture_lora):
    k = 3
    c = compare(CompareConfig(), engine=engine, adapter=str(fixture_lora), dataset=str(shared_file("gsm8k_test.jsonl")),
                max_samples=3, temperature=1.0, max_tokens=16, num_samples=k)
    assert all(len(c.samples[(p.id, a.name)]) == k for p in c.problems for a in c.arms)
    assert all(c.results[key] is c.samples[key][0] for key in c.results)
    for arm in ("base", "grpo"):
        got = c.summary["arms"][arm]["samples"]
        counts = [sum(bool(r.score.correct) for r in c.samples[(p.id, arm)]) for p in c.problems]
        closed = [1 - math.comb(k - n, j) / math.comb(k, j) for n in counts for j in [k]]
        assert got["pass@1"] == pytest.approx(sum(counts) / (k * len(counts)), abs=1e-6)
        assert got[f"pass@{k}"] == pytest.approx(sum(closed) / len(closed), abs=1e-6)
        assert got["graded"] == 3 and got[f"maj@{k}"] is not None


def test_k1_summary_is_unchanged(engine, fixture_lora):
    c = compare(CompareConfig(), engine=engine, adapter=str(fixture_lora), dataset=str(shared_file("gsm8k_test.jsonl")),
                max_samples=1, temperature=0.0, max_tokens=4)
    assert all("samples" not in a for a in c.summary["arms"].values())
    assert all(len(v) == 1 for v in c.samples.values())


@pytest.mark.parametrize("n, c, k", [(5, 0, 1), (5, 2, 1), (5, 2, 2), (5, 2, 4), (10, 3, 5), (10, 8, 3), (4, 4, 4), (20, 1, 20)])
def test_pass_at_k_equals_closed_form(n, c, k):
    assert pass_at_k(n, c, k) == pytest.approx(1 - math.comb(n - c, k) / math.comb(n, k), abs=1e-12)


def test_sample_metrics_on_known_counts():
    # problem 1: 2 of 4 right, majority "7" right; problem 2: 1 of 4 right, majority "1" wrong;
    # problem 3: ungraded sample -> left out
    groups = [[("7", True), ("7", True), ("8", False), ("9", False)],
              [("1", False), ("1", False), ("3", True), ("2", False)],
              [("5", None), ("5", True), ("5", True), ("5", True)]]
    m = sample_metrics(groups, 4)
    assert m["graded"] == 2
    assert m["pass@1"] == pytest.approx((2 / 4 + 1 / 4) / 2)
    assert m["pass@4"] == pytest.approx(1.0)
    assert m["maj@4"] == pytest.approx(0.5)
    assert sample_metrics([[("1", False), ("2", False)]], 2) == {"k": 2, "graded": 1, "pass@1": 0.0, "pass@2": 0.0, "maj@2": 0.0}


# --- use_lora false: arms served by two models, one engine at a time -------------------------

class Restarting:
    """The session engine under another model's name. It cannot swap weights in place, so the
    switching engine closes it and starts another (closing it leaves the real engine running)."""

    name = "vllm"

    def __init__(self, engine, weights: str) -> None:
        self.engine, self.weights, self.calls = engine, weights, []
        self.max_model_len = engine.max_model_len

    def stream(self, requests, sampling):
        self.calls.append([r.arm.name for r in requests])
        return self.engine.stream(requests, sampling)

    def close(self) -> None:
        pass


def test_switching_engine_runs_loaded_model_first_and_keeps_order(engine, inf):
    starts: list[Restarting] = []
    switch = SwitchingEngine("A", ["A", "B"], lambda model: starts.append(Restarting(engine, model)) or starts[-1])
    probs = [Problem("0", "1+1?", None), Problem("1", "2+2?", None)]
    reqs, _ = build_requests(probs, [inf.session.arms["base"], Arm("grpo", None, XML_COT, model="B")],
                             inf.session.tokenizer, 0, 2048)
    gens = switch.generate(reqs, inf.session.plan.sampling)
    assert [(g.problem_id, g.arm) for g in gens] == [(r.problem.id, r.arm.name) for r in reqs]
    assert [e.weights for e in starts] == ["A", "B"]
    switch.generate(reqs, inf.session.plan.sampling)  # B is loaded: it goes first, then A
    assert [e.weights for e in starts] == ["A", "B", "A"]
    assert starts[1].calls == [["grpo", "grpo"], ["grpo", "grpo"]] and starts[2].calls == [["base", "base"]]


def test_one_copy_at_a_time_survives_until_the_engine_that_needs_it_starts(engine, inf, fixture_lora, tmp_path):
    # merged copies that cannot be swapped in place (each needs an engine of its own), one kept at a
    # time: the copy just built is the one the next engine starts on, and only the one before is removed
    from grpo_compare.adapters import inspect_adapter
    from grpo_compare.demo import demo_adapter_path

    first, second = (inspect_adapter(p) for p in (fixture_lora, demo_adapter_path()))
    starts: list[Restarting] = []

    def start(model: str) -> Restarting:
        assert model == "A" or Path(model).is_dir(), f"an engine started on {model}, which is gone"
        starts.append(Restarting(engine, model))
        return starts[-1]

    def merge(adapter) -> Path:
        (folder := tmp_path / adapter.path.name).mkdir()
        return folder

    switch = SwitchingEngine("A", ["A"], start, merged={first: None, second: None}, merge=merge, keep=False)
    arms = [inf.session.arms["base"], Arm("one", first, XML_COT), Arm("two", second, XML_COT)]
    reqs, _ = build_requests([Problem("0", "1+1?", None)], arms, inf.session.tokenizer, 0, 2048)
    gens = switch.generate(reqs, inf.session.plan.sampling)
    assert [g.arm for g in gens] == ["base", "one", "two"]
    assert [e.weights for e in starts] == ["A", str(tmp_path / fixture_lora.name), str(tmp_path / "adapter")]
    assert [p.name for p in tmp_path.iterdir()] == ["adapter"]  # the first copy removed before the second was built
    switch.close()
    assert not list(tmp_path.iterdir())


# --- the commands, in process, on the session engine -----------------------------------------

def test_ask_json_field_by_field(cli, fixture_lora, inf):
    out = cli("ask", "What is 2+3?", "--json", "--adapter", str(fixture_lora), "--temperature", "0",
              "--max-tokens", "24").stdout
    data = json.loads(out)
    assert data["question"] == "What is 2+3?" and list(data["arms"]) == ["base", "grpo"]
    for arm, rec in data["arms"].items():
        assert set(rec) == RESPONSE_KEYS
        assert rec == inf.generate_response("What is 2+3?", arm)  # same settings, greedy


def test_ask_one_arm_side_by_side_view(cli, fixture_lora):
    out = cli("ask", "What is 2+3?", "--arm", "base", "--adapter", str(fixture_lora), "--temperature", "0",
              "--max-tokens", "8").stdout
    assert "base" in out and "grpo" not in out and "answer:" in out


@pytest.mark.parametrize("suffix", [".txt", ".jsonl", ".csv"])
def test_batch_writes_one_file_per_arm(cli, fixture_lora, tmp_path, suffix):
    questions = ["What is 1+1?", "What is 2+2?"]
    src = tmp_path / f"in{suffix}"
    if suffix == ".txt":
        src.write_text("\n".join(questions) + "\n")
    elif suffix == ".jsonl":
        src.write_text("\n".join(json.dumps({"question": q}) for q in questions) + "\n")
    else:
        src.write_text("question\n" + "\n".join(questions) + "\n")
    out = tmp_path / "results.json"
    cli("batch", str(src), "--output", str(out), "--adapter", str(fixture_lora), "--temperature", "0", "--max-tokens", "8")
    for arm in ("base", "grpo"):
        rows = json.loads((tmp_path / f"results.{arm}.json").read_text())
        assert [r["problem"] for r in rows] == questions and [r["index"] for r in rows] == [0, 1]
        assert all(set(r) == BATCH_KEYS for r in rows)
    assert not out.exists()


def test_evaluate_command_files_and_pass_at_k(cli, fixture_lora, tmp_path):
    out = tmp_path / "eval.json"
    res = cli("evaluate", "--dataset", str(shared_file("math500_test.jsonl")), "--max-samples", "2", "--num-samples", "2",
              "--adapter", str(fixture_lora), "--temperature", "0.9", "--max-tokens", "8", "--output", str(out))
    assert "pass@2" in res.stdout and "maj@2" in res.stdout and "by level" in res.stdout
    for arm in ("base", "grpo"):
        ev = json.loads((tmp_path / f"eval.{arm}.json").read_text())
        assert EVAL_KEYS | {"by_level", "by_subject", "samples"} == set(ev)
        assert [set(r) for r in ev["results"]] == [EVAL_ITEM_KEYS | {"samples"}] * 2


def test_compare_takes_the_inference_config_and_num_samples(cli, fixture_lora, tmp_path):
    cfg = tmp_path / "inference.yaml"
    cfg.write_text(f"model: {{model_path: {fixture_lora}}}\ninference: {{temperature: 0.7, max_new_tokens: 8}}\n"
                   f"evaluation: {{dataset_name: {shared_file('gsm8k_test.jsonl')}, max_samples: 2}}\n")
    out = tmp_path / "run"
    res = cli("compare", "--config", str(cfg), "--num-samples", "2", "--output-dir", str(out))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n"] == 2 and summary["arms"]["grpo"]["samples"]["k"] == 2
    assert "pass@2" in res.stdout
    lines = [json.loads(x) for x in (out / "generations.jsonl").read_text().splitlines()]
    assert sorted({x["sample"] for x in lines}) == [0, 1] and len(lines) == 8


# --- config errors: one line naming the key and what is allowed ------------------------------

BAD_CONFIGS = [
    ("colour: red", "unknown key 'colour'", "model, inference"),               # unknown section
    ("model: {adapter: x}", "unknown key 'model.adapter'", "model_path"),        # unknown key in a section
    ("model: {lora: {rank: 8}}", "unknown key 'model.lora.rank'", "r, alpha, dropout"),
    ("inference: {temprature: 0.5}", "unknown key 'inference.temprature'", "temperature"),
    ("evaluation: {dataset: x}", "unknown key 'evaluation.dataset'", "dataset_name"),
    ("output: {path: x}", "unknown key 'output.path'", "results_path"),
    ("optimization: {lr: 1}", "unknown key 'optimization.lr'", "batch_size"),
    ("inference: {temperature: -1}", "inference.temperature", ">= 0"),
    ("inference: {temperature: hot}", "inference.temperature", "a number"),
    ("inference: {top_p: 0}", "inference.top_p", "(0, 1]"),
    ("inference: {top_p: 1.5}", "inference.top_p", "(0, 1]"),
    ("inference: {top_k: -1}", "inference.top_k", ">= 0"),
    ("inference: {max_new_tokens: 0}", "inference.max_new_tokens", ">= 1"),
    ("inference: {max_length: 2.5}", "inference.max_length", "an integer"),
    ("inference: {num_return_sequences: 0}", "inference.num_return_sequences", ">= 1"),
    ("inference: {device: gpu}", "inference.device", "auto, cpu, cuda"),
    ("inference: {seed: -3}", "inference.seed", "in [0, 2^32)"),
    ("evaluation: {max_samples: 0}", "evaluation.max_samples", ">= 1"),
    ("evaluation: {split: ''}", "evaluation.split", "non-empty string"),
    ("output: {save_detailed_log: maybe}", "output.save_detailed_log", "true or false"),
    ("optimization: {batch_size: 0}", "optimization.batch_size", ">= 1"),
    ("optimization: {fp16: 1}", "optimization.fp16", "true or false"),
    ("model: {use_lora: 'no'}", "model.use_lora", "true or false"),
    ("model: {lora: {r: 0}}", "model.lora.r", ">= 1"),
    ("model: {lora: {alpha: -2}}", "model.lora.alpha", "> 0"),
    ("model: {lora: {dropout: 1.0}}", "model.lora.dropout", "[0, 1)"),
    ("model: {use_lora: false, model_path: merged}", "use_lora is false", "base_model"),
    ("inference: [1, 2]", "'inference' must be a mapping", ""),
    ("model: {lora: 16}", "'model.lora' must be a mapping", "r, alpha, dropout"),
    ("[1, 2]", "mapping of settings at the top level", ""),
    ("inference: {temperature: [", "not valid YAML", ""),
]


@pytest.mark.parametrize("text, key, allowed", BAD_CONFIGS)
def test_config_error_names_key_and_allowed_values(tmp_path, text, key, allowed):
    path = tmp_path / "bad.yaml"
    path.write_text(text + "\n")
    with pytest.raises(UserError) as e:
        InferenceConfig.from_yaml(path)
    assert key in str(e.value) and allowed in str(e.value) and len(str(e.value).splitlines()) == 1


def test_missing_config_file(tmp_path):
    with pytest.raises(UserError, match="not found"):
        InferenceConfig.from_yaml(tmp_path / "none.yaml")


def test_shipped_config_is_valid_and_flags_override_it():
    cfg = InferenceConfig.from_yaml(Path(__file__).parents[1] / "configs" / "inference_config.yaml")
    cc = cfg.override(temperature=0, num_samples=4, batch_size=8)
    assert cc.sampling.temperature == 0 and cc.num_samples == 4 and cc.batch_size == 8
    assert cc.sampling.max_tokens == 1024 and cc.max_model_len == 4096 and cc.dtype == "half"  # fp16: true


def test_bad_flag_values_are_user_errors():
    with pytest.raises(UserError, match="temperature: -0.5 is not allowed"):
        InferenceConfig().override(temperature=-0.5)
    with pytest.raises(UserError, match="num_samples: 0 is not allowed; allowed: an integer >= 1"):
        CompareConfig(num_samples=0)


def test_cli_config_error_is_one_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("inference: {device: tpu}\n")
    proc = subprocess.run([sys.executable, "-m", "grpo_compare.cli", "ask", "hi", "--config", str(path)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    errors = [x for x in proc.stderr.splitlines() if x.startswith("error:")]
    assert len(errors) == 1 and "inference.device" in proc.stderr and "auto, cpu, cuda" in proc.stderr


@pytest.mark.slow
def test_use_lora_false_evaluates_base_then_merged_model(demo_model, fixture_lora, tmp_path):
    """A merged model (demo model + fixture LoRA folded in) against its base, two engines in turn."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    merged = tmp_path / "merged"
    base = AutoModelForCausalLM.from_pretrained(demo_model, dtype=torch.float32)
    PeftModel.from_pretrained(base, fixture_lora).merge_and_unload().save_pretrained(merged)
    AutoTokenizer.from_pretrained(demo_model).save_pretrained(merged)
    cfg = tmp_path / "merged.yaml"
    cfg.write_text(f"model: {{base_model: {demo_model}, model_path: {merged}, use_lora: false}}\n"
                   "inference: {temperature: 0, max_new_tokens: 8, max_length: 1024}\n"
                   f"evaluation: {{dataset_name: {shared_file('gsm8k_test.jsonl')}, max_samples: 2}}\n")
    out = tmp_path / "eval.json"
    proc = subprocess.run([sys.executable, "-m", "grpo_compare.cli", "evaluate", "--config", str(cfg),
                           "--output", str(out)], capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "swapped in for the arms it serves" in " ".join(proc.stderr.split())  # one engine, weights swapped
    for arm in ("base", "grpo"):
        ev = json.loads((tmp_path / f"eval.{arm}.json").read_text())
        assert ev["total"] == 2 and set(ev["results"][0]) == EVAL_ITEM_KEYS
