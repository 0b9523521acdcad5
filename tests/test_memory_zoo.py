"""`archc memory` against torch itself, for every bundled spec at two batch sizes.

- activations_bytes: the unique non-parameter storages autograd saves in a train-mode forward of
  the built module (saved_tensors_hooks), within 1% (it comes out exact);
- inference_peak_bytes: the peak of live tensor storages over the ATen ops of an eval, no-grad
  forward (a TorchDispatchMode), exactly.
Both on CPU (device="cpu": dropout saves its mask in the activations' dtype there). Each spec runs at
the small widths and inputs of tests/emit_cases.py (its block counts stay the spec's): the rules are
per op and shape, and full-width builds of the whole zoo took over 20 minutes of one CI worker.
"""

from __future__ import annotations

import pytest
import torch
from conftest import SPECS
from emit_cases import CASES
from memory_probe import inference_peak_bytes, saved_bytes

import archc

BATCHES = (2, 3)  # batch norm in train mode needs more than one value per channel


def built(name: str):
    params, shape = CASES[name]
    graph = archc.analyze(SPECS / f"{name}.yaml", params, shape)
    return params, graph.input_shape, archc.build(SPECS / f"{name}.yaml", input_shape=shape, seed=0, **params)


@pytest.mark.parametrize("name", sorted(CASES))
def test_static_memory_equals_what_torch_keeps(name):
    params, shape, model = built(name)
    for batch in BATCHES:
        x = torch.randn(batch, *shape)
        report = archc.memory(SPECS / f"{name}.yaml", batch=batch, device="cpu", input_shape=shape,
                              **params).totals()
        measured = saved_bytes(model, x)
        assert measured > 0
        assert abs(report["activations_bytes"] - measured) <= 0.01 * measured, (batch, report, measured)
        assert report["inference_peak_bytes"] == inference_peak_bytes(model, x), batch
