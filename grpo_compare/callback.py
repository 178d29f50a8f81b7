"""In the training loop: a TRL / transformers callback that compares every saved checkpoint against
base while GRPO trains, and logs the verdict where the trainer logs.

    from grpo_compare import CompareCallback
    trainer = GRPOTrainer(..., args=GRPOConfig(..., save_steps=50),
                          callbacks=[CompareCallback(dataset="gsm8k_test.jsonl", max_samples=100)])

The callback takes the settings `compare` takes (one config). It starts `grpo-compare watch` on the
trainer's output_dir in a process of its own (training's threads, memory and CUDA context are left
alone), with one engine for the whole training run: every checkpoint becomes an arm of one run
directory (`<output_dir>/grpo_compare`, the run `compare --adapter <output_dir>` would make), the
base arm generated once. Each checkpoint's metrics (`grpo_compare/accuracy`, `.../delta_accuracy`
and its CI, fixed, broken, format, length, replayed rewards, `.../alarm`) go through `trainer.log`,
so they reach `state.log_history` and whatever `report_to` names.

`wait`: True blocks training at each save until its evaluation is done (no other waiting; the
default on CPU, where both would share the cores); False evaluates beside training (the default on
a GPU) and waits at the end of training only for checkpoints still being evaluated. A failed
evaluation logs one line and never stops training. `every=N` saves the adapter every N steps for
the evaluation alone, apart from the trainer's own checkpoints. `stop_on` ("alarm", "gate") stops
training when the alarm fires, or when the gate (`min_delta`) fails `patience` times in a row.
With `metric_for_best_model="grpo_compare/accuracy"` the trainer's best checkpoint
(`state.best_model_checkpoint`) is the one of highest verified accuracy.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import yaml
from transformers import TrainerCallback

from .config import CompareConfig
from .engines import has_cuda
from .errors import UserError
from .files import open_output
from .watch import PREFIX, metrics_lines, run_dir_of

ACCURACY = PREFIX + "accuracy"


class CompareCallback(TrainerCallback):
    """Compares each checkpoint against base as training saves it (see the module's docstring)."""

    def __init__(self, config: CompareConfig | None = None, *, every: str | int = "save", wait: bool | None = None,
                 stop_on: str | Sequence[str] = (), patience: int = 1, **settings: Any) -> None:
        self.config = (config or CompareConfig()).override(**settings)  # a wrong setting fails before training
        if not (every == "save" or (isinstance(every, int) and not isinstance(every, bool) and every >= 1)):
            raise UserError(f"every: {every!r} is not allowed; allowed: 'save' or a number of steps >= 1")
        stops = (stop_on,) if isinstance(stop_on, str) else tuple(stop_on)
        if set(stops) - {"alarm", "gate"}:
            raise UserError(f"stop_on: {stop_on!r} is not allowed; allowed: 'alarm', 'gate' or both")
        if "gate" in stops and self.config.min_delta is None:
            raise UserError("stop_on 'gate' needs min_delta: the accuracy gain over base the checkpoints must keep")
        self.every, self.wait, self.stop_on, self.patience = every, wait, stops, max(1, patience)
        self.trainer: Any = None
        self.process: subprocess.Popen[bytes] | None = None
        self.run_dir: Path | None = None
        self.folder: Path | None = None
        self.read = 0  # lines of checkpoints.jsonl already logged
        self.saved: list[int] = []  # steps whose checkpoint the watcher is to evaluate
        self.failures = 0
        self.results: list[dict[str, Any]] = []

    # --- the trainer's events ------------------------------------------------------------------

    def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        self.trainer = _calling_trainer()
        out = Path(args.output_dir)
        self.folder = out / "grpo_compare" / "checkpoints" if self.every != "save" else out
        self.run_dir = run_dir_of(out, self.config)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if self.wait is None:
            self.wait = not has_cuda()

    def on_step_end(self, args: Any, state: Any, control: Any, model: Any = None, **kw: Any) -> None:
        if isinstance(self.every, int) and state.global_step % self.every == 0 and model is not None:
            assert self.folder is not None
            folder = self.folder / f"checkpoint-{state.global_step}"
            model.save_pretrained(folder)
            (folder / "trainer_state.json").write_text(json.dumps({"log_history": state.log_history}), encoding="utf-8")
            self._evaluate(state.global_step, control)
        self._log(control)

    def on_save(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        if self.every == "save":
            self._evaluate(state.global_step, control)

    def on_log(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        if not self.wait:
            self._log(control)

    def on_evaluate(self, args: Any, state: Any, control: Any, metrics: dict[str, float] | None = None, **kw: Any) -> None:
        """The verified accuracy of the newest checkpoint evaluated, for the trainer's own best-model check."""
        if metrics is not None and self.results and args.metric_for_best_model in (ACCURACY, "eval_" + ACCURACY):
            metrics["eval_" + ACCURACY] = self.results[-1]["metrics"][ACCURACY]

    def on_train_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        """Wait for the checkpoints still being evaluated, log them, and stop the evaluation."""
        try:
            while self.process is not None and self.process.poll() is None and self._pending():
                self._log(control)
                time.sleep(0.5)
            self._log(control)
        finally:
            self._stop()

    # --- evaluation in its own process ---------------------------------------------------------

    def _evaluate(self, step: int, control: Any) -> None:
        """Hand checkpoint `step` to the watcher (started on first need, again after a failure);
        with `wait`, block until it is evaluated."""
        self.saved.append(step)
        if self.process is None or self.process.poll() is not None:
            self._start()
        if self.wait:
            while self.process is not None and self.process.poll() is None and self._pending():
                time.sleep(0.2)
            self._log(control)

    def _start(self) -> None:
        assert self.run_dir is not None and self.folder is not None
        if self.process is not None:  # it stopped: say so once, and start another that resumes the run
            self._failed(f"the evaluation process ended with exit code {self.process.returncode}")
        self.folder.mkdir(parents=True, exist_ok=True)
        settings = self.run_dir / "callback.yaml"
        config = self.config.override(output_dir=str(self.run_dir))
        if has_cuda() and config.gpu_memory_utilization is None:  # beside training on the same GPU
            config = config.override(gpu_memory_utilization=0.3)
        settings.write_text(yaml.safe_dump(config.to_dict(), sort_keys=False), encoding="utf-8")
        log = open_output(self.run_dir / "watch.log", "a", "pass another output_dir")  # the child's, for its life
        self.process = subprocess.Popen([sys.executable, "-m", "grpo_compare.cli", "watch", str(self.folder),
                                         "--config", str(settings), "--poll", "0.5"],
                                        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()

    def _pending(self) -> bool:
        """Whether a saved checkpoint still waits for its metrics."""
        done = {r["step"] for r in self._results()}
        return any(step not in done for step in self.saved)

    def _results(self) -> list[dict[str, Any]]:
        assert self.run_dir is not None
        return metrics_lines(self.run_dir)

    def _log(self, control: Any) -> None:
        """Log each newly evaluated checkpoint through the trainer; act on stop_on."""
        if self.run_dir is None:
            return
        results = self._results()
        new, self.read = results[self.read:], len(results)  # trainer.log calls on_log again: count them first
        for r in new:
            self.results.append(r)
            self._to_trainer(r)
            if "alarm" in self.stop_on and r["alarm"]:
                control.should_training_stop = True
            if "gate" in self.stop_on:
                low = r["metrics"][PREFIX + "delta_accuracy_ci_low"]
                self.failures = self.failures + 1 if low is None or low < (self.config.min_delta or 0.0) else 0
                if self.failures >= self.patience:
                    control.should_training_stop = True

    def _to_trainer(self, r: dict[str, Any]) -> None:
        logs = {k: float(v) for k, v in r["metrics"].items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        logs[PREFIX + "step"] = float(r["step"])
        t = self.trainer
        if t is not None:
            t.log(logs)
            args, state = t.args, t.state
            value = logs.get(ACCURACY)
            if args.metric_for_best_model in (ACCURACY, "eval_" + ACCURACY) and value is not None and self.folder:
                best, greater = state.best_metric, args.greater_is_better is not False
                if best is None or (value > best if greater else value < best):
                    state.best_metric, state.best_global_step = value, r["step"]
                    state.best_model_checkpoint = str(self.folder / r["arm"])

    def _failed(self, why: str) -> None:
        print(f"grpo_compare: {why}; training goes on (see {self.run_dir}/watch.log)", file=sys.stderr, flush=True)

    def _stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
        if self.process is not None and self.process.returncode not in (0, -15, 143, None) and self._pending():
            self._failed(f"the evaluation process ended with exit code {self.process.returncode}")
        self.process = None


def _calling_trainer() -> Any:
    """The Trainer whose event this is: transformers calls callbacks from the Trainer's own methods,
    so it is the `self` of a frame up the stack (the one way a callback reaches `trainer.log`)."""
    frame = sys._getframe(1)
    while frame is not None:
        obj = frame.f_locals.get("self")
        if obj is not None and hasattr(obj, "callback_handler") and hasattr(obj, "log") and hasattr(obj, "state"):
            return obj
        frame = frame.f_back
    return None
