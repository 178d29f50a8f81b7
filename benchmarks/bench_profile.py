"""Profile of the default run: where its wall time goes, the decode step's latency against its batch
size, and a roofline computed on this machine.

    python benchmarks/bench_profile.py                          # the default run: 100 problems x 2 arms, 512 tokens
    python benchmarks/bench_profile.py --problems 20 --max-tokens 128 --dtype bfloat16
    python benchmarks/bench_profile.py --sweep '' --speculative '{"method": "ngram", "num_speculative_tokens": 4}'

The run is `grpo_compare.compare` as `grpo-compare compare` runs it, in this process, with timers
around its parts (nothing in the package is changed): imports (measured in fresh processes), the
tokenizer and rendering, the merged copy of the adapter (cold: the cache emptied first), the engine
start, every engine step (prefill or decode, and how many rows it carried), the weight swap,
scoring, and writing the run's files. Then a sweep of decode steps at fixed batch sizes.
`--speculative` hands vLLM a `speculative_config` (a measured candidate, not a setting of the tool).

Roofline: a decode step of B rows costs 2 x params x B FLOPs and reads every weight once
(params x bytes per parameter); with this machine's measured matmul FLOP rate F and memory
bandwidth W, its floor is max(2 P B / F, P b / W). The ratio "roofline" is the floor's total for
the run's own steps over their measured total: 1.0 would be a run at the machine's limit.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable

BUCKETS = ((1, 1), (2, 3), (4, 7), (8, 15), (16, 31), (32, 63), (64, 127), (128, 255), (256, 10**9))


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def import_seconds(module: str, repeats: int = 3) -> float:
    """The fastest of `repeats` fresh processes importing `module` (interpreter start included)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", f"import {module}"], check=True, capture_output=True)
        best = min(best, time.perf_counter() - start)
    return best


def machine_rates(threads: int) -> dict[str, float]:
    """The matmul FLOP rate (float32 and bfloat16) and memory bandwidth this machine reaches with torch."""
    import torch

    torch.set_num_threads(threads)
    out = {}
    for name, dtype in (("float32", torch.float32), ("bfloat16", torch.bfloat16)):
        a, b = torch.randn(2048, 2048, dtype=dtype), torch.randn(2048, 2048, dtype=dtype)
        torch.mm(a, b)
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < 2.0:
            torch.mm(a, b)
            n += 1
        out[f"gflops_{name}"] = 2 * 2048**3 * n / (time.perf_counter() - start) / 1e9
    src = torch.empty(256 * 2**20, dtype=torch.float32)  # 1 GiB
    dst = torch.empty_like(src)
    dst.copy_(src)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < 2.0:
        dst.copy_(src)
        n += 1
    out["gbps"] = 2 * src.numel() * 4 * n / (time.perf_counter() - start) / 1e9  # read + write
    return out


class Timers:
    """Seconds by phase, and every engine step as (kind, rows, seconds)."""

    def __init__(self) -> None:
        self.phase: dict[str, float] = defaultdict(float)
        self.steps: list[tuple[str, int, float]] = []

    def wrap(self, owner: Any, name: str, phase: str) -> Callable[[], None]:
        """Time every call of `owner.name` under `phase`; returns the undo."""
        real = getattr(owner, name)

        def timed(*a: Any, **k: Any) -> Any:
            start = time.perf_counter()
            try:
                return real(*a, **k)
            finally:
                self.phase[phase] += time.perf_counter() - start

        setattr(owner, name, timed)
        return lambda: setattr(owner, name, real)

    def watch_steps(self, llm: Any) -> None:
        """Time each step of a vllm.LLM's engine, with the rows it carried and whether any was in prefill."""
        engine = llm.llm_engine
        scheduler = engine.engine_core.engine_core.scheduler
        real = engine.step

        def step() -> Any:
            rows = len(scheduler.running) + len(scheduler.waiting)
            prefill = bool(scheduler.waiting) or any(r.num_computed_tokens < r.num_prompt_tokens for r in scheduler.running)
            start = time.perf_counter()
            out = real()
            self.steps.append(("prefill" if prefill else "decode", rows, time.perf_counter() - start))
            return out

        engine.step = step


def profile_run(args: argparse.Namespace, t: Timers) -> dict[str, Any]:
    """The default comparison through the product, timed by part."""
    from grpo_compare import engines, session
    from grpo_compare.engines import vllm
    from grpo_compare.files import cache_dir
    from grpo_compare.rundir import RunDir

    shutil.rmtree(cache_dir() / "merged", ignore_errors=True)
    undo = [t.wrap(engines, "merged_model", "merge (cold cache)")]  # the name start_engine calls
    real_init = vllm.VLLMEngine.__init__

    def init(self: Any, *a: Any, **k: Any) -> None:
        if args.speculative:
            k["speculative_config"] = json.loads(args.speculative)
        start = time.perf_counter()
        real_init(self, *a, **k)
        t.phase["engine start"] += time.perf_counter() - start
        t.watch_steps(self.llm)

    vllm.VLLMEngine.__init__ = init  # type: ignore[method-assign]
    undo += [lambda: setattr(vllm.VLLMEngine, "__init__", real_init),
             t.wrap(vllm.VLLMEngine, "load_weights", "weight swap"),
             t.wrap(session, "score", "scoring"), t.wrap(session, "write_outputs", "writing the run's files"),
             t.wrap(RunDir, "append", "appending generations"), t.wrap(session.Session, "requests", "tokenizer + rendering")]
    out = Path(tempfile.mkdtemp(prefix="profile_run_"))
    start = time.perf_counter()
    try:
        result = session.compare(output_dir=out, max_samples=args.problems, max_tokens=args.max_tokens,
                                 temperature=0.0, dtype=args.dtype, lora_strategy=args.lora_strategy)
    finally:
        wall = time.perf_counter() - start
        for u in undo:
            u()
        shutil.rmtree(out, ignore_errors=True)
    tokens = sum(r.generation.completion_tokens for rows in result.samples.values() for r in rows)
    s = result.summary
    return {"wall_s": wall, "output_tokens": tokens, "accuracy": {a: v["accuracy"] for a, v in s["arms"].items()},
            "fixed": s["fixed"], "broken": s["broken"], "launch": vars(result.config.launch)}


def sweep(model: str, dtype: str, sizes: list[int], tokens: int) -> list[tuple[int, float]]:
    """Decode step latency at fixed batch sizes: B requests of one short prompt, `tokens` steps each."""
    from vllm import LLM, SamplingParams

    llm = LLM(model=model, max_model_len=4096, dtype=dtype, enforce_eager=True, seed=0)
    t = Timers()
    t.watch_steps(llm)
    out = []
    for b in sizes:
        t.steps.clear()
        llm.generate(["Count from one to one hundred:"] * b, SamplingParams(max_tokens=tokens, ignore_eos=True, temperature=0),
                     use_tqdm=False)
        decode = [s for kind, rows, s in t.steps if kind == "decode" and rows == b]
        out.append((b, sorted(decode)[len(decode) // 2] if decode else float("nan")))
    llm.llm_engine.engine_core.shutdown()
    return out


def model_size(model: str) -> tuple[int, int]:
    """Parameters of the model's safetensors (embeddings tied: counted once), and bytes per parameter as served."""
    from safetensors import safe_open

    n = 0
    for f in Path(model).glob("*.safetensors"):
        with safe_open(str(f), "np") as st:
            for key in st.keys():
                n += math.prod(st.get_slice(key).get_shape())
    return n, 4


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--problems", type=int, default=100)
    p.add_argument("--max-tokens", type=int, default=512)
    p.add_argument("--dtype", default="auto")
    p.add_argument("--lora-strategy", default="auto")
    p.add_argument("--sweep", default="1,2,4,8,16,32,64,128,200", help="batch sizes of the decode sweep ('' = none)")
    p.add_argument("--speculative", default="", help="vLLM's speculative_config as JSON, for the run's engine")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args()
    from grpo_compare.demo import demo_model_path
    from grpo_compare.engines.vllm import CPU_ENV_DEFAULTS, engine_dtype

    for key, value in CPU_ENV_DEFAULTS.items():
        os.environ.setdefault(key, value)
    imports = {m: import_seconds(m) for m in ("grpo_compare.cli", "vllm")}
    t = Timers()
    run = profile_run(args, t)
    model = str(demo_model_path())
    served = engine_dtype(args.dtype)
    params, _ = model_size(model)
    width = 2 if served in ("bfloat16", "float16") else 4
    rates = machine_rates(os.cpu_count() or 1)
    flops = rates["gflops_bfloat16" if width == 2 else "gflops_float32"] * 1e9
    bandwidth = rates["gbps"] * 1e9

    def floor(rows: int) -> float:
        return max(2 * params * rows / flops, params * width / bandwidth)

    by_bucket: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
    for kind, rows, s in t.steps:
        lo, hi = next(b for b in BUCKETS if b[0] <= max(rows, 1) <= b[1])
        key = "prefill steps" if kind == "prefill" else f"decode, {lo}-{hi} rows" if lo != hi else f"decode, {lo} row"
        cell = by_bucket[key]
        cell[0] += 1
        cell[1] += s
        cell[2] += floor(rows) if kind == "decode" else 0.0
    steps_total = sum(s for _, _, s in t.steps)
    named = sum(t.phase.values()) + steps_total
    print(f"\n## Profile of the default run ({cpu_name()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"{args.problems} problems x 2 arms, {args.max_tokens} max tokens, greedy, dtype {served})\n")
    print(f"{run['output_tokens']} output tokens in {run['wall_s']:.1f} s in process "
          f"(+ {imports['grpo_compare.cli']:.1f} s to start the process and import the CLI); launch {run['launch']}; "
          f"accuracy {run['accuracy']}, fixed {run['fixed']}, broken {run['broken']}\n")
    print("| part | steps | seconds | share of the run | roofline floor s |")
    print("|---|---:|---:|---:|---:|")
    rows = [("process start + imports (grpo_compare.cli)", "", imports["grpo_compare.cli"], None)]
    rows += [(k, "", v, None) for k, v in sorted(t.phase.items(), key=lambda kv: -kv[1])]
    for key in sorted(by_bucket, key=lambda k: (k != "prefill steps", -by_bucket[k][1])):
        n, s, fl = by_bucket[key]
        rows.append((key, int(n), s, fl if key != "prefill steps" else None))
    rows.append(("other (session, generation bookkeeping)", "", max(run["wall_s"] - named, 0.0), None))
    total = run["wall_s"] + imports["grpo_compare.cli"]
    for name, n, s, fl in rows:
        print(f"| {name} | {n} | {s:.2f} | {100 * s / total:.1f}% | {'' if fl is None else f'{fl:.2f}'} |")
    decode = [(rows_, s) for kind, rows_, s in t.steps if kind == "decode"]
    floor_total = sum(floor(r) for r, _ in decode)
    measured = sum(s for _, s in decode)
    print(f"\nMachine: matmul {rates['gflops_float32']:.0f} GFLOP/s float32, {rates['gflops_bfloat16']:.0f} bfloat16; "
          f"memory {rates['gbps']:.1f} GB/s; model {params / 1e6:.1f} M parameters, {width} bytes each as served.")
    print(f"Roofline of the run's decode steps: floor {floor_total:.1f} s against {measured:.1f} s measured: "
          f"**{floor_total / measured:.2f}** of the machine's limit.")
    result: dict[str, Any] = {"machine": cpu_name(), "cores": os.cpu_count(), "settings": vars(args) | {"json": None},
                              "imports_s": imports, "run": run, "phases": dict(t.phase),
                              "buckets": {k: v for k, v in by_bucket.items()}, "rates": rates, "params": params,
                              "dtype": served, "roofline": floor_total / measured}
    if args.sweep:
        sizes = [int(x) for x in args.sweep.split(",")]
        latency = sweep(model, served, sizes, 32)
        print("\nDecode step latency against batch size (median of 32 steps, one engine):\n")
        print("| rows | ms per step | tokens/s | roofline floor ms | floor / measured |")
        print("|---:|---:|---:|---:|---:|")
        for b, s in latency:
            print(f"| {b} | {1000 * s:.1f} | {b / s:.0f} | {1000 * floor(b):.1f} | {floor(b) / s:.2f} |")
        result["sweep"] = latency
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, default=str) + "\n")


if __name__ == "__main__":
    main()
