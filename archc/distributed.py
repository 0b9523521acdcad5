"""archc's models under torch.distributed: FSDP2 units from the spec's block scopes, and saving.

A built model runs one flat, generated `forward` that calls its layers directly; the levels of its
module tree (nn.ModuleDict / nn.Sequential) are containers whose own forward never runs. FSDP2
(`torch.distributed.fsdp.fully_shard`) works through forward hooks, so a unit cannot be a level:
it is the list of layers of one block instance, which `fully_shard([...])` groups into one
all-gather and one reduce-scatter, with the hooks on the layers themselves.
"""

from __future__ import annotations

import os

import torch
from torch import nn

from .ir import Graph
from .sharding import unit_scopes


def spec_graph(model: nn.Module) -> Graph:
    """The IR of a model built by archc, re-analysed from the resolved spec it keeps."""
    from .pipeline import analyze

    info = getattr(model, "archc_spec", None)
    if info is None:
        raise ValueError("only models built by archc.build carry the spec their FSDP units come from")
    return analyze(info["spec"], info["params"], info["input_shape"])


def fsdp_units(model: nn.Module) -> dict[str, list[nn.Module]]:
    """The FSDP2 units of a model built by archc: block scope path -> its layers that hold parameters.

    In the spec's order; pass each list to `fully_shard`, then the model itself (see `apply_fsdp`).
    """
    units: dict[str, list[nn.Module]] = {}
    for module_path, scope in unit_scopes(spec_graph(model)).items():
        layer = model.get_submodule(module_path)
        if next(layer.parameters(), None) is not None:
            units.setdefault(scope, []).append(layer)
    return units


def apply_fsdp(model: nn.Module, **options) -> nn.Module:
    """Shard `model` with FSDP2 one unit per block scope, then the root; `options` go to fully_shard."""
    from torch.distributed.fsdp import fully_shard

    for layers in fsdp_units(model).values():
        fully_shard(layers, **options)
    return fully_shard(model, **options)


def unwrap(model: nn.Module) -> nn.Module:
    """The archc model inside a DistributedDataParallel wrapper (or the model itself)."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def full_state_dict(model: nn.Module) -> dict:
    """The whole state_dict on rank 0, on the CPU (a collective under FSDP: every rank calls it).

    Other ranks get an empty dict under FSDP, and their own state_dict otherwise.
    """
    from torch.distributed.fsdp import FSDPModule

    model = unwrap(model)
    if not isinstance(model, FSDPModule):
        return model.state_dict()
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))


def save(model: nn.Module, path: str | os.PathLike) -> dict | None:
    """Save a DDP- or FSDP-wrapped archc model as `archc.save` does, written by rank 0 alone.

    Every rank must call it (FSDP gathers the shards). Returns the state_dict written on rank 0,
    None on the other ranks. `archc.load(path)` rebuilds the plain model.
    """
    import torch.distributed as dist

    from .saving import save as save_model

    state = full_state_dict(model)
    if dist.is_initialized() and dist.get_rank() != 0:
        return None
    state = {k: v.detach().cpu() for k, v in state.items()}
    save_model(unwrap(model), path, state)
    return state


def parameter_checksums(model: nn.Module) -> torch.Tensor:
    """Per parameter, the float64 sum and sum of squares of its full value (gathered if sharded)."""
    from torch.distributed.tensor import DTensor

    sums = []
    for param in unwrap(model).parameters():
        value = param.full_tensor() if isinstance(param, DTensor) else param
        value = value.detach().double()
        sums += [value.sum(), value.square().sum()]
    return torch.stack(sums)
