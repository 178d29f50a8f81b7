"""`grpo-compare chat` driven through a real pseudo-terminal, with the real engine on the demo model."""

from __future__ import annotations

import io
import json
import os
import signal
import sys
from pathlib import Path

import pytest

pexpect = pytest.importorskip("pexpect")
pytestmark = pytest.mark.slow  # each test starts the command and its engine

PROMPT = "> "
START_TIMEOUT = 900  # an engine start on a busy 2-core machine


def spawn_chat(fixture_lora: Path, tmp_path: Path, *extra: str):
    env = dict(os.environ, TERM="dumb", NO_COLOR="1", COLUMNS="160", PYTHONUNBUFFERED="1")
    log = io.StringIO()
    child = pexpect.spawn(sys.executable, ["-m", "grpo_compare.cli", "chat", "--adapter", str(fixture_lora),
                                           "--temperature", "0", "--max-tokens", "16", "--max-model-len", "1024",
                                           "--save", str(tmp_path / "session.json"), *extra],
                          env=env, encoding="utf-8", timeout=300, dimensions=(50, 160),
                          # Ctrl-C reaches it as from a shell's foreground job, even where the test runner was
                          # started in the background (which ignores SIGINT, and children inherit that)
                          preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    child.logfile_read = log  # an attribute, not a constructor argument
    child.expect_exact("/quit", timeout=START_TIMEOUT)  # the command list, printed once the engine is up
    child.expect_exact(PROMPT)
    return child, log


def test_chat_session_commands_and_ctrl_d(fixture_lora, tmp_path):
    child, log = spawn_chat(fixture_lora, tmp_path)
    child.sendline("What is 2+3?")
    child.expect_exact("answer: ")
    child.expect_exact(PROMPT)
    assert "base" in log.getvalue() and "grpo" in log.getvalue()
    for command, reply in [("/arm base", "arms: base"), ("/temperature 0.5", "temperature: 0.5"),
                           ("/max-tokens 8", "max tokens: 8"), ("/temperature hot", "error: /temperature needs a number"),
                           ("/arm gpt", "unknown arm 'gpt'"), ("/frobnicate", "unknown command /frobnicate")]:
        child.sendline(command)
        child.expect_exact(reply)
        child.expect_exact(PROMPT)
    child.sendline("/prompt")
    child.expect_exact("prompt of arm base")
    child.expect_exact("What is 2+3?")
    child.expect_exact(PROMPT)
    child.sendline("What is 3+4?")
    child.expect_exact("answer: ")
    child.expect_exact(PROMPT)
    child.sendline("/save")
    child.expect_exact("saved 2 turns")
    child.expect_exact(PROMPT)
    child.sendeof()  # Ctrl-D
    child.expect_exact("bye")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, log.getvalue()[-3000:]
    transcript = log.getvalue()
    assert "Traceback" not in transcript
    assert transcript.count("Loading") - transcript.count("Loading weights") - transcript.count("Loading safetensors") == 1

    session = json.loads((tmp_path / "session.json").read_text())
    first, second = session["turns"]
    assert first["question"] == "What is 2+3?" and list(first["arms"]) == ["base", "grpo"]
    assert first["temperature"] == 0.0 and first["max_tokens"] == 16
    assert second["question"] == "What is 3+4?" and list(second["arms"]) == ["base"]
    assert second["temperature"] == 0.5 and second["max_tokens"] == 8
    assert set(second["arms"]["base"]) == {"prompt", "response", "answer"}
    assert session["arms"] == ["base"] and session["sampling"]["max_tokens"] == 8


def test_chat_ctrl_c_leaves_cleanly(fixture_lora, tmp_path):
    child, log = spawn_chat(fixture_lora, tmp_path, "--arm", "grpo")
    child.sendintr()  # Ctrl-C at the prompt
    child.expect_exact("bye")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, log.getvalue()[-3000:]
    assert "Traceback" not in log.getvalue()
