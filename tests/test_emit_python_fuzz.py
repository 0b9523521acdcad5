"""`--emit python` on random specs built from blocks: whatever the mix, the emitted classes compute
what archc.build does (ARCHC_EMIT_FUZZ=N runs N random examples instead of the fixed 40)."""

from __future__ import annotations

import os

import torch

import archc
from emit_cases import emitted_class

torch.set_num_threads(1)


_FUZZ_BLOCKS = {
    "res": {"params": {"width": "int", "stride": 1}, "layers": [
        {"add": {"_main": [{"conv": {"name": "conv", "out": "width", "kernel": 3, "stride": "stride", "padding": 1}},
                           {"batchnorm": {"name": "bn"}}, "relu"],
                 "proj": [{"if": "stride != 1 or in_channels != width",
                           "then": [{"conv": {"out": "width", "kernel": 1, "stride": "stride"}}]}]}},
        {"relu": {"name": "act"}}]},
    "pick": {"params": {"k": "int"}, "layers": [
        {"if": "k > 1", "then": [{"conv": {"name": "conv", "out": "in_channels", "kernel": 3, "padding": 1}}, "relu"],
         "else": [{"maxpool": {"kernel": 3, "stride": 1, "padding": 1}}]}]},
    "unit": {"params": {"width": "int"}, "layers": [
        "relu", {"conv": {"out": "width", "kernel": 1}}, {"batchnorm": {}}]},
    "grow": {"layers": ["batchnorm", "relu", {"conv": {"name": "conv", "out": 2, "kernel": 3, "padding": 1}}]},
    "shrink": {"params": {"s": "int"}, "layers": [  # without `pre`, `post`'s ReLU sees the block's input
        {"group": {"name": "pre", "layers": [{"if": "s > 1", "then": [{"maxpool": {"kernel": "s", "stride": "s"}}]}]}},
        {"group": {"name": "post", "layers": ["relu", {"conv": {"out": "in_channels", "kernel": 1}}]}}]},
}


def _fuzz_item():
    from hypothesis import strategies as st

    width = st.integers(1, 6)
    res = st.builds(lambda w, s: {"res": {"width": w, "stride": s}}, width, st.sampled_from([1, 1, 2]))
    stage = st.builds(lambda n, w: {"for": "i", "in": n, "do": [{"res": {"width": w, "stride": "2 if i == 0 else 1"}}]},
                      st.integers(1, 3), width)
    pick = st.builds(lambda k: {"pick": {"k": k}}, st.integers(1, 3))
    unit = st.builds(lambda w: {"unit": {"width": w}}, width)
    shrink = st.builds(lambda s: {"shrink": {"s": s}}, st.sampled_from([1, 1, 2]))
    dense = st.builds(lambda n: {"dense": {"layers": [{"for": "_", "in": n, "do": ["grow"]}]}}, st.integers(1, 4))
    plain = st.sampled_from(["relu", {"conv": {"out": 3, "kernel": 1}}, {"group": [{"unit": {"width": 2}}, "relu"]},
                             {"add": {"_a": [{"shrink": {"s": 1}}], "_b": []}},
                             {"group": {"name": "named", "layers": [{"relu": {"name": "act"}}, {"unit": {"width": 3}}]}}])
    return st.one_of(res, stage, pick, unit, shrink, dense, plain)


def _fuzz_specs():
    from hypothesis import strategies as st

    return st.builds(lambda c, body: {"name": "fuzz", "input": [c, 8, 8], "blocks": _FUZZ_BLOCKS,
                                      "layers": [*body, {"adaptive_avgpool": {"out": 1}}, "flatten"]},
                     st.integers(1, 4), st.lists(_fuzz_item(), min_size=1, max_size=5))


def test_random_block_mixes_emit_equal_modules():
    from hypothesis import HealthCheck, assume, given, settings

    from archc.errors import SpecError

    @settings(max_examples=int(os.environ.get("ARCHC_EMIT_FUZZ", "40")), deadline=None,
              derandomize="ARCHC_EMIT_FUZZ" not in os.environ, database=None,
              suppress_health_check=list(HealthCheck))
    @given(_fuzz_specs())
    def check(spec):
        try:
            graph = archc.analyze(spec)
        except SpecError:
            assume(False)
        model = archc.build(spec, seed=0)
        emitted = emitted_class(archc.emit_python(spec))()
        assert list(emitted.state_dict()) == list(model.state_dict())
        emitted.load_state_dict(model.state_dict(), strict=True)
        x = torch.randn(2, *graph.input_shape)
        with torch.no_grad():
            assert torch.equal(emitted.eval()(x), model.eval()(x))

    check()
