"""LoRA rows on vLLM's CPU engine: vLLM's own LoRA ops against the tool's per-slot ops
(grpo_compare/engines/cpu_lora.py), side by side, each in a fresh process with one engine.

    python benchmarks/bench_lora_rows.py                     # 100 problems, 64 tokens, the demo adapter
    python benchmarks/bench_lora_rows.py --problems 32 --max-tokens 128

Each way runs the same rendered prompts (the built-in problems, the base arm without a system
prompt and the LoRA arm with the XML-CoT one, as a run renders them) greedily with `ignore_eos`
(every row decodes `--max-tokens` tokens): a prefill-only call (1 token), the base rows alone, the
LoRA rows alone, and both in one call. Output: a markdown table, and how many completions are the
same character for character. Then, in this process, the ops alone: one LoRA projection of the demo
adapter's shape (a shrink and an expand into a slice, rank 16, 576 -> 1,536 features) at each batch
size and number of slots (the base rows' index -1 is a slot of its own), microseconds per pair.

    python benchmarks/bench_lora_rows.py --ops-only          # the op table alone (it takes seconds)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bench_profile import cpu_name

WAYS = ("vllm", "per-slot")


def worker(way: str, problems: int, max_tokens: int) -> dict:
    from grpo_compare.engines.vllm import CPU_BLOCK_SIZE, CPU_ENV_DEFAULTS

    for key, value in CPU_ENV_DEFAULTS.items():
        os.environ.setdefault(key, value)
    from vllm import LLM, SamplingParams
    from vllm.lora.request import LoRARequest

    from grpo_compare.adapters import inspect_adapter
    from grpo_compare.demo import demo_adapter_path, demo_model_path, demo_problems
    from grpo_compare.engines import cpu_lora
    from grpo_compare.prompts import XML_COT, render
    from grpo_compare.session import load_tokenizer
    from grpo_compare.types import Arm

    if way == "per-slot":
        assert cpu_lora.install(), "the per-slot ops did not match vLLM's here"
    model, adapter = str(demo_model_path()), inspect_adapter(demo_adapter_path())
    tok = load_tokenizer(model)
    qs = [p.question for p in demo_problems("eval", n=problems)]
    ids = {arm: [tok(render(tok, Arm(arm, None, prompt), q), add_special_tokens=False).input_ids for q in qs]
           for arm, prompt in (("base", None), ("grpo", XML_COT))}
    llm = LLM(model=model, enable_lora=True, max_loras=2, max_lora_rank=adapter.vllm_max_lora_rank, enforce_eager=True,
              max_model_len=2048, block_size=CPU_BLOCK_SIZE, seed=0)
    lora = LoRARequest("grpo", 1, str(adapter.path))

    def run(rows: list[list[int]], loras: list, tokens: int) -> tuple[float, list[str]]:
        params = SamplingParams(max_tokens=tokens, temperature=0.0, ignore_eos=True)
        start = time.perf_counter()
        out = llm.generate([{"prompt_token_ids": r} for r in rows], params, lora_request=loras, use_tqdm=False)
        return time.perf_counter() - start, [o.outputs[0].text for o in out]

    n = len(qs)
    run(ids["grpo"][:2], [lora] * 2, 4)  # warm-up
    parts = {
        "LoRA prefill (1 token)": (ids["grpo"], [lora] * n, 1),
        "base rows": (ids["base"], [None] * n, max_tokens),
        "LoRA rows": (ids["grpo"], [lora] * n, max_tokens),
        "both in one call": (ids["base"] + ids["grpo"], [None] * n + [lora] * n, max_tokens),
    }
    result = {"way": way, "seconds": {}, "completions": {}}
    for name, (rows, loras, tokens) in parts.items():
        llm.reset_prefix_cache()  # every part computes its prompts
        seconds, texts = run(rows, loras, tokens)
        result["seconds"][name], result["completions"][name] = seconds, texts
    return result


def op_table(repeat: int = 1000) -> None:
    """Microseconds per shrink + expand-slice pair, vLLM's ops against the per-slot ones, on the same
    random inputs (and the same outputs, checked)."""
    import torch

    from grpo_compare.engines import cpu_lora

    assert not cpu_lora.install.cache_info().currsize, "the op table compares against vLLM's ops as shipped"
    from vllm.lora.ops.torch_ops import lora_ops

    original = {name: getattr(lora_ops, name) for name in cpu_lora.NAMES}
    ways = {"vllm": original, "per-slot": cpu_lora._replacements(original)}
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(3, 1, 16, 576, generator=g), torch.randn(3, 1, 1536, 16, generator=g)
    print(f"\n## The ops alone ({cpu_name()}, {torch.get_num_threads()} threads; rank 16, 576 -> 1,536, "
          "a shrink and an expand into a slice)\n")
    print("| rows | slots | vLLM's ops us | per-slot ops us | ratio |")
    print("|---:|---:|---:|---:|---:|")
    for rows in (1, 2, 4, 8, 16, 32, 64):
        for slots in (1, 2, 3):
            if slots > rows:
                continue
            x = torch.randn(rows, 576, generator=g)
            idx = torch.tensor([k % slots - 1 if slots > 1 else 0 for k in range(rows)])  # slots -1, 0, 1
            us, outs = {}, []
            for way, ops in ways.items():
                buf, y = torch.zeros(rows, 16), torch.zeros(rows, 2 * 1536)
                for timed in (False, True):  # a warm-up, then the timed calls
                    start = time.perf_counter()
                    for _ in range(repeat if timed else repeat // 10):
                        ops["bgmv_shrink"](x, a, buf, idx, 0.5)
                        ops["bgmv_expand_slice"](buf, b, y, idx, 0, 1536, False)
                us[way] = (time.perf_counter() - start) / repeat * 1e6
                outs.append(y)
            assert torch.equal(*outs), (rows, slots)
            print(f"| {rows} | {slots} | {us['vllm']:.0f} | {us['per-slot']:.0f} | {us['per-slot'] / us['vllm']:.2f}x |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--problems", type=int, default=100)
    p.add_argument("--max-tokens", type=int, default=64)
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--ops-only", action="store_true", help="only the table of the ops alone")
    p.add_argument("--worker", choices=WAYS, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.problems, args.max_tokens)))
        return
    if args.ops_only:
        op_table()
        return
    results = {}
    for way in WAYS:
        print(f"running {way} ...", file=sys.stderr, flush=True)
        proc = subprocess.run([sys.executable, __file__, "--worker", way, "--problems", str(args.problems),
                               "--max-tokens", str(args.max_tokens)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"{way} failed:\n{proc.stderr[-3000:]}")
        results[way] = json.loads(proc.stdout.strip().splitlines()[-1])
    mine, theirs = results["per-slot"], results["vllm"]
    print(f"\n## LoRA rows on vLLM's CPU engine ({cpu_name()}, {os.cpu_count()} cores; "
          f"{args.problems} problems, {args.max_tokens} tokens each, greedy, the demo adapter)\n")
    print("| part | vLLM's ops s | per-slot ops s | ratio | same completions |")
    print("|---|---:|---:|---:|---:|")
    for name in theirs["seconds"]:
        a, b = theirs["seconds"][name], mine["seconds"][name]
        same = sum(x == y for x, y in zip(theirs["completions"][name], mine["completions"][name]))
        print(f"| {name} | {a:.2f} | {b:.2f} | {b / a:.2f}x | {same}/{len(theirs['completions'][name])} |")
    if args.json:
        args.json.write_text(json.dumps({"problems": args.problems, "max_tokens": args.max_tokens,
                                         "seconds": {w: r["seconds"] for w, r in results.items()}}, indent=1) + "\n")
    op_table()


if __name__ == "__main__":
    main()
