"""Watch a trainer's output folder: each checkpoint is compared against base as soon as it is
completely written, as an arm of one run, by one engine kept for the whole training run.

    grpo-compare watch outputs/ --max-samples 100     # a line per checkpoint; Ctrl-C stops, the same command resumes
    Watcher(CompareConfig(max_samples=100), "outputs/").run(until_step=500)

The run directory (default `<folder>/grpo_compare`) is the one `compare --adapter <folder>` makes:
the same arm names (`checkpoint-<step>`), the same settings, so either resumes the other and
`grpo-compare report` rebuilds its page. The base arm is generated once; each checkpoint adds its
arm. Each evaluated checkpoint also adds a line to `checkpoints.jsonl`: its metrics, as the
callback logs them to the trainer.

A folder is taken once it is completely written: the Trainer writes `trainer_state.json` last; a
folder without one (a `save_lora` of the user's) once its adapter files have not changed for
`SETTLE_S` seconds and its weights read whole.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

from .adapters import inspect_adapter
from .config import ArmSpec, CompareConfig
from .engines import Engine, has_cuda
from .errors import UserError
from .files import open_output
from .session import Session
from .stats import percent, points
from .types import Comparison

READY = "trainer_state.json"  # the Trainer writes it last into a checkpoint folder
SETTLE_S = 5.0
METRICS = "checkpoints.jsonl"
PREFIX = "grpo_compare/"  # the metrics' names in the trainer's logs (TensorBoard and W&B group by it)


def run_dir_of(folder: str | Path, config: CompareConfig) -> Path:
    """Where a watch of `folder` keeps its run: --output-dir, else `<folder>/grpo_compare`."""
    return Path(config.output_dir).expanduser() if config.output_dir else Path(folder).expanduser() / "grpo_compare"


def checkpoint_folders(folder: Path) -> list[tuple[int, Path]]:
    """`checkpoint-<step>` folders holding an adapter_config.json, in step order."""
    found = []
    for p in folder.iterdir() if folder.is_dir() else ():
        m = re.fullmatch(r"checkpoint-([0-9]+)", p.name, re.ASCII)
        if m and p.is_dir() and (p / "adapter_config.json").is_file():
            found.append((int(m.group(1)), p))
    return sorted(found)


def metrics_lines(run_dir: Path) -> list[dict[str, Any]]:
    """The run's checkpoint metrics, one per evaluated checkpoint; a line torn by a kill is left out."""
    path = run_dir / METRICS
    try:
        lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    except (OSError, UnicodeDecodeError):
        return []
    out = []
    for x in lines:
        try:
            m = json.loads(x)
        except ValueError:
            continue
        if isinstance(m, dict):
            out.append(m)
    return out


class Watcher:
    """Checkpoints of `folder` as arms of one run, one engine for all of them. `on_result` gets
    each checkpoint's metrics as it is evaluated."""

    def __init__(self, config: CompareConfig, folder: str | Path, on_result: Callable[[dict[str, Any]], None] | None = None,
                 engine: Any = None) -> None:
        self.config, self.folder = config, Path(folder).expanduser()
        if not self.folder.is_dir():
            raise UserError(f"{self.folder} is not a folder: pass the trainer's output_dir (where checkpoint-<step> "
                            "folders appear)")
        self.run_dir = run_dir_of(self.folder, config)
        self.on_result = on_result
        self.engine: Engine | None = engine
        self._owned = engine is None
        self._seen: dict[Path, tuple[Any, float]] = {}  # folder -> (its files' sizes and times, when first seen so)

    def done(self) -> set[str]:
        """The checkpoints evaluated whole: those with their metrics line, written after the last of
        their generations. One stopped mid-way is evaluated again, and the run resumes its rows."""
        return {m["arm"] for m in metrics_lines(self.run_dir) if "arm" in m}

    def ready(self, path: Path) -> bool:
        """Whether a checkpoint folder is completely written."""
        if (path / READY).is_file():
            return True
        files = sorted(path.glob("adapter_*"))
        state = [(f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in files]
        now = time.monotonic()
        before, since = self._seen.get(path, (None, now))
        if state != before:
            self._seen[path] = (state, now)
            return False
        if now - since < SETTLE_S:
            return False
        try:
            inspect_adapter(path)  # the weights read whole (safetensors checks the file covers its header)
        except UserError:
            return False
        return True

    def pending(self, until_step: int | None = None) -> list[tuple[int, Path]]:
        """Checkpoints completely written and not evaluated yet, in step order."""
        done = self.done()
        return [(step, p) for step, p in checkpoint_folders(self.folder)
                if p.name not in done and (until_step is None or step <= until_step) and self.ready(p)]

    def evaluate(self, step: int, path: Path) -> dict[str, Any]:
        """One checkpoint against base, added to the run; its metrics."""
        c = self.config
        lora = next((a for a in c.arms if a.lora), None)
        arms = (c.arms[0], ArmSpec(path.name, lora=str(path), system_prompt=lora.system_prompt if lora else "xml_cot"))
        # on CPU the adapter is merged and swapped in: LoRA rows take no adapter added after the engine started
        strategy = "merged" if c.lora_strategy == "auto" and not has_cuda() else c.lora_strategy
        session = Session(replace(c, adapter=str(path), arms=arms, output_dir=str(self.run_dir), lora_strategy=strategy),
                          engine=self.engine)
        try:
            c = session.compare(output_dir=self.run_dir)
        finally:
            if self.engine is None:  # the first evaluation's engine serves every later checkpoint
                self.engine = session._engine
        metrics = checkpoint_metrics(c, path.name, step)
        with open_output(self.run_dir / METRICS, "a", "pass another --output-dir") as f:
            f.write(json.dumps(metrics, ensure_ascii=False) + "\n")
        if self.on_result is not None:
            self.on_result(metrics)
        return metrics

    def run(self, until_step: int | None = None, poll: float = 5.0, stop: Callable[[], bool] = lambda: False,
            report: Callable[[dict[str, Any]], None] | None = None) -> None:
        """Evaluate checkpoints as they appear until `stop()` says so or `until_step` is evaluated."""
        while True:
            for step, path in self.pending(until_step):
                metrics = self.evaluate(step, path)
                if report is not None:
                    report(metrics)
            if stop() or (until_step is not None and self.reached(until_step)):
                return
            time.sleep(poll)

    def reached(self, until_step: int) -> bool:
        """Every checkpoint up to `until_step` is evaluated, and training got there."""
        found, done = checkpoint_folders(self.folder), self.done()
        return any(step >= until_step for step, _ in found) and all(p.name in done for step, p in found if step <= until_step)

    def close(self) -> None:
        """Free the engine this watcher started."""
        if self._owned and self.engine is not None:
            self.engine.close()
            self.engine = None


def checkpoint_metrics(c: Comparison, arm: str, step: int) -> dict[str, Any]:
    """One checkpoint's metrics, as logged to the trainer: its accuracy and base's, the paired delta
    with its CI, fixed and broken, format, length, replayed rewards, and the alarm's signals."""
    s = c.summary
    a, base = s["arms"][arm], s["arms"][s["baseline"]]
    v = (s.get("vs_baseline") or {}).get(arm) or {}
    low, high = v.get("delta_accuracy_ci") or [None, None]
    signals = [x for x in s.get("alarm") or [] if x["arm"] == arm]
    values = {"accuracy": a["accuracy"], "base_accuracy": base["accuracy"], "delta_accuracy": v.get("delta_accuracy"),
              "delta_accuracy_ci_low": low, "delta_accuracy_ci_high": high, "fixed": v.get("fixed"),
              "broken": v.get("broken"), "strict_format_rate": a["strict_format_rate"],
              "soft_format_rate": a["soft_format_rate"], "mean_completion_tokens": a["mean_completion_tokens"],
              "truncated_rate": a["truncated_rate"], "alarm": len(signals)}
    values |= {f"reward_{k}": r for k, r in (a.get("mean_rewards") or {}).items()}
    return {"step": step, "arm": arm, "best": s.get("best"), "metrics": {PREFIX + k: x for k, x in values.items()},
            "alarm": signals}


def line(m: dict[str, Any]) -> str:
    """One checkpoint's result in a line for the terminal."""
    p = m["metrics"]
    return (f"{m['arm']} (step {m['step']}): accuracy {percent(p[PREFIX + 'accuracy'])} against base "
            f"{percent(p[PREFIX + 'base_accuracy'])}, {points(p[PREFIX + 'delta_accuracy'])} points "
            f"(95% CI {points(p[PREFIX + 'delta_accuracy_ci_low'])} to {points(p[PREFIX + 'delta_accuracy_ci_high'])}), "
            f"fixed {p[PREFIX + 'fixed']}, broken {p[PREFIX + 'broken']}; best so far {m['best']}"
            + "".join(f"\n  alarm: {s['detail']}" for s in m["alarm"]))
