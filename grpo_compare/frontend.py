"""The GRPO inference guide's front end on the one pipeline: the `GRPOInference` API, and what the
`ask`, `batch`, `chat` and `evaluate` commands do behind their typer signatures.

    inf = GRPOInference(CompareConfig.from_yaml("configs/inference_config.yaml"))
    inf.generate_response("What is 7 * 6?")        # {prompt, response, answer, full_output}
    inf.batch_inference(["1+1?", "2+2?"])          # [{problem, prompt, response, answer, index}]
    inf.evaluate_on_dataset("HuggingFaceH4/MATH-500", max_samples=100)   # {accuracy, correct, ...}
    write_per_arm(Path("results.json"), inf.batch_by_arm(["1+1?"]))   # results.base.json, results.grpo.json

The guide's methods answer with one arm (`arm`, default "grpo"); `ask`, `batch_by_arm` and
`evaluate_arms` put several arms of a question into the same engine call. Per-arm files:
`--output results.json` becomes results.<arm>.json for each arm, each in the guide's own format.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Sequence

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from .config import CompareConfig, SamplingConfig
from .datasets import load_problems
from .demo import BUILTIN_DATASET
from .errors import APIError, UserError, expect
from .files import atomic_write, check_writable, note_input, output_file, shorten
from .report import pair_line
from .session import Session
from .stats import percent, sample_metrics
from .summary import split_samples
from .types import ArmResult, Comparison, GenKey, Problem, Sampling

ANSWER_STYLE = "bold black on yellow"
OTHER_OUTPUT = "pass another --output"


class GRPOInference:
    """The guide's API: one session (one engine) answering with one or several arms.

    `engine` is an engine the caller already holds (a `vllm.LLM`, the unsloth model of a training
    notebook, or one of `grpo_compare.engines`), used as it is and left open; otherwise one is
    started on first use and kept.
    """

    def __init__(self, config: CompareConfig | None = None, engine: Any = None, arm: str | None = None,
                 tokenizer: Any = None, **flags: Any) -> None:
        self.session = Session(config, engine, tokenizer, **flags)
        names = list(self.session.arms)  # the guide's arm is "grpo"; with checkpoints, the first one
        self.arm = self.session.arm_names([arm or ("grpo" if "grpo" in names else names[1])])[0]
        self._questions: dict[str, str] = {}  # rendered prompt -> its question

    @property
    def config(self) -> CompareConfig:
        """The settings as given (flags over YAML); what the session resolved is `session.plan`."""
        return self.session.config

    def preprocess_prompt(self, problem: str, arm: str | None = None) -> str:
        """The prompt the model sees for `problem`: the arm's messages through the chat template."""
        text = self.session.render(problem, self.session.arm_names([arm or self.arm])[0])
        self._questions[text] = problem
        return text

    def generate_response(self, prompt: str, arm: str | None = None) -> dict[str, Any]:
        """One answer: `prompt` is a question, or a prompt returned by `preprocess_prompt`."""
        expect(prompt, str, "prompt", "a question, or a prompt preprocess_prompt returned")
        return self.ask(self._questions.get(prompt, prompt), [arm or self.arm])[arm or self.arm]

    def ask(self, question: str, arms: Sequence[str] | None = None, sampling: Sampling | None = None
            ) -> dict[str, dict[str, Any]]:
        """One question through several arms in one engine call: {arm: {prompt, response, answer, full_output}}.
        `sampling` defaults to the session's plan."""
        expect(question, str, "question")
        if sampling is not None:
            expect(sampling, Sampling, "sampling", "a grpo_compare.types.Sampling, e.g. SamplingConfig.of(...)")
        names = self.session.arm_names(arms)
        results = self.session.run([Problem("0", question, None)], names, num_samples=1, sampling=sampling)
        return {a: response_record(results[GenKey("0", a)]) for a in names}

    def batch_inference(self, problems: Sequence[str], batch_size: int | None = None) -> list[dict[str, Any]]:
        """The guide's batch format for this instance's arm: [{problem, prompt, response, answer, index}]."""
        return self.batch_by_arm(problems, batch_size, [self.arm])[self.arm]

    def batch_by_arm(self, problems: Sequence[str], batch_size: int | None = None,
                     arms: Sequence[str] | None = None) -> dict[str, list[dict[str, Any]]]:
        """The batch format per arm; all arms share the engine calls (`batch_size` problems each).
        A question too long for the context window is kept with `skipped` and no response."""
        if isinstance(problems, str) or not isinstance(problems, Sequence):
            raise APIError(f"problems must be a list of questions, got {type(problems).__name__} {shorten(problems, 40)}: "
                           "batch_inference([question]) for one (generate_response answers one question)")
        for i, q in enumerate(problems):
            expect(q, str, f"problems[{i}]", "each question is a str")
        if batch_size is not None:
            expect(batch_size, int, "batch_size")
        names = self.session.arm_names(arms)
        probs = [Problem(str(i), q, None) for i, q in enumerate(problems)]
        requests, skipped = self.session.requests(probs, names)
        results = self.session.generate(requests, (batch_size or self.config.batch_size) * len(names))
        out: dict[str, list[dict[str, Any]]] = {}
        for a in names:
            out[a] = [{"problem": p.question, "index": i} | (
                {k: v for k, v in response_record(results[GenKey(p.id, a)]).items() if k != "full_output"}
                if p.id not in skipped else {"prompt": self.session.render(p.question, a), "response": None,
                                             "answer": None, "skipped": "prompt longer than the context window"})
                for i, p in enumerate(probs)]
        return out

    def evaluate_on_dataset(self, dataset_name: str | None = None, split: str | None = None,
                            max_samples: int | None = None, batch_size: int | None = None) -> dict[str, Any]:
        """Accuracy of this instance's arm: {accuracy, correct, total, eval_time, results}."""
        return self.evaluate_arms(dataset_name, split, max_samples, batch_size, [self.arm])[0][self.arm]

    def evaluate_arms(self, dataset_name: str | None = None, split: str | None = None,
                      max_samples: int | None = None, batch_size: int | None = None,
                      arms: Sequence[str] | None = None, log_dir: str | Path | None = None,
                      ) -> tuple[dict[str, dict[str, Any]], Comparison | None]:
        """The evaluation format per arm, and (two or more arms) the paired `Comparison`, written
        with `log_dir` as a full run directory."""
        names = self.session.arm_names(arms)
        if dataset_name is None and self.session.plan.dataset == BUILTIN_DATASET and not self.session.plan.demo:
            raise UserError("no dataset to evaluate: pass --dataset (hub id or local file) or set evaluation.dataset_name")
        flags = dict(dataset=dataset_name, split=split, max_samples=max_samples, batch_size=batch_size)
        start = time.perf_counter()
        if len(names) >= 2:
            c = self.session.compare(log_dir, arms=names, **flags)
            problems, samples = list(c.problems), c.samples
        else:
            c, problems = None, self.session.problems(self.session.for_call(names, **flags))
            _, samples = split_samples(self.session.run(problems, names, batch_size))
            problems = [p for p in problems if (p.id, names[0]) in samples]
        seconds = time.perf_counter() - start
        return {a: evaluation_record(problems, samples, a, seconds, self.config.num_samples) for a in names}, c


def response_record(res: ArmResult) -> dict[str, Any]:
    """The guide's answer dict: {prompt, response, answer, full_output}."""
    g = res.generation
    return {"prompt": g.prompt_text, "response": g.completion, "answer": res.score.answer,
            "full_output": g.prompt_text + g.completion}


def evaluation_record(problems: Sequence[Problem], samples: dict[tuple[str, str], tuple[ArmResult, ...]],
                      arm: str, seconds: float, k: int = 1) -> dict[str, Any]:
    """The guide's evaluation dict for one arm, plus accuracy by level / subject when the rows
    have them and, with k samples, pass@1, pass@k and maj@k. `total` counts graded problems;
    ungraded ones (gold unparseable) stay in `results` with is_correct null."""
    results = []
    for i, p in enumerate(problems):
        rs = samples[(p.id, arm)]
        item = {"index": i, "problem": p.question, "reference_answer": p.gold} | _sample_fields(rs[0])
        if k > 1:
            item["samples"] = [_sample_fields(r) for r in rs]
        results.append(item)
    out = _accuracy([r["is_correct"] for r in results]) | {"eval_time": round(seconds, 3), "results": results}
    out["ungraded"] = sum(r["is_correct"] is None for r in results)
    for key in ("level", "subject"):
        if any(key in p.meta for p in problems):
            groups: dict[str, list[bool | None]] = {}
            for p, r in zip(problems, results):
                groups.setdefault(str(p.meta.get(key)), []).append(r["is_correct"])
            out[f"by_{key}"] = {name: _accuracy(v) for name, v in sorted(groups.items())}
    if k > 1:
        out["samples"] = sample_metrics([[(r.score.answer, r.score.correct) for r in samples[(p.id, arm)]]
                                         for p in problems], k)
    return out


def _sample_fields(res: ArmResult) -> dict[str, Any]:
    return {"model_answer": res.score.answer, "is_correct": res.score.correct,
            "model_response": res.generation.completion}


def _accuracy(correct: Sequence[bool | None]) -> dict[str, Any]:
    graded = [c for c in correct if c is not None]
    n = sum(bool(c) for c in graded)
    return {"accuracy": n / len(graded) if graded else None, "correct": n, "total": len(graded)}


def arms_for(inf: GRPOInference, arm: str | None) -> list[str]:
    """`--arm base|grpo` -> that arm; nothing -> every arm, side by side."""
    return inf.session.arm_names(None if arm in (None, "both", "all") else [arm])


# --- ask ------------------------------------------------------------------------------------

def show_answers(console: Console, question: str, answers: dict[str, dict[str, Any]]) -> None:
    """Each arm's completion side by side, the extracted answer highlighted under it."""
    table = Table(title=Text(question), show_lines=True, expand=True)
    for arm in answers:
        table.add_column(Text(arm), ratio=1, overflow="fold")
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
    paths: list[Path] = []
    path = output
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        for arm, data in per_arm.items():
            path = per_arm_path(output, arm)
            atomic_write(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n", OTHER_OUTPUT)
            paths.append(path)
    except OSError as e:
        raise UserError(f"cannot write {path} ({e.strerror}): pass a writable --output") from None
    return paths


def check_output(output: Path, arms: Sequence[str], inputs: Sequence[tuple[str | Path, str]] = ()) -> None:
    """Fail now, before any weights load, when the per-arm files of `output` cannot be written, or
    would be written over a file the command reads (`inputs` beside those it has read so far):
    a run's answers must not be lost to an output path checked only at the end."""
    for path in [per_arm_path(output, a) for a in arms]:
        output_file(path, OTHER_OUTPUT, inputs)
        try:
            check_writable(path)
        except OSError as e:
            raise UserError(f"cannot write {path} ({e.strerror}): pass a writable --output") from None


def read_questions(path: Path) -> list[str]:
    """Questions of a .txt (one per line), .jsonl or .csv (a question/problem/prompt column)."""
    if not path.is_file():
        raise UserError(f"questions file {path} not found: check the INPUT_FILE argument" if not path.exists() else
                        f"{path} is not a file: pass a file of questions as INPUT_FILE")
    if path.suffix not in (".txt", ".jsonl", ".csv", ".json"):
        raise UserError(f"{path}: batch input must be .txt (one question per line), .jsonl, .json or .csv")
    questions = [p.question for p in load_problems(path)]
    note_input(path, "the questions file")
    return questions


def print_evaluation(console: Console, per_arm: dict[str, dict[str, Any]], summary: dict[str, Any] | None) -> None:
    """Accuracy per arm (and pass@k / maj@k), then by level and subject, then the paired result."""
    table = Table(title="evaluation")
    table.add_column("arm")
    table.add_column("accuracy", justify="right")
    metrics = [m for m in next(iter(per_arm.values())).get("samples", {}) if m.startswith(("pass@", "maj@"))]
    for m in metrics:
        table.add_column(m, justify="right")
    for arm, ev in per_arm.items():
        table.add_row(Text(arm), f"{percent(ev['accuracy'])} ({ev['correct']}/{ev['total']})",
                      *(percent(ev["samples"][m]) for m in metrics))
    console.print(table)
    for key in ("by_level", "by_subject"):
        groups = next(iter(per_arm.values())).get(key)
        if not groups:
            continue
        t = Table(title=f"accuracy {key.replace('_', ' ')}")
        t.add_column(key[3:])
        for arm in per_arm:
            t.add_column(Text(arm), justify="right")
        for name in groups:  # a level or subject as the dataset names it: text, never markup
            t.add_row(Text(name), *(f"{percent(ev[key][name]['accuracy'])} ({ev[key][name]['correct']}/{ev[key][name]['total']})"
                              for ev in per_arm.values()))
        console.print(t)
    if summary and summary.get("delta_accuracy") is not None:
        console.print(pair_line(summary, ci=False))


def run_dir_name(root: str | Path, dataset: str | None) -> Path:
    """<root>/<UTC time>-<dataset stem>, e.g. runs/20261122-231500-gsm8k_test."""
    stem = Path(dataset).stem.replace("/", "_").replace(":", "_") if dataset else "demo"
    return Path(root) / f"{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{stem}"


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
        self.sampling = inf.session.plan.sampling  # /temperature and /max-tokens change it for this chat
        self.turns: list[dict[str, Any]] = []
        self.last: str | None = None

    def loop(self) -> None:
        """Read, answer, repeat; Ctrl-D / Ctrl-C (at the prompt or mid-answer) leave cleanly."""
        self.console.print(Text(CHAT_HELP))  # as text: rich would read "[question]" as markup
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
                    self.console.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False)
        except (EOFError, KeyboardInterrupt):
            self.console.print()
        self.console.print("bye")

    def answer(self, question: str) -> None:
        answers = self.inf.ask(question, self.arms, self.sampling)
        self.last = question
        show_answers(self.console, question, answers)
        s = self.sampling
        self.turns.append({"question": question, "temperature": s.temperature, "max_tokens": s.max_tokens,
                           "arms": {a: {k: v[k] for k in ("prompt", "response", "answer")} for a, v in answers.items()}})

    def command(self, line: str) -> bool:
        """Run one /command; False means leave."""
        name, _, arg = line.partition(" ")
        arg = arg.strip()
        if name in ("/quit", "/exit", "/q"):
            return False
        if name == "/help":
            self.console.print(Text(CHAT_HELP))
        elif name == "/arm":
            self.arms = arms_for(self.inf, arg or None)
            self.console.print(Text(f"arms: {', '.join(self.arms)}"))
        elif name in ("/temperature", "/temp"):
            self.sampling = SamplingConfig.of(self.sampling, temperature=_number(arg, float, name))
            self.console.print(f"temperature: {self.sampling.temperature}")
        elif name == "/max-tokens":
            self.sampling = SamplingConfig.of(self.sampling, max_tokens=_number(arg, int, name))
            self.console.print(f"max tokens: {self.sampling.max_tokens}")
        elif name == "/prompt":
            question = arg or self.last
            if question is None:
                raise UserError("no question yet: /prompt <question>, or ask one first")
            for a in self.arms:
                self.console.rule(Text(f"prompt of arm {a}"))
                self.console.print(Text(self.inf.preprocess_prompt(question, a)))
        elif name == "/save":
            path = Path(arg).expanduser() if arg else self.save_to
            try:
                self.save(path)
            except OSError as e:  # the session goes on: the turns are still here to save elsewhere
                raise UserError(f"cannot save to {path} ({e.strerror}): /save <another file>; "
                                f"the {len(self.turns)} turns are kept") from None
            self.console.print(f"saved {len(self.turns)} turns to {escape(str(path))}", highlight=False)
        else:
            raise UserError(f"unknown command {name}: /help lists the commands")
        return True

    def save(self, path: Path) -> None:
        output_file(path, "/save <another file>")
        path.parent.mkdir(parents=True, exist_ok=True)
        p, s = self.inf.session.plan, self.sampling
        session = {"model": p.model, "adapter": p.adapter, "arms": self.arms,
                   "sampling": {"temperature": s.temperature, "top_p": s.top_p, "top_k": s.top_k,
                                "max_tokens": s.max_tokens, "seed": s.seed},
                   "turns": self.turns}
        path.write_text(json.dumps(session, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _number(text: str, kind: type, command: str) -> Any:
    try:
        return kind(text)
    except ValueError:
        raise UserError(f"{command} needs a{'n integer' if kind is int else ' number'}, got '{text}'") from None
