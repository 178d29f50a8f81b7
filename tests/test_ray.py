"""`--backend ray`: vLLM replicas through Ray Data LLM, on this CPU with a real local Ray.

The end-to-end test runs the CLI twice: killed (SIGKILL) once results stream in, then resumed. The
resumed run must hold every row once and equal the single vLLM engine at temperature 0, and no
process of either Ray may be left. Every process a run starts inherits the environment variable
this file sets, which is how the test finds them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import psutil
import pytest

from conftest import jsonl_lines, shared_file
from grpo_compare import CompareConfig, Problem, compare
from grpo_compare.adapters import AdapterInfo, inspect_adapter
from grpo_compare.config import ArmSpec, DistributedConfig
from grpo_compare.engines import choose_backend, resolve_strategy
from grpo_compare.engines.ray import RayEngine, batch_rows, import_ray, processor_config, ray_rows
from grpo_compare.errors import UserError
from grpo_compare.plan import plan
from grpo_compare.rundir import fingerprint
from grpo_compare.types import Arm, Request, Sampling

pytest.importorskip("ray.data.llm", reason="needs ray[data]: pip install -e '.[dist]'")
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"  # no usage reports from tests

CLI = [sys.executable, "-m", "grpo_compare.cli"]
GREEDY = Sampling(temperature=0.0, top_p=1.0, top_k=0, max_tokens=48)


def _requests(n: int = 3, adapter: Path | None = Path("/lora")) -> list[Request]:
    arms = [Arm("base"), Arm("grpo", AdapterInfo(adapter, 8, ("q_proj",)) if adapter else None, "sys")]
    return [Request(Problem(str(p), "q", "1"), arm, f"{p}{arm.name}", (1, 2, p), 100 + p, s)
            for p in range(n) for s in range(2) for arm in arms]


# --- rows, config, fingerprint: no Ray started ----------------------------------------------------

def test_one_row_per_request_with_its_ids_seed_and_adapter():
    reqs = _requests()
    rows = ray_rows(reqs, GREEDY, "/models/base")
    assert len(rows) == len(reqs) == 12
    assert rows[1] == {"idx": 1, "problem": "0", "tokenized_prompt": [1, 2, 0], "model": "/lora",
                       "sampling_params": {"temperature": 0.0, "top_p": 1.0, "top_k": 0, "max_tokens": 48, "seed": 100}}
    assert rows[0]["model"] == "/models/base"  # a base row names the base model: no LoRARequest
    blocks = batch_rows(rows, problems=2)
    assert [len(b) for b in blocks] == [8, 4]  # whole problems (2 samples x 2 arms each) per Ray batch
    assert [{r["problem"] for r in b} for b in blocks] == [{"0", "1"}, {"2"}]
    resumed = [r for r in rows if r["idx"] not in (0, 5)]  # finished rows filtered out before the dataset
    assert [len(b) for b in batch_rows(resumed, problems=1)] == [3, 3, 4]


def test_cpu_only_config_reserves_no_gpu_and_gpu_config_one_per_worker():
    dist = DistributedConfig(replicas=2, tensor_parallel_size=2, cpus_per_worker=3, accelerator_type="H100")
    cpu = processor_config("/m", {"tensor_parallel_size": 2}, dist, 8, cpu_only=True)
    gpu = processor_config("/m", {"tensor_parallel_size": 2}, dist, 8, cpu_only=False)
    # one bundle per worker (tp x pp of them per replica), expanded by the stage
    assert cpu.placement_group_config["bundle_per_worker"] == {"CPU": 3, "GPU": 0} and cpu.accelerator_type is None
    assert gpu.placement_group_config["bundle_per_worker"] == {"CPU": 3, "GPU": 1} and gpu.accelerator_type == "H100"
    assert cpu.concurrency == (2, 2)  # a fixed pool of replicas: every engine starts at once
    assert cpu.runtime_env["env_vars"]["VLLM_CPU_KVCACHE_SPACE"] and gpu.runtime_env is None
    assert not (cpu.chat_template_stage or cpu.tokenize_stage or cpu.detokenize_stage)  # rows bring token ids


def test_distributed_settings_from_flat_yaml_guide_yaml_and_flags(tmp_path):
    flat = tmp_path / "flat.yaml"
    flat.write_text("backend: ray\ndistributed:\n  replicas: 2\n  batch_size: 4\n  ray_address: auto\n")
    guide = tmp_path / "guide.yaml"
    guide.write_text("inference:\n  backend: ray\noptimization:\n  batch_size: 64\n"
                     "distributed:\n  tensor_parallel_size: 2\n  pipeline_parallel_size: 2\n")
    a, b = CompareConfig.from_yaml(flat), CompareConfig.from_yaml(guide)
    d = a.distributed
    assert (a.backend, d.replicas, d.batch_size, d.ray_address) == ("ray", 2, 4, "auto")
    assert (b.distributed.tensor_parallel_size, b.distributed.pipeline_parallel_size, b.batch_size) == (2, 2, 64)
    c = a.override(replicas=8, tensor_parallel_size=4, batch_size=3)
    assert (c.distributed.replicas, c.distributed.tensor_parallel_size, c.batch_size) == (8, 4, 3)
    assert c.distributed.batch_size == 4  # --batch-size is the top-level one
    assert CompareConfig.from_dict(c.to_dict()).distributed == c.distributed  # config.yaml reads back


@pytest.mark.parametrize("raw, message", [
    ({"distributed": {"replicas": 0}}, r"distributed.replicas: 0 is not allowed; allowed: an integer >= 1"),
    ({"distributed": {"batch_size": 1.5}}, r"distributed.batch_size: 1.5 is not allowed"),
    ({"distributed": {"tensor_parallel": 2}}, r"unknown key 'distributed.tensor_parallel'; allowed keys: replicas"),
    ({"distributed": {"ray_address": "auto", "num_cpus": 2}}, r"drop one of them"),
    ({"distributed": 3}, r"'distributed' must be a mapping"),
    ({"backend": "rayy"}, r"one of auto, vllm, unsloth, hf, ray"),
])
def test_bad_distributed_settings_are_one_line_naming_the_key(raw, message):
    with pytest.raises(UserError, match=message):
        CompareConfig.from_dict(raw, "c.yaml")


def test_flag_validation_and_strategy_rules():
    with pytest.raises(UserError, match="replicas: -1 is not allowed"):
        CompareConfig().override(replicas=-1)
    assert resolve_strategy("auto", "ray", [AdapterInfo(Path("lora"), 8, ("q_proj",))], 10_000)[0] == "mixed"  # never merged: LoRA rows on the replicas
    with pytest.raises(UserError, match="--lora-strategy mixed"):
        resolve_strategy("merged", "ray", [AdapterInfo(Path("lora"), 8, ("q_proj",))], 10)
    assert choose_backend("auto")[0] in ("vllm", "hf")  # auto never starts a cluster
    assert choose_backend("ray") == ("ray", "")


def test_fingerprint_keeps_tp_pp_and_ray_version_but_not_the_replicas(demo_model):
    tok = SimpleNamespace(chat_template="t")
    arms = (ArmSpec("base"), ArmSpec("prompted", system_prompt="xml_cot"))

    def fp(backend="ray", **dist):
        config = CompareConfig(model=str(demo_model), arms=arms, backend=backend, distributed=DistributedConfig(**dist))
        return fingerprint(plan(config), backend, tok)
    one = fp()
    assert one["id"] == fp(replicas=4, batch_size=2, ray_address="auto")["id"]  # resumable with more replicas
    assert one["id"] != fp(tensor_parallel_size=2)["id"] and one["id"] != fp(pipeline_parallel_size=2)["id"]
    assert one["versions"]["ray"] and one["distributed"] == {"tensor_parallel_size": 1, "pipeline_parallel_size": 1}
    other = fp("vllm")
    assert "ray" not in other["versions"] and "distributed" not in other  # installing Ray changes no vllm run


def test_missing_or_old_ray_is_one_line_with_the_install_command(monkeypatch, demo_model):
    import ray

    monkeypatch.setattr(ray, "__version__", "2.55.1")
    with pytest.raises(UserError, match=r"drops per-row LoRA.*ray\[data\]>=2.56,<2.61"):
        import_ray()
    monkeypatch.setitem(sys.modules, "ray", None)  # what an absent package looks like to import
    with pytest.raises(UserError, match=r"pip install 'grpo-compare\[dist\]'"):
        RayEngine(str(demo_model))


class _Rows:
    """What `iter_rows` of the processor's output gives: one dict per row."""

    def __init__(self, rows):
        self.rows = rows

    def iter_rows(self):
        return iter(self.rows)


def test_finish_reason_is_inferred_and_failed_rows_are_not_yielded(monkeypatch):
    engine = RayEngine.__new__(RayEngine)  # the stream alone, over rows as the workers return them
    engine.stop_ids = frozenset({2})
    reqs = _requests(1)[:3]
    out = [{"idx": 0, "generated_text": "done", "generated_tokens": [5, 2], "num_generated_tokens": 2},
           {"idx": 2, "__inference_error__": "ValueError: boom\n(more)", "generated_tokens": []},
           {"idx": 1, "generated_text": "cut", "generated_tokens": [5, 6], "num_generated_tokens": 2,
            "__inference_error__": ""}]
    monkeypatch.setattr(engine, "dataset", lambda requests, sampling: _Rows(out), raising=False)
    gens = []
    failed = r"1 of 3 generations failed .*\(first: ValueError: boom \(more\)\).*run the same command again"
    with pytest.raises(UserError, match=failed):
        for g in engine.stream(reqs, GREEDY):
            gens.append(g)
    assert [(g.arm, g.completion, g.finish_reason) for g in gens] == [("base", "done", "stop"),
                                                                       ("grpo", "cut", "length")]


def test_a_joined_cluster_short_of_resources_is_a_warning_through_the_callers_callback():
    engine = RayEngine.__new__(RayEngine)  # the check alone, against a joined cluster of 2 CPUs
    engine.ray = SimpleNamespace(cluster_resources=lambda: {"CPU": 2.0})
    engine.dist, engine.owns, lines = DistributedConfig(replicas=3), "joined", []
    engine.warn = lines.append
    assert engine.check_resources("cpu") is True
    assert lines == ["the Ray cluster has less than the run needs now (3 CPU (the cluster has 2)); "
                     "it waits for the autoscaler"]

# --- a real local Ray ---------------------------------------------------------------------------

def test_local_ray_cpu_stage_asks_for_no_gpu(demo_model, fixture_lora):
    engine = RayEngine(str(demo_model), [inspect_adapter(fixture_lora, demo_model)], max_model_len=2048,
                       device="cpu", distributed=DistributedConfig(num_cpus=2))
    try:
        assert engine.owns == "started"
        stage = engine.processor(4).get_stage_by_name("vLLMEngineStage")
        kw = stage.map_batches_kwargs
        assert not kw.get("num_gpus") and kw["num_cpus"] == 1
        ekw = stage.fn_constructor_kwargs["engine_kwargs"]
        assert (ekw["enable_lora"], ekw["max_loras"], ekw["max_lora_rank"], ekw["dtype"]) == (True, 2, 8, "float32")
        with pytest.raises(UserError, match="no GPU"):
            engine.check_resources("cuda")
        engine.dist = DistributedConfig(replicas=3, num_cpus=2)
        with pytest.raises(UserError, match=r"need 3 CPU \(the cluster has 2\): lower --replicas"):
            engine.check_resources("cpu")  # a local Ray never grows: waiting would hang
    finally:
        engine.close()
    assert engine.reaper is None and not _marked("GRPO_COMPARE_RAY_SESSION", engine.token)


def _marked(name: str, value: str | None = None) -> list[int]:
    """Processes (this one aside) whose environment holds `name` (= `value`)."""
    pids = []
    for p in psutil.process_iter():
        try:
            env = p.environ()
        except (psutil.Error, OSError):
            continue
        if p.pid != os.getpid() and name in env and (value is None or env[name] == value):
            pids.append(p.pid)
    return pids


def _none_left(mark: str, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while _marked("GRPO_TEST_RAY_RUN", mark):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return True


@pytest.mark.slow
def test_sigkilled_ray_run_resumes_to_the_single_engine_result_and_leaves_no_process(engine, fixture_lora, tmp_path):
    data = str(shared_file("gsm8k_test.jsonl"))
    config = tmp_path / "ray.yaml"  # one problem per Ray batch, one batch at a time: results stream in
    config.write_text("distributed:\n  batch_size: 1\n  max_concurrent_batches: 1\n  num_cpus: 2\n")
    out, mark = tmp_path / "run", uuid.uuid4().hex
    args = CLI + ["compare", "--backend", "ray", "--config", str(config), "--adapter", str(fixture_lora),
                  "--dataset", data, "--max-samples", "6", "--temperature", "0", "--max-tokens", "24",
                  "--max-model-len", "2048", "--output-dir", str(out)]
    env = dict(os.environ, GRPO_TEST_RAY_RUN=mark)
    jsonl = out / "generations.jsonl"

    start = time.monotonic()
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while len(jsonl_lines(jsonl)) < 2:
        assert proc.poll() is None, f"run ended early: {proc.communicate()[1][-2000:]}"
        assert time.monotonic() - start < 600, "no result streamed in"
        time.sleep(0.1)
    proc.kill()
    proc.communicate()
    before = jsonl_lines(jsonl)
    assert 2 <= len(before) < 12, len(before)  # killed mid-run
    assert _none_left(mark), "processes of the killed run's Ray are still running"

    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Resuming" in done.stderr
    assert _none_left(mark, timeout=15), "processes of the finished run's Ray are still running"
    after = [json.loads(x) for x in jsonl_lines(jsonl)]
    assert jsonl_lines(jsonl)[: len(before)] == before  # finished work kept as it was
    keys = [(r["problem_id"], r["arm"], r["sample"]) for r in after]
    assert len(keys) == 12 and len(set(keys)) == 12  # nothing lost, nothing generated twice
    summary = json.loads((out / "summary.json").read_text())
    assert summary["adapter_check"]["identical"] is False  # the LoRA reached the replicas

    reference = tmp_path / "vllm"
    compare(CompareConfig(), engine=engine, output_dir=reference, adapter=str(fixture_lora), dataset=data,
            max_samples=6, temperature=0.0, max_tokens=24)
    expected = {(r["problem_id"], r["arm"]): (r["completion"], r["finish_reason"], r["completion_tokens"])
                for r in map(json.loads, jsonl_lines(reference / "generations.jsonl"))}
    got = {(r["problem_id"], r["arm"]): (r["completion"], r["finish_reason"], r["completion_tokens"]) for r in after}
    assert got == expected
