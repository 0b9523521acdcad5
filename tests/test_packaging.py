"""The project metadata: dependencies resolved per platform from the markers (no network), the package list."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))

# The marker environments of the platforms torch publishes wheels for (PEP 508 names and values).
PLATFORMS = {
    "macos-arm64": {"sys_platform": "darwin", "platform_system": "Darwin", "platform_machine": "arm64",
                    "os_name": "posix"},
    "linux-x86_64": {"sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64",
                     "os_name": "posix"},
    "linux-aarch64": {"sys_platform": "linux", "platform_system": "Linux", "platform_machine": "aarch64",
                      "os_name": "posix"},
    "windows-amd64": {"sys_platform": "win32", "platform_system": "Windows", "platform_machine": "AMD64",
                      "os_name": "nt"},
}


def resolve(extras: set[str], platform: str) -> set[str]:
    """The distribution names `pip install 'archc[extras]'` asks for on `platform`, following archc[...]."""
    env = {"python_version": "3.12", "python_full_version": "3.12.0", "implementation_name": "cpython",
           "platform_python_implementation": "CPython", **PLATFORMS[platform]}
    name = PROJECT["project"]["name"]
    wanted = [Requirement(r) for r in PROJECT["project"]["dependencies"]]
    seen_extras: set[str] = set()
    todo = set(extras)
    while todo:
        extra = todo.pop()
        seen_extras.add(extra)
        wanted += [Requirement(r) for r in PROJECT["project"]["optional-dependencies"][extra]]
        for req in wanted:
            if req.name == name:
                todo |= set(req.extras) - seen_extras
    names = set()
    for req in wanted:
        if req.name != name and (req.marker is None or req.marker.evaluate({**env, "extra": ""})):
            names.add(re.sub(r"[-_.]+", "-", req.name).lower())
    return names


@pytest.mark.parametrize("platform", sorted(PLATFORMS))
def test_dev_installs_everywhere_with_one_onnxruntime(platform):
    deps = resolve({"dev"}, platform)
    assert {"torch", "torchvision", "onnx", "onnxscript", "onnxslim", "graphviz", "pytest", "hypothesis",
            "torchinfo", "packaging", "pyyaml", "click"} <= deps
    gpu_wheels = platform in ("linux-x86_64", "windows-amd64")  # the only platforms onnxruntime-gpu publishes
    assert ("onnxruntime-gpu" in deps) == gpu_wheels
    assert ("onnxruntime" in deps) != gpu_wheels  # both at once would fight over the `onnxruntime` module


@pytest.mark.parametrize("platform", sorted(PLATFORMS))
def test_cpu_only_extras_never_pull_onnxruntime_gpu(platform):
    deps = resolve({"dev-cpu"}, platform)
    assert "onnxruntime" in deps and "onnxruntime-gpu" not in deps
    assert {"torch", "torchvision", "onnx", "pytest"} <= deps
    assert resolve({"onnx-cpu"}, platform) - {"onnxruntime"} == resolve({"onnx"}, platform) - {
        "onnxruntime", "onnxruntime-gpu"}


def test_the_static_core_needs_no_torch():
    assert not {"torch", "onnx", "onnxruntime", "onnxruntime-gpu"} & resolve(set(), "macos-arm64")


def test_every_package_is_listed_and_the_zoo_ships():
    setuptools = PROJECT["tool"]["setuptools"]
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "archc").rglob("__init__.py")}
    assert on_disk | {"archc.specs"} == set(setuptools["packages"])
    assert setuptools["package-dir"] == {"archc.specs": "specs"}
    assert setuptools["package-data"]["archc.specs"] == ["*.yaml"]
