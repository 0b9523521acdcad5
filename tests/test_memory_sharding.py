"""`archc memory --world-size N --shard none|ddp|fsdp` against what real ranks hold.

Two gloo processes on the CPU (tests/shard_ranks.py) train a small spec one AdamW step as plain
replicas, under DDP and under FSDP2 per archc.fsdp_units (and FSDP2 over a one-rank group); the
storages they hold must equal archc's per-rank figures exactly. The spec's widths are odd (5, 7, 3),
so FSDP's dim-0 padding shows, it has a level-held tensor (a layer scale) for the root to shard, and
its 1.2 MiB linear layer makes DDP split the gradients into two buckets (the first is capped at 1 MiB).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
import torch
import torch.distributed as dist
import torchvision
from conftest import ROOT, SPECS
from test_distributed import environment, free_port
from test_memory import cli, imported_modules

import archc
from archc.footprint_text import fmt_bytes

SPEC = """name: shard_probe
input: [3, 8, 8]
blocks:
  basic:
    params: {width: int, stride: 1}
    layers:
      - add:
          _main:
            - conv: {name: conv1, out: width, kernel: 3, stride: stride, padding: 1, bias: false}
            - batchnorm: {name: bn1}
            - relu: {name: relu}
            - conv: {name: conv2, out: width, kernel: 3, padding: 1}
          downsample:
            - if: stride != 1 or in_channels != width
              then: [conv: {out: width, kernel: 1, stride: stride, bias: false}]
      - relu
layers:
  - conv: {name: stem, out: 5, kernel: 3, padding: 1}
  - layer_scale: {name: scale}
  - basic: {name: block1, width: 5}
  - basic: {name: block2, width: 7, stride: 2}
  - basic: {name: block3, width: 3}
  - adaptive_avgpool: {out: 1}
  - flatten
  - linear: {name: wide, out: 511}
  - linear: {name: wider, out: 601}
  - linear: {name: head, out: 3}
"""
WORLD = 2


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    """The spec file and what each of the two ranks held (tests/shard_ranks.py)."""
    if not (dist.is_available() and dist.is_gloo_available()):
        pytest.skip("torch.distributed with the gloo backend is not available")
    folder = tmp_path_factory.mktemp("shard")
    spec = folder / "shard_probe.yaml"
    spec.write_text(SPEC)
    port = str(free_port())
    processes = [subprocess.Popen([sys.executable, str(ROOT / "tests" / "shard_ranks.py"), str(spec), str(folder)],
                                  env={**environment(), "PYTHONPATH": str(ROOT), "RANK": str(rank),
                                       "WORLD_SIZE": str(WORLD), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port},
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                 for rank in range(WORLD)]
    outputs = [p.communicate(timeout=300)[0] for p in processes]
    assert all(p.returncode == 0 for p in processes), "\n".join(outputs)
    return spec, [json.loads((folder / f"rank{rank}.json").read_text()) for rank in range(WORLD)]


def predicted(spec, shard: str, world_size: int = WORLD) -> dict:
    return archc.memory(spec, batch=4, device="cpu", world_size=world_size, shard=shard).totals()


def state(totals: dict) -> dict:
    return {"params": totals["params_bytes"], "grads": totals["grads_bytes"], "optimizer": totals["optimizer_bytes"]}


def test_fsdp_per_rank_shards_and_gathered_units_are_what_the_ranks_hold(ranks):
    spec, held = ranks
    p = predicted(spec, "fsdp")
    for rank, found in enumerate(held):
        fsdp = found["fsdp"]
        assert (fsdp["params"], fsdp["grads"]) == (p["params_bytes"], p["grads_bytes"]), rank  # padded pieces
        assert fsdp["gathered"] == p["fsdp_gathered_bytes"], rank
    assert held[0]["fsdp"]["optimizer"] == p["optimizer_bytes"]          # rank 0 owns whole pieces
    assert held[1]["fsdp"]["optimizer"] < p["optimizer_bytes"]           # rank 1 fewer rows of odd widths
    full = predicted(spec, "none")["params_bytes"]
    assert p["params_bytes"] > math.ceil(full / 4 / WORLD) * 4           # the padding is counted
    one = predicted(spec, "fsdp", world_size=1)
    for found in held:
        assert {k: found["fsdp_one_rank"][k] for k in ("params", "grads", "optimizer")} == state(one)
        assert found["fsdp_one_rank"]["gathered"] == one["fsdp_gathered_bytes"]


def test_ddp_holds_a_replica_and_one_flat_bucket_copy_of_the_gradients(ranks):
    spec, held = ranks
    p = predicted(spec, "ddp")
    for found in held:
        ddp = found["ddp"]
        assert {k: ddp[k] for k in ("params", "grads", "optimizer")} == state(p)
        assert ddp["buckets"] == p["ddp_bucket_bytes"] == p["grads_bytes"] and ddp["buckets_apart_from_grads"]
        assert ddp["bucket_count"] == 2


def test_no_sharding_is_a_full_replica_per_rank(ranks):
    spec, held = ranks
    p = predicted(spec, "none")
    assert all(found["none"] == state(p) for found in held)
    assert p["ddp_bucket_bytes"] == p["fsdp_gathered_bytes"] == 0
    assert p["total_train_bytes"] == predicted(spec, "none", world_size=1)["total_train_bytes"]


@pytest.mark.parametrize("spec, reference, world_size", [
    ("resnet18", torchvision.models.resnet18, 3), ("vit_b_16", torchvision.models.vit_b_16, 5)])
def test_fsdp_pieces_follow_every_parameters_dim_0(spec, reference, world_size):
    """rank 0's piece of each torchvision parameter: ceil(d0 / N) rows (ViT: class token [1, 1, D])."""
    with torch.device("meta"):
        params = list(reference().parameters())
    piece = sum(math.ceil(p.shape[0] / world_size) * p[0].numel() for p in params)
    report = archc.memory(SPECS / f"{spec}.yaml", world_size=world_size, shard="fsdp")
    assert report.totals()["params_bytes"] == 4 * piece


# -- the CLI ---------------------------------------------------------------------------------------------

def test_json_gives_the_sharding_and_per_rank_figures(capsys):
    code, out, _ = cli(capsys, "memory", SPECS / "resnet18.yaml", "--json", "--world-size", "8", "--shard", "FSDP",
                       "--depth", "1")
    data = json.loads(out)
    assert code == 0 and (data["world_size"], data["shard"]) == (8, "fsdp") and data["fsdp_gathered_bytes"] > 0
    assert sum(row["params_bytes"] for row in data["layers"]) == data["params_bytes"]
    assert data["total_train_bytes"] == (data["params_bytes"] + data["grads_bytes"] + data["optimizer_bytes"]
                                         + data["activations_bytes"] + data["fsdp_gathered_bytes"])
    code, out, _ = cli(capsys, "memory", SPECS / "resnet18.yaml", "--json", "--shard", "ddp", "--world-size", "4")
    data = json.loads(out)
    assert data["ddp_bucket_bytes"] == data["grads_bytes"] and data["fsdp_gathered_bytes"] == 0


def test_table_says_what_each_rank_holds(capsys):
    _, out, _ = cli(capsys, "memory", SPECS / "resnet18.yaml", "--world-size", "4")
    assert "each of the 4 ranks holds a full replica, no communication buffers" in out
    _, out, _ = cli(capsys, "memory", SPECS / "resnet18.yaml", "--world-size", "4", "--shard", "ddp")
    with torch.device("meta"):
        grads = 4 * sum(p.numel() for p in torchvision.models.resnet18().parameters())
    assert "per rank of 4 (ddp)" in out and f"DDP gradient buckets: {fmt_bytes(grads)} per rank" in out
    _, out, _ = cli(capsys, "memory", SPECS / "resnet18.yaml", "--world-size", "4", "--shard", "fsdp", "--mode", "infer")
    assert "sharded 4 ways" in out and "all-gathered units alive at once" in out


@pytest.mark.parametrize("args, message", [
    (["--world-size", "0"], "'--world-size': 0 is not in the range x>=1"),
    (["--world-size", "-3", "--shard", "fsdp"], "'--world-size': -3 is not in the range x>=1"),
    (["--world-size", "two"], "'--world-size': 'two' is not a valid integer"),
    (["--shard", "zero3"], "'--shard': 'zero3' is not one of 'none', 'ddp', 'fsdp'"),
])
def test_bad_sharding_options_are_usage_errors(capsys, args, message):
    code, _, err = cli(capsys, "memory", SPECS / "resnet18.yaml", *args)
    assert code == 2 and message in err and "Traceback" not in err


@pytest.mark.parametrize("options", [{"world_size": 0}, {"world_size": True}, {"world_size": 1.5},
                                     {"shard": "zero"}])
def test_the_api_checks_its_sharding_options(options):
    with pytest.raises(ValueError, match="world size|shard"):
        archc.memory(SPECS / "lenet5.yaml", **options)


def test_max_batch_leaves_room_for_buckets_and_gathered_units():
    budget = 2 * 2 ** 30
    plain, ddp, fsdp = (archc.memory(SPECS / "resnet50.yaml", world_size=8, shard=s) for s in ("none", "ddp", "fsdp"))
    assert ddp.max_batch(budget) < plain.max_batch(budget) < fsdp.max_batch(budget)
    fits = fsdp.max_batch(budget)
    assert fsdp.totals(fits)["total_train_bytes"] <= budget < fsdp.totals(fits + 1)["total_train_bytes"]


def test_ddp_and_one_rank_fsdp_are_counted_without_torch():
    """From the IR alone; only N-way FSDP reads dim 0 from a meta-device build (docs/memory.md)."""
    spec = str(SPECS / "resnet18.yaml")
    imported = imported_modules("-c", f"import archc; archc.memory({spec!r}, world_size=8, shard='ddp'); "
                                      f"archc.memory({spec!r}, world_size=1, shard='fsdp')")
    assert "archc.sharding" in imported and not [m for m in imported if m == "torch" or m.startswith("torch.")]
