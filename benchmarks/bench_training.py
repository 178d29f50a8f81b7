"""Benchmark: a GRPO training run with and without CompareCallback, and the callback's cost per
checkpoint against a separate `grpo-compare compare` per checkpoint.

    python benchmarks/bench_training.py                       # 6 GRPO steps, a checkpoint every 2, 20 problems
    python benchmarks/bench_training.py --steps 4 --problems 8

Each training run is TRL's GRPOTrainer on the demo model from the shipped demo adapter, in a
process of its own, the same seed. "with callback" evaluates every checkpoint against base as it
is saved (one engine for the whole run, the base arm generated once); "separate compares" runs
`grpo-compare compare --adapter checkpoint-N` once per checkpoint afterwards, as one would without
the callback (an engine start and the base arm each time).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TRAIN = """
import json, sys, time
import torch
from datasets import Dataset
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer, set_seed
from trl import GRPOConfig, GRPOTrainer
from grpo_compare.demo import demo_adapter_path, demo_model_path, demo_problems
from grpo_compare.demo.train import reward_funcs
from grpo_compare.prompts import XML_COT

out, steps, save, problems, callback = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "1"
start = time.perf_counter()
set_seed(0)
tok = AutoTokenizer.from_pretrained(demo_model_path())
model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(demo_model_path(), dtype=torch.float32),
                                  str(demo_adapter_path()), is_trainable=True)
rows = [{"prompt": [{"role": "system", "content": XML_COT}, {"role": "user", "content": p.question}], "answer": p.gold}
        for p in demo_problems("train", n=16)]
callbacks = []
if callback:
    from grpo_compare import CompareCallback
    callbacks.append(CompareCallback(max_samples=problems, max_tokens=128, temperature=0.0))
args = GRPOConfig(output_dir=out, max_steps=steps, save_strategy="steps", save_steps=save, per_device_train_batch_size=4,
                  num_generations=4, max_completion_length=32, learning_rate=1e-4, beta=0.0, seed=0, use_cpu=True,
                  bf16=False, report_to="none", logging_steps=1, disable_tqdm=True)
trainer = GRPOTrainer(model=model, reward_funcs=reward_funcs(), args=args, train_dataset=Dataset.from_list(rows),
                      processing_class=tok, callbacks=callbacks)
trainer.train()
losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
print(json.dumps({"wall_s": time.perf_counter() - start, "losses": losses,
                  "logged": sum("grpo_compare/accuracy" in h for h in trainer.state.log_history)}))
"""


def train(out: Path, args: argparse.Namespace, callback: bool) -> dict:
    proc = subprocess.run([sys.executable, "-c", TRAIN, str(out), str(args.steps), str(args.save_steps),
                           str(args.problems), "1" if callback else "0"], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"training failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def separate(folder: Path, args: argparse.Namespace) -> float:
    """One `grpo-compare compare` per checkpoint, each from process start to the summary."""
    start = time.perf_counter()
    for ckpt in sorted(folder.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1])):
        proc = subprocess.run([sys.executable, "-m", "grpo_compare.cli", "compare", "--adapter", str(ckpt), "--max-samples",
                               str(args.problems), "--max-tokens", "128", "--temperature", "0", "--output-dir",
                               str(folder / "separate" / ckpt.name)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"compare failed:\n{proc.stderr[-3000:]}")
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--save-steps", type=int, default=2)
    p.add_argument("--problems", type=int, default=20)
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_training_"))
    try:
        plain = train(work / "plain", args, callback=False)
        with_cb = train(work / "callback", args, callback=True)
        checkpoints = args.steps // args.save_steps
        apart = separate(work / "plain", args)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    extra = with_cb["wall_s"] - plain["wall_s"]
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"\n## GRPO training with and without CompareCallback ({machine}; {args.steps} steps, a checkpoint every "
          f"{args.save_steps}, {args.problems} problems x 128 tokens greedy per evaluation)\n")
    print("| run | wall s | checkpoints evaluated |\n|---|---:|---:|")
    print(f"| training alone | {plain['wall_s']:.1f} | 0 |")
    print(f"| training with CompareCallback | {with_cb['wall_s']:.1f} | {with_cb['logged']} |")
    print(f"| separate `compare` per checkpoint, after training | {apart:.1f} | {checkpoints} |")
    print(f"\n- the callback's cost per checkpoint: {extra / checkpoints:.1f} s, against {apart / checkpoints:.1f} s for a "
          f"separate compare: {extra / apart:.2f}x")
    print(f"- training's losses with and without the callback are {'the same' if plain['losses'] == with_cb['losses'] else 'DIFFERENT'}"
          f" ({len(plain['losses'])} logged steps)")


if __name__ == "__main__":
    main()
