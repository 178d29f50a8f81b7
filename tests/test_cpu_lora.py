"""The per-slot LoRA ops give exactly the outputs of vLLM's own CPU LoRA ops, read from vLLM's source
file as shipped, on the shapes of real models: decode steps (one row to hundreds) and prefill
chunks (thousands of tokens), the ranks engines hold, several adapters and base rows in one batch."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from grpo_compare.engines import cpu_lora


@pytest.fixture(scope="module")
def vllm_ops():
    """vLLM's torch ops as its file defines them, in a module of their own (install() replaces the
    names in vLLM's modules, never this copy)."""
    from vllm.lora.ops.torch_ops import lora_ops

    spec = importlib.util.spec_from_file_location("vllm_lora_ops_as_shipped", lora_ops.__file__)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_installed_on_cpu_in_every_module_that_calls_them():
    from vllm.lora.ops import torch_ops
    from vllm.lora.ops.torch_ops import lora_ops
    from vllm.lora.punica_wrapper import punica_cpu

    assert cpu_lora.install()
    for module in (lora_ops, torch_ops, punica_cpu):
        assert all(getattr(module, name).__module__ == cpu_lora.__name__ for name in cpu_lora.NAMES), module


# rows, features in, features out, rank, slots: SmolLM2-135M's q/k/v/o, gate_up and down projections,
# Qwen2.5-7B's widest (18,944), one decode row, a prefill chunk of 2,048 tokens, rank 64
SHAPES = [(1, 576, 576, 8, 2), (3, 576, 192, 8, 2), (200, 576, 1536, 16, 3), (200, 1536, 576, 32, 5),
          (2048, 576, 1536, 8, 2), (64, 3584, 18944, 64, 2), (17, 960, 960, 64, 4)]


@pytest.mark.parametrize("rows, width, out, rank, slots", SHAPES)
def test_the_same_outputs_as_vllms_ops_bit_for_bit(vllm_ops, rows, width, out, rank, slots):
    original = {name: getattr(vllm_ops, name) for name in cpu_lora.NAMES}
    ops = cpu_lora._replacements(original)
    for seed in range(2):
        assert cpu_lora.same_as(original, ops, rows, width, out, rank, slots, seed=seed)


def test_one_adapter_alone_and_base_rows_alone(vllm_ops):
    # a batch of one slot only takes the single-view path: all rows one adapter, or all base (-1)
    original = {name: getattr(vllm_ops, name) for name in cpu_lora.NAMES}
    ops = cpu_lora._replacements(original)
    x, a = torch.randn(50, 576), torch.randn(3, 1, 8, 576)
    for fill in (0, 1, -1):
        idx = torch.full((50,), fill)
        theirs, ours = torch.zeros(50, 8), torch.zeros(50, 8)
        original["bgmv_shrink"](x, a, theirs, idx, 2.0)
        ops["bgmv_shrink"](x, a, ours, idx, 2.0)
        assert torch.equal(theirs, ours)


def test_prefill_goes_through_them_with_vllms_own_sgmv(vllm_ops):
    # vLLM's sgmv ops (prefill) expand each sequence's index over its tokens and call the bgmv ops
    from vllm.lora.ops.torch_ops import lora_ops

    assert cpu_lora.install()
    x, a = torch.randn(30, 576), torch.randn(3, 1, 8, 576)
    starts, lens, slots = torch.tensor([0, 10, 25]), torch.tensor([10, 15, 5]), torch.tensor([0, -1, 1])
    theirs, ours = torch.zeros(30, 8), torch.zeros(30, 8)
    vllm_ops.sgmv_shrink(x, a, theirs, starts, lens, slots, 3, 15, 30, 0.5)
    lora_ops.sgmv_shrink(x, a, ours, starts, lens, slots, 3, 15, 30, 0.5)
    assert torch.equal(theirs, ours)
    assert ours[10:25].abs().sum() > 0  # index -1 reads the last slot, as vLLM's indexing does


def test_shapes_it_does_not_take_fall_back_to_vllms_op(vllm_ops):
    original = {name: getattr(vllm_ops, name) for name in cpu_lora.NAMES}
    calls = []
    ops = cpu_lora._replacements({**original, "bgmv_shrink": lambda *a: calls.append(a)})
    ops["bgmv_shrink"](torch.randn(4, 16), torch.randn(2, 1, 8, 16), torch.zeros(4, 8), torch.zeros(3, dtype=torch.long))
    assert len(calls) == 1  # three indices for four rows: not one per row, so vLLM's own op decides


def test_indices_changed_in_place_are_grouped_again(vllm_ops):
    # the grouping of the last indices is reused while their values are the same: an index tensor
    # rewritten in place (the engine reuses its buffers step after step) must never be served stale,
    # including a write through numpy that leaves torch's version counter alone
    original = {name: getattr(vllm_ops, name) for name in cpu_lora.NAMES}
    ops = cpu_lora._replacements(original)
    x, a = torch.randn(40, 576), torch.randn(3, 1, 8, 576)
    idx = torch.zeros(40, dtype=torch.long)
    for change in (lambda: None, lambda: idx[:20].fill_(-1), lambda: idx.numpy().__setitem__(slice(10, 30), 1)):
        change()
        theirs, ours = torch.zeros(40, 8), torch.zeros(40, 8)
        original["bgmv_shrink"](x, a, theirs, idx, 0.5)
        ops["bgmv_shrink"](x, a, ours, idx, 0.5)
        assert torch.equal(theirs, ours), idx.tolist()
    assert idx.unique().tolist() == [-1, 0, 1]  # the last change really mixed three slots


def test_small_batches_over_several_slots_run_vllms_op(vllm_ops):
    # below MIN_ROWS_PER_SLOT rows per slot, vLLM's gather costs less than an einsum per slot
    original = {name: getattr(vllm_ops, name) for name in cpu_lora.NAMES}
    calls = []
    ops = cpu_lora._replacements({**original, "bgmv_shrink": lambda *a: calls.append(a)})
    rows = 2 * cpu_lora.MIN_ROWS_PER_SLOT
    x, a, out = torch.randn(rows, 16), torch.randn(2, 1, 8, 16), torch.zeros(rows, 8)
    ops["bgmv_shrink"](x[:rows - 1], a, out[:rows - 1], torch.tensor([0, -1] * (rows // 2))[:rows - 1])
    ops["bgmv_shrink"](x, a, out, torch.tensor([0, -1] * (rows // 2)))
    ops["bgmv_shrink"](x[:2], a, out[:2], torch.zeros(2, dtype=torch.long))
    assert len(calls) == 1 and calls[0][0].shape[0] == rows - 1  # only the small two-slot batch
