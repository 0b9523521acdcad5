"""What each rank really holds, for tests/test_memory_sharding.py: run under torchrun (gloo, CPU).

`python tests/shard_ranks.py SPEC OUT`, once per rank with torchrun's variables (RANK, WORLD_SIZE,
MASTER_ADDR, MASTER_PORT) set, builds SPEC on every rank (seed 0) three ways: a plain replica, DDP and FSDP2 (archc.distributed.apply_fsdp), then also FSDP2
over a one-rank group. For each it runs one forward, backward and AdamW step at batch 4 and writes
OUT/rank<R>.json with the bytes of the distinct storages held by the parameters (their local shards),
their .grad and the optimizer's state (0-d `step` counters left out), and:
- ddp: the storages of the flat gradient buckets DDP's reducer passes to its communication hook in
  the second backward (after the first, DDP rebuilds its buckets in the order the gradients came);
- fsdp: the peak, over every ATen op of the forward and backward, of FSDP's all-gathered storages:
  unsharded parameters and all-gather outputs (held by a group, or kept by the shared context until
  the next unit's copy-out). These are private FSDP2 attributes of the installed torch.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from torch.distributed.algorithms.ddp_comm_hooks.default_hooks import allreduce_hook
from torch.distributed.fsdp import FSDPModule
from torch.utils._python_dispatch import TorchDispatchMode

import archc
from archc import distributed


def storage_bytes(tensors) -> int:
    """The bytes of the distinct storages of `tensors` (a DTensor's: its local shard's)."""
    seen = {}
    for t in tensors:
        storage = getattr(t, "_local_tensor", t).untyped_storage()
        seen[storage.data_ptr(), storage.nbytes()] = storage.nbytes()
    return sum(seen.values())


def step(model, x, hold=None) -> dict:
    """One AdamW step; what the parameters, gradients and optimizer state hold afterwards."""
    optimizer = torch.optim.AdamW(model.parameters())
    if hold is None:
        model(x).sum().backward()
    else:
        with hold:
            model(x).sum().backward()
    optimizer.step()
    params = list(model.parameters())
    return {"params": storage_bytes(params), "grads": storage_bytes(p.grad for p in params),
            "optimizer": storage_bytes(t for s in optimizer.state.values() for t in s.values() if t.dim() > 0)}


def ddp(model, x) -> dict:
    buckets = {}

    def hook(state, bucket):
        buffer = bucket.buffer()
        buckets[buffer.untyped_storage().data_ptr()] = buffer.untyped_storage().nbytes()
        return allreduce_hook(state, bucket)

    wrapped = torch.nn.parallel.DistributedDataParallel(model)
    wrapped.register_comm_hook(None, hook)
    wrapped(x).sum().backward()            # the first backward: one bucket; the next forward rebuilds them
    wrapped.zero_grad(set_to_none=True)
    buckets.clear()
    held = step(wrapped, x)
    grads = {p.grad.untyped_storage().data_ptr() for p in wrapped.parameters()}
    return {**held, "buckets": sum(buckets.values()), "bucket_count": len(buckets),
            "buckets_apart_from_grads": not grads & set(buckets)}


class GatheredPeak(TorchDispatchMode):
    """After every ATen op, the bytes of the storages FSDP has all-gathered; keeps the largest."""

    def __init__(self, model):
        super().__init__()
        self.groups = list({id(g): g for m in model.modules() if isinstance(m, FSDPModule)
                            for g in m._get_fsdp_state()._fsdp_param_groups}.values())
        self.peak = 0

    def gathered(self) -> int:
        tensors = [fp._unsharded_param for g in self.groups for fp in g.fsdp_params if hasattr(fp, "_unsharded_param")]
        tensors += [g._all_gather_result.all_gather_output for g in self.groups if g._all_gather_result is not None]
        kept = self.groups[0].comm_ctx.all_gather_state
        if kept is not None:
            tensors.append(kept.all_gather_result.all_gather_output)
        return storage_bytes(tensors)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        result = func(*args, **(kwargs or {}))
        self.peak = max(self.peak, self.gathered())
        return result


def fsdp(model, x, **options) -> dict:
    model = distributed.apply_fsdp(model, **options)
    hold = GatheredPeak(model)
    return {**step(model, x, hold), "gathered": hold.peak}


def main(spec: str, out: str) -> None:
    def build():
        return archc.build(spec, seed=0)

    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    singles = [dist.new_group([r]) for r in range(world)]      # every rank makes every group
    x = torch.randn(4, *build().archc_spec["input_shape"])
    mesh = torch.distributed.device_mesh.DeviceMesh.from_group(singles[rank], "cpu")
    found = {"world_size": world, "none": step(build(), x), "ddp": ddp(build(), x), "fsdp": fsdp(build(), x),
             "fsdp_one_rank": fsdp(build(), x, mesh=mesh)}
    Path(out, f"rank{rank}.json").write_text(json.dumps(found))
    dist.destroy_process_group()


if __name__ == "__main__":
    main(*sys.argv[1:])
