"""The `grpo-compare` command line: thin typer commands over the library.

    grpo-compare compare                                   # the embedded demo
    grpo-compare compare --model M --adapter A --dataset gsm8k_test.jsonl --max-samples 50
"""

from __future__ import annotations

import functools
import shlex
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional

import typer
from rich.console import Console

from .errors import UserError

app = typer.Typer(add_completion=False, no_args_is_help=False, help=__doc__.splitlines()[0])
err = Console(stderr=True, soft_wrap=True)  # one error, one line, whatever the width


def friendly(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn user mistakes into one red line and their exit code, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except UserError as e:
            err.print(f"[bold red]error:[/] {e}", highlight=False)
            raise typer.Exit(e.exit_code) from None

    return wrapper


@app.command("compare")
@friendly
def compare_cmd(
    model: Optional[str] = typer.Option(None, help="Base model: local folder or hub id (default: demo model)."),
    adapter: Optional[str] = typer.Option(None, help="PEFT LoRA folder (default: the demo adapter)."),
    dataset: Optional[str] = typer.Option(None, help="Local .jsonl/.json/.csv/.parquet/.txt or hub id (default: built-in problems)."),
    config: Optional[Path] = typer.Option(None, help="YAML config; flags override it."),
    split: Optional[str] = typer.Option(None, help="Dataset split for hub datasets."),
    max_samples: Optional[int] = typer.Option(None, help="Use the first N problems."),
    temperature: Optional[float] = typer.Option(None, help="Sampling temperature (default 0.8; demo 0)."),
    top_p: Optional[float] = typer.Option(None, help="Nucleus sampling (default 0.95)."),
    max_tokens: Optional[int] = typer.Option(None, help="Max new tokens per answer (default 1024)."),
    seed: Optional[int] = typer.Option(None, help="Base seed; each problem gets one seed shared by all arms."),
    question_field: Optional[str] = typer.Option(None, help="Dataset field holding the question."),
    answer_field: Optional[str] = typer.Option(None, help="Dataset field holding the reference answer."),
    max_model_len: Optional[int] = typer.Option(None, help="Context window of the engine."),
    chunk_size: Optional[int] = typer.Option(None, help="Problems per engine call (default 256); a crash loses at most one chunk."),
    allow_pickle: bool = typer.Option(False, help="Accept a pickled adapter_model.bin (it can run code when loaded)."),
    num_samples: Optional[int] = typer.Option(None, help="Samples per problem and arm (k); k > 1 adds pass@k and maj@k."),
    output_dir: Optional[Path] = typer.Option(None, help="Where to write the run (default runs/<time>-<dataset>); an unfinished run there is resumed."),
    backend: Optional[str] = typer.Option(None, help="auto (vllm where it runs, else hf), vllm, unsloth (CUDA) or hf (transformers + peft)."),
    lora_strategy: Optional[str] = typer.Option(None, help="auto, mixed (base and LoRA rows in one batch) or merged (a merged copy of the weights, one engine at a time)."),
) -> None:
    """Run base and GRPO arms side by side on one engine, score them and show the difference."""
    from .compare import compare
    from .config import CompareConfig, demo_config
    from .frontend import compare_inputs
    from .report import print_summary

    cfg, engine = compare_inputs(config)  # the flat layout, or the guide's sectioned one
    cfg = cfg or demo_config()
    flags = dict(model=model, adapter=adapter, dataset=dataset, split=split, max_samples=max_samples,
                 temperature=temperature, top_p=top_p, max_tokens=max_tokens, seed=seed,
                 question_field=question_field, answer_field=answer_field, max_model_len=max_model_len,
                 chunk_size=chunk_size, num_samples=num_samples, backend=backend,
                 lora_strategy=lora_strategy)
    if config is None and any(flags[k] for k in ("model", "adapter", "dataset")):
        cfg = CompareConfig()  # not the demo: the notebook's sampling defaults apply
    cfg = cfg.override(**flags)
    out = output_dir or Path(cfg.output_dir or default_run_dir(cfg.dataset))
    try:
        result = compare(cfg, backend=engine, output_dir=out)
    except KeyboardInterrupt:
        err.print(f"[bold yellow]interrupted:[/] finished generations are kept in {out}/generations.jsonl; "
                  f"resume with: {resume_command(out)}", highlight=False)
        raise typer.Exit(130) from None
    print_summary(result, Console())
    err.print(f"wrote {out}/comparison.csv, summary.json, generations.jsonl, config.yaml, report.html")


def resume_command(out: Path) -> str:
    """This command line again, pointed at `out`, which continues the run."""
    args = [a for a in sys.argv[1:]]
    if "--output-dir" not in args and not any(a.startswith("--output-dir=") for a in args):
        args += ["--output-dir", str(out)]
    return " ".join(["grpo-compare", *map(shlex.quote, args)])


def default_run_dir(dataset: str | None) -> str:
    """runs/<UTC time>-<dataset stem>, e.g. runs/20261122-231500-gsm8k_test."""
    stem = Path(dataset).stem.replace("/", "_") if dataset else "demo"
    return f"runs/{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{stem}"


@app.command("train-demo")
@friendly
def train_demo_cmd(
    output: Path = typer.Option(Path("demo_adapter"), help="Folder to write the trained adapter to."),
    seed: int = typer.Option(0, help="Training seed."),
) -> None:
    """Train the demo GRPO LoRA on the demo model (2 CPU cores: about 40 minutes)."""
    from .demo.train import main as train_main

    sys.exit(train_main(["--output", str(output), "--seed", str(seed)]))


@app.command("report")
@friendly
def report_cmd(
    run_dir: Path = typer.Argument(..., help="A run directory written by `grpo-compare compare`."),
) -> None:
    """Rebuild RUN_DIR/report.html from the run's saved files (no model is loaded)."""
    from .runs import rebuild_report

    err.print(f"wrote {rebuild_report(run_dir)}")


@app.command("rescore")
@friendly
def rescore_cmd(
    run_dir: Path = typer.Argument(..., help="A run directory written by `grpo-compare compare`."),
) -> None:
    """Re-score RUN_DIR's saved completions with the current scorer (no model is loaded)."""
    from .report import print_summary
    from .runs import rescore_run

    print_summary(rescore_run(run_dir), Console())
    err.print(f"rewrote {run_dir}/generations.jsonl scores, comparison.csv, summary.json, report.html")


@app.command("diff")
@friendly
def diff_cmd(
    run_a: Path = typer.Argument(..., help="The baseline run directory."),
    run_b: Path = typer.Argument(..., help="The run compared against it."),
    arm_a: Optional[str] = typer.Option(None, help="Arm of RUN_A to compare (default: its second arm)."),
    arm_b: Optional[str] = typer.Option(None, help="Arm of RUN_B to compare (default: its second arm)."),
    csv: Optional[Path] = typer.Option(None, help="Also write the per-problem table to this CSV file."),
    html: Optional[Path] = typer.Option(None, help="Also write the HTML side-by-side report to this file."),
) -> None:
    """Compare two runs problem by problem: fixed / broken by RUN_B relative to RUN_A, delta, McNemar."""
    from .html_report import render_report
    from .report import print_summary
    from .runs import diff_runs, write_diff_csv

    d = diff_runs(run_a, run_b, arm_a, arm_b)
    err.print(f"a = {run_a} ({d.arms[0].name[2:]}), b = {run_b} ({d.arms[1].name[2:]}); "
              f"{len(d.problems)} shared problems")
    print_summary(d, Console())
    if csv:
        err.print(f"wrote {write_diff_csv(d, csv)}")
    if html:
        html.parent.mkdir(parents=True, exist_ok=True)
        html.write_text(render_report(d), encoding="utf-8")
        err.print(f"wrote {html}")


# --- the inference front end: ask, batch, chat, evaluate (shared options below) -------------

_CONFIG = typer.Option(None, "--config", help="configs/inference_config.yaml (the guide's sections); flags override it.")
_MODEL = typer.Option(None, "--model", help="Base model: local folder or hub id (model.base_model; default: demo model).")
_ADAPTER = typer.Option(None, "--adapter", help="GRPO LoRA folder (model.model_path; default: the demo adapter).")
_ARM = typer.Option(None, "--arm", help="Answer with one arm only: base or grpo (default: both, side by side).")
_TEMPERATURE = typer.Option(None, "--temperature", help="Sampling temperature (0 = greedy).")
_TOP_P = typer.Option(None, "--top-p", help="Nucleus sampling.")
_TOP_K = typer.Option(None, "--top-k", help="Top-k sampling (0 = off).")
_MAX_TOKENS = typer.Option(None, "--max-tokens", help="Max new tokens per answer (inference.max_new_tokens).")
_SEED = typer.Option(None, "--seed", help="Base seed; the same for every arm.")
_MAX_MODEL_LEN = typer.Option(None, "--max-model-len", help="Context window (inference.max_length).")
_BACKEND = typer.Option(None, "--backend", help="auto (vllm where it runs, else hf), vllm, unsloth (CUDA) or hf.")


def _inference(config: Optional[Path], arm: Optional[str], **flags: Any) -> tuple[Any, list[str]]:
    from .frontend import arms_for, load_inference_config
    from .inference import GRPOInference

    inf = GRPOInference(load_inference_config(config, **flags))
    return inf, arms_for(inf, arm)


@app.command("ask")
@friendly
def ask_cmd(
    question: str = typer.Argument(..., help="The question, e.g. \"Solve x^2 - 5x + 6 = 0\"."),
    as_json: bool = typer.Option(False, "--json", help="Print {question, arms: {arm: {prompt, response, answer, full_output}}}."),
    arm: Optional[str] = _ARM, config: Optional[Path] = _CONFIG, model: Optional[str] = _MODEL,
    adapter: Optional[str] = _ADAPTER, temperature: Optional[float] = _TEMPERATURE, top_p: Optional[float] = _TOP_P,
    top_k: Optional[int] = _TOP_K, max_tokens: Optional[int] = _MAX_TOKENS, seed: Optional[int] = _SEED,
    max_model_len: Optional[int] = _MAX_MODEL_LEN, backend: Optional[str] = _BACKEND,
) -> None:
    """Ask one question; both arms answer side by side, the extracted answers highlighted."""
    from .frontend import ask_json, show_answers

    inf, arms = _inference(config, arm, model=model, adapter=adapter, temperature=temperature, top_p=top_p,
                           top_k=top_k, max_tokens=max_tokens, seed=seed, max_model_len=max_model_len, backend=backend)
    answers = inf.ask(question, arms)
    if as_json:
        print(ask_json(question, answers))
    else:
        show_answers(Console(), question, answers)


@app.command("batch")
@friendly
def batch_cmd(
    input_file: Path = typer.Argument(..., help="Questions: .txt (one per line), .jsonl, .json or .csv."),
    output: Optional[Path] = typer.Option(None, "--output", help="results.json -> results.<arm>.json per arm "
                                          "(default <output.results_path>/batch_results.json)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Questions per engine call (optimization.batch_size)."),
    arm: Optional[str] = _ARM, config: Optional[Path] = _CONFIG, model: Optional[str] = _MODEL,
    adapter: Optional[str] = _ADAPTER, temperature: Optional[float] = _TEMPERATURE, top_p: Optional[float] = _TOP_P,
    top_k: Optional[int] = _TOP_K, max_tokens: Optional[int] = _MAX_TOKENS, seed: Optional[int] = _SEED,
    max_model_len: Optional[int] = _MAX_MODEL_LEN, backend: Optional[str] = _BACKEND,
) -> None:
    """Answer every question of a file; writes, per arm, [{problem, prompt, response, answer, index}]."""
    from .frontend import read_questions, write_per_arm

    questions = read_questions(input_file)
    inf, arms = _inference(config, arm, model=model, adapter=adapter, temperature=temperature, top_p=top_p,
                           top_k=top_k, max_tokens=max_tokens, seed=seed, max_model_len=max_model_len,
                           batch_size=batch_size, backend=backend)
    out = output or Path(inf.config.output.results_path) / "batch_results.json"
    paths = write_per_arm(out, inf.batch_by_arm(questions, arms=arms))
    err.print(f"{len(questions)} questions; wrote {', '.join(map(str, paths))}")


@app.command("chat")
@friendly
def chat_cmd(
    save: Path = typer.Option(Path("chat_session.json"), "--save", help="Where /save writes the session by default."),
    arm: Optional[str] = _ARM, config: Optional[Path] = _CONFIG, model: Optional[str] = _MODEL,
    adapter: Optional[str] = _ADAPTER, temperature: Optional[float] = _TEMPERATURE, top_p: Optional[float] = _TOP_P,
    top_k: Optional[int] = _TOP_K, max_tokens: Optional[int] = _MAX_TOKENS, seed: Optional[int] = _SEED,
    max_model_len: Optional[int] = _MAX_MODEL_LEN, backend: Optional[str] = _BACKEND,
) -> None:
    """Interactive session: the engine stays loaded; /help lists the commands."""
    from .frontend import ChatSession

    inf, arms = _inference(config, arm, model=model, adapter=adapter, temperature=temperature, top_p=top_p,
                           top_k=top_k, max_tokens=max_tokens, seed=seed, max_model_len=max_model_len, backend=backend)
    inf.backend  # start the engine now, not at the first question  # noqa: B018
    ChatSession(inf, Console(), arms, save).loop()


@app.command("evaluate")
@friendly
def evaluate_cmd(
    dataset: Optional[str] = typer.Option(None, "--dataset", help="Hub id (e.g. HuggingFaceH4/MATH-500) or local file."),
    max_samples: Optional[int] = typer.Option(None, "--max-samples", help="Evaluate the first N problems."),
    split: Optional[str] = typer.Option(None, "--split", help="Dataset split for hub datasets."),
    num_samples: Optional[int] = typer.Option(None, "--num-samples", help="Samples per problem (k): adds pass@k and maj@k."),
    output: Optional[Path] = typer.Option(None, "--output", help="evaluation.json -> evaluation.<arm>.json per arm "
                                          "(default <output.results_path>/evaluation.json)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Problems per engine call (optimization.batch_size)."),
    arm: Optional[str] = _ARM, config: Optional[Path] = _CONFIG, model: Optional[str] = _MODEL,
    adapter: Optional[str] = _ADAPTER, temperature: Optional[float] = _TEMPERATURE, top_p: Optional[float] = _TOP_P,
    top_k: Optional[int] = _TOP_K, max_tokens: Optional[int] = _MAX_TOKENS, seed: Optional[int] = _SEED,
    max_model_len: Optional[int] = _MAX_MODEL_LEN, backend: Optional[str] = _BACKEND,
) -> None:
    """Accuracy per arm on a dataset, in the guide's evaluation format (plus level / subject, pass@k)."""
    from .frontend import detailed_log_dir, print_evaluation, write_per_arm

    inf, arms = _inference(config, arm, model=model, adapter=adapter, temperature=temperature, top_p=top_p,
                           top_k=top_k, max_tokens=max_tokens, seed=seed, max_model_len=max_model_len,
                           dataset=dataset, split=split, max_samples=max_samples, num_samples=num_samples,
                           batch_size=batch_size, backend=backend)
    log_dir = detailed_log_dir(inf.config)
    per_arm, comparison = inf.evaluate_arms(arms=arms, log_dir=log_dir)
    print_evaluation(Console(), per_arm, comparison.summary if comparison else None)
    out = output or Path(inf.config.output.results_path) / "evaluation.json"
    paths = write_per_arm(out, per_arm)
    err.print(f"wrote {', '.join(map(str, paths))}" + (f"; run files in {log_dir}" if log_dir and comparison else ""))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
