"""Train a bundled spec data-parallel under torchrun: DDP, or FSDP2 per block scope with --fsdp.

    torchrun --nproc-per-node 2 examples/train_ddp.py --spec resnet18 --input 3x32x32
    torchrun --nproc-per-node 2 examples/train_ddp.py --spec googlenet --input 3x32x32 --fsdp

No download: the data set is ten classes, each one fixed random image (the same on every rank),
and every sample is its class image plus noise; each rank draws its own samples. The spec's
`num_classes` is set to 10 unless --set gives it. Train-mode auxiliary outputs (GoogLeNet's) add
0.3 x their loss, as torchvision's reference training does. Adam; gloo on the CPU by
default, `--device cuda` uses NCCL, one GPU per process. Checks, and exits with status 1 when any fails:

- the loss (the ranks' mean) falls: the mean of the last steps is below 0.7 x that of the first;
- every rank computes with the same weights (an all_gather of per-parameter checksums);
- rank 0 alone writes OUT/model.pt (the archc.save format; gathered first under FSDP), and
  `archc.load` of it gives back exactly these weights;
- with --fsdp: a sharded checkpoint (torch.distributed.checkpoint, model and optimizer) in
  OUT/sharded, loaded into a freshly built and sharded model, equals the trained one on every rank.

OUT is --out (a new temporary folder by default; on several machines give one on a shared
filesystem). --report FILE writes a JSON summary from rank 0 (losses, median step time, checks).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

import archc
from archc import distributed
from archc.params import parse_override
from archc.pipeline import parse_input

SPECS = Path(__file__).resolve().parent.parent / "specs"
CLASSES = 10
AUX_WEIGHT = 0.3


def parse(argv) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default="resnet18", help="a bundled spec's name or a spec file (default resnet18)")
    parser.add_argument("--input", type=parse_input, default=None, metavar="CxHxW",
                        help="input shape (default the spec's)")
    parser.add_argument("--set", dest="sets", action="append", type=parse_override, default=[], metavar="NAME=VALUE",
                        help="override a spec param (repeatable)")
    parser.add_argument("--steps", type=int, default=20, help="training steps (default 20)")
    parser.add_argument("--batch", type=int, default=8, help="samples per rank and step (default 8)")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam's learning rate (default 0.001)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights and the data (default 0)")
    parser.add_argument("--fsdp", action="store_true", help="FSDP2 (fully_shard per block scope) instead of DDP")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="cpu (gloo) or cuda (nccl)")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for model.pt and sharded/ (default: a new temp folder)")
    parser.add_argument("--report", type=Path, default=None, help="write a JSON summary here (rank 0)")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.batch < 1:
        parser.error("--steps and --batch must be at least 1")
    return args


def spec_file(name: str) -> Path:
    path = Path(name)
    return path if path.suffix in (".yaml", ".yml") else SPECS / f"{name}.yaml"


def spec_params(args) -> dict:
    """The params to build with: --set, and num_classes 10 where the spec has that param."""
    params = dict(args.sets)
    if "num_classes" in (archc.load_spec(str(spec_file(args.spec))).get("params") or {}):
        params.setdefault("num_classes", CLASSES)
    return params


def make_model(args, seed: int, device: torch.device) -> nn.Module:
    """The spec's model, the same on every rank (seeded); DDP- or FSDP-wrapped."""
    model = archc.build(str(spec_file(args.spec)), input_shape=args.input, seed=seed, **spec_params(args))
    model = model.to(device)
    if args.fsdp:
        from torch.distributed.device_mesh import init_device_mesh

        return distributed.apply_fsdp(model, mesh=init_device_mesh(device.type, (dist.get_world_size(),)))
    return nn.parallel.DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)


class Data:
    """Ten fixed class images (shared by the ranks); each rank draws noisy samples of its own."""

    def __init__(self, shape, seed: int, rank: int, device: torch.device):
        generator = torch.Generator().manual_seed(seed)
        if len(shape) == 3:                                    # smooth images: bilinear from 4x4
            coarse = torch.randn(CLASSES, shape[0], 4, 4, generator=generator)
            self.templates = nn.functional.interpolate(coarse, size=tuple(shape[1:]), mode="bilinear")
        else:
            self.templates = torch.randn(CLASSES, *shape, generator=generator)
        self.generator = torch.Generator().manual_seed(seed * 1000 + 1 + rank)
        self.device = device

    def batch(self, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        labels = torch.randint(0, CLASSES, (size,), generator=self.generator)
        images = self.templates[labels] + torch.randn(self.templates[labels].shape, generator=self.generator)
        return images.to(self.device), labels.to(self.device)


def loss_of(outputs, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the main output, plus AUX_WEIGHT x that of train-only auxiliary outputs."""
    if not isinstance(outputs, tuple):
        return nn.functional.cross_entropy(outputs, labels)
    main, *aux = outputs
    return nn.functional.cross_entropy(main, labels) + AUX_WEIGHT * sum(
        nn.functional.cross_entropy(out, labels) for out in aux)


def train(model: nn.Module, optimizer, data: Data, args) -> tuple[list[float], list[float]]:
    """The ranks' mean loss and this rank's seconds, per step."""
    losses, seconds = [], []
    sync = torch.cuda.synchronize if data.device.type == "cuda" else (lambda: None)
    for _ in range(args.steps):
        images, labels = data.batch(args.batch)
        sync()
        started = time.perf_counter()
        loss = loss_of(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        sync()
        seconds.append(time.perf_counter() - started)
        total = loss.detach().clone()
        dist.all_reduce(total)
        losses.append(total.item() / dist.get_world_size())
    return losses, seconds


def loss_fell(losses: list[float]) -> bool:
    window = max(1, min(5, len(losses) // 4))
    first, last = sum(losses[:window]) / window, sum(losses[-window:]) / window
    print0(f"mean loss of the first {window} steps {first:.4f}, of the last {window} steps {last:.4f}")
    return len(losses) > 1 and last < 0.7 * first


def same_weights(model: nn.Module) -> bool:
    """Every rank's parameter checksums equal rank 0's (all_gather)."""
    mine = distributed.parameter_checksums(model)
    every = [torch.empty_like(mine) for _ in range(dist.get_world_size())]
    dist.all_gather(every, mine)
    return all(torch.equal(every[0], other) for other in every)


def full_checkpoint(model: nn.Module, path: Path) -> bool:
    """Rank 0 alone writes `path`; there, archc.load gives back the trained weights exactly."""
    saved = distributed.save(model, path)
    written = [None] * dist.get_world_size()
    dist.all_gather_object(written, saved is not None)
    only_rank0 = written == [True] + [False] * (len(written) - 1)
    if saved is None:
        return only_rank0
    loaded = archc.load(path).state_dict()
    return only_rank0 and loaded.keys() == saved.keys() and all(torch.equal(loaded[k], saved[k]) for k in saved)


def sharded_checkpoint(model: nn.Module, optimizer, args, folder: Path, device: torch.device) -> bool:
    """A torch.distributed.checkpoint of model and optimizer, loaded back into a fresh sharded model."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

    model_state, optim_state = get_state_dict(model, optimizer)
    dcp.save({"model": model_state, "optim": optim_state}, checkpoint_id=str(folder))
    fresh = make_model(args, args.seed + 1, device)
    fresh_optimizer = adam(fresh, args.lr)
    fresh_model_state, fresh_optim_state = get_state_dict(fresh, fresh_optimizer)
    state = {"model": fresh_model_state, "optim": fresh_optim_state}
    dcp.load(state, checkpoint_id=str(folder))
    set_state_dict(fresh, fresh_optimizer, model_state_dict=state["model"], optim_state_dict=state["optim"])
    return equal_states(get_state_dict(model, optimizer), get_state_dict(fresh, fresh_optimizer))


def equal_states(a, b) -> bool:
    """Nested state dicts equal, comparing each DTensor's local shard."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(equal_states(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(map(equal_states, a, b))
    if isinstance(a, torch.Tensor):
        local = getattr(a, "to_local", lambda: a)
        other = getattr(b, "to_local", lambda: b)
        return torch.equal(local(), other())
    return a == b


def adam(model: nn.Module, lr: float):
    return torch.optim.Adam(model.parameters(), lr=lr)


def print0(*args, **kwargs) -> None:
    if dist.get_rank() == 0:
        print(*args, **kwargs, flush=True)


def out_folder(args) -> Path:
    """--out, or a temporary folder made by rank 0 (its path sent to every rank)."""
    folder = [str(args.out) if args.out else (tempfile.mkdtemp(prefix="train-ddp-") if dist.get_rank() == 0 else None)]
    dist.broadcast_object_list(folder)
    Path(folder[0]).mkdir(parents=True, exist_ok=True)
    return Path(folder[0])


def run(args) -> dict:
    """Train, then every check; the summary (the same on every rank except step times)."""
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = torch.device("cuda", local_rank) if args.device == "cuda" else torch.device("cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    torch.manual_seed(args.seed + dist.get_rank())          # dropout draws differ per rank, as in real training
    model = make_model(args, args.seed, device)
    print0(f"{'FSDP2' if args.fsdp else 'DDP'} on {dist.get_world_size()} ranks ({dist.get_backend()}): {args.spec}, "
           f"{sum(p.numel() for p in model.parameters()):,} parameters")
    optimizer = adam(model, args.lr)
    data = Data(distributed.unwrap(model).archc_spec["input_shape"], args.seed, dist.get_rank(), device)
    losses, seconds = train(model, optimizer, data, args)
    for step in range(0, len(losses), max(1, len(losses) // 10)):
        print0(f"step {step + 1:4d}  loss {losses[step]:.4f}")
    folder = out_folder(args)
    for buffer in model.buffers():      # batch-norm statistics: rank 0's everywhere, as DDP does before a forward
        dist.broadcast(buffer, 0)
    checks = {"loss_fell": loss_fell(losses), "same_weights": same_weights(model),
              "checkpoint": full_checkpoint(model, folder / "model.pt")}
    if args.fsdp:
        checks["sharded_checkpoint"] = sharded_checkpoint(model, optimizer, args, folder / "sharded", device)
    return {"spec": args.spec, "mode": "fsdp" if args.fsdp else "ddp", "backend": dist.get_backend(),
            "world_size": dist.get_world_size(), "batch": args.batch, "losses": losses, "out": str(folder),
            "step_s_median": statistics.median(seconds[1:] or seconds), "checks": checks}


def main(argv=None) -> int:
    args = parse(argv)
    try:                                      # a bad spec or --set: archc's located error, before any collective
        archc.analyze(str(spec_file(args.spec)), spec_params(args), args.input)
    except archc.SpecError as exc:
        print(exc, file=sys.stderr)
        return 1
    if "RANK" not in os.environ:
        print("run me under torchrun: torchrun --nproc-per-node 2 examples/train_ddp.py ...", file=sys.stderr)
        return 2
    dist.init_process_group("nccl" if args.device == "cuda" else "gloo")
    try:
        summary = run(args)
        device = torch.device("cuda", torch.cuda.current_device()) if args.device == "cuda" else None
        flags = torch.tensor([all(summary["checks"].values())], dtype=torch.int32, device=device)
        dist.all_reduce(flags, op=dist.ReduceOp.MIN)                 # gloo has MIN; every rank agrees on failure
        ok = bool(flags.item())
        names = {"loss_fell": "the loss fell", "same_weights": "every rank holds the same weights",
                 "checkpoint": "rank 0 wrote model.pt and archc.load gives back the weights",
                 "sharded_checkpoint": "the sharded checkpoint loads back equal"}
        for key, passed in summary["checks"].items():
            print0(f"{'ok    ' if passed else 'FAILED'} {names[key]}")
        print0(f"median step {summary['step_s_median'] * 1000:.1f} ms; files in {summary['out']}")
        if args.report and dist.get_rank() == 0:
            args.report.write_text(json.dumps({**summary, "ok": ok}, indent=2))
        dist.barrier()  # no rank tears gloo down while another still talks to it (it aborts at exit)
    finally:
        dist.destroy_process_group()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
