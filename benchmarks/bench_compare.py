"""Benchmark: the product's default path against what users would do instead, side by side.

    python benchmarks/bench_compare.py                        # 128 problems x 2 arms, 256 tokens, greedy
    python benchmarks/bench_compare.py --problems 32 --scaling 32,128,512 --json bench.json   # scaling: the command

Every strategy runs the same problems, rendered prompts and sampling, each in its own process
(so peak RSS is its own), from nothing loaded to scored answers:

  cli             the `grpo-compare compare` command itself, from process start to the summary
  product         `compare(...)` as `grpo-compare compare` runs it (LoRA strategy auto)
  product-mixed   the same with `lora_strategy="mixed"`
  vllm-mixed      raw vLLM, both arms in one `generate` call (the ceiling of the mixed strategy)
  vllm-sequential raw vLLM, base call then LoRA call (what the GRPO notebook does)
  hf-peft         transformers + peft `generate` in batches, base under `disable_adapter()` (the guide)
  vllm-merged     raw: adapter merged into a copy of the weights, base engine then merged engine

Output: a markdown table (tokens/s, problems/s, wall, peak RSS, scoring time and share) and JSON.
Data: GSM8K test from ../shared/data when present (or --dataset FILE), else the built-in problems.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

STRATEGIES = ("cli", "product", "product-mixed", "vllm-mixed", "vllm-sequential", "hf-peft", "vllm-merged")
SHARED_GSM8K = Path(__file__).resolve().parents[2] / "shared" / "data" / "gsm8k_test.jsonl"
HF_BATCH = 16  # the guide's batched generate


# --- one strategy, in a worker process ---------------------------------------------------------

def setup(args: argparse.Namespace) -> dict[str, Any]:
    """Problems, both arms' rendered prompts, model and adapter: the same for every strategy."""
    from grpo_compare.config import CompareConfig
    from grpo_compare.datasets import load_problems
    from grpo_compare.demo import demo_adapter_path, demo_model_path, demo_problems
    from grpo_compare.engines.vllm import CPU_ENV_DEFAULTS as ENV_DEFAULTS
    from grpo_compare.plan import plan
    from grpo_compare.prompts import render
    from grpo_compare.session import load_tokenizer

    for key, value in ENV_DEFAULTS.items():
        os.environ.setdefault(key, value)
    model, adapter = str(demo_model_path()), demo_adapter_path()
    problems = (load_problems(args.dataset, max_samples=args.problems) if args.dataset
                else demo_problems("eval", n=args.problems))
    tok = load_tokenizer(model)
    arms = plan(CompareConfig(adapter=str(adapter))).arms
    rows = [(p, arm, render(tok, arm, p.question)) for p in problems for arm in arms]
    return dict(model=model, adapter=adapter, problems=problems, rows=rows, tokenizer=tok)


def score_all(texts: list[str], golds: list[str | None]) -> float:
    """Seconds spent scoring every completion, as the product scores them."""
    from grpo_compare.scoring import score

    start = time.perf_counter()
    for text, gold in zip(texts, golds):
        score(text, gold)
    return time.perf_counter() - start


def run_product(s: dict[str, Any], args: argparse.Namespace, strategy: str) -> tuple[list[int], float]:
    """`compare` end to end (run files written); scoring time is measured inside the pipeline."""
    import importlib

    pipeline = importlib.import_module("grpo_compare.session")  # the module, whose `score` is timed
    from grpo_compare import CompareConfig
    from grpo_compare.files import cache_dir

    shutil.rmtree(cache_dir() / "merged", ignore_errors=True)  # pay for the merge, as vllm-merged does
    spent = [0.0]
    real_score = pipeline.score

    def timed(completion: str, gold: str | None) -> Any:
        start = time.perf_counter()
        try:
            return real_score(completion, gold)
        finally:
            spent[0] += time.perf_counter() - start

    pipeline.score = timed
    out = Path(tempfile.mkdtemp(prefix="bench_run_"))
    try:
        result = pipeline.compare(CompareConfig(), output_dir=out, problems=s["problems"], temperature=0.0,
                                  max_tokens=args.max_tokens, lora_strategy=strategy)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    tokens = [r.generation.completion_tokens for r in result.results.values()]
    return tokens, spent[0]


def _vllm(model: str, lora_rank: int | None) -> Any:
    from vllm import LLM

    lora = dict(enable_lora=True, max_loras=2, max_lora_rank=lora_rank) if lora_rank else {}
    return LLM(model=model, max_model_len=4096, dtype="float32", **lora)


def _params(args: argparse.Namespace) -> Any:
    from vllm import SamplingParams

    return SamplingParams(temperature=0.0, max_tokens=args.max_tokens)


def run_vllm(s: dict[str, Any], args: argparse.Namespace, sequential: bool) -> tuple[list[str], list[int]]:
    """One engine with the LoRA; one mixed call, or base call then LoRA call."""
    from vllm.lora.request import LoRARequest

    llm = _vllm(s["model"], 16)
    lora = LoRARequest("grpo", 1, str(s["adapter"]))
    prompts = [text for _, _, text in s["rows"]]
    loras = [lora if arm.adapter else None for _, arm, _ in s["rows"]]
    if not sequential:
        outs = llm.generate(prompts, _params(args), lora_request=loras, use_tqdm=False)
    else:
        outs = [None] * len(prompts)
        for want_lora in (False, True):
            idx = [i for i, lr in enumerate(loras) if (lr is not None) == want_lora]
            got = llm.generate([prompts[i] for i in idx], _params(args),
                               lora_request=lora if want_lora else None, use_tqdm=False)
            for i, o in zip(idx, got):
                outs[i] = o
    return [o.outputs[0].text for o in outs], [len(o.outputs[0].token_ids) for o in outs]


def run_vllm_merged(s: dict[str, Any], args: argparse.Namespace) -> tuple[list[str], list[int]]:
    """Merge with peft into a temp folder; base engine for base rows, then the merged engine."""
    import gc

    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    merged_dir = Path(tempfile.mkdtemp(prefix="bench_merged_"))
    base = AutoModelForCausalLM.from_pretrained(s["model"], dtype=torch.float32)
    PeftModel.from_pretrained(base, str(s["adapter"])).merge_and_unload().save_pretrained(merged_dir)
    s["tokenizer"].save_pretrained(merged_dir)
    del base
    texts: list[str | None] = [None] * len(s["rows"])
    tokens = [0] * len(s["rows"])
    for model, want_lora in ((s["model"], False), (str(merged_dir), True)):
        llm = _vllm(model, None)
        idx = [i for i, (_, arm, _) in enumerate(s["rows"]) if (arm.adapter is not None) == want_lora]
        for i, o in zip(idx, llm.generate([s["rows"][i][2] for i in idx], _params(args), use_tqdm=False)):
            texts[i], tokens[i] = o.outputs[0].text, len(o.outputs[0].token_ids)
        if hasattr(llm.llm_engine, "shutdown"):
            llm.llm_engine.shutdown()
        del llm
        gc.collect()
    shutil.rmtree(merged_dir, ignore_errors=True)
    return texts, tokens  # type: ignore[return-value]


def run_hf(s: dict[str, Any], args: argparse.Namespace) -> tuple[list[str], list[int]]:
    """The guide's way: PeftModel.generate in left-padded batches, base arm under disable_adapter()."""
    import contextlib

    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    tok = s["tokenizer"]
    tok.padding_side = "left"
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(s["model"], dtype=torch.float32),
                                      str(s["adapter"])).eval()
    texts, tokens = [""] * len(s["rows"]), [0] * len(s["rows"])
    for want_lora in (False, True):
        idx = [i for i, (_, arm, _) in enumerate(s["rows"]) if (arm.adapter is not None) == want_lora]
        ctx = contextlib.nullcontext() if want_lora else model.disable_adapter()
        with ctx, torch.inference_mode():
            for k in range(0, len(idx), HF_BATCH):
                part = idx[k:k + HF_BATCH]
                enc = tok([s["rows"][i][2] for i in part], return_tensors="pt", padding=True, add_special_tokens=False)
                out = model.generate(**enc, max_new_tokens=args.max_tokens, do_sample=False,
                                     pad_token_id=tok.eos_token_id)[:, enc["input_ids"].shape[1]:]
                for i, row in zip(part, out.tolist()):
                    end = row.index(tok.eos_token_id) + 1 if tok.eos_token_id in row else len(row)
                    texts[i], tokens[i] = tok.decode(row[:end], skip_special_tokens=True), end
    return texts, tokens


def run_cli(args: argparse.Namespace, start: float) -> dict[str, Any]:
    """The command as a user types it; output tokens read back from the run's generations.jsonl."""
    out = Path(tempfile.mkdtemp(prefix="bench_cli_")) / "run"
    cmd = [sys.executable, "-m", "grpo_compare.cli", "compare", "--max-samples", str(args.problems), "--temperature", "0",
           "--max-tokens", str(args.max_tokens), "--output-dir", str(out)] + (["--dataset", args.dataset] if args.dataset else [])
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"cli failed:\n{proc.stderr[-3000:]}")
    records = [json.loads(x) for x in (out / "generations.jsonl").read_text().splitlines()]
    shutil.rmtree(out.parent, ignore_errors=True)
    tokens = sum(r["completion_tokens"] for r in records)
    return {"strategy": "cli", "problems": args.problems, "rows": len(records), "output_tokens": tokens,
            "wall_s": round(wall, 1), "tokens_per_s": round(tokens / wall, 1), "problems_per_s": round(args.problems / wall, 3),
            "scoring_s": 0.0, "scoring_share": 0.0,
            "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20, 2)}


def worker(args: argparse.Namespace) -> dict[str, Any]:
    start = time.perf_counter()
    if args.worker == "cli":
        return run_cli(args, start)
    s = setup(args)
    golds = [p.gold for p, _, _ in s["rows"]]
    if args.worker in ("product", "product-mixed"):
        tokens, scoring = run_product(s, args, "auto" if args.worker == "product" else "mixed")
    else:
        runners = {"vllm-mixed": lambda: run_vllm(s, args, False), "vllm-sequential": lambda: run_vllm(s, args, True),
                   "hf-peft": lambda: run_hf(s, args), "vllm-merged": lambda: run_vllm_merged(s, args)}
        texts, tokens = runners[args.worker]()
        scoring = score_all(texts, golds)
    wall = time.perf_counter() - start
    return {"strategy": args.worker, "problems": len(s["problems"]), "rows": len(s["rows"]),
            "output_tokens": sum(tokens), "wall_s": round(wall, 1), "tokens_per_s": round(sum(tokens) / wall, 1),
            "problems_per_s": round(len(s["problems"]) / wall, 3), "scoring_s": round(scoring, 2),
            "scoring_share": round(scoring / wall, 4),
            "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)}


# --- the driver ------------------------------------------------------------------------------

def run_worker(strategy: str, problems: int, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--worker", strategy, "--problems", str(problems),
           "--max-tokens", str(args.max_tokens), "--dataset", args.dataset or ""]
    print(f"running {strategy} on {problems} problems ...", file=sys.stderr, flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    lines = [x for x in proc.stdout.splitlines() if x.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"{strategy} failed:\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1])


def table(rows: list[dict[str, Any]]) -> str:
    head = "| strategy | problems | output tokens | wall s | tokens/s | problems/s | peak RSS GiB | scoring s | scoring % |"
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['strategy']} | {r['problems']} | {r['output_tokens']} | {r['wall_s']} | {r['tokens_per_s']} | "
                     f"{r['problems_per_s']} | {r['peak_rss_gib']} | {r['scoring_s']} | {100 * r['scoring_share']:.1f} |")
    return "\n".join(lines)


def ratios(rows: list[dict[str, Any]]) -> list[str]:
    """The targets, as measured in this run."""
    by = {r["strategy"]: r for r in rows}
    out = []
    if {"product", "vllm-merged"} <= set(by):
        out.append(f"harness overhead, product (auto) vs raw vllm-merged: "
                   f"{by['product']['wall_s'] / by['vllm-merged']['wall_s'] - 1:+.1%} wall time")
    if {"product-mixed", "vllm-mixed"} <= set(by):
        out.append(f"harness overhead, product-mixed vs raw vllm-mixed: "
                   f"{by['product-mixed']['wall_s'] / by['vllm-mixed']['wall_s'] - 1:+.1%} wall time")
    if {"product", "hf-peft"} <= set(by):
        out.append(f"product vs transformers + peft (guide): {by['hf-peft']['wall_s'] / by['product']['wall_s']:.2f}x faster")
    if "product" in by:
        out.append(f"scoring share of the product's wall time: {by['product']['scoring_share']:.1%}")
    if {"cli", "vllm-sequential"} <= set(by):
        out.append(f"the command, process start to summary, vs the seed notebook's raw vLLM (one LoRA engine, base call "
                   f"then LoRA call): {by['cli']['wall_s'] / by['vllm-sequential']['wall_s']:.2f}x the wall time")
    if {"cli", "hf-peft"} <= set(by):
        out.append(f"the command vs transformers + peft (guide): {by['hf-peft']['wall_s'] / by['cli']['wall_s']:.2f}x faster")
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--problems", type=int, default=128)
    p.add_argument("--max-tokens", type=int, default=256)
    p.add_argument("--dataset", default=str(SHARED_GSM8K) if SHARED_GSM8K.is_file() else None)
    p.add_argument("--strategies", default=",".join(STRATEGIES))
    p.add_argument("--scaling", default="32,128,512", help="problem counts for the command's scaling rows ('' = none)")
    p.add_argument("--json", type=Path, default=Path("benchmarks/bench_compare.json"))
    p.add_argument("--worker", choices=STRATEGIES, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return
    rows = [run_worker(s, args.problems, args) for s in args.strategies.split(",") if s]
    scaling = [next((r for r in rows if r["strategy"] == "cli" and r["problems"] == n), None)
               or run_worker("cli", n, args) for n in map(int, filter(None, args.scaling.split(",")))]
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"\n## {args.problems} problems x 2 arms, {args.max_tokens} max tokens, greedy ({machine})\n")
    print(table(rows))
    print("\n" + "\n".join(f"- {line}" for line in ratios(rows)))
    if scaling:
        print("\n## the command's wall time by problem count\n")
        print(table(scaling))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"machine": machine, "settings": {"problems": args.problems, "max_tokens": args.max_tokens,
                                     "dataset": args.dataset}, "strategies": rows, "scaling": scaling}, indent=1) + "\n")


if __name__ == "__main__":
    main()
