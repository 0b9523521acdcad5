"""Users' ops: plugin files and installed packages, loaded only when the user names them.

A plugin is a Python file (or an installed module behind an `archc.ops` entry point) whose
top-level `OPS` lists ops written with `archc.op`. It is code, so a spec never loads one: the user
gives it (`archc --plugin my_ops.py ...`, `archc.build(..., plugins=["my_ops.py"])`, or
`--plugin NAME` for an installed entry point), and a spec only declares what it needs
(`plugins: [my_ops]`), which is a located error when it was not given.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import sys

from .errors import Span, SpecError, error

ENTRY_POINT_GROUP = "archc.ops"
LOADED: dict[str, str] = {}  # plugin name -> where it came from (file path or entry point)
_BY_PATH: dict[str, str] = {}  # real path of a loaded file -> its plugin name


def load_plugins(plugins) -> None:
    """Load each plugin (a .py path or an entry-point name) once; refuses ops that clash."""
    for plugin in plugins or ():
        plugin = os.fspath(plugin)
        if plugin.endswith(".py") or os.sep in plugin or os.path.isfile(plugin):
            _load_file(plugin)
        else:
            _load_entry_point(plugin)


def _load_file(path: str) -> None:
    real = os.path.realpath(path)
    if real in _BY_PATH:
        return
    if not os.path.isfile(real):
        raise error(f"plugin file '{path}' does not exist", None, "--plugin", "give the path of a .py file")
    name = os.path.splitext(os.path.basename(real))[0]
    if name in LOADED or (name in sys.modules and getattr(sys.modules[name], "__file__", None) != real):
        raise error(f"a plugin or module named '{name}' is already loaded", Span(path, 1, 1), "--plugin",
                    "rename the plugin file")
    spec = importlib.util.spec_from_file_location(name, real)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # emitted Python imports the plugin's classes from this name
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise _load_failure(path, real, exc) from exc
    try:
        _register(name, path, module)
    except SpecError:
        del sys.modules[name]
        raise
    _BY_PATH[real] = name


def _load_entry_point(name: str) -> None:
    from importlib.metadata import entry_points  # ~10 ms to import: only when a plugin is named

    if name in LOADED:
        return
    found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
    if not found:
        installed = sorted(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))
        raise error(f"no plugin file or installed '{ENTRY_POINT_GROUP}' entry point named '{name}'", None,
                    "--plugin", "installed: " + ", ".join(installed) if installed else
                    "give the path of a .py file, or install a package that declares the entry point")
    try:
        module = found[0].load()
    except Exception as exc:
        raise error(f"plugin '{name}' ({found[0].value}) failed to load: {type(exc).__name__}: {exc}", None,
                    "--plugin", "run with --debug for the traceback") from exc
    _register(name, f"{name} ({found[0].value})", module)


def _register(name: str, origin: str, module) -> None:
    from .ops import REGISTRY, DuplicateOp, Op, register

    ops = getattr(module, "OPS", None)
    if not isinstance(ops, (list, tuple)) or not all(isinstance(op, Op) for op in ops):
        raise error(f"plugin '{origin}' has no list OPS of archc ops", Span(origin, 1, 1) if origin.endswith(".py")
                    else None, "--plugin", "end the file with OPS = [MY_OP, ...] (see docs/ops.md)")
    added: list[str] = []
    try:
        for op in ops:
            added.append(register(dataclasses.replace(op, plugin=origin)).name)
    except ValueError as exc:  # all or nothing, so that a fixed plugin loads again in the same process
        for op_name in added:
            del REGISTRY[op_name]
        hint = "give the op another name" if isinstance(exc, DuplicateOp) else "see docs/ops.md"
        raise error(f"plugin '{origin}': {exc}", None, "--plugin", hint) from None
    LOADED[name] = origin


def _load_failure(path: str, real: str, exc: Exception) -> SpecError:
    """The error of a plugin file that raised while loading, at its own line."""
    import traceback

    frames = [f for f in traceback.extract_tb(exc.__traceback__) if os.path.realpath(f.filename) == real]
    line = frames[-1].lineno if frames else getattr(exc, "lineno", None) or 1
    return error(f"plugin '{path}' failed to load: {type(exc).__name__}: {exc}", Span(path, line, 1), "--plugin",
                 "this is an error in the plugin; run with --debug for the traceback")


def check_required(doc) -> None:
    """A spec's `plugins:` names must all be loaded (a spec never loads code by itself)."""
    wanted = doc.get("plugins") or []
    for k, name in enumerate(wanted):
        if name not in LOADED:
            raise error(f"the spec needs the plugin '{name}', which was not given", wanted.span_of(k),
                        f"plugins[{k}]", f"give it: archc --plugin path/to/{name}.py COMMAND ..., or "
                        f"plugins=['path/to/{name}.py'] in the Python API (a spec never loads code by itself)")
