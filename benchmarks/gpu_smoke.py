"""GPU smoke check: every engine the machine has, on the demo model, through the real pipeline.

    python benchmarks/gpu_smoke.py              # a table: engine, status, wall time, accuracy per arm

Runs `grpo-compare compare` (8 built-in problems, greedy, 128 tokens) once per engine that can
run here: transformers + peft (`hf`) always; vLLM and unsloth where they are installed. Each run
is a process of its own, so one engine's GPU memory never meets another's. Run it on any CUDA
machine and copy the table into benchmarks/RESULTS.md.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run(backend: str, out: Path) -> tuple[str, float, str]:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "grpo_compare.cli", "compare", "--backend", backend, "--max-samples", "8",
                           "--max-tokens", "128", "--temperature", "0", "--gpu-memory-utilization", "0.4",
                           "--output-dir", str(out)], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        return "failed: " + (proc.stderr.strip().splitlines() or ["?"])[-1][:120], seconds, ""
    arms = json.loads((out / "summary.json").read_text())["arms"]
    return "ok", seconds, ", ".join(f"{a} {v['accuracy']:.0%}" for a, v in arms.items())


def main() -> int:
    import torch

    if not torch.cuda.is_available():
        print("no CUDA GPU visible: this check is for GPU machines")
        return 1
    print(f"GPU: {torch.cuda.get_device_name(0)}, torch {torch.__version__}")
    engines = ["hf"] + [b for b, pkg in (("vllm", "vllm"), ("unsloth", "unsloth")) if importlib.util.find_spec(pkg)]
    print("| engine | status | wall s | accuracy |\n|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for backend in engines:
            status, seconds, accuracy = run(backend, Path(tmp) / backend)
            print(f"| {backend} | {status} | {seconds:.1f} | {accuracy} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
