"""Data-parallel training for real: examples/train_ddp.py under torchrun with two gloo processes.

The example runs as a user runs it (`python -m torch.distributed.run --nproc-per-node 2`), with the
rendezvous on 127.0.0.1 at a free port and gloo on the loopback interface; its JSON report and its
checkpoints are then checked here, against torchvision's models where they have a counterpart.
The FSDP2 units (archc.fsdp_units) are checked in process against torchvision's module structure.
Skipped only where torch.distributed or its gloo backend is missing.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torchvision

import archc
from archc.emit.build import build_from_graph
from archc.pipeline import compile_spec
from conftest import ROOT, SPECS

pytestmark = pytest.mark.skipif(not (dist.is_available() and dist.is_gloo_available()),
                                reason="torch.distributed with the gloo backend is not available")
SCRIPT = ROOT / "examples" / "train_ddp.py"
RESNET = ("--spec", "resnet18", "--input", "3x32x32", "--steps", "6")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def environment() -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if Path("/sys/class/net/lo").exists():
        env["GLOO_SOCKET_IFNAME"] = "lo"                      # gloo's connections stay on the loopback
    return env


def train(folder: Path, *args: str, processes: int = 2) -> tuple[subprocess.CompletedProcess, dict]:
    """Run the example under torchrun; its result and its report (empty if it wrote none)."""
    report = folder / "report.json"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(processes),
               "--master-addr", "127.0.0.1", "--master-port", str(free_port()),
               str(SCRIPT), "--out", str(folder / "out"), "--report", str(report), *args]
    done = subprocess.run(command, check=False, capture_output=True, text=True, env=environment(), timeout=600,
                          cwd=folder)
    return done, json.loads(report.read_text()) if report.exists() else {}


@pytest.fixture(scope="module")
def ddp_resnet18(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ddp")
    done, report = train(folder, *RESNET)
    assert done.returncode == 0, done.stdout + done.stderr
    return folder, report


def torchvision_loads(checkpoint: Path, reference: torch.nn.Module) -> None:
    """archc.load's model and torchvision's, given the checkpoint's weights, compute the same."""
    model = archc.load(checkpoint).eval()
    reference.load_state_dict(model.state_dict(), strict=True)
    x = torch.randn(2, *model.archc_spec["input_shape"])
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference.eval()(x))


def test_ddp_resnet18_two_processes_learns_stays_in_step_and_saves_once(ddp_resnet18):
    folder, report = ddp_resnet18
    assert (report["mode"], report["backend"], report["world_size"]) == ("ddp", "gloo", 2)
    assert report["checks"] == {"loss_fell": True, "same_weights": True, "checkpoint": True}
    losses = report["losses"]
    assert len(losses) == 6 and losses[-1] < 0.7 * losses[0]
    assert sorted(p.name for p in (folder / "out").iterdir()) == ["model.pt"]
    torchvision_loads(folder / "out" / "model.pt", torchvision.models.resnet18(num_classes=10))


def test_fsdp2_follows_the_ddp_trajectory_and_its_sharded_checkpoint_loads_back(ddp_resnet18, tmp_path):
    ddp_folder, ddp = ddp_resnet18
    done, fsdp = train(tmp_path, *RESNET, "--fsdp")
    assert done.returncode == 0, done.stdout + done.stderr
    assert fsdp["mode"] == "fsdp" and all(fsdp["checks"].values()) and "sharded_checkpoint" in fsdp["checks"]
    assert fsdp["losses"] == pytest.approx(ddp["losses"], rel=1e-4, abs=1e-5)
    shards = sorted(p.name for p in (tmp_path / "out" / "sharded").iterdir())
    assert ".metadata" in shards and sum(name.endswith(".distcp") for name in shards) == 2   # one file per rank
    trained_ddp = archc.load(ddp_folder / "out" / "model.pt").state_dict()
    trained_fsdp = archc.load(tmp_path / "out" / "model.pt").state_dict()
    assert trained_fsdp.keys() == trained_ddp.keys()
    for key, value in trained_ddp.items():
        torch.testing.assert_close(trained_fsdp[key], value, rtol=1e-4, atol=1e-5)


def test_ddp_googlenet_trains_its_train_only_auxiliary_heads(tmp_path):
    done, report = train(tmp_path, "--spec", "googlenet", "--input", "3x16x16", "--batch", "16", "--steps", "8")
    assert done.returncode == 0, done.stdout + done.stderr
    assert all(report["checks"].values())
    reference = torchvision.models.googlenet(num_classes=10, aux_logits=True, init_weights=False)
    torchvision_loads(tmp_path / "out" / "model.pt", reference)
    saved = archc.load(tmp_path / "out" / "model.pt").state_dict()
    fresh = archc.build(SPECS / "googlenet.yaml", input_shape=(3, 16, 16), seed=0, num_classes=10).state_dict()
    assert not torch.equal(saved["aux1.fc2.weight"], fresh["aux1.fc2.weight"])    # DDP reduced the aux grads


@pytest.fixture
def script():
    """examples/train_ddp.py as a module, to run its main() in this process."""
    loaded = importlib.util.spec_from_file_location("train_ddp", SCRIPT)
    module = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(module)
    return module


def test_a_failed_check_makes_the_script_exit_1(script, tmp_path, monkeypatch, capsys):
    """In this process, as a one-rank job (torchrun's environment variables set by hand)."""
    for key, value in {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port()), "RANK": "0",
                       "LOCAL_RANK": "0", "WORLD_SIZE": "1"}.items():
        monkeypatch.setenv(key, value)
    report = tmp_path / "report.json"
    with torch.random.fork_rng():                                     # one step: the loss cannot fall
        status = script.main(["--spec", "lenet5", "--steps", "1", "--out", str(tmp_path), "--report", str(report)])
    assert status == 1
    assert "FAILED the loss fell" in capsys.readouterr().out
    assert json.loads(report.read_text())["checks"] == {"loss_fell": False, "same_weights": True, "checkpoint": True}


def test_a_bad_spec_is_a_located_error_before_any_process_group(script, monkeypatch, capsys):
    monkeypatch.setenv("RANK", "0")
    assert script.main(["--spec", "resnet18", "--set", "num_classes=-1"]) == 1
    err = capsys.readouterr().err
    assert "resnet.yaml:" in err and "expected a positive integer, found -1" in err and not dist.is_initialized()


def test_outside_torchrun_the_script_says_how_to_start_it(script, monkeypatch, capsys):
    monkeypatch.delenv("RANK", raising=False)
    assert script.main(["--spec", "lenet5"]) == 2
    assert "torchrun --nproc-per-node 2" in capsys.readouterr().err


def unit_parameters(model: torch.nn.Module) -> dict[str, list[str]]:
    """archc.fsdp_units as scope -> the state_dict names of its layers' parameters."""
    names = {id(module): name for name, module in model.named_modules()}
    return {scope: sorted(f"{names[id(layer)]}.{param}" for layer in layers for param, _ in layer.named_parameters())
            for scope, layers in archc.fsdp_units(model).items()}


def block_parameters(reference: torch.nn.Module, scopes: list[str]) -> dict[str, list[str]]:
    """Per scope, the parameters of the reference's module there that no deeper scope takes, without
    the tensors that module holds itself (a layer_scale: the root shards those)."""
    taken: set[str] = set()
    found = {}
    for scope in sorted(scopes, key=lambda s: -s.count(".")):
        module = reference.get_submodule(scope)
        own = {name for name, _ in module.named_parameters(recurse=False)}
        names = {f"{scope}.{name}" for name, _ in module.named_parameters() if name not in own} - taken
        found[scope], taken = sorted(names), taken | names
    return found


MAXVIT = ["stem.0", "stem.1"] + [f"blocks.{b}.layers.{i}.layers{part}" for b, n in enumerate((2, 2, 5, 2))
                                 for i in range(n) for part in (".MBconv", "")] + ["classifier"]
CONVNEXT = [f"features.{s}" + (f".{i}" if s % 2 else "") for s, n in enumerate((1, 3, 1, 3, 1, 9, 1, 3))
            for i in range(n)] + ["classifier"]


@pytest.mark.parametrize("spec, reference, expected", [
    ("resnet18", torchvision.models.resnet18, [f"layer{i}.{j}" for i in range(1, 5) for j in range(2)]),
    ("googlenet", lambda: torchvision.models.googlenet(aux_logits=True, init_weights=False),
     ["conv1", "conv2", "conv3", "inception3a", "inception3b", "inception4a", "aux1", "inception4b", "inception4c",
      "inception4d", "aux2", "inception4e", "inception5a", "inception5b"]),
    ("alexnet", torchvision.models.alexnet, ["features", "classifier"]),      # no blocks: the scopes
    ("vit_b_16", torchvision.models.vit_b_16, [f"encoder.layers.encoder_layer_{i}" for i in range(12)]
     + ["encoder", "heads"]),                                                 # encoder.ln, heads.head
    ("convnext_tiny", torchvision.models.convnext_tiny, CONVNEXT),            # layer_scale: the root's
    ("maxvit_t", torchvision.models.maxvit_t, MAXVIT),                        # attentions: their layer's unit
])
def test_fsdp_units_are_the_blocks_of_the_torchvision_model(spec, reference, expected):
    """Each unit holds exactly the parameters of one torchvision block; the rest is left to the root."""
    compiled = compile_spec(SPECS / f"{spec}.yaml")
    model = build_from_graph(compiled.graph, compiled.spec, device="meta")
    with torch.device("meta"):
        tv = reference()
    units = unit_parameters(model)
    assert list(units) == expected
    assert units == block_parameters(tv, expected)
    in_units = {name for names in units.values() for name in names}
    root = {name for name, _ in model.named_parameters()} - in_units
    assert root == {name for name, _ in tv.named_parameters()} - in_units


def test_fsdp_units_need_a_model_built_by_archc():
    with pytest.raises(ValueError, match="archc.build"):
        archc.fsdp_units(torch.nn.Linear(2, 2))
