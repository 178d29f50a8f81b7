"""GPU smoke check: every engine the machine has, on the demo model, through the real pipeline.

    python benchmarks/gpu_smoke.py              # a table: engine, status, wall time, accuracy per arm

Runs `grpo-compare compare` (8 built-in problems, greedy, 128 tokens) once per engine that can
run here: transformers + peft (`hf`) always; vLLM and unsloth where they are installed. Each run
is a process of its own, so one engine's GPU memory never meets another's. Then the training-loop
paths a GPU takes: `grpo-compare watch` adding a LoRA slot per checkpoint to one running vLLM
engine (`VLLMEngine.serve`), and `CompareCallback(wait=False)` evaluating beside a short TRL
GRPOTrainer run on the same GPU. Last, the choice `--lora-strategy auto` makes on CUDA: one
mixed batch (base and LoRA rows together, every row through the LoRA kernels) against a base-only
call then a LoRA-only call in the same engine (vLLM captures separate graphs for batches without
LoRA rows); it prints which one `auto` should choose on this GPU. Run it on any CUDA machine and
copy the tables into benchmarks/RESULTS.md.

    python benchmarks/gpu_smoke.py --lora-batches-only --device cpu   # that last part, on a CPU
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
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


def checkpoints(root: Path, steps: tuple[int, ...] = (1, 2)) -> Path:
    """A trainer's output folder: the demo adapter's LoRA B scaled, one checkpoint per step."""
    from safetensors.torch import load_file, save_file

    from grpo_compare.demo import demo_adapter_path

    tensors = load_file(demo_adapter_path() / "adapter_model.safetensors")
    for step in steps:
        folder = root / f"checkpoint-{step}"
        folder.mkdir(parents=True)
        (folder / "adapter_config.json").write_text((demo_adapter_path() / "adapter_config.json").read_text())
        save_file({k: (v * step / len(steps) if "lora_B" in k else v).contiguous() for k, v in tensors.items()},
                  str(folder / "adapter_model.safetensors"))
        (folder / "trainer_state.json").write_text("{}")
    return root


def watch_check(tmp: Path) -> str:
    """`watch` on two checkpoints: one engine, a LoRA slot added for the second (mixed strategy on CUDA)."""
    folder = checkpoints(tmp / "watch")
    proc = subprocess.run([sys.executable, "-m", "grpo_compare.cli", "watch", str(folder), "--max-samples", "8",
                           "--max-tokens", "128", "--temperature", "0", "--gpu-memory-utilization", "0.4",
                           "--until-step", "2"], capture_output=True, text=True)
    if proc.returncode != 0:
        return "failed: " + (proc.stderr.strip().splitlines() or ["?"])[-1][:120]
    lines = (folder / "grpo_compare" / "checkpoints.jsonl").read_text().splitlines()
    return f"ok: {len(lines)} checkpoints, {proc.stderr.count('Loading')} engine start(s), " + \
        ("LoRA strategy mixed" if "LoRA strategy mixed" in proc.stderr else "not mixed")


def callback_check(tmp: Path) -> str:
    """Two GRPO steps on the GPU with CompareCallback(wait=False): evaluated beside training."""
    if importlib.util.find_spec("trl") is None:
        return "skipped: trl is not installed"
    code = f"""
import torch
from datasets import Dataset
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import GRPOConfig, GRPOTrainer
from grpo_compare import CompareCallback
from grpo_compare.demo import demo_adapter_path, demo_model_path, demo_problems
from grpo_compare.demo.train import reward_funcs
from grpo_compare.prompts import XML_COT
tok = AutoTokenizer.from_pretrained(demo_model_path())
model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(demo_model_path(), dtype=torch.bfloat16),
                                  str(demo_adapter_path()), is_trainable=True)
rows = [{{"prompt": [{{"role": "system", "content": XML_COT}}, {{"role": "user", "content": p.question}}], "answer": p.gold}}
        for p in demo_problems("train", n=8)]
args = GRPOConfig(output_dir={str(tmp / "train")!r}, max_steps=2, save_steps=1, per_device_train_batch_size=4,
                  num_generations=4, max_completion_length=32, report_to="none", logging_steps=1)
trainer = GRPOTrainer(model=model, reward_funcs=reward_funcs(), args=args, train_dataset=Dataset.from_list(rows),
                      processing_class=tok, callbacks=[CompareCallback(max_samples=8, max_tokens=128, temperature=0,
                                                                       wait=False)])
trainer.train()
print(sum("grpo_compare/accuracy" in h for h in trainer.state.log_history))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if proc.returncode != 0:
        return "failed: " + (proc.stderr.strip().splitlines() or ["?"])[-1][:120]
    return f"ok: {proc.stdout.strip().splitlines()[-1]} checkpoints logged to the trainer"


def lora_batches(problems: int, max_tokens: int, device: str, repeats: int = 2) -> str:
    """One vLLM engine with the demo adapter, the built-in problems as both arms' rendered prompts,
    greedy: one mixed `generate` against a base call then a LoRA call, alternated `repeats` times
    after a warm-up; the fastest of each way, and which one `auto` should choose here."""
    from vllm import LLM, SamplingParams
    from vllm.lora.request import LoRARequest

    from grpo_compare.config import CompareConfig
    from grpo_compare.demo import demo_adapter_path, demo_model_path, demo_problems
    from grpo_compare.engines.vllm import CPU_BLOCK_SIZE, CPU_ENV_DEFAULTS
    from grpo_compare.plan import plan
    from grpo_compare.prompts import render
    from grpo_compare.session import load_tokenizer

    model, adapter = str(demo_model_path()), str(demo_adapter_path())
    tok = load_tokenizer(model)
    arms = plan(CompareConfig(adapter=adapter)).arms
    rows = [(render(tok, arm, p.question), arm.adapter is not None)
            for p in demo_problems("eval", n=problems) for arm in arms]
    # max_loras above the adapter count: base rows beside LoRA rows stay base rows
    kw: dict = dict(gpu_memory_utilization=0.4)
    if device == "cpu":  # as the product's engine on CPU
        kw = dict(dtype="float32", enforce_eager=True, block_size=CPU_BLOCK_SIZE)
        for key, value in CPU_ENV_DEFAULTS.items():
            os.environ.setdefault(key, value)
    llm = LLM(model=model, enable_lora=True, max_loras=2, max_lora_rank=16, max_model_len=4096, **kw)
    lora = LoRARequest("grpo", 1, adapter)
    params = SamplingParams(temperature=0.0, max_tokens=max_tokens)
    prompts = [text for text, _ in rows]

    def mixed() -> list[str]:
        outs = llm.generate(prompts, params, lora_request=[lora if a else None for _, a in rows], use_tqdm=False)
        return [o.outputs[0].text for o in outs]

    def separate() -> list[str]:
        texts = [""] * len(rows)
        for want in (False, True):
            idx = [i for i, (_, a) in enumerate(rows) if a == want]
            outs = llm.generate([prompts[i] for i in idx], params, lora_request=lora if want else None, use_tqdm=False)
            for i, o in zip(idx, outs):
                texts[i] = o.outputs[0].text
        return texts

    llm.generate(prompts[:4], params, lora_request=[lora if a else None for _, a in rows[:4]], use_tqdm=False)
    best: dict[str, float] = {}
    texts: dict[str, list[str]] = {}
    for _ in range(repeats):
        for name, way in (("mixed", mixed), ("separate", separate)):
            start = time.perf_counter()
            texts[name] = way()
            best[name] = min(best.get(name, float("inf")), time.perf_counter() - start)
    same = sum(a == b for a, b in zip(texts["mixed"], texts["separate"]))
    choice = "mixed" if best["mixed"] <= best["separate"] else "separate"
    return (f"| way | wall s (best of {repeats}) |\n|---|---:|\n"
            f"| one mixed batch | {best['mixed']:.2f} |\n| base call, then LoRA call | {best['separate']:.2f} |\n"
            f"{len(rows)} rows ({problems} problems x {len(arms)} arms), {max_tokens} tokens, greedy; "
            f"{same} of {len(rows)} completions the same both ways.\n"
            f"of the two, auto on this {device.upper()} should choose: {choice} "
            f"(separate / mixed = {best['separate'] / best['mixed']:.2f})")


def main() -> int:
    import torch

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lora-batches-only", action="store_true", help="only the mixed-or-separate measurement")
    ap.add_argument("--device", choices=("cuda", "cpu"), default="cuda", help="cpu: that measurement on the CPU")
    ap.add_argument("--problems", type=int, default=128, help="built-in problems for the mixed-or-separate measurement")
    ap.add_argument("--max-tokens", type=int, default=256)
    args = ap.parse_args()
    if args.device == "cpu":
        if not args.lora_batches_only:
            ap.error("--device cpu measures only the LoRA batches: add --lora-batches-only")
        print(f"CPU, torch {torch.__version__}\n{lora_batches(args.problems, args.max_tokens, 'cpu')}")
        return 0
    if not torch.cuda.is_available():
        print("no CUDA GPU visible: this check is for GPU machines")
        return 1
    print(f"GPU: {torch.cuda.get_device_name(0)}, torch {torch.__version__}")
    if args.lora_batches_only:
        print(lora_batches(args.problems, args.max_tokens, "cuda"))
        return 0
    engines = ["hf"] + [b for b, pkg in (("vllm", "vllm"), ("unsloth", "unsloth")) if importlib.util.find_spec(pkg)]
    print("| engine | status | wall s | accuracy |\n|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for backend in engines:
            status, seconds, accuracy = run(backend, Path(tmp) / backend)
            print(f"| {backend} | {status} | {seconds:.1f} | {accuracy} |", flush=True)
        if importlib.util.find_spec("vllm"):
            print(f"\nwatch, one vLLM engine, a LoRA slot per checkpoint: {watch_check(Path(tmp))}", flush=True)
            print(f"CompareCallback(wait=False) beside a GRPOTrainer run: {callback_check(Path(tmp))}", flush=True)
            print(f"\nLoRA batches, one engine:\n{lora_batches(args.problems, args.max_tokens, 'cuda')}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
