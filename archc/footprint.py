"""What training and inference of a graph cost in memory, from the IR alone (no torch): `archc memory`.

The module is not named `memory`, which is the API function `archc.memory`.

- Activations: the storages autograd saves for backward in train mode, as each op's `Memory` trait
  declares them (archc/ops/api.py). Values share a storage where the forward makes a view or runs
  an op in place (`inplace_nodes`), and a storage is counted once, by the first layer saving it.
- Model state: parameters, their gradients, and the optimizer's state (copies of the parameters).
- Inference peak: the largest set of storages live at once in an eval, no-grad forward of the
  built module, replaying the generated code's variables (a value lives until its variable is
  assigned again), with the caller's input alive throughout.

Every figure is `fixed + per_sample * batch` (`Bytes`), so any batch and the batch that fits a
budget are arithmetic. See docs/memory.md for what is exact and what no static count can know.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from .emit.forward import assign_variables, inplace_nodes, needed_nodes
from .errors import error
from .ir import INPUT, Graph, Node
from .ops import numel
from .sharding import SHARDS, rank_state

ITEMSIZE = {"fp32": 4, "bf16": 2, "fp16": 2}
STATE_COPIES = {"none": 0, "sgd": 0, "momentum": 1, "adam": 2, "adamw": 2}  # optimizer state per parameter
MODES = ("train", "infer")
DEVICES = ("cuda", "cpu")
FIELDS = ("activations_bytes", "params_bytes", "grads_bytes", "optimizer_bytes", "total_train_bytes",
          "inference_peak_bytes")


@dataclass(frozen=True)
class Bytes:
    """A size that grows with the batch: `fixed + per_sample * batch` bytes."""

    fixed: int = 0
    per_sample: int = 0

    def __add__(self, other: Bytes) -> Bytes:
        return Bytes(self.fixed + other.fixed, self.per_sample + other.per_sample)

    def __sub__(self, other: Bytes) -> Bytes:
        return Bytes(self.fixed - other.fixed, self.per_sample - other.per_sample)

    def at(self, batch: int) -> int:
        return self.fixed + self.per_sample * batch


ZERO = Bytes()


@dataclass(frozen=True)
class Settings:
    batch: int = 1
    dtype: str = "fp32"
    optimizer: str = "adamw"
    mode: str = "train"
    device: str = "cuda"
    checkpoint: tuple[str, ...] = ()
    world_size: int = 1  # ranks; figures are per rank, at `batch` per rank
    shard: str = "none"  # none (a replica per rank), ddp (plus gradient buckets), fsdp (sharded state)

    def check(self, graph: Graph) -> None:
        """ValueError for an option outside its choices or a checkpoint path that names no scope."""
        for name, value, allowed in (("dtype", self.dtype, ITEMSIZE), ("optimizer", self.optimizer, STATE_COPIES),
                                     ("mode", self.mode, MODES), ("device", self.device, DEVICES),
                                     ("shard", self.shard, SHARDS)):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")
        if not isinstance(self.batch, int) or self.batch < 1:
            raise ValueError(f"batch must be a positive integer, not {self.batch!r}")
        if not isinstance(self.world_size, int) or isinstance(self.world_size, bool) or self.world_size < 1:
            raise ValueError(f"world size must be a positive integer (ranks), not {self.world_size!r}")
        known = set(graph.scopes) | {n.module for n in graph.nodes if n.module}
        for path in self.checkpoint:
            if path not in known:
                some = sorted(graph.scopes)
                listed = ", ".join(some[:8]) + (", ..." if len(some) > 8 else "") if some else "none"
                raise ValueError(f"--checkpoint {path}: no scope or layer of that path (scopes: {listed})")


@dataclass
class Layer:
    """One layer's (or one scope's) share: `peak` is what is live while it runs in inference."""

    path: str
    op: str
    scopes: tuple[str, ...]
    activations: Bytes = ZERO
    params: Bytes = ZERO
    peak: Bytes = ZERO


@dataclass
class MemoryReport:
    """The memory of one graph under `settings`; figures in bytes at `settings.batch` (see `at`)."""

    graph: Graph
    settings: Settings
    layers: list[Layer]
    activations: Bytes
    params: Bytes
    recompute: Bytes = ZERO  # checkpointing: the largest checkpointed scope's saves, rebuilt in backward
    peaks: list[Bytes] = field(default_factory=list)  # the live set at every inference step
    buckets: int = 0   # DDP: gradient bucket bytes (archc.sharding)
    gathered: int = 0  # FSDP: the most all-gathered parameter bytes alive at once

    @property
    def training(self) -> bool:
        return self.settings.mode == "train"

    def totals(self, batch: int | None = None) -> dict:
        """The JSON figures at `batch` (default: the settings' batch)."""
        batch = self.settings.batch if batch is None else batch
        s = self.settings
        return {**self._fields(self.activations, self.params, self._peak_at(batch), batch),
                "batch": batch, "dtype": s.dtype, "world_size": s.world_size, "shard": s.shard,
                "ddp_bucket_bytes": self.buckets, "fsdp_gathered_bytes": self.gathered}

    def _peak_at(self, batch: int) -> int:
        return max((p.at(batch) for p in self.peaks), default=0)

    def _fields(self, activations: Bytes, params: Bytes, peak: int, batch: int, whole: bool = True) -> dict:
        """The six figures; `whole`: the model's, with what no layer owns (recompute, buckets, gathered)."""
        train = self.training
        state = params.at(batch)
        acts = activations.at(batch) if train else 0
        grads = state if train else 0
        optimizer = state * STATE_COPIES[self.settings.optimizer] if train else 0
        extra = ((self.recompute.at(batch) if train else 0) + self.buckets + self.gathered) if whole else 0
        total = (state + grads + optimizer + acts if train else state + peak) + extra
        return dict(zip(FIELDS, (acts, state, grads, optimizer, total, peak)))

    def rows(self, depth: int = 0) -> list[Layer]:
        """Layers, with every scope at `depth` (> 0) rolled up into one row (peaks: the largest)."""
        if not depth:
            return self.layers
        result, open_rows = [], {}
        for layer in self.layers:
            if len(layer.scopes) < depth:
                result.append(layer)
                continue
            path = layer.scopes[depth - 1]
            row = open_rows.get(path)
            if row is None:
                row = open_rows[path] = Layer(path, self.graph.scopes[path].title, layer.scopes[:depth - 1])
                result.append(row)
            row.activations += layer.activations
            row.params += layer.params
            row.peak = max(row.peak, layer.peak, key=lambda peak: peak.at(self.settings.batch))
        return result

    def layer_fields(self, layer: Layer) -> dict:
        batch = self.settings.batch
        return self._fields(layer.activations, layer.params, layer.peak.at(batch), batch, whole=False)

    def to_json(self, depth: int = 0) -> dict:
        data = self.totals()
        data["layers"] = [{"path": row.path, "op": row.op, **self.layer_fields(row)} for row in self.rows(depth)]
        if self.settings.checkpoint:
            data["checkpoint"] = list(self.settings.checkpoint)
            data["recompute_bytes"] = self.recompute.at(self.settings.batch) if self.training else 0
        return data

    def max_batch(self, budget: int) -> int:
        """The largest batch whose total (the mode's) fits in `budget` bytes; 0 if not even 1."""
        room = budget - self.buckets - self.gathered
        if self.training:
            state = self.params.at(1) * (2 + STATE_COPIES[self.settings.optimizer])
            return _largest(room - state, [self.activations + self.recompute])
        return _largest(room - self.params.at(1), self.peaks)


def _largest(room: int, forms: list[Bytes]) -> int:
    """The largest batch b with every form's `at(b) <= room` (forms that do not grow bound nothing)."""
    best = None
    for form in forms:
        if form.fixed > room:
            return 0
        if form.per_sample:
            fit = (room - form.fixed) // form.per_sample
            best = fit if best is None else min(best, fit)
    return max(best, 0) if best is not None else 2 ** 62


def memory_of(graph: Graph, settings: Settings = Settings()) -> MemoryReport:
    """The memory report of an analysed graph (raises SpecError for an op without a Memory trait)."""
    settings.check(graph)
    act = ITEMSIZE[settings.dtype]
    order, train_only = needed_nodes(graph)
    for node in order:
        if node.spec.memory is None:
            raise error(f"the op '{node.op}' declares no memory trait, so its saved tensors are unknown",
                        node.span, node.path, "give its Op a `memory=` trait (archc.op.Memory, e.g. saves('input'))")
    inplace = inplace_nodes(graph, order)
    saved, storage, sizes = _saved_storages(graph, order, inplace, act, settings.device)
    owners, rebuilt = _owners(order, saved, storage, _regions(order, settings.checkpoint))
    recompute = [_total(keys, sizes) for keys in rebuilt]
    kept: dict[str, list[str]] = {}
    for key, node_id in owners.items():
        kept.setdefault(node_id, []).append(key)
    peaks = _inference_peaks(graph, order, train_only, inplace, act, settings.device)
    running = order if settings.mode == "train" else [n for n in order if n.id not in train_only]
    rank = rank_state(graph, running, settings.world_size, settings.shard)
    at_batch = lambda b: b.at(settings.batch)
    layers = [Layer(n.module or n.id, n.label, n.scopes, _total(kept.get(n.id, ()), sizes),
                    Bytes(rank.params.get(n.id, 0) * act), max(peaks.get(n.id, [ZERO]), key=at_batch)) for n in order]
    return MemoryReport(graph, settings, layers, _total(owners, sizes), Bytes(sum(rank.params.values()) * act),
                        max(recompute, key=at_batch, default=ZERO), [p for points in peaks.values() for p in points],
                        rank.buckets * act, rank.gathered * act)


def _total(keys, sizes: dict[str, tuple[int, int]]) -> Bytes:
    fixed = per_sample = 0
    for key in keys:
        f, p = sizes[key]
        fixed += f
        per_sample += p
    return Bytes(fixed, per_sample)


def _storages(graph: Graph, order: list[Node], inplace: set[str], act: int, training: bool):
    """The storage (a key) of every value and each storage's (fixed, per-sample) bytes: views and
    in-place ops share their input's."""
    storage, sizes = {INPUT: INPUT}, {INPUT: (0, numel(graph.input_shape) * act)}
    for node in order:
        if node.id in inplace or node.spec.memory.is_view(node.attrs, training):
            storage[node.id] = storage[node.inputs[0]]
        else:
            storage[node.id] = node.id
            sizes[node.id] = (0, numel(node.shape) * act)
    return storage, sizes


def _saved_storages(graph: Graph, order: list[Node], inplace: set[str], act: int, device: str):
    """For each node, the storages its backward keeps (none where no gradient flows), and all sizes."""
    storage, sizes = _storages(graph, order, inplace, act, training=True)
    needs_grad = {INPUT: False}
    saved: dict[str, list[str]] = {}
    for node in order:
        needs_grad[node.id] = node.params > 0 or any(needs_grad[i] for i in node.inputs)
        keys = []
        if needs_grad[node.id]:
            shapes = [graph.shape_of(i) for i in node.inputs]
            for item in node.spec.memory.saved(node.attrs, shapes, node.shape):
                keys.append(_saved_key(node, item, storage, sizes, act, device, node.id in inplace))
        saved[node.id] = keys
    return saved, storage, sizes


def _saved_key(node: Node, item, storage: dict, sizes: dict, act: int, device: str, inplace: bool) -> str:
    if item.of == "output":
        return storage[node.id]
    if item.of == "input" and inplace:  # the op overwrites it, so autograd keeps a copy (ReLU6, Hardswish)
        key = f"{node.id}:input"
        sizes[key] = sizes[storage[node.inputs[0]]]
        return key
    if item.of.startswith("input") and (item.of[5:].isdigit() or item.of == "input"):
        return storage[node.inputs[int(item.of[5:] or 0)]]
    key = f"{node.id}:{item.of}"
    sizes[key] = _buffer_size(item, act, device)
    return key


def _points(graph: Graph, node: Node) -> list[tuple]:
    """The scratch of a node at each point of its forward that may be its peak (see `Memory`)."""
    scratch = node.spec.memory.scratch
    if scratch is None:
        return [()]
    points = scratch(node.attrs, [graph.shape_of(i) for i in node.inputs], node.shape)
    return points if isinstance(points, list) else [points]


def _total_buffers(items, act: int, device: str) -> Bytes:
    total = ZERO
    for item in items:
        total += Bytes(*_buffer_size(item, act, device))
    return total


def _buffer_size(item, act: int, device: str) -> tuple[int, int]:
    """The (fixed, per-sample) bytes of a buffer an op makes (a `Saved` that names no graph value)."""
    cuda = device == "cuda"
    width = {"float32": 4, "int64": 8, "bool": 1, "act": act, "mask": 1 if cuda else act, "stats": 4 if cuda else act}[item.dtype]
    n = item.numel * width
    return (0, n) if item.batched else (n, 0)


def _regions(order: list[Node], checkpoint: tuple[str, ...]) -> dict[str, str]:
    """Node id -> the (outermost) checkpointed scope or layer path it lies in."""
    found = {}
    for node in order:
        paths = [*node.scopes, node.module or node.id]
        inside = next((p for p in paths if p in checkpoint), None)
        if inside is not None:
            found[node.id] = inside
    return found


def _owners(order: list[Node], saved: dict, storage: dict, regions: dict[str, str]):
    """Each kept storage -> the first node keeping it; and, per checkpointed region, what its backward
    rebuilds. A region keeps only the storages of the values entering it (held by the checkpoint)."""
    owners: dict[str, str] = {}
    rebuilt: dict[str, dict[str, None]] = {}
    for node in order:
        region = regions.get(node.id)
        if region is None:
            for key in saved[node.id]:
                owners.setdefault(key, node.id)
            continue
        rebuilt.setdefault(region, {}).update(dict.fromkeys(saved[node.id]))
        for source in node.inputs:
            if regions.get(source) != region:
                owners.setdefault(storage[source], node.id)
    return owners, list(rebuilt.values())


def _inference_peaks(graph: Graph, order: list[Node], train_only: set[str], inplace: set[str],
                     act: int, device: str) -> dict[str, list[Bytes]]:
    """The bytes live while each eval-mode node runs: live values, its new output and its scratch, at
    each of the points its scratch names (one for most ops)."""
    storage, sizes = _storages(graph, order, inplace, act, training=False)
    var = assign_variables(graph, order)
    refs = Counter({INPUT: 2})  # the caller's reference and the variable x
    holder = {var[INPUT]: INPUT}
    live = sizes[INPUT][1]  # every value's storage grows with the batch alone
    peaks = {}
    for node in order:
        if node.id in train_only:
            continue
        key = storage[node.id]
        new = sizes[key][1] if refs[key] == 0 else 0
        peaks[node.id] = [Bytes(0, live + new) + _total_buffers(point, act, device) for point in _points(graph, node)]
        live += new
        refs[key] += 1
        old, holder[var[node.id]] = holder.get(var[node.id]), node.id
        if old is not None:
            refs[storage[old]] -= 1
            if refs[storage[old]] == 0:
                live -= sizes[storage[old]][1]
    return peaks
