"""The `grpo-compare` command line: thin typer commands over the library.

    grpo-compare compare                                   # the embedded demo
    grpo-compare compare --model M --adapter A --dataset gsm8k_test.jsonl --max-samples 50
"""

from __future__ import annotations

import functools
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional

import typer
from rich.console import Console

from .errors import UserError

app = typer.Typer(add_completion=False, no_args_is_help=False, help=__doc__.splitlines()[0])
err = Console(stderr=True)


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
    output_dir: Optional[Path] = typer.Option(None, help="Where to write the run (default runs/<time>-<dataset>)."),
) -> None:
    """Run base and GRPO arms side by side on one engine, score them and show the difference."""
    from .compare import compare
    from .config import CompareConfig, demo_config
    from .report import print_summary

    cfg = CompareConfig.from_yaml(config) if config else demo_config()
    flags = dict(model=model, adapter=adapter, dataset=dataset, split=split, max_samples=max_samples,
                 temperature=temperature, top_p=top_p, max_tokens=max_tokens, seed=seed,
                 question_field=question_field, answer_field=answer_field, max_model_len=max_model_len)
    if config is None and any(flags[k] for k in ("model", "adapter", "dataset")):
        cfg = CompareConfig()  # not the demo: the notebook's sampling defaults apply
    cfg = cfg.override(**flags)
    out = output_dir or Path(cfg.output_dir or default_run_dir(cfg.dataset))
    result = compare(cfg, output_dir=out)
    print_summary(result, Console())
    err.print(f"wrote {out}/comparison.csv, summary.json, generations.jsonl, config.yaml")


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
    """Train the demo GRPO LoRA on the demo model (CPU, about 45 minutes)."""
    from .demo.train import main as train_main

    sys.exit(train_main(["--output", str(output), "--seed", str(seed)]))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
