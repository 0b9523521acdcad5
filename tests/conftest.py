"""Shared test helpers."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"


@pytest.fixture
def write_spec(tmp_path):
    """Write YAML text to a spec file and return its path."""

    def write(text: str, name: str = "spec.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


PLUGINS = ROOT / "examples" / "plugins"


@contextlib.contextmanager
def isolated_plugins():
    """Plugins loaded inside are unloaded at the end (the op registry is process-wide)."""
    from archc import plugins
    from archc.ops import REGISTRY

    saved = dict(REGISTRY), dict(plugins.LOADED), dict(plugins._BY_PATH)
    try:
        yield
    finally:
        for name in set(plugins.LOADED) - set(saved[1]):
            sys.modules.pop(name, None)
        for table, before in zip((REGISTRY, plugins.LOADED, plugins._BY_PATH), saved):
            table.clear()
            table.update(before)


@pytest.fixture
def plugin_scope():
    """A test that loads plugins (CLI --plugin or plugins=[...]) leaves the registry as it found it."""
    with isolated_plugins():
        yield
