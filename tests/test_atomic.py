"""Nothing lost: an output file is replaced only by a complete one, whatever goes wrong while writing it.

`archc.atomic.atomic_path` writes to `.NAME.archc-tmp-XXXXXXXX` beside NAME and renames it over NAME
at the end. Tested directly (injected failures, a writer killed with SIGKILL mid-write) and through
the CLI (bad specs and failures injected into the real writers, with an existing output file).
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from archc.atomic import TEMP_MARK, atomic_path, write_bytes
from archc.cli import _register, main, run

OLD = b"the previous output, which must survive\n"
SPEC = "name: tiny\ninput: [1, 8, 8]\nlayers: [{conv: {out: 2, kernel: 3}}, relu, flatten, {linear: {out: 3}}]\n"
BAD_SPEC = "name: tiny\ninput: [1, 8, 8]\nlayers: [{conv: {out: 2, kernal: 3}}]\n"


def temp_files(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if TEMP_MARK in p.name]


@pytest.fixture
def existing(tmp_path) -> Path:
    target = tmp_path / "out.bin"
    target.write_bytes(OLD)
    return target


# -- atomic_path itself ----------------------------------------------------------------------------


def test_a_complete_write_replaces_the_file_and_leaves_no_temporary(existing):
    write_bytes(existing, b"new")
    assert existing.read_bytes() == b"new"
    assert temp_files(existing.parent) == []


@pytest.mark.parametrize("failure", [RuntimeError("disk on fire"), KeyboardInterrupt()], ids=["error", "interrupt"])
def test_a_failure_inside_the_write_leaves_the_old_file_and_no_temporary(existing, failure):
    with pytest.raises(type(failure)):
        with atomic_path(existing) as tmp:
            tmp.write_bytes(b"half of the new")
            assert TEMP_MARK in tmp.name and tmp.parent == existing.parent
            raise failure
    assert existing.read_bytes() == OLD
    assert temp_files(existing.parent) == []


def test_a_failure_while_syncing_leaves_the_old_file(existing, monkeypatch):
    def no_space(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("archc.atomic.os.fsync", no_space)
    with pytest.raises(OSError, match="No space"):
        write_bytes(existing, b"new")
    assert existing.read_bytes() == OLD
    assert temp_files(existing.parent) == []


def test_a_new_file_gets_ordinary_permissions_and_a_replaced_one_keeps_its_own(tmp_path):
    umask = os.umask(0o022)
    try:
        fresh = tmp_path / "fresh.bin"
        write_bytes(fresh, b"x")
        assert stat.S_IMODE(fresh.stat().st_mode) == 0o644  # not mkstemp's 0600
        fresh.chmod(0o640)
        write_bytes(fresh, b"y")
        assert stat.S_IMODE(fresh.stat().st_mode) == 0o640
    finally:
        os.umask(umask)


def test_a_missing_folder_is_reported_under_the_output_name(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"cannot write {tmp_path / 'nowhere' / 'm.pt'}"):
        write_bytes(tmp_path / "nowhere" / "m.pt", b"x")


KILLED_WRITER = textwrap.dedent("""
    import sys, time
    from archc.atomic import atomic_path
    with atomic_path(sys.argv[1]) as tmp:
        with open(tmp, "wb") as handle:
            handle.write(b"partial new content")
            handle.flush()
            print(tmp, flush=True)
            time.sleep(60)
""")


def test_a_writer_killed_mid_write_leaves_the_old_file_and_a_recognisable_temporary(existing):
    writer = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(existing)], stdout=subprocess.PIPE, text=True)
    try:
        tmp = Path(writer.stdout.readline().strip())  # the writer is inside atomic_path, half done
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
    finally:
        writer.kill()
        writer.stdout.close()
    assert existing.read_bytes() == OLD
    assert temp_files(existing.parent) == [tmp]
    assert tmp.name.startswith(f".{existing.name}.{TEMP_MARK}")
    assert tmp.read_bytes() == b"partial new content"


# -- through the CLI ------------------------------------------------------------------------------


def cli(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = run(argv)
    return code, err.getvalue()


def output_commands() -> list[tuple[list[str], str]]:
    """(arguments before the spec, output file name) of every command that writes a file."""
    _register()
    commands = [(["build"], "model.pt"), (["build", "--emit", "python"], "model.py"),
                (["export", "--onnx", "--no-check"], "m.onnx")]
    if "graph" in main.commands:
        commands.append((["graph"], "g.svg"))
    return commands


COMMANDS = output_commands()
IDS = [" ".join(args) for args, _ in COMMANDS]


@pytest.mark.parametrize("args, name", COMMANDS, ids=IDS)
def test_a_bad_spec_leaves_an_existing_output_untouched(args, name, tmp_path):
    spec, out = tmp_path / "bad.yaml", tmp_path / name
    spec.write_text(BAD_SPEC)
    out.write_bytes(OLD)
    code, err = cli([*args, str(spec), "-o", str(out)])
    assert code == 1 and "'kernal'" in err and "did you mean 'kernel'" in err
    assert out.read_bytes() == OLD
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["bad.yaml", name])


@pytest.mark.parametrize("args, name", COMMANDS, ids=IDS)
def test_a_failing_disk_leaves_an_existing_output_untouched(args, name, tmp_path, monkeypatch):
    """The write itself fails (fsync: disk full) after the new content went to the temporary file."""
    spec, out = tmp_path / "tiny.yaml", tmp_path / name
    spec.write_text(SPEC)
    out.write_bytes(OLD)

    def no_space(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("archc.atomic.os.fsync", no_space)
    code, err = cli([*args, str(spec), "-o", str(out)])
    assert code == 1
    assert "archc: error: No space left on device" in err and "Traceback" not in err
    assert out.read_bytes() == OLD
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["tiny.yaml", name])


def test_build_interrupted_inside_torch_save_leaves_the_old_model(tmp_path, monkeypatch):
    import torch

    spec, out = tmp_path / "tiny.yaml", tmp_path / "model.pt"
    spec.write_text(SPEC)
    out.write_bytes(OLD)

    def broken_save(obj, path, *args, **kwargs):
        Path(path).write_bytes(b"PK\x03\x04 a few bytes of a zip")
        raise RuntimeError("writer crashed mid-file")

    monkeypatch.setattr(torch, "save", broken_save)
    code, err = cli(["build", str(spec), "-o", str(out)])
    assert code == 3 and "writer crashed mid-file" in err  # an unexpected failure: reported as internal
    assert out.read_bytes() == OLD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt", "tiny.yaml"]


def test_export_failing_after_writing_part_of_the_file_leaves_the_old_model(tmp_path, monkeypatch):
    import archc.onnx_export as onnx_export

    spec, out = tmp_path / "tiny.yaml", tmp_path / "m.onnx"
    spec.write_text(SPEC)
    out.write_bytes(OLD)

    def broken_export(module, example, staged, *args):
        Path(staged).write_bytes(b"\x08\x07 a few bytes of a protobuf")
        raise onnx_export.ExportFailed("the exporter died mid-file")

    monkeypatch.setattr(onnx_export, "_export", broken_export)
    code, err = cli(["export", "--onnx", str(spec), "-o", str(out)])
    assert code == 1 and "the exporter died mid-file" in err
    assert out.read_bytes() == OLD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "tiny.yaml"]


RENDERED = [(args, name) for args, name in COMMANDS if args[0] == "graph" or "--emit" in args]


@pytest.mark.parametrize("args, name", RENDERED, ids=[" ".join(a) for a, _ in RENDERED])
def test_a_write_failing_after_a_few_bytes_leaves_the_old_output(args, name, tmp_path, monkeypatch):
    """The rendered diagram or source is written through Path.write_bytes: make it die after 10 bytes."""
    spec, out = tmp_path / "tiny.yaml", tmp_path / name
    spec.write_text(SPEC)
    out.write_bytes(OLD)

    def partial_write(path, data):
        with open(path, "wb") as handle:
            handle.write(data[:10])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", partial_write)
    code, err = cli([*args, str(spec), "-o", str(out)])
    assert code == 1 and "No space left on device" in err
    assert out.read_bytes() == OLD
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["tiny.yaml", name])
