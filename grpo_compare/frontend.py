"""What the `ask`, `batch`, `chat` and `evaluate` commands do, behind their typer signatures.

    inf = GRPOInference(load_inference_config(Path("configs/inference_config.yaml"), temperature=0))
    show_answers(console, "What is 2+3?", inf.ask("What is 2+3?"))
    write_per_arm(Path("results.json"), inf.batch_by_arm(["1+1?"]))   # results.base.json, results.grpo.json

Per-arm files: `--output results.json` becomes results.<arm>.json for each arm, each in the
guide's own format, so tools written for the guide read any one of them unchanged.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text

from .config import CompareConfig
from .errors import UserError
from .inference import GRPOInference
from .inference_config import InferenceConfig, InferenceSection, is_inference_config, read_yaml

ANSWER_STYLE = "bold black on yellow"
DEMO_SAMPLING = dict(temperature=0.0, top_p=1.0, max_new_tokens=512)  # greedy, as `compare`'s demo


def load_inference_config(path: Path | None, **flags: Any) -> InferenceConfig:
    """The YAML (if any) with CLI flags over it; no config and no model means the greedy demo."""
    if path is not None:
        return InferenceConfig.from_yaml(path).override(**flags)
    cfg = InferenceConfig()
    if flags.get("model") is None and flags.get("adapter") is None:
        cfg = InferenceConfig(inference=InferenceSection(**DEMO_SAMPLING))
    return cfg.override(**flags)


def compare_inputs(path: Path | None) -> tuple[CompareConfig | None, Any]:
    """`compare --config`: either layout; the guide's with use_lora false also brings the
    two-model backend that serves the merged model. (None, None) when no file is given."""
    if path is None:
        return None, None
    raw = read_yaml(path)
    if not is_inference_config(raw):
        return CompareConfig.from_dict(raw, str(path)), None
    cfg = InferenceConfig.from_dict(raw, str(path))
    return cfg.to_compare_config(), None if cfg.model.use_lora else GRPOInference(cfg).backend


def arms_for(inf: GRPOInference, arm: str | None) -> list[str]:
    """`--arm base|grpo` -> that arm; nothing -> every arm, side by side."""
    return inf.arm_names(None if arm in (None, "both", "all") else [arm])


# --- ask ------------------------------------------------------------------------------------

def show_answers(console: Console, question: str, answers: dict[str, dict[str, Any]]) -> None:
    """Each arm's completion side by side, the extracted answer highlighted under it."""
    table = Table(title=question, show_lines=True, expand=True)
    for arm in answers:
        table.add_column(arm, ratio=1, overflow="fold")
    table.add_row(*(Text(a["response"].strip() or "(empty)") for a in answers.values()))
    table.add_row(*(Text.assemble("answer: ", (str(a["answer"]), ANSWER_STYLE)) for a in answers.values()))
    console.print(table)


def ask_json(question: str, answers: dict[str, dict[str, Any]]) -> str:
    """`ask --json`: {"question": ..., "arms": {arm: {prompt, response, answer, full_output}}}."""
    return json.dumps({"question": question, "arms": answers}, indent=2, ensure_ascii=False)


# --- batch / evaluate files -----------------------------------------------------------------

def per_arm_path(output: Path, arm: str) -> Path:
    """results.json -> results.grpo.json (the arm goes before the suffix).

    >>> per_arm_path(Path("out/results.json"), "base").as_posix()
    'out/results.base.json'
    """
    return output.with_name(f"{output.stem}.{arm}{output.suffix or '.json'}")


def write_per_arm(output: Path, per_arm: dict[str, Any]) -> list[Path]:
    """One JSON file per arm beside `output`; returns the paths written."""
    output.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for arm, data in per_arm.items():
        path = per_arm_path(output, arm)
        path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


def read_questions(path: Path) -> list[str]:
    """Questions of a .txt (one per line), .jsonl or .csv (a question/problem/prompt column)."""
    from .datasets import load_problems

    if path.suffix not in (".txt", ".jsonl", ".csv", ".json"):
        raise UserError(f"{path}: batch input must be .txt (one question per line), .jsonl, .json or .csv")
    return [p.question for p in load_problems(path)]


def print_evaluation(console: Console, per_arm: dict[str, dict[str, Any]], summary: dict[str, Any] | None) -> None:
    """Accuracy per arm (and pass@k / maj@k), then by level and subject, then the paired result."""
    pct = lambda v: "—" if v is None else f"{100 * v:.1f}%"  # noqa: E731
    table = Table(title="evaluation")
    table.add_column("arm")
    table.add_column("accuracy", justify="right")
    metrics = [m for m in next(iter(per_arm.values())).get("samples", {}) if m.startswith(("pass@", "maj@"))]
    for m in metrics:
        table.add_column(m, justify="right")
    for arm, ev in per_arm.items():
        table.add_row(arm, f"{pct(ev['accuracy'])} ({ev['correct']}/{ev['total']})",
                      *(pct(ev["samples"][m]) for m in metrics))
    console.print(table)
    for key in ("by_level", "by_subject"):
        groups = next(iter(per_arm.values())).get(key)
        if not groups:
            continue
        t = Table(title=f"accuracy {key.replace('_', ' ')}")
        t.add_column(key[3:])
        for arm in per_arm:
            t.add_column(arm, justify="right")
        for name in groups:
            t.add_row(name, *(f"{pct(ev[key][name]['accuracy'])} ({ev[key][name]['correct']}/{ev[key][name]['total']})"
                              for ev in per_arm.values()))
        console.print(t)
    if summary and summary.get("delta_accuracy") is not None:
        console.print(f"[bold]{summary['treatment']} − {summary['baseline']}[/]: "
                      f"{100 * summary['delta_accuracy']:+.1f} points; fixed {summary['fixed']}, "
                      f"broken {summary['broken']}, McNemar exact p = {summary['mcnemar_p']:.3g}")


def detailed_log_dir(cfg: InferenceConfig) -> Path | None:
    """logs/<UTC time>-<dataset>: the full run directory of `compare`, when save_detailed_log."""
    if not cfg.output.save_detailed_log:
        return None
    name = cfg.evaluation.dataset_name
    stem = Path(name).stem.replace("/", "_") if name else "demo"
    return Path(cfg.output.log_path) / f"{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{stem}"


# --- chat -----------------------------------------------------------------------------------

CHAT_HELP = """Type a question, or a command:
  /arm base|grpo|both     which arm(s) answer
  /temperature T          sampling temperature (0 = greedy)
  /max-tokens N           longest answer, in tokens
  /prompt [question]      the rendered prompt(s) of the question (default: the last one)
  /save [file]            write the session as JSON
  /help                   this list
  /quit                   leave (Ctrl-D and Ctrl-C leave too)"""


class ChatSession:
    """The interactive loop's state: engine, chosen arms, the turns so far."""

    def __init__(self, inf: GRPOInference, console: Console, arms: Sequence[str], save_to: Path) -> None:
        self.inf, self.console, self.arms, self.save_to = inf, console, list(arms), save_to
        self.turns: list[dict[str, Any]] = []
        self.last: str | None = None

    def loop(self) -> None:
        """Read, answer, repeat; Ctrl-D / Ctrl-C (at the prompt or mid-answer) leave cleanly."""
        self.console.print(CHAT_HELP)
        try:
            while True:
                line = self.console.input("[bold green]>[/] ").strip()
                if not line:
                    continue
                try:
                    if line.startswith("/"):
                        if not self.command(line):
                            break
                    else:
                        self.answer(line)
                except UserError as e:
                    self.console.print(f"[bold red]error:[/] {e}", highlight=False)
        except (EOFError, KeyboardInterrupt):
            self.console.print()
        self.console.print("bye")

    def answer(self, question: str) -> None:
        answers = self.inf.ask(question, self.arms)
        self.last = question
        show_answers(self.console, question, answers)
        s = self.inf.settings.sampling
        self.turns.append({"question": question, "temperature": s.temperature, "max_tokens": s.max_tokens,
                           "arms": {a: {k: v[k] for k in ("prompt", "response", "answer")} for a, v in answers.items()}})

    def command(self, line: str) -> bool:
        """Run one /command; False means leave."""
        name, _, arg = line.partition(" ")
        arg = arg.strip()
        if name in ("/quit", "/exit", "/q"):
            return False
        if name == "/help":
            self.console.print(CHAT_HELP)
        elif name == "/arm":
            self.arms = arms_for(self.inf, arg or None)
            self.console.print(f"arms: {', '.join(self.arms)}")
        elif name in ("/temperature", "/temp"):
            self.inf.set_sampling(temperature=_number(arg, float, name))
            self.console.print(f"temperature: {self.inf.settings.sampling.temperature}")
        elif name == "/max-tokens":
            self.inf.set_sampling(max_tokens=_number(arg, int, name))
            self.console.print(f"max tokens: {self.inf.settings.sampling.max_tokens}")
        elif name == "/prompt":
            question = arg or self.last
            if question is None:
                raise UserError("no question yet: /prompt <question>, or ask one first")
            for a in self.arms:
                self.console.rule(f"prompt of arm {a}")
                self.console.print(Text(self.inf.preprocess_prompt(question, a)))
        elif name == "/save":
            path = Path(arg) if arg else self.save_to
            self.save(path)
            self.console.print(f"saved {len(self.turns)} turns to {path}")
        else:
            raise UserError(f"unknown command {name}: /help lists the commands")
        return True

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        s = self.inf.settings
        session = {"model": self.inf.model, "adapter": str(self.inf.adapter.path) if self.inf.adapter else None,
                   "arms": self.arms, "sampling": {"temperature": s.sampling.temperature, "top_p": s.sampling.top_p,
                                                   "top_k": s.sampling.top_k, "max_tokens": s.sampling.max_tokens,
                                                   "seed": s.sampling.seed},
                   "turns": self.turns}
        path.write_text(json.dumps(session, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _number(text: str, kind: type, command: str) -> Any:
    try:
        return kind(text)
    except ValueError:
        raise UserError(f"{command} needs a{'n integer' if kind is int else ' number'}, got '{text}'") from None
