"""Hostile inputs and faults, as one table: every bad input and fault, across the commands, the
configs, the adapters, the run directories and the signals.

Each case asserts the exit code, that no traceback (and no "unexpected" error) was printed, that
the message names the culprit, and that finished work is intact: every file that existed before
the case is byte for byte the same afterwards unless the case names it as rewritten.

Most cases run the CLI in this process with the engine start guarded (a case that fails in
preflight must never reach it); the few that generate share the session's vLLM engine; signals,
stdout purity and read-only folders (as root: run with CAP_DAC_OVERRIDE dropped) are subprocesses.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import pytest
from typer.testing import CliRunner

from conftest import Recording, shared_file
from grpo_compare.cli import app
from grpo_compare.errors import UserError
from grpo_compare.rundir import LOCK_FILE, read_records

CLI = [sys.executable, "-m", "grpo_compare.cli"]
NO_DAC = ["setpriv", "--inh-caps=-dac_override,-dac_read_search", "--bounding-set=-dac_override,-dac_read_search", "--"]
GSM8K_ROW = '{"question": "What is 1 + 1?", "answer": "#### 2"}\n'


@dataclass
class Out:
    """What one case printed and returned, from this process or a subprocess."""

    code: int
    stdout: str
    stderr: str
    exception: BaseException | None = None

    @property
    def text(self) -> str:
        return " ".join((self.stdout + "\n" + self.stderr).split())


class W:
    """One case's folder and the inputs it builds there."""

    def __init__(self, root: Path, request: pytest.FixtureRequest) -> None:
        self.d, self.request = root, request

    def file(self, name: str, content: str | bytes = "") -> str:
        path = self.d / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
        return str(path)

    def rows(self) -> str:
        return self.file("rows.jsonl", GSM8K_ROW)

    def folder(self, name: str) -> str:
        (self.d / name).mkdir(parents=True)
        return str(self.d / name)

    def lora(self, name: str = "lora", config: dict[str, Any] | str | bytes | None = None,
             weights: Callable[[bytes], bytes] | None = None) -> str:
        """A copy of the fixture LoRA, its config updated (dict) or replaced (text), its weights rewritten."""
        src: Path = self.request.getfixturevalue("fixture_lora")
        path = self.d / name
        shutil.copytree(src, path)
        if isinstance(config, dict):
            cfg = json.loads((src / "adapter_config.json").read_text()) | config
            (path / "adapter_config.json").write_text(json.dumps({k: v for k, v in cfg.items() if v is not DROP}))
        elif config is not None:
            (path / "adapter_config.json").write_bytes(config if isinstance(config, bytes) else config.encode())
        if weights:
            target = path / "adapter_model.safetensors"
            target.write_bytes(weights(target.read_bytes()))
        return str(path)

    def run(self, name: str = "run") -> Path:
        """A copy of a finished run (four MATH-500 problems, both arms)."""
        src: Path = self.request.getfixturevalue("math500_run")
        path = self.d / name
        shutil.copytree(src, path)
        return path


DROP = object()  # in W.lora's config: remove the key


@dataclass
class Case:
    """One hostile input: `prep` builds it in the case folder and returns the CLI arguments."""

    id: str
    prep: Callable[[W], list[str]]
    code: int
    says: tuple[str, ...] = ()  # what the message must name; "{d}" is the case folder
    mode: str = "cli"  # cli: in process, no engine; engine: in process, the shared engine; sub: a subprocess
    input: str | None = None  # stdin (chat)
    changes: tuple[str, ...] = ()  # files (relative to the case folder) the command may rewrite
    check: Callable[[W, Out], None] | None = None  # more that must hold afterwards
    act: Callable[[W, list[str]], Out] | None = None  # a run of its own (signals, lock holders)
    read_only: tuple[str, ...] = ()  # folders made read-only (the case runs as a subprocess)
    slow: bool = False  # left out of the fast subset (-m "not slow")
    one_error_line: bool = True  # a failing case prints exactly one `error:` line


# --- building blocks ----------------------------------------------------------------------------

def yaml_case(id: str, text: str, *says: str, code: int = 2) -> Case:
    return Case(id, lambda w: ["compare", "--config", w.file("c.yaml", text), "--dataset", w.rows()], code, says)


def flag_case(id: str, flags: list[str], *says: str, code: int = 2, usage: bool = False) -> Case:
    return Case(id, lambda w: ["compare", "--dataset", w.rows(), *flags], code, says, one_error_line=not usage)


def adapter_case(id: str, *says: str, config: dict[str, Any] | str | bytes | None = None,
                 weights: Callable[[bytes], bytes] | None = None) -> Case:
    return Case(id, lambda w: ["compare", "--adapter", w.lora(config=config, weights=weights), "--dataset", w.rows()],
                2, says)


def dataset_case(id: str, name: str, content: str | bytes, *says: str, code: int = 3,
                 flags: tuple[str, ...] = ()) -> Case:
    return Case(id, lambda w: ["compare", "--dataset", w.file(name, content), *flags, "--output-dir", str(w.d / "out")],
                code, says)


def run_case(id: str, command: str, damage: Callable[[Path], Any], *says: str, code: int = 3,
             changes: tuple[str, ...] = ()) -> Case:
    def prep(w: W) -> list[str]:
        run = w.run()
        damage(run)
        return [command, str(run)] if command != "diff" else ["diff", str(w.run("a")), str(run)]
    return Case(id, prep, code, says, changes=changes)


def header(size: int) -> bytes:
    return size.to_bytes(8, "little")


def edit_json(path: Path, **values: Any) -> None:
    path.write_text(json.dumps(json.loads(path.read_text()) | values))


def edit_records(path: Path, **values: Any) -> None:
    lines = [json.dumps(json.loads(x) | values) for x in path.read_text().splitlines()]
    path.write_text("\n".join(lines) + "\n")


def args_after(_: Any, *args: str) -> list[str]:
    """The CLI arguments, once the input built in the first argument exists."""
    return list(args)


def with_lock(run: Path, content: bytes) -> Path:
    (run / LOCK_FILE).write_bytes(content)
    return run


def link_lock(w: W) -> None:
    """A .lock that is a symbolic link to a file of the user's."""
    w.file("victim.txt", "precious")
    (w.run() / LOCK_FILE).symlink_to(w.d / "victim.txt")


def make_dir(path: Path) -> None:
    if path.exists():
        path.unlink()
    path.mkdir()


def pickled(w: W, data: bytes | None = None) -> str:
    """An adapter folder whose weights are adapter_model.bin (torch.save of the fixture's, or `data`)."""
    import torch
    from safetensors.torch import load_file

    path = Path(w.lora("pickled"))
    weights = path / "adapter_model.safetensors"
    if data is None:
        torch.save(load_file(str(weights)), path / "adapter_model.bin")
    else:
        (path / "adapter_model.bin").write_bytes(data)
    weights.unlink()
    return str(path)


def other_model_weights() -> bytes:
    """Weights of a LoRA made for a model with 2048 hidden features (the demo model has 576)."""
    import torch
    from safetensors.torch import save

    name = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"
    return save({name: torch.zeros(8, 2048)})


RUN_OUTPUTS = ("run/generations.jsonl", "run/comparison.csv", "run/comparison.parquet", "run/summary.json",
               "run/report.html", "run/config.yaml")
LONG_QUESTION = "Add up these numbers: " + " + ".join(str(i) for i in range(200)) + ". What is the total?"


# --- runs of their own --------------------------------------------------------------------------

class Interrupted(Recording):
    """The session engine, Ctrl-C arriving right after the first finished generation."""

    def stream(self, requests, sampling):
        inner = self.engine.stream(requests, sampling)
        try:
            yield next(inner)
        finally:
            inner.close()  # the rows still queued are aborted, as a real Ctrl-C leaves them
        raise KeyboardInterrupt


class Redirected(Recording):
    """The session engine, serving the rows of an adapter it does not hold (the demo adapter, the
    fixture LoRA re-saved as a "pickled" adapter_model.bin) with the fixture LoRA: the engine holds
    only the adapters it started with, and these cases are about the command, not the adapter."""

    def __init__(self, engine, lora: Path) -> None:
        super().__init__(engine)
        self.lora = lora

    def _same(self, requests):
        held = self.engine.loras
        lora = next(a for a in held if a.path == self.lora)
        return [replace(r, arm=replace(r.arm, adapter=lora)) if r.arm.adapter and r.arm.adapter not in held
                else r for r in requests]

    def stream(self, requests, sampling):
        return super().stream(self._same(requests), sampling)

    def generate(self, requests, sampling):
        return super().generate(self._same(requests), sampling)


def hold_lock(run: Path) -> subprocess.Popen:
    """Another process holding the run directory's lock, as a running compare does."""
    hold = ("import fcntl, sys, time; f = open(sys.argv[1], 'a'); fcntl.flock(f, fcntl.LOCK_EX); "
            "f.write('4242'); f.flush(); print('locked', flush=True); time.sleep(120)")
    proc = subprocess.Popen([sys.executable, "-c", hold, str(run / LOCK_FILE)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def rescore_while_locked(w: W, args: list[str]) -> Out:
    holder = hold_lock(Path(args[1]))
    try:
        return invoke(w, args)
    finally:
        holder.kill()
        holder.wait()


def sigterm_mid_run(w: W, args: list[str]) -> Out:
    """A real SIGTERM (what `timeout` and container stops send) once the first result is on disk."""
    out = w.d / "run"
    proc = subprocess.Popen(CLI + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=w.d)
    deadline = time.monotonic() + 300
    while not ((out / "generations.jsonl").is_file() and (out / "generations.jsonl").stat().st_size):
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        assert time.monotonic() < deadline
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=120)
    return Out(proc.returncode, stdout, stderr)


def interrupt_then_resume(w: W, args: list[str]) -> Out:
    """Ctrl-C after the first result; then the same command resumes and finishes the run."""
    engine = w.request.getfixturevalue("engine")
    w.request.getfixturevalue("monkeypatch").setattr("grpo_compare.session.start_engine",
                                                     lambda *a, **k: Interrupted(engine))
    first = invoke(w, args)
    assert first.code == 130 and len((w.d / "run" / "generations.jsonl").read_text().splitlines()) == 1, first.stderr
    kept = (w.d / "run" / "generations.jsonl").read_text().splitlines()[0]
    again = invoke(w, args, engine=True)
    assert again.code == 0 and "Resuming" in again.stderr, again.stderr[-2000:]
    lines = (w.d / "run" / "generations.jsonl").read_text().splitlines()
    assert lines[0] == kept and len(lines) == 4 and not (w.d / "run" / LOCK_FILE).exists()
    return Out(first.code, first.stdout, first.stderr)


def net(debug: str | None) -> Callable[[W, list[str]], Out]:
    """An error no check foresaw: one line naming the log of its traceback, or (debug) the traceback."""
    def act(w: W, args: list[str]) -> Out:
        mp = w.request.getfixturevalue("monkeypatch")
        mp.setattr("grpo_compare.cli.cache_dir", lambda: w.d / "cache")

        def boom(run_dir):
            raise RuntimeError("boom in the report writer")

        mp.setattr("grpo_compare.cli.rebuild_report", boom)
        return invoke(w, (["--debug"] if debug == "flag" else []) + args,
                      env={"GRPO_COMPARE_DEBUG": "1"} if debug == "env" else {})
    return act


def logged_traceback(w: W, out: Out) -> None:
    logs = list((w.d / "cache" / "logs").glob("error-*.log"))
    assert len(logs) == 1 and str(logs[0]) in out.text
    assert "Traceback" in logs[0].read_text() and "boom in the report writer" in logs[0].read_text()


def raised(w: W, out: Out) -> None:
    assert isinstance(out.exception, RuntimeError)  # --debug: the traceback is not swallowed


def start_interrupted(signum: int) -> Callable[[W, list[str]], Out]:
    """Ctrl-C (or SIGTERM or SIGHUP, which the CLI turns into the same) while the engine is still starting."""
    def act(w: W, args: list[str]) -> Out:
        from grpo_compare.cli import Terminated

        def stop(*a, **k):
            raise Terminated(signum) if signum != signal.SIGINT else KeyboardInterrupt()

        w.request.getfixturevalue("monkeypatch").setattr("grpo_compare.session.start_engine", stop)
        return invoke(w, args)
    return act


def ask_json_subprocess(w: W, args: list[str]) -> Out:
    proc = subprocess.run(CLI + args, capture_output=True, text=True, cwd=w.d, timeout=300)
    return Out(proc.returncode, proc.stdout, proc.stderr)


# --- checks -------------------------------------------------------------------------------------

def stdout_is_the_document(w: W, out: Out) -> None:
    doc = json.loads(out.stdout)  # the whole of stdout, nothing before or after it
    assert set(doc["arms"]) == {"base", "grpo"} and doc["question"] == "What is 2 + 2?"


def batch_kept_the_skipped_question(w: W, out: Out) -> None:
    for arm in ("base", "grpo"):
        rows = json.loads((w.d / "out" / f"res.{arm}.json").read_text())
        assert [r["index"] for r in rows] == [0, 1]
        assert isinstance(rows[0]["response"], str) and rows[0].get("skipped") is None
        assert rows[1]["response"] is None and "context window" in rows[1]["skipped"]


def chat_session_kept(w: W, out: Out) -> None:
    saved = json.loads((w.d / "ok.json").read_text())
    assert len(saved["turns"]) == 1 and saved["turns"][0]["question"] == "What is 2 + 2?"
    assert "bye" in out.stdout


def chat_went_on(w: W, out: Out) -> None:
    assert out.stdout.rstrip().endswith("bye")  # the session ended by /quit, not by the error


def run_written(w: W, out: Out) -> None:
    assert json.loads((w.d / "out" / "summary.json").read_text())["n"] == 1


def nothing_left_in(folder: str) -> Callable[[W, Out], None]:
    def check(w: W, out: Out) -> None:
        assert sorted(p.name for p in (w.d / folder).iterdir()) == ["keep.txt"]  # no temporary file left
    return check


def no_lock_left(w: W, out: Out) -> None:
    assert not (w.d / "run" / LOCK_FILE).exists()


def sigterm_kept_work(w: W, out: Out) -> None:
    run = w.d / "run"
    assert not (run / LOCK_FILE).exists()
    assert len(read_records(run / "generations.jsonl")) >= 1  # every line written is whole
    assert f"--output-dir {run}" in out.text


def victim_untouched(w: W, out: Out) -> None:
    assert (w.d / "victim.txt").read_text() == "precious"


def stale_lock_removed(w: W, out: Out) -> None:
    assert not (w.d / "run" / LOCK_FILE).exists()
    assert "rewrote" in out.stderr


def nothing_created(name: str) -> Callable[[W, Out], None]:
    def check(w: W, out: Out) -> None:
        assert not (w.d / name).exists()
    return check


def not_about(words: str) -> Callable[[W, Out], None]:
    def check(w: W, out: Out) -> None:
        assert words not in out.text
    return check


def under_umask(mask: int) -> Callable[[W, list[str]], Out]:
    def act(w: W, args: list[str]) -> Out:
        old = os.umask(mask)
        try:
            return invoke(w, args)
        finally:
            os.umask(old)
    return act


def files_follow_umask(mask: int) -> Callable[[W, Out], None]:
    def check(w: W, out: Out) -> None:
        for name in ("comparison.csv", "comparison.parquet", "summary.json", "config.yaml", "report.html",
                     "generations.jsonl"):
            assert (w.d / "run" / name).stat().st_mode & 0o777 == 0o666 & ~mask, name
    return check


# --- links, inputs, checkpoint folders, the Python API, full disks, interrupted writes ----------

def victim(w: W) -> Path:
    """A file of the user's outside every run directory, which no command may change."""
    return Path(w.file("victim.txt", "precious"))


def linked(w: W, name: str, finished: bool = False) -> Path:
    """A run directory (new, or a copy of a finished run) whose `name` is a link to victim.txt."""
    run = w.run() if finished else w.d / "run"
    run.mkdir(exist_ok=True)
    (run / name).unlink(missing_ok=True)
    (run / name).symlink_to(victim(w))
    return run


def hard_linked(w: W, data: str, name: str) -> Path:
    """A new run directory whose `name` is another name of the dataset file `data` (a hard link)."""
    run = w.d / "run"
    run.mkdir()
    os.link(data, run / name)
    return run


def checkpoint_folder(w: W, *names: str, final: bool = False) -> str:
    """A trainer's output folder: the fixture LoRA in each named subfolder (a name ending in "/" is
    an empty folder), and with `final`, the LoRA itself at its top."""
    root = Path(w.lora("out")) if final else Path(w.folder("out"))
    for name in names:
        if name.endswith("/"):
            (root / name).mkdir()
        else:
            w.lora(f"out/{name}")
    return str(root)


def ckpt_case(id: str, folder: Callable[[W], str], *says: str, code: int = 2) -> Case:
    """A checkpoint folder as --adapter; every prompt is longer than a 16-token window, so a run that
    gets past the adapters stops there, before any engine."""
    return Case(id, lambda w: ["compare", "--adapter", folder(w), "--dataset", w.rows(), "--max-model-len", "16"],
                code, says)


def api(call: Callable[[W], Any]) -> Callable[[W, list[str]], Out]:
    """A call of the Python API: a mistake is a UserError (for a wrong type an APIError, also a
    TypeError) whose one line names the argument; anything else is reported as raised."""
    def act(w: W, args: list[str]) -> Out:
        try:
            call(w)
        except UserError as e:
            return Out(e.exit_code, type(e).__name__ + (" TypeError" if isinstance(e, TypeError) else ""), f"error: {e}")
        except Exception as e:  # a bare AttributeError from deep inside: the case fails on it
            return Out(1, "", "", e)
        return Out(0, "", "")
    return act


def api_case(id: str, call: Callable[[W], Any], *says: str, code: int = 2) -> Case:
    return Case(id, lambda w: [], code, says, act=api(call))


class NoName:
    """An engine of one's own that brings stream and max_model_len, but no name."""

    max_model_len = 2048

    def stream(self, requests, sampling):
        return iter(())


class YieldsDicts(NoName):
    """An engine of one's own that answers with dicts, not Generations."""

    name = "vllm"

    def stream(self, requests, sampling):
        for r in requests:
            yield {"problem_id": r.problem.id, "arm": r.arm.name, "completion": "4"}


def demo_inference() -> Any:
    from grpo_compare import GRPOInference

    return GRPOInference()


def changed_then_resumed(w: W, args: list[str]) -> Out:
    """A finished run; then its dataset changes under the same name, and the same command runs again."""
    first = invoke(w, args, engine=True)
    assert first.code == 0, first.stderr[-2000:]
    Path(args[args.index("--dataset") + 1]).write_text(GSM8K_ROW.replace("1 + 1", "2 + 2"))
    return invoke(w, args, engine=True)


def merged_space(free: int, engine: bool = False) -> Callable[[W, list[str]], Out]:
    """A disk with `free` bytes under an empty cache: no merged copy is there yet."""
    def act(w: W, args: list[str]) -> Out:
        mp = w.request.getfixturevalue("monkeypatch")
        mp.setenv("GRPO_COMPARE_CACHE", str(w.d / "cache"))
        mp.setattr("grpo_compare.engines.merge.free_bytes", lambda folder: free)
        return invoke(w, args, engine=engine)
    return act


def resume_args(w: W, run: Path, *more: str) -> list[str]:
    """The command that made the shared finished run (four MATH-500 problems), pointed at `run`:
    it resumes that run, with nothing left to generate."""
    return ["compare", "--adapter", str(w.request.getfixturevalue("fixture_lora")), "--dataset",
            str(shared_file("math500_test.jsonl")), "--max-samples", "4", "--max-tokens", "48", "--temperature", "0",
            "--lora-strategy", "mixed", "--output-dir", str(run), *more]


def results_missing(w: W) -> Path:
    """A finished run whose results stopped before config.yaml was written (its summary kept the adapter check)."""
    run = w.run()
    for name in ("config.yaml", "comparison.csv", "report.html"):
        (run / name).unlink()
    return run


def disk_full_at(name: str) -> Callable[[W, list[str]], Out]:
    """The disk fills up as the results' `name` is written; then the advice is followed: `report`
    works, and the same command again finishes the run."""
    def act(w: W, args: list[str]) -> Out:
        import grpo_compare.runs as runs

        full, write = [True], runs.atomic_write

        def atomic_write(path: Path, text: str, fix: str = "") -> None:
            if full[0] and path.name == name:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
            write(path, text, fix)

        w.request.getfixturevalue("monkeypatch").setattr(runs, "atomic_write", atomic_write)
        first = invoke(w, args)
        full[0] = False
        report = invoke(w, ["report", args[args.index("--output-dir") + 1]])
        assert report.code == 0, report.stderr[-2000:]
        again = invoke(w, args)
        assert again.code == 0 and "Resuming" in again.stderr, again.stderr[-2000:]
        return first
    return act


def render_interrupted(w: W, args: list[str]) -> Out:
    """Ctrl-C while report.html is rendered."""
    def render(*a: Any, **k: Any) -> str:
        raise KeyboardInterrupt

    w.request.getfixturevalue("monkeypatch").setattr("grpo_compare.runs.render_report", render)
    return invoke(w, args)


def with_foreign_record(run: Path) -> None:
    """A record of another run (another run_id) appended: the last record's key, another answer."""
    lines = (run / "generations.jsonl").read_text().splitlines()
    rec = json.loads(lines[-1]) | {"run_id": "another-run", "completion": "<answer>\n987654321\n</answer>"}
    (run / "generations.jsonl").write_text("\n".join([*lines, json.dumps(rec)]) + "\n")


def nothing_graded(run: Path) -> None:
    lines = [json.loads(x) for x in (run / "generations.jsonl").read_text().splitlines()]
    for rec in lines:
        rec["score"]["correct"] = None
    (run / "generations.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))


def sighup_mid_run(w: W, args: list[str]) -> Out:
    """A real SIGHUP (a closed terminal or SSH session) once the first result is on disk, vLLM's
    temporary files going to the case folder's own tmp/."""
    out, tmp = w.d / "run", Path(w.folder("tmp"))
    proc = subprocess.Popen(CLI + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=w.d,
                            env=dict(os.environ, TMPDIR=str(tmp)))
    deadline = time.monotonic() + 600
    while not ((out / "generations.jsonl").is_file() and (out / "generations.jsonl").stat().st_size):
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        assert time.monotonic() < deadline
        time.sleep(0.1)
    proc.send_signal(signal.SIGHUP)
    stdout, stderr = proc.communicate(timeout=120)
    return Out(proc.returncode, stdout, stderr)


# --- checks of round two ------------------------------------------------------------------------

def no_vllm_files_left(w: W, out: Out) -> None:
    sigterm_kept_work(w, out)
    assert not list((w.d / "tmp").glob("vllm_dist_*"))


def short_message(w: W, out: Out) -> None:
    assert len(out.stderr) < 1000  # the value is quoted cut short, never whole


def type_error(w: W, out: Out) -> None:
    assert "APIError TypeError" in out.stdout  # a TypeError naming the argument, not an AttributeError


def best_is_none(w: W, out: Out) -> None:
    assert json.loads((w.d / "run" / "summary.json").read_text())["best"] is None


def foreign_left_out(w: W, out: Out) -> None:
    assert "987654321" not in (w.d / "run" / "comparison.csv").read_text()
    last = json.loads((w.d / "run" / "generations.jsonl").read_text().splitlines()[-1])
    assert last["run_id"] == "another-run" and "987654321" in last["completion"]  # kept, not rescored as ours


def config_written(w: W, out: Out) -> None:
    assert (w.d / "run" / "config.yaml").is_file()


YAML_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi")) + "model: *i\n"


# --- the table ----------------------------------------------------------------------------------

CASES: list[Case] = [
    # ---- config files: one validator for every value, booleans are booleans ----
    # a quoted "false" is a string, not false: refused instead of being truthy
    yaml_case("yaml-allow-pickle-string", 'allow_pickle: "false"\n', "allow_pickle", "'false'", "true or false"),
    # a word where a count belongs
    yaml_case("yaml-count-word", 'max_samples: "two"\n', "max_samples", "'two'", "an integer"),
    # a number where a path belongs
    yaml_case("yaml-model-number", "model: 123\n", "model: 123", "a non-empty string"),
    # a word for a temperature
    yaml_case("yaml-temperature-word", "sampling: {temperature: hot}\n", "temperature", "'hot'", "a number"),
    # NaN fails every comparison quietly: refused as not finite
    yaml_case("yaml-temperature-nan", "sampling: {temperature: .nan}\n", "temperature: nan"),
    # infinity for a token count
    yaml_case("yaml-max-tokens-inf", "sampling: {max_tokens: .inf}\n", "max_tokens: inf", "an integer"),
    # a fractional count would fail in the engine
    yaml_case("yaml-count-fraction", "max_samples: 2.5\n", "max_samples: 2.5", "an integer"),
    # a misspelt named system prompt is not sent to the model as literal text
    yaml_case("yaml-prompt-misspelt", "arms: [{name: base}, {name: grpo, lora: true, system_prompt: xml_cott}]\n",
              "xml_cott", "xml_cot"),
    # numpy and torch refuse seeds of 2^32 and above, after the engine has loaded
    yaml_case("yaml-seed-huge", "sampling: {seed: 99999999999999999999}\n", "seed", "2^32"),
    # vLLM refuses temperatures above 2, after the engine has loaded
    yaml_case("yaml-temperature-above-vllm", "sampling: {temperature: 3}\n", "temperature: 3", "<= 2"),
    # a context window the model does not have fails in vLLM after loading the weights
    yaml_case("yaml-context-above-model", "max_model_len: 100000\n", "max_model_len: 100000", "8192", "--max-model-len"),
    # an arm name that is a number
    yaml_case("yaml-arm-name-number", "arms: [{name: 5}, {name: b}]\n", "name: 5"),
    # arms given as bare words
    yaml_case("yaml-arms-words", "arms: [base, grpo]\n", "arms", "name"),
    # arms given as a mapping
    yaml_case("yaml-arms-mapping", "arms: {name: x}\n", "'arms' must be a list"),
    # two arms with one name
    yaml_case("yaml-arms-duplicate", "arms: [{name: base}, {name: base, lora: true}]\n", "distinct names"),
    # sampling given as a number
    yaml_case("yaml-sampling-number", "sampling: 5\n", "'sampling' must be a mapping"),
    # the file is a list, not settings
    yaml_case("yaml-top-level-list", "[1, 2]\n", "c.yaml", "mapping"),
    # the guide's layout with a number for the base model
    yaml_case("yaml-guide-model-number", "model: {base_model: 5}\n", "model.base_model", "5"),
    # the guide's layout with a word for the temperature
    yaml_case("yaml-guide-temperature-word", "inference: {temperature: hot}\n", "inference.temperature", "'hot'"),
    # the guide's lora shape as a number
    yaml_case("yaml-guide-lora-number", "model: {lora: 5}\n", "model.lora", "mapping"),
    # the guide's lora rank as a word
    yaml_case("yaml-guide-lora-rank-word", "model: {lora: {r: two}}\n", "model.lora.r", "'two'"),
    # a section that is a list
    yaml_case("yaml-guide-section-list", "output: [1]\n", "'output' must be a mapping"),
    # use_lora as a quoted word
    yaml_case("yaml-guide-use-lora-word", 'model: {use_lora: "no"}\n', "model.use_lora", "true or false"),
    # fp16 as a quoted word
    yaml_case("yaml-guide-fp16-word", 'optimization: {fp16: "yes"}\n', "optimization.fp16", "true or false"),
    # an empty dataset name
    yaml_case("yaml-dataset-empty", 'dataset: ""\n', "dataset: ''", "non-empty"),
    # top_p of zero samples nothing
    yaml_case("yaml-top-p-zero", "sampling: {top_p: 0}\n", "top_p: 0", "(0, 1]"),
    # an engine that does not exist
    yaml_case("yaml-backend-unknown", "backend: foo\n", "backend: 'foo'", "vllm"),
    # a number where a folder belongs
    yaml_case("yaml-output-dir-number", "output_dir: 5\n", "output_dir: 5"),
    # true is not a batch size
    yaml_case("yaml-batch-size-bool", "batch_size: true\n", "batch_size: True", "an integer"),
    # a split of null
    yaml_case("yaml-split-null", "split: null\n", "split: None"),
    # a dropout of 150 %
    yaml_case("yaml-lora-dropout", "lora_shape: {dropout: 1.5}\n", "dropout: 1.5", "[0, 1)"),
    # an engine mode that does not exist
    yaml_case("yaml-engine-mode", "engine_mode: turbo\n", "engine_mode: 'turbo'", "eager"),
    # a context window too small for any prompt
    yaml_case("yaml-context-tiny", "max_model_len: 8\n", "max_model_len: 8", ">= 16"),
    # a misspelt key is named, with the keys allowed
    yaml_case("yaml-unknown-key", "sampling: {temprature: 0.5}\n", "temprature", "allowed keys"),
    # not YAML at all
    yaml_case("yaml-syntax", "sampling: [\n", "c.yaml", "not valid YAML"),
    # a config saved in Latin-1
    Case("yaml-not-utf8", lambda w: ["compare", "--config", w.file("c.yaml", b"model: caf\xe9\n")], 2,
         ("c.yaml", "UTF-8")),
    # a config that is not there
    Case("yaml-missing", lambda w: ["compare", "--config", str(w.d / "nowhere.yaml")], 2, ("nowhere.yaml", "not found")),
    # a folder given as the config
    Case("yaml-is-a-folder", lambda w: ["compare", "--config", str(w.d)], 2, ("--config", "not found")),

    # ---- flags: the same validator ----
    # a negative temperature
    flag_case("flag-temperature-negative", ["--temperature", "-1"], "temperature: -1.0", ">= 0"),
    # NaN typed on the command line
    flag_case("flag-temperature-nan", ["--temperature", "nan"], "temperature: nan"),
    # infinity typed on the command line
    flag_case("flag-temperature-inf", ["--temperature", "inf"], "temperature: inf"),
    # zero problems
    flag_case("flag-max-samples-zero", ["--max-samples", "0"], "max_samples: 0", ">= 1"),
    # a word for a count: typer's own usage error, no traceback
    flag_case("flag-max-tokens-word", ["--max-tokens", "abc"], "--max-tokens", "valid integer", usage=True),
    # a negative seed
    flag_case("flag-seed-negative", ["--seed", "-5"], "seed: -5"),
    # top_p above one
    flag_case("flag-top-p-above-one", ["--top-p", "1.5"], "top_p: 1.5", "(0, 1]"),
    # an engine that does not exist
    flag_case("flag-backend-unknown", ["--backend", "nope"], "backend: 'nope'"),
    # a device that does not exist
    flag_case("flag-device-unknown", ["--device", "tpu"], "device: 'tpu'", "cuda"),
    # a dtype the engines do not load
    flag_case("flag-dtype-unknown", ["--dtype", "int8"], "dtype: 'int8'", "bfloat16"),
    # a context window above the model's, from the flag
    flag_case("flag-context-above-model", ["--max-model-len", "100000"], "max_model_len: 100000", "8192"),
    # zero samples per problem
    flag_case("flag-num-samples-zero", ["--num-samples", "0"], "num_samples: 0"),
    # a batch of zero problems
    flag_case("flag-batch-size-zero", ["--batch-size", "0"], "batch_size: 0"),

    # ---- models ----
    # a model folder that is not there
    Case("model-missing", lambda w: ["compare", "--model", str(w.d / "nowhere"), "--dataset", w.rows()], 2,
         ("nowhere", "not found")),
    # a model folder without config.json
    Case("model-no-config", lambda w: ["compare", "--model", w.folder("m"), "--dataset", w.rows()], 2, ("config.json",)),
    # a model folder whose config.json is damaged
    Case("model-config-damaged", lambda w: ["compare", "--model", str(Path(w.file("m/config.json", "{")).parent),
                                            "--adapter", w.lora(), "--dataset", w.rows()], 2,
         ("m/config.json", "not valid JSON")),

    # ---- adapters: checked before any weights load ----
    # an adapter folder that is not there
    Case("adapter-missing", lambda w: ["compare", "--adapter", str(w.d / "nowhere"), "--dataset", w.rows()], 2,
         ("nowhere", "not found")),
    # a file given as the adapter folder
    Case("adapter-is-a-file", lambda w: ["compare", "--adapter", w.file("lora.txt", "x"), "--dataset", w.rows()], 2,
         ("lora.txt", "not found")),
    # a folder without adapter_config.json
    Case("adapter-no-config", lambda w: ["compare", "--adapter", w.folder("l"), "--dataset", w.rows()], 2,
         ("adapter_config.json",)),
    # adapter_config.json that is not JSON
    adapter_case("adapter-config-not-json", "adapter_config.json", "not valid JSON", config="{oops"),
    # adapter_config.json that is a list
    adapter_case("adapter-config-list", "adapter_config.json", "JSON object", config="[1, 2]"),
    # adapter_config.json in Latin-1
    adapter_case("adapter-config-not-utf8", "adapter_config.json", "UTF-8", config=b'{"r": "caf\xe9"}'),
    # a word for the rank
    adapter_case("adapter-rank-word", "'r' is 'eight'", "whole number", config={"r": "eight"}),
    # a rank of zero
    adapter_case("adapter-rank-zero", "'r' is 0", config={"r": 0}),
    # a fractional rank
    adapter_case("adapter-rank-fraction", "'r' is 8.5", config={"r": 8.5}),
    # true as the rank
    adapter_case("adapter-rank-bool", "'r' is True", config={"r": True}),
    # null as the rank
    adapter_case("adapter-rank-null", "'r' is None", config={"r": None}),
    # a word for lora_alpha
    adapter_case("adapter-alpha-word", "'lora_alpha' is 'x'", config={"lora_alpha": "x"}),
    # a dropout of 200 %
    adapter_case("adapter-dropout-above-one", "'lora_dropout' is 2", config={"lora_dropout": 2}),
    # a number for the target modules
    adapter_case("adapter-targets-number", "'target_modules' is 5", config={"target_modules": 5}),
    # no target module at all
    adapter_case("adapter-targets-empty", "'target_modules' is []", config={"target_modules": []}),
    # a word for use_dora
    adapter_case("adapter-dora-word", "'use_dora' is 'no'", config={"use_dora": "no"}),
    # a bias mode PEFT does not have
    adapter_case("adapter-bias-unknown", "'bias' is 'some'", config={"bias": "some"}),
    # no peft_type
    adapter_case("adapter-peft-type-missing", "peft_type is None", config={"peft_type": DROP}),
    # another PEFT method
    adapter_case("adapter-peft-type-ia3", "peft_type is 'IA3'", "only LoRA", config={"peft_type": "IA3"}),
    # a config that says DoRA over weights without DoRA's magnitudes (peft would start them from the base)
    adapter_case("adapter-dora-without-magnitudes", "sets 'use_dora'", "no DoRA magnitude vectors",
                 config={"use_dora": True}),
    # a config that says lm_head was saved over weights without it
    adapter_case("adapter-modules-to-save-missing", "sets 'modules_to_save'", "no saved copy of 'lm_head'",
                 config={"modules_to_save": ["lm_head"]}),
    # trainable tokens in the config, no token deltas in the weights
    adapter_case("adapter-trainable-tokens-missing", "sets 'trainable_token_indices'", "no token deltas",
                 config={"trainable_token_indices": [1, 2]}),
    # the rank in the config is not the rank of the weights
    adapter_case("adapter-rank-mismatch", "says r = 16", "lora_A", config={"r": 16}),
    # half a download
    adapter_case("adapter-weights-truncated", "adapter_model.safetensors is truncated or damaged", "the file holds",
                 weights=lambda b: b[: len(b) // 2]),
    # fewer bytes than the header's length field
    adapter_case("adapter-weights-4-bytes", "truncated or damaged", "4 bytes", weights=lambda b: b[:4]),
    # an empty weights file
    adapter_case("adapter-weights-empty", "truncated or damaged", "0 bytes", weights=lambda b: b""),
    # a header that is not JSON
    adapter_case("adapter-weights-header-garbage", "invalid JSON in header",
                 weights=lambda b: header(10) + b"{not json}" + b"\0" * 16),
    # a header length of 2^64 - 1
    adapter_case("adapter-weights-header-huge", "header too large", "10 bytes", weights=lambda b: b"\xff" * 8 + b"{}"),
    # a tensor without its byte range
    adapter_case("adapter-weights-entry-damaged", "truncated or damaged", "missing field `shape`",
                 weights=lambda b: header(40) + b'{"a.lora_A.weight": {"dtype": "F32"}}'.ljust(40)),
    # a header listing no tensor
    adapter_case("adapter-weights-no-tensors", "holds no tensors", weights=lambda b: header(2) + b"{}"),
    # one flipped byte in a shape: the shape no longer fits the tensor's bytes
    adapter_case("adapter-weights-shape-flipped", "truncated or damaged",
                 weights=lambda b: b.replace(b'"shape":[8,1536]', b'"shape":[9,1536]', 1)),
    # a pickle and no --allow-pickle: refused
    Case("adapter-pickle-refused", lambda w: ["compare", "--adapter", pickled(w), "--dataset", w.rows()], 2,
         ("adapter_model.bin", "pickle", "--allow-pickle")),
    # a pickle and the YAML's allow_pickle: false (a real boolean): refused
    Case("adapter-pickle-yaml-false", lambda w: ["compare", "--adapter", pickled(w), "--dataset", w.rows(), "--config",
                                                 w.file("c.yaml", "allow_pickle: false\n")], 2, ("--allow-pickle",)),
    # a pickle and a quoted "false": the string is refused, the pickle never loaded
    Case("adapter-pickle-yaml-false-string", lambda w: ["compare", "--adapter", pickled(w), "--dataset", w.rows(),
                                                        "--config", w.file("c.yaml", 'allow_pickle: "false"\n')], 2,
         ("allow_pickle", "'false'")),
    # --allow-pickle with a .bin that is not a checkpoint: caught before the engine
    Case("adapter-pickle-damaged", lambda w: ["compare", "--adapter", pickled(w, b"not a checkpoint"), "--dataset",
                                              w.rows(), "--allow-pickle"], 2, ("adapter_model.bin", "not a PyTorch checkpoint")),
    # --allow-pickle reaches the config: the pickled adapter is accepted and the run finishes
    Case("adapter-pickle-allowed", lambda w: ["compare", "--adapter", pickled(w), "--dataset", w.rows(), "--allow-pickle",
                                              "--max-tokens", "4", "--output-dir", str(w.d / "out")], 0, mode="engine",
         check=run_written),
    # an adapter made for another base model
    Case("adapter-other-model", lambda w: ["compare", "--adapter", w.lora(weights=lambda b: other_model_weights()),
                                           "--dataset", w.rows()], 2, ("another base model", "[8, 2048]")),

    # ---- datasets: errors name file:line ----
    # a corrupt parquet file
    dataset_case("data-parquet-corrupt", "d.parquet", b"PAR1 garbage, not a parquet file", "d.parquet",
                 "not a readable parquet file"),
    # an empty parquet file
    dataset_case("data-parquet-empty", "d.parquet", b"", "d.parquet", "not a readable parquet file"),
    # a malformed JSONL line
    dataset_case("data-jsonl-malformed", "d.jsonl", GSM8K_ROW + '{"question": oops}\n', "d.jsonl:2", "malformed JSON"),
    # a JSONL line that is a list
    dataset_case("data-jsonl-not-object", "d.jsonl", "[1, 2]\n", "d.jsonl:1", "JSON object"),
    # a Latin-1 line
    dataset_case("data-not-utf8", "d.jsonl", GSM8K_ROW.encode() + b'{"question": "caf\xe9"}\n', "d.jsonl:2", "UTF-8"),
    # an empty dataset
    dataset_case("data-empty", "d.jsonl", "\n", "d.jsonl", "empty"),
    # rows without a question field
    dataset_case("data-fields-unknown", "d.jsonl", '{"q": "1+1?", "a": "2"}\n', "d.jsonl:1", "fields found: q, a",
                 "--question-field"),
    # a blank question
    dataset_case("data-question-empty", "d.jsonl", '{"question": "  ", "answer": "1"}\n', "d.jsonl:1", "empty"),
    # --question-field names a field the rows lack
    dataset_case("data-question-field-missing", "d.jsonl", GSM8K_ROW, "no question field 'prompt_text'",
                 flags=("--question-field", "prompt_text")),
    # --answer-field names a field the rows lack
    dataset_case("data-answer-field-missing", "d.jsonl", GSM8K_ROW, "no answer field 'gold_answer'",
                 flags=("--answer-field", "gold_answer")),
    # two rows with one id
    dataset_case("data-ids-duplicate", "d.jsonl", '{"id": "a", "question": "1?"}\n{"id": "a", "question": "2?"}\n',
                 "duplicate problem id 'a'"),
    # a short CSV row leaves the question None: it must not become the question "None"
    dataset_case("data-csv-short-row", "d.csv", "id,question\nx\n", "d.csv:2", "empty"),
    # a CSV field longer than the csv module's limit
    dataset_case("data-csv-huge-field", "d.csv", "question\n" + "x" * 200_000 + "\n", "d.csv", "not readable as CSV"),
    # a JSON list of strings, not rows
    dataset_case("data-json-rows-not-objects", "d.json", '["1+1?", "2+2?"]', "d.json", "row 1", "object"),
    # a JSON object without a list of rows
    dataset_case("data-json-not-list", "d.json", '{"rows": 5}', "d.json", "JSON list"),
    # an id that looks like terminal markup, named as it is in the skipped-problem line
    dataset_case("data-id-markup", "d.jsonl", json.dumps({"id": "[/]", "question": LONG_QUESTION}) + "\n",
                 "skipped problem [/]", "every problem is longer", code=2, flags=("--max-model-len", "128")),
    # a spreadsheet
    dataset_case("data-unsupported-type", "d.xlsx", "x", "d.xlsx", "unsupported file type", code=2),
    # a dataset file that is not there
    Case("data-missing", lambda w: ["compare", "--dataset", str(w.d / "nowhere.jsonl")], 2, ("nowhere.jsonl", "not found")),
    # a folder given as the dataset
    Case("data-is-a-folder", lambda w: ["compare", "--dataset", str(w.d)], 2, ("is a directory",)),

    # ---- run directories: report, rescore, diff on a finished run ----
    # summary.json that is valid JSON but not an object
    run_case("run-summary-not-object", "report", lambda r: (r / "summary.json").write_text("[1]"),
             "summary.json does not hold a JSON object", "adapter check"),
    # a corrupt summary.json: the advice keeps the adapter check (the same compare again, not rescore)
    run_case("run-summary-not-json", "rescore", lambda r: (r / "summary.json").write_text("{"),
             "summary.json is not valid JSON", "grpo-compare compare", "--output-dir", "adapter check"),
    # summary.json whose skipped list is a number
    run_case("run-summary-skipped-number", "report", lambda r: edit_json(r / "summary.json", skipped=5),
             "'skipped' is not a list"),
    # summary.json whose adapter check is a string
    run_case("run-summary-check-string", "rescore", lambda r: edit_json(r / "summary.json", adapter_check="x"),
             "'adapter_check' is not an object"),
    # config.yaml that is not YAML
    run_case("run-config-not-yaml", "report", lambda r: (r / "config.yaml").write_text("a: [\n"),
             "config.yaml is not valid YAML"),
    # config.yaml that is a list
    run_case("run-config-list", "rescore", lambda r: (r / "config.yaml").write_text("- 1\n"),
             "config.yaml does not hold a mapping"),
    # config.yaml with a value of the wrong type
    run_case("run-config-bad-value", "report",
             lambda r: (r / "config.yaml").write_text((r / "config.yaml").read_text().replace("split: test", "split: 5")),
             "config.yaml", "split: 5", code=2),
    # a generations line that is a list
    run_case("run-record-not-object", "diff",
             lambda r: (r / "generations.jsonl").write_text("[1, 2]\n" + (r / "generations.jsonl").read_text()),
             "generations.jsonl:1", "JSON object"),
    # a number for a problem id
    run_case("run-record-id-number", "rescore", lambda r: edit_records(r / "generations.jsonl", problem_id=7),
             "generations.jsonl:1", "'problem_id'"),
    # null for a completion
    run_case("run-record-completion-null", "report", lambda r: edit_records(r / "generations.jsonl", completion=None),
             "generations.jsonl:1", "'completion'"),
    # a word for a sample number
    run_case("run-record-sample-word", "report", lambda r: edit_records(r / "generations.jsonl", sample="a"),
             "generations.jsonl:1", "'sample'"),
    # a negative sample number
    run_case("run-record-sample-negative", "report", lambda r: edit_records(r / "generations.jsonl", sample=-1),
             "generations.jsonl:1", "'sample' is -1"),
    # a number for a gold answer
    run_case("run-record-gold-number", "diff", lambda r: edit_records(r / "generations.jsonl", gold=5),
             "generations.jsonl:1", "'gold'"),
    # a number for a score
    run_case("run-record-score-number", "report", lambda r: edit_records(r / "generations.jsonl", score=5),
             "generations.jsonl:1", "'answer'"),
    # a word for `correct`
    run_case("run-record-correct-word", "rescore",
             lambda r: edit_records(r / "generations.jsonl", score={"answer": "1", "extractor": "x", "correct": "yes",
                                                                   "strict_format": False, "soft_format": False,
                                                                   "rewards": {}}),
             "generations.jsonl:1", "'score.correct'"),
    # a damaged line in the middle
    run_case("run-record-damaged-middle", "report",
             lambda r: (r / "generations.jsonl").write_text("\n".join(
                 x if i != 1 else x[:20] for i, x in enumerate((r / "generations.jsonl").read_text().splitlines())) + "\n"),
             "generations.jsonl:2", "not valid JSON"),
    # an empty generations file
    run_case("run-generations-empty", "report", lambda r: (r / "generations.jsonl").write_text(""),
             "holds no generations"),
    # a generations file that is not UTF-8
    run_case("run-generations-not-utf8", "rescore", lambda r: (r / "generations.jsonl").write_bytes(b"\xff\n"),
             "generations.jsonl is not UTF-8"),
    # a folder where the generations file belongs
    run_case("run-generations-folder", "report", lambda r: make_dir(r / "generations.jsonl"),
             "has no generations.jsonl", code=2),
    # a torn last line (a crash mid-write) is no error: it is left out and the rest rescored
    run_case("run-torn-last-line", "rescore",
             lambda r: (r / "generations.jsonl").write_text((r / "generations.jsonl").read_text() + '{"run_id": "x", "pro'),
             code=0, changes=RUN_OUTPUTS),
    # a folder where report.html belongs
    run_case("run-report-folder", "report", lambda r: make_dir(r / "report.html"), "report.html", "Is a directory",
             code=2),
    # a folder where summary.json belongs: the generations are kept
    run_case("run-summary-folder", "rescore", lambda r: make_dir(r / "summary.json"), "cannot write the results",
             "generations are kept", code=2, changes=("run/generations.jsonl", "run/comparison.csv")),
    # a run directory that is not there
    Case("run-missing", lambda w: ["report", str(w.d / "nowhere")], 2, ("nowhere", "not found"),
         check=nothing_created("nowhere")),
    # rescore of a file: refused before the lock would make a folder of its own
    Case("run-is-a-file", lambda w: ["rescore", w.file("run.txt", "x")], 2, ("run.txt", "not found")),
    # rescore of a folder that is not there: none is created
    Case("rescore-missing", lambda w: ["rescore", str(w.d / "nowhere")], 2, ("nowhere", "not found"),
         check=nothing_created("nowhere")),
    # diff with an arm the run does not have
    Case("diff-arm-unknown", lambda w: ["diff", str(w.run()), "--arm-a", "nope"], 2, ("no arm 'nope'", "base, grpo")),
    # diff with a second run that is not there
    Case("diff-second-run-missing", lambda w: ["diff", str(w.run()), str(w.d / "nowhere")], 2, ("nowhere", "not found")),
    # diff --csv at a folder: refused, and no temporary file is left in it
    Case("diff-csv-folder", lambda w: ["diff", str(w.run()), "--csv", str(Path(w.file("out/keep.txt", "k")).parent)], 2,
         ("out", "is a directory"), check=nothing_left_in("out")),
    # diff --csv under a file
    Case("diff-csv-under-a-file", lambda w: ["diff", str(w.run()), "--csv", w.file("f.txt", "x") + "/t.csv"], 2,
         ("f.txt/t.csv", "cannot write")),
    # diff --html under a file
    Case("diff-html-under-a-file", lambda w: ["diff", str(w.run()), "--html", w.file("f.txt", "x") + "/t.html"], 2,
         ("f.txt/t.html", "cannot write")),

    # ---- locks: an OS advisory lock, never stale, never followed through a link ----
    # a .lock left by a dead process, holding garbage: not stale; the run is rescored and the lock removed
    Case("lock-garbage", lambda w: args_after(with_lock(w.run(), b"\0\xff junk"), "rescore", str(w.d / "run")), 0,
         changes=(*RUN_OUTPUTS, "run/.lock"), check=stale_lock_removed),
    # a .lock that links to another file: refused, the other file untouched
    Case("lock-symlink", lambda w: args_after(link_lock(w), "rescore", str(w.d / "run")), 2, (".lock", "symbolic link"),
         check=victim_untouched),
    # a .lock that is a folder
    Case("lock-folder", lambda w: args_after(make_dir(w.run() / LOCK_FILE), "rescore", str(w.d / "run")), 2,
         (".lock", "Is a directory")),
    # rescore of a run still being written waits for it: the lock is respected
    Case("lock-held-rescore", lambda w: ["rescore", str(w.run())], 2, ("in use by another run", "pid 4242"),
         act=rescore_while_locked),

    # ---- resume: a refused run names the field ----
    # the same run with another temperature: the field is named, not its group
    Case("resume-other-temperature", lambda w: ["compare", "--adapter", str(w.request.getfixturevalue("fixture_lora")),
                                                "--dataset", str(shared_file("math500_test.jsonl")), "--max-samples", "4",
                                                "--max-tokens", "48", "--temperature", "0.5", "--lora-strategy",
                                                "mixed", "--output-dir", str(w.run())],
         2, ("sampling.temperature differs",)),
    # a damaged fingerprint.json
    Case("resume-fingerprint-damaged", lambda w: args_after(w.file("run/fingerprint.json", "{"), "compare", "--dataset",
                                                            w.rows(), "--output-dir", str(w.d / "run")), 3,
         ("fingerprint.json", "not valid JSON", "--output-dir")),
    # generations without a fingerprint: whose run they are is unknown
    Case("resume-unknown-generations", lambda w: args_after(w.file("run/generations.jsonl", GSM8K_ROW), "compare",
                                                            "--dataset", w.rows(), "--output-dir", str(w.d / "run")), 2,
         ("generations of an unknown run",)),

    # ---- output folders ----
    # an --output-dir that is a file
    Case("output-dir-is-a-file", lambda w: ["compare", "--dataset", w.rows(), "--output-dir", w.file("out.txt", "x")], 2,
         ("out.txt", "File exists")),
    # the same from a terminal, where the engine log is opened first
    Case("output-dir-is-a-file-terminal", lambda w: ["compare", "--dataset", w.rows(), "--output-dir",
                                                     w.file("out.txt", "x")], 2, ("out.txt", "File exists", "--output-dir"),
         mode="sub"),
    # a read-only --output-dir
    Case("output-dir-read-only", lambda w: ["compare", "--dataset", w.rows(), "--output-dir",
                                            str(Path(w.file("ro/keep.txt", "k")).parent)], 2,
         ("ro/engine.log", "Permission denied", "--output-dir"), read_only=("ro",)),
    # rescore of a read-only run directory
    Case("rescore-read-only", lambda w: ["rescore", str(w.run())], 2, ("run", "Permission denied", "writable"),
         read_only=("run",)),
    # report of a read-only run directory
    Case("report-read-only", lambda w: ["report", str(w.run())], 2, ("report.html", "Permission denied", "writable"),
         read_only=("run",)),
    # diff --csv into a read-only folder
    Case("diff-csv-read-only", lambda w: ["diff", str(w.run()), "--csv", str(Path(w.file("ro/keep.txt", "k")).parent / "t.csv")],
         2, ("ro/t.csv", "Permission denied"), read_only=("ro",)),
    # run files get the user's umask, as generations.jsonl always did
    Case("umask-run-files", lambda w: ["rescore", str(w.run())], 0, act=under_umask(0o027), changes=RUN_OUTPUTS,
         check=files_follow_umask(0o027)),

    # ---- batch ----
    # a questions file that is not there: the message names the argument, not --dataset
    Case("batch-input-missing", lambda w: ["batch", str(w.d / "q.txt")], 2, ("q.txt", "not found", "INPUT_FILE"),
         check=not_about("--dataset")),
    # a folder as the questions file
    Case("batch-input-folder", lambda w: ["batch", str(w.d)], 2, ("not a file", "INPUT_FILE")),
    # a questions file of another type
    Case("batch-input-type", lambda w: ["batch", w.file("q.pdf", "x")], 2, ("q.pdf", ".txt")),
    # a malformed questions line
    Case("batch-input-malformed", lambda w: ["batch", w.file("q.jsonl", '{"question": "1?"}\n{oops\n')], 3, ("q.jsonl:2",)),
    # an --output that cannot be written is refused before any weights load, not after the answers
    Case("batch-output-folder", lambda w: ["batch", w.file("q.txt", "1+1?\n"), "--output",
                                           args_after(w.folder("res.base.json"), str(w.d / "res.json"))[0]], 2,
         ("res.base.json", "--output")),
    # an --output under a file
    Case("batch-output-under-a-file", lambda w: ["batch", w.file("q.txt", "1+1?\n"), "--output",
                                                 w.file("f.txt", "x") + "/res.json"], 2, ("f.txt", "--output")),
    # an arm the config does not have
    Case("batch-arm-unknown", lambda w: ["batch", w.file("q.txt", "1+1?\n"), "--arm", "nope"], 2, ("unknown arm 'nope'",)),
    # one question longer than the context: kept in the output with a `skipped` reason
    Case("batch-question-too-long", lambda w: ["batch", w.file("q.txt", f"What is 2 + 2?\n{LONG_QUESTION}\n"),
                                               "--max-model-len", "128", "--max-tokens", "4", "--output",
                                               str(w.d / "out" / "res.json")], 0, ("skipped problem 1",), mode="engine",
         check=batch_kept_the_skipped_question),

    # ---- ask ----
    # an arm the config does not have
    Case("ask-arm-unknown", lambda w: ["ask", "1+1?", "--arm", "nope"], 2, ("unknown arm 'nope'",)),
    # a damaged adapter: caught before the engine
    Case("ask-adapter-damaged", lambda w: ["ask", "1+1?", "--adapter", w.lora(config="{")], 2, ("adapter_config.json",)),
    # stdout carries the JSON document alone; the engine's own output goes to its log
    Case("ask-json-stdout-pure", lambda w: ["ask", "--json", "--backend", "hf", "--max-tokens", "4", "What is 2 + 2?"], 0,
         act=ask_json_subprocess, check=stdout_is_the_document),

    # ---- chat: a bad command is one line, and the session goes on ----
    # /save under a file: one line, the conversation kept and saved elsewhere afterwards
    Case("chat-save-under-a-file", lambda w: args_after(w.file("f.txt", "x"), "chat", "--max-tokens", "4"), 0,
         ("cannot save to", "the 1 turns are kept"), mode="engine",
         input="What is 2 + 2?\n/save {d}/f.txt/s.json\n/save {d}/ok.json\n/quit\n", check=chat_session_kept,
         one_error_line=False),
    # /save to a folder
    Case("chat-save-folder", lambda w: ["chat"], 0, ("cannot save to", "Is a directory"), mode="engine",
         input="/save {d}\n/quit\n", check=chat_went_on, one_error_line=False),
    # /temperature with a word
    Case("chat-temperature-word", lambda w: ["chat"], 0, ("/temperature needs a number",), mode="engine",
         input="/temperature hot\n/quit\n", check=chat_went_on, one_error_line=False),
    # /temperature nan
    Case("chat-temperature-nan", lambda w: ["chat"], 0, ("temperature: nan is not allowed",), mode="engine",
         input="/temperature nan\n/quit\n", check=chat_went_on, one_error_line=False),
    # /max-tokens with a fraction
    Case("chat-max-tokens-fraction", lambda w: ["chat"], 0, ("/max-tokens needs an integer",), mode="engine",
         input="/max-tokens 2.5\n/quit\n", check=chat_went_on, one_error_line=False),
    # /max-tokens 0
    Case("chat-max-tokens-zero", lambda w: ["chat"], 0, ("max_tokens: 0 is not allowed",), mode="engine",
         input="/max-tokens 0\n/quit\n", check=chat_went_on, one_error_line=False),
    # /arm with an arm the config does not have
    Case("chat-arm-unknown", lambda w: ["chat"], 0, ("unknown arm 'nope'",), mode="engine",
         input="/arm nope\n/quit\n", check=chat_went_on, one_error_line=False),
    # rich markup in what the user typed is printed as text, not parsed
    Case("chat-arm-markup", lambda w: ["chat"], 0, ("unknown arm '[/]'",), mode="engine",
         input="/arm [/]\n/quit\n", check=chat_went_on, one_error_line=False),
    # /prompt before any question
    Case("chat-prompt-before-question", lambda w: ["chat"], 0, ("no question yet",), mode="engine",
         input="/prompt\n/quit\n", check=chat_went_on, one_error_line=False),
    # a command that does not exist
    Case("chat-command-unknown", lambda w: ["chat"], 0, ("unknown command /bogus",), mode="engine",
         input="/bogus\n/quit\n", check=chat_went_on, one_error_line=False),
    # the help keeps its [question] and [file]
    Case("chat-help-markup", lambda w: ["chat"], 0, ("/prompt [question]", "/save [file]"), mode="engine",
         input="/help\n/quit\n", check=chat_went_on),

    # ---- evaluate ----
    # an --output that cannot be written: refused before any weights load
    Case("evaluate-output-folder", lambda w: ["evaluate", "--dataset", w.rows(), "--output",
                                              args_after(w.folder("ev.base.json"), str(w.d / "ev.json"))[0]], 2,
         ("ev.base.json", "--output")),
    # a dataset that is not there
    Case("evaluate-dataset-missing", lambda w: ["evaluate", "--dataset", str(w.d / "nowhere.jsonl")], 2,
         ("nowhere.jsonl", "not found")),
    # an arm the config does not have
    Case("evaluate-arm-unknown", lambda w: ["evaluate", "--dataset", w.rows(), "--arm", "nope"], 2, ("unknown arm 'nope'",)),
    # a model and adapter of one's own, and no dataset
    Case("evaluate-no-dataset", lambda w: ["evaluate", "--model", str(w.request.getfixturevalue("demo_model")),
                                           "--adapter", w.lora()], 2, ("no dataset to evaluate", "--dataset")),

    # ---- signals: finished work kept, the lock released, resume printed ----
    # Ctrl-C while the engine starts: says nothing had finished (no file that does not exist)
    Case("sigint-before-first-result", lambda w: ["compare", "--dataset", w.rows(), "--output-dir", str(w.d / "run")],
         130, ("interrupted", "nothing had finished yet", "resume with"), act=start_interrupted(signal.SIGINT),
         check=no_lock_left, one_error_line=False),
    # SIGTERM while the engine starts: the same, exit 143
    Case("sigterm-before-first-result", lambda w: ["compare", "--dataset", w.rows(), "--output-dir", str(w.d / "run")],
         143, ("interrupted", "nothing had finished yet"), act=start_interrupted(signal.SIGTERM), check=no_lock_left,
         one_error_line=False),
    # Ctrl-C after the first result: that result is kept, and the same command resumes and finishes
    Case("sigint-mid-run-resume", lambda w: ["compare", "--adapter", str(w.request.getfixturevalue("fixture_lora")),
                                             "--dataset", str(shared_file("gsm8k_test.jsonl")), "--max-samples", "2",
                                             "--max-tokens", "8", "--output-dir", str(w.d / "run")], 130,
         ("finished generations are kept", "generations.jsonl", "resume with"), act=interrupt_then_resume,
         one_error_line=False, slow=True),
    # a real SIGTERM mid-run (what `timeout` and container stops send)
    Case("sigterm-mid-run", lambda w: ["compare", "--backend", "hf", "--batch-size", "1", "--max-samples", "4",
                                       "--max-tokens", "16", "--output-dir", str(w.d / "run")], 143,
         ("interrupted", "finished generations are kept", "resume with"), act=sigterm_mid_run, check=sigterm_kept_work,
         one_error_line=False, slow=True),
    # Ctrl-C in a command without a run directory: one line, exit 130, not click's "Aborted!"
    Case("sigint-batch", lambda w: ["batch", w.file("q.txt", "1+1?\n")], 130, ("interrupted",),
         act=start_interrupted(signal.SIGINT), check=not_about("Aborted"), one_error_line=False),

    # ---- outputs: never written through a link, never over a file the command reads ----
    # engine.log a link to a file of the user's: refused before anything is appended through it
    Case("link-engine-log", lambda w: ["compare", "--dataset", w.rows(), "--output-dir", str(linked(w, "engine.log"))],
         2, ("engine.log", "symbolic link"), mode="sub", check=victim_untouched),
    # generations.jsonl a link: refused before the first result would be appended through it
    Case("link-generations", lambda w: ["compare", "--dataset", w.rows(), "--output-dir",
                                        str(linked(w, "generations.jsonl"))], 2, ("generations.jsonl", "symbolic link"),
         check=victim_untouched),
    # fingerprint.json a link in a new run directory
    Case("link-fingerprint", lambda w: ["compare", "--dataset", w.rows(), "--output-dir",
                                        str(linked(w, "fingerprint.json"))], 2, ("fingerprint.json", "symbolic link"),
         check=victim_untouched),
    # rescore of a finished run whose summary.json is a link: refused before any file is rewritten
    Case("link-summary-rescore", lambda w: ["rescore", str(linked(w, "summary.json", finished=True))], 2,
         ("summary.json", "symbolic link"), check=victim_untouched),
    # report of a run whose report.html is a link: the link is neither followed nor replaced
    Case("link-report", lambda w: ["report", str(linked(w, "report.html", finished=True))], 2,
         ("report.html", "symbolic link"), check=victim_untouched),
    # batch's per-arm output a link: refused before any weights load
    Case("link-batch-output", lambda w: ["batch", w.file("q.txt", "1+1?\n"), "--output",
                                         args_after(linked(w, "res.base.json"), str(w.d / "run" / "res.json"))[0]], 2,
         ("res.base.json", "symbolic link", "--output"), check=victim_untouched),
    # diff --csv at a link
    Case("link-diff-csv", lambda w: ["diff", str(w.run("a")), "--csv", str(linked(w, "t.csv") / "t.csv")], 2,
         ("t.csv", "symbolic link"), check=victim_untouched),
    # the dataset inside the run directory under an output's name: refused before it is overwritten
    Case("input-dataset-is-an-output", lambda w: ["compare", "--dataset",
                                                  w.file("run/comparison.csv", "id,question,gold\n1,What is 1 + 1?,2\n"),
                                                  "--output-dir", str(w.d / "run")], 2,
         ("run/comparison.csv would overwrite", "the dataset", "--output-dir")),
    # the dataset under another name in the run directory (a hard link) that would be appended to
    Case("input-dataset-hard-link", lambda w: ["compare", "--dataset", w.rows(), "--output-dir",
                                               str(hard_linked(w, str(w.d / "rows.jsonl"), "generations.jsonl"))], 2,
         ("run/generations.jsonl would overwrite", "rows.jsonl, the dataset")),
    # the config inside the run directory as its config.yaml
    Case("input-config-is-an-output", lambda w: ["compare", "--config", w.file("run/config.yaml", "split: test\n"),
                                                 "--dataset", w.rows(), "--output-dir", str(w.d / "run")], 2,
         ("run/config.yaml would overwrite", "the config")),
    # the config as the run's engine.log, which would be appended to (the terminal's redirect opens it first)
    Case("input-config-is-the-log", lambda w: ["compare", "--config", w.file("run/engine.log", "split: test\n"),
                                               "--dataset", w.rows(), "--output-dir", str(w.d / "run")], 2,
         ("engine.log would overwrite", "the config"), mode="sub"),
    # batch writing its per-arm file over the questions it reads
    Case("input-batch-questions", lambda w: ["batch", w.file("q.base.json", '[{"question": "1+1?"}]'), "--output",
                                             str(w.d / "q.json"), "--arm", "base"], 2,
         ("q.base.json would overwrite", "the questions file", "--output")),
    # evaluate writing its per-arm file over the dataset, refused before the dataset is even read
    Case("input-evaluate-dataset", lambda w: ["evaluate", "--dataset",
                                              w.file("ev.base.json", '[{"question": "1+1?", "answer": "2"}]'),
                                              "--output", str(w.d / "ev.json"), "--arm", "base"], 2,
         ("ev.base.json would overwrite", "the dataset")),
    # diff --csv over the generations of the run it reads
    Case("input-diff-csv-generations", lambda w: ["diff", str(w.run()), "--csv", str(w.d / "run" / "generations.jsonl")],
         2, ("generations.jsonl would overwrite", "a file of the run")),
    # chat's /save over the config it read: one line, the session goes on
    Case("input-chat-save-config", lambda w: ["chat", "--config", w.file("c.yaml", "split: test\n")], 0,
         ("c.yaml would overwrite", "the config"), mode="engine", input="/save {d}/c.yaml\n/quit\n", check=chat_went_on,
         one_error_line=False),
    # the dataset changed under the same name: the fingerprint keeps its content, so the run is not resumed
    Case("resume-dataset-changed", lambda w: ["compare", "--dataset", w.rows(), "--max-tokens", "4", "--output-dir",
                                              str(w.d / "run")], 2, ("dataset_sha256 differs", "--output-dir"),
         mode="engine", act=changed_then_resumed, changes=("rows.jsonl",)),

    # ---- arm names: columns, file names and terminal text, checked at the door ----
    # a name a spreadsheet runs as a formula in the CSV header
    yaml_case("arm-name-formula", "arms: [{name: base}, {name: '=HYPERLINK(1)', lora: true}]\n",
              "arm name '=HYPERLINK(1)' is not allowed", "letters, digits"),
    # a name rich reads as markup: two arms printed as one, or a crash after the files are written
    yaml_case("arm-name-markup", "arms: [{name: base}, {name: '[/b]', lora: true}]\n", "arm name '[/b]' is not allowed"),
    # a name with a path in it
    yaml_case("arm-name-path", "arms: [{name: base}, {name: ../x, lora: true}]\n", "arm name '../x' is not allowed"),
    # a name with a space
    yaml_case("arm-name-space", "arms: [{name: base}, {name: my arm, lora: true}]\n", "arm name 'my arm'"),
    # a name that starts like a flag
    yaml_case("arm-name-dash", "arms: [{name: base}, {name: -x, lora: true}]\n", "arm name '-x'"),
    # a name with letters of another script: not a portable column or file name
    yaml_case("arm-name-non-ascii", "arms: [{name: base}, {name: grpö, lora: true}]\n", "arm name 'grpö'", "ASCII"),
    # a name longer than a column should be
    yaml_case("arm-name-too-long", f"arms: [{{name: base}}, {{name: {'g' * 65}, lora: true}}]\n", "at most 64"),
    # b and b_reward make the same column (b_reward_strict_format): the summary would read the wrong arm
    yaml_case("arm-names-same-column", "arms: [{name: b}, {name: b_reward, lora: true}]\n",
              "arms 'b' and 'b_reward' both make 'b_reward_strict_format'"),
    # names that differ in case only: one file name on a case-insensitive disk
    yaml_case("arm-names-case", "arms: [{name: grpo}, {name: GRPO, lora: true}]\n", "arms 'grpo' and 'GRPO' both make"),
    # an arm name from an adapter folder whose name is not one: made safe, and said
    Case("arm-name-from-folder", lambda w: ["compare", "--adapter", w.lora("a/final [v1]"), "--adapter",
                                            w.lora("b/final [v2]"), "--dataset", w.rows(), "--max-model-len", "16"], 2,
         ("is named final_v1_", "every problem is longer")),
    # two adapter folders whose names become the same arm name once made safe
    Case("arm-names-from-folders-collide", lambda w: ["compare", "--adapter", w.lora("x [1]"), "--adapter", w.lora("x_1_"),
                                                      "--dataset", w.rows()], 2, ("arms 'x_1_' and 'x_1_' both make",)),
    # a question with markup, printed as the table's title as it is
    Case("ask-question-markup", lambda w: ["ask", "[/b] What is 2 + 2?", "--max-tokens", "4"], 0, ("[/b] What is 2 + 2?",),
         mode="engine"),
    # a run directory whose path holds markup: the lines naming it print it as it is
    Case("report-path-markup", lambda w: ["report", str(w.run("r[/b]"))], 0, ("wrote", "r[/b]/report.html"),
         changes=("r[/b]/report.html",)),
    # diff of a run whose path holds markup
    Case("diff-path-markup", lambda w: ["diff", str(w.run("r[/b]"))], 0, ("a = {d}/r[/b]",)),

    # ---- checkpoint folders: what was taken and what was left out, said ----
    # checkpoint-100 and checkpoint-0100 are one step
    ckpt_case("checkpoint-duplicate-step", lambda w: checkpoint_folder(w, "checkpoint-100", "checkpoint-0100"),
              "checkpoint-0100 and", "checkpoint-100 are both step 100"),
    # digits of another script are not a step (int() reads them as 100)
    ckpt_case("checkpoint-non-ascii-digits", lambda w: checkpoint_folder(w, "checkpoint-100", "checkpoint-١٠٠"),
              "1 checkpoint, one arm each: checkpoint-100", "left out: checkpoint-١٠٠ (not a step number)"),
    # checkpoint-abc and a checkpoint folder without an adapter: left out, and said
    ckpt_case("checkpoint-left-out", lambda w: checkpoint_folder(w, "checkpoint-10", "checkpoint-abc", "checkpoint-5/"),
              "checkpoint-abc (not a step number)", "checkpoint-5 (no adapter_config.json)"),
    # a final adapter beside its checkpoints: the final one is used, and the checkpoints left out said
    ckpt_case("checkpoint-final-beside", lambda w: checkpoint_folder(w, "checkpoint-1", "checkpoint-2", final=True),
              "using its final adapter", "checkpoint-1, checkpoint-2 are left out"),
    # no checkpoint at all, only folders that are not
    ckpt_case("checkpoint-none", lambda w: checkpoint_folder(w, "checkpoint-abc", "checkpoint-7/"),
              "no checkpoint taken", "checkpoint-7 (no adapter_config.json)", "has no adapter_config.json"),
    # nothing graded in any adapter arm: no best arm, and the gate fails instead of passing on nothing
    Case("gate-nothing-graded", lambda w: resume_args(w, args_after(nothing_graded(w.run()), w.d / "run")[0],
                                                      "--min-delta", "-1"), 4,
         ("no adapter arm has a graded answer",), changes=RUN_OUTPUTS, check=best_is_none, one_error_line=False),

    # ---- merged copies of the weights: the disk checked before they are built ----
    # one merged copy does not fit: refused, naming the space and the strategy that needs none
    Case("merged-disk-full", lambda w: ["compare", "--backend", "hf", "--lora-strategy", "merged", "--adapter", w.lora(),
                                        "--dataset", w.rows(), "--output-dir", str(w.d / "run")], 2,
         ("1 merged copy of the weights need about", "free there", "--lora-strategy mixed"), act=merged_space(2**20)),
    # one merged copy per checkpoint
    Case("merged-disk-full-checkpoints", lambda w: ["compare", "--backend", "hf", "--lora-strategy", "merged", "--adapter",
                                                    checkpoint_folder(w, "checkpoint-1", "checkpoint-2", "checkpoint-3"),
                                                    "--dataset", w.rows(), "--output-dir", str(w.d / "run")], 2,
         ("3 merged copies of the weights", "--lora-strategy mixed"), act=merged_space(2**20)),
    # auto does not pick merged copies that do not fit: LoRA rows instead, said
    Case("merged-disk-full-auto", lambda w: ["compare", "--backend", "vllm", "--adapter",
                                             str(w.request.getfixturevalue("fixture_lora")), "--dataset",
                                             w.file("d.jsonl", "".join(
                                                 json.dumps({"id": str(i), "question": f"What is {i} + 1?"}) + "\n"
                                                 for i in range(32))),
                                             "--max-tokens", "1", "--output-dir", str(w.d / "run")], 0,
         ("LoRA strategy mixed (auto: 1 merged copy", "free there"), mode="engine",
         act=merged_space(2**20, engine=True)),

    # ---- YAML: what a mapping of settings cannot be ----
    # a key given twice: the later allow_pickle: true would quietly win
    yaml_case("yaml-duplicate-key", "allow_pickle: false\nmodel: x\nallow_pickle: true\n", "c.yaml", "line 3",
              "'allow_pickle' is given twice"),
    # a key given twice in a nested mapping
    yaml_case("yaml-duplicate-nested-key", "sampling: {temperature: 0, temperature: 1}\n", "'temperature' is given twice"),
    # an empty list is not an empty config
    yaml_case("yaml-document-empty-list", "[]\n", "c.yaml", "does not hold a mapping", "list"),
    # false is not an empty config
    yaml_case("yaml-document-false", "false\n", "c.yaml", "does not hold a mapping", "bool"),
    # a bare word
    yaml_case("yaml-document-scalar", "just some words\n", "c.yaml", "does not hold a mapping", "str"),
    # two documents in one file
    yaml_case("yaml-two-documents", "split: test\n---\nsplit: train\n", "c.yaml", "not valid YAML"),
    # an alias bomb: a few hundred bytes that expand to 9^9 values, refused at once
    yaml_case("yaml-alias-bomb", YAML_BOMB, "c.yaml", "more than 100,000 values through its aliases"),
    # a document nested 10,000 deep: refused, not a recursion error
    yaml_case("yaml-deep-nesting", "a: " + "[" * 10_000 + "]" * 10_000 + "\n", "c.yaml", "nested deeper than 40"),
    # a huge value: the message quotes it cut short
    Case("yaml-huge-value", lambda w: ["compare", "--config", w.file("c.yaml", f"model: {'x' * 1_000_000}\n"),
                                       "--dataset", w.rows()], 2, ("model", "1,000,002 characters"), check=short_message),
    # a huge key: the message does not quote it
    Case("yaml-huge-key", lambda w: ["compare", "--config", w.file("c.yaml", f"{'k' * 1_000_000}: 1\n"),
                                     "--dataset", w.rows()], 2, ("not valid YAML", "line 1"), check=short_message),
    # a lone surrogate from a YAML escape
    yaml_case("yaml-lone-surrogate", 'model: "a\\ud800"\n', "model", "UTF-8 text"),
    # a run's config.yaml with a key given twice
    run_case("run-config-duplicate-key", "report",
             lambda r: (r / "config.yaml").write_text((r / "config.yaml").read_text() + "split: train\n"),
             "config.yaml", "'split' is given twice"),

    # ---- sizes and text: checked before a question is tokenised ----
    # a 50 MB question and a small window: skipped at once, never tokenised
    dataset_case("question-50mb", "d.jsonl", json.dumps({"question": "x" * 50_000_000}) + "\n",
                 "skipped problem 1", "50,000,000 characters", "at most 8,192", code=2, flags=("--max-model-len", "128")),
    # batch keeps the huge question with a `skipped` reason
    Case("batch-question-huge", lambda w: ["batch", w.file("q.txt", f"What is 2 + 2?\n{'x' * 20_000}\n"),
                                           "--max-model-len", "128", "--max-tokens", "4", "--output",
                                           str(w.d / "out" / "res.json")], 0, ("skipped problem 1", "20,000 characters"),
         mode="engine", check=batch_kept_the_skipped_question),
    # a lone surrogate in a question (a broken \u escape in JSON)
    dataset_case("question-lone-surrogate", "d.jsonl", '{"question": "What is 1 + 1? \\ud800"}\n', "d.jsonl:1",
                 "its question holds a lone surrogate", "U+D800"),
    # a lone surrogate in an id
    dataset_case("id-lone-surrogate", "d.jsonl", '{"id": "a\\udc80", "question": "1?"}\n', "d.jsonl:1",
                 "its id holds a lone surrogate"),
    # a lone surrogate in a field kept as meta
    dataset_case("meta-lone-surrogate", "d.jsonl", '{"question": "1?", "note": "\\udfff"}\n', "d.jsonl:1",
                 "meta field 1 holds a lone surrogate"),
    # a lone surrogate in the question on the command line (undecodable bytes in argv)
    Case("ask-lone-surrogate", lambda w: ["ask", "What is 1 + 1?\udc80"], 3, ("lone surrogate", "U+DC80")),

    # a dataset path with a name longer than the file system takes
    Case("dataset-name-too-long", lambda w: ["compare", "--dataset", str(w.d / ("x" * 300 + ".jsonl"))], 2,
         ("File name too long", "shorter path")),
    # a config path with a name longer than the file system takes
    Case("config-name-too-long", lambda w: ["compare", "--config", str(w.d / ("c" * 300 + ".yaml"))], 2,
         ("File name too long", "shorter path")),
    # a run directory's name longer than the file system takes
    Case("output-dir-name-too-long", lambda w: ["compare", "--dataset", w.rows(), "--output-dir", str(w.d / ("r" * 300))],
         2, ("File name too long",)),
    # a model "path" of 10,000 characters: refused by the validator, quoted cut short
    flag_case("flag-model-huge", ["--model", "m" * 10_000], "model: 'mmm", "10,002 characters", "at most 4,096"),

    # ---- the Python API: a wrong type is one TypeError naming the argument ----
    # a config path where a CompareConfig belongs
    api_case("api-config-path", lambda w: __import__("grpo_compare").compare(w.file("c.yaml", "split: test\n")),
             "config must be a CompareConfig", "from_yaml"),
    # an int as the output folder
    api_case("api-output-dir-int", lambda w: __import__("grpo_compare").compare(output_dir=5, max_samples=1),
             "output_dir must be a str or PathLike, got int 5"),
    # plain strings as problems
    api_case("api-problems-strings", lambda w: __import__("grpo_compare").compare(problems=["What is 1 + 1?"]),
             "problems[0] must be a Problem, got str"),
    # one string as the problems
    api_case("api-problems-string", lambda w: __import__("grpo_compare").compare(problems="What is 1 + 1?"),
             "problems must be a list of Problem, got str"),
    # dicts as arms
    api_case("api-arms-dicts", lambda w: __import__("grpo_compare").CompareConfig(arms=[{"name": "base"}, {"name": "x"}]),
             "each of arms must be an ArmSpec, got dict", "ArmSpec(**d)"),
    # a dict as sampling
    api_case("api-sampling-dict", lambda w: __import__("grpo_compare").CompareConfig(sampling={"temperature": 0}),
             "sampling must be a SamplingConfig, got dict"),
    # a dict as sampling, as a keyword of compare()
    api_case("api-sampling-dict-flag", lambda w: __import__("grpo_compare").compare(sampling={"temperature": 0}),
             "sampling must be a SamplingConfig, got dict"),
    # an engine without a name
    api_case("api-engine-no-name", lambda w: __import__("grpo_compare").compare(engine=NoName()),
             "engine= of type NoName", "no `name`"),
    # an engine that yields dicts
    api_case("api-engine-yields-dicts", lambda w: __import__("grpo_compare").compare(
        engine=YieldsDicts(), problems=[__import__("grpo_compare").Problem("1", "What is 2 + 2?", "4")]),
             "stream must yield grpo_compare.Generation", "got dict"),
    # generate_response(None)
    api_case("api-generate-response-none", lambda w: demo_inference().generate_response(None),
             "prompt must be a str, got NoneType"),
    # batch_inference of one string: refused, not one request per character
    api_case("api-batch-inference-string", lambda w: demo_inference().batch_inference("What is 1 + 1?"),
             "problems must be a list of questions, got str", "batch_inference([question])"),
    # ask with one arm name as a string, not a list
    api_case("api-ask-arms-string", lambda w: demo_inference().ask("What is 1 + 1?", "base"),
             "arms must be a list of arm names, got str", "arms=['base']"),
    # load_run of an int
    api_case("api-load-run-int", lambda w: __import__("grpo_compare").load_run(5), "run_dir must be a str or PathLike"),
    # from_yaml of an int
    api_case("api-from-yaml-int", lambda w: __import__("grpo_compare").CompareConfig.from_yaml(5),
             "path must be a str or Path"),
    # Problem with a None question
    api_case("api-problem-none", lambda w: __import__("grpo_compare").Problem("1", None, None),
             "Problem.question must be a str, got NoneType"),

    # ---- advice that works when it is followed ----
    # the disk fills as the results are written: config.yaml is written first, so `report` works, and the
    # advice (the same command again) finishes the run
    Case("disk-full-results", lambda w: resume_args(w, results_missing(w)), 2,
         ("No space left on device", "generations are kept", "run the same command again"),
         act=disk_full_at("comparison.csv"), changes=RUN_OUTPUTS, check=config_written),
    # Ctrl-C while report.html is rendered: the stale report is said, and the resume command
    Case("interrupt-report-render", lambda w: resume_args(w, w.run()), 130,
         ("report.html of", "not rewritten", "stale, from before", "resume with"), act=render_interrupted,
         changes=RUN_OUTPUTS),
    # the same in rescore
    Case("interrupt-report-render-rescore", lambda w: ["rescore", str(w.run())], 130,
         ("interrupted", "report.html not rewritten (stale)"), act=render_interrupted, changes=RUN_OUTPUTS),
    # rescore leaves out a record of another run, as resume does, and keeps it as it is
    Case("rescore-other-run", lambda w: ["rescore", str(args_after(with_foreign_record(w.run()), w.d / "run")[0])], 0,
         ("of another run",), changes=RUN_OUTPUTS, check=foreign_left_out),
    # report leaves it out too
    run_case("report-other-run", "report", with_foreign_record, "of another run", code=0, changes=("run/report.html",)),

    # ---- signals: SIGHUP as SIGTERM ----
    # SIGHUP while the engine starts: the lock released, exit 129
    Case("sighup-before-first-result", lambda w: ["compare", "--dataset", w.rows(), "--output-dir", str(w.d / "run")],
         129, ("interrupted", "nothing had finished yet", "resume with"), act=start_interrupted(signal.SIGHUP),
         check=no_lock_left, one_error_line=False),
    # a real SIGHUP mid-run (a closed terminal): work kept, lock released, vLLM's temporary files gone
    Case("sighup-mid-run", lambda w: ["compare", "--backend", "vllm", "--lora-strategy", "mixed", "--batch-size", "1",
                                      "--max-samples", "4", "--max-tokens", "16", "--output-dir", str(w.d / "run")], 129,
         ("interrupted", "finished generations are kept", "resume with"), act=sighup_mid_run, check=no_vllm_files_left,
         one_error_line=False, slow=True),

    # ---- the net under every check ----
    # an error no check foresaw: one line naming the log that holds its traceback
    Case("net-unexpected", lambda w: ["report", str(w.run())], 1, ("unexpected RuntimeError", "boom", "--debug"),
         act=net(None), check=logged_traceback),
    # --debug: the traceback is raised, not swallowed
    Case("net-debug-flag", lambda w: ["report", str(w.run())], 1, (), act=net("flag"), check=raised, one_error_line=False),
    # GRPO_COMPARE_DEBUG=1 does the same
    Case("net-debug-env", lambda w: ["report", str(w.run())], 1, (), act=net("env"), check=raised, one_error_line=False),
]
DEBUG_CASES = {"net-debug-flag", "net-debug-env"}


# --- running a case -----------------------------------------------------------------------------

class EngineStartedInPreflight(Exception):
    """Raised if a case that must fail in preflight reaches the engine start."""


def invoke(w: W, args: list[str], engine: bool = False, input: str | None = None,
           env: dict[str, str] | None = None) -> Out:
    """The CLI in this process; the engine start is guarded, or hands out the shared engine."""
    mp = w.request.getfixturevalue("monkeypatch")
    if engine:
        shared = Redirected(w.request.getfixturevalue("engine"), w.request.getfixturevalue("fixture_lora"))
        mp.setattr("grpo_compare.session.start_engine", lambda *a, **k: shared)
    result = CliRunner().invoke(app, args, input=input, env=env)
    return Out(result.exit_code, result.stdout, result.stderr,
               None if isinstance(result.exception, SystemExit) else result.exception)


def subprocess_run(w: W, args: list[str], read_only: tuple[str, ...]) -> Out:
    prefix = []
    if read_only:
        for folder in read_only:
            for path in [w.d / folder, *(w.d / folder).rglob("*")]:
                path.chmod(0o555 if path.is_dir() else 0o444)
        if os.geteuid() == 0:
            if shutil.which("setpriv") is None:
                pytest.skip("root without setpriv: a read-only folder cannot be made so")
            prefix = NO_DAC
    proc = subprocess.run(prefix + CLI + args, capture_output=True, text=True, cwd=w.d, timeout=300)
    return Out(proc.returncode, proc.stdout, proc.stderr)


def snapshot(root: Path) -> dict[str, str]:
    """Every file under `root` (relative path -> content hash; a link -> its target)."""
    out = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = Path(folder) / name
            rel = str(path.relative_to(root))
            out[rel] = ("link:" + os.readlink(path) if path.is_symlink()
                        else hashlib.sha256(path.read_bytes()).hexdigest())
    return out


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=[pytest.mark.slow] if c.slow else []) for c in CASES])
def test_hostile(case: Case, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    w = W(tmp_path, request)
    monkeypatch.chdir(tmp_path)

    def guard(*a: Any, **k: Any) -> None:
        raise EngineStartedInPreflight()

    monkeypatch.setattr("grpo_compare.session.start_engine", guard)
    args = case.prep(w)
    before = snapshot(tmp_path)
    stdin = case.input.replace("{d}", str(tmp_path)) if case.input else None
    try:
        if case.act:
            out = case.act(w, args)
        elif case.mode == "sub" or case.read_only:
            out = subprocess_run(w, args, case.read_only)
        else:
            out = invoke(w, args, engine=case.mode == "engine", input=stdin)
    finally:
        for path in [p for folder in case.read_only for p in [tmp_path / folder, *(tmp_path / folder).rglob("*")]]:
            path.chmod(0o755 if path.is_dir() else 0o644)

    detail = f"exit {out.code}\nstdout: {out.stdout[-1500:]}\nstderr: {out.stderr[-2500:]}\nexception: {out.exception!r}"
    assert out.code == case.code, detail
    if case.id not in DEBUG_CASES:
        assert out.exception is None and "Traceback" not in out.stdout + out.stderr, detail
        if not case.id.startswith("net-"):
            assert "unexpected" not in out.stderr, detail  # the net caught what a check should have
    for words in case.says:
        assert words.replace("{d}", str(tmp_path)) in out.text, detail
    if case.code not in (0, 130, 143) and case.one_error_line:
        assert sum(line.startswith("error:") for line in out.stderr.splitlines()) == 1, detail
    after = snapshot(tmp_path)
    changed = [f for f, h in before.items() if after.get(f) != h and f not in case.changes]
    assert not changed, f"finished work changed or lost: {changed}\n{detail}"
    if case.check:
        case.check(w, out)


def test_the_table_is_big_enough() -> None:
    assert len(CASES) >= 100 and len({c.id for c in CASES}) == len(CASES)
