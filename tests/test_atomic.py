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


# -- outputs never destroy inputs; non-regular outputs are written through or refused ---------------

READERS = [(args, name) for args, name in COMMANDS]


def spec_file(folder: Path, text: str = SPEC, name: str = "tiny.yaml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("args, name", READERS, ids=IDS)
@pytest.mark.parametrize("alias", ["itself", "symlink", "hard link"])
def test_an_output_that_is_the_spec_is_a_usage_error_and_the_spec_survives(args, name, alias, tmp_path):
    spec = spec_file(tmp_path, name="spec" + Path(name).suffix)  # a name every command accepts as -o
    out = spec
    if alias != "itself":
        out = tmp_path / ("other" + Path(name).suffix)
        (out.symlink_to if alias == "symlink" else out.hardlink_to)(spec)
    code, err = cli([*args, str(spec), "-o", str(out)])
    assert code == 2, err
    assert "which this command reads" in err and "Traceback" not in err
    assert spec.read_text() == SPEC
    assert temp_files(tmp_path) == []


@pytest.mark.parametrize("field", ["extends", "imports"])
def test_an_output_that_is_a_file_the_spec_extends_or_imports_is_refused(field, tmp_path):
    base = spec_file(tmp_path, SPEC + "blocks:\n  b: {layers: [relu]}\n", "base.py")  # named like an output
    child = spec_file(tmp_path, f"{field}: base.py\n" + ("" if field == "extends" else SPEC), "child.yaml")
    before = base.read_bytes()
    code, err = cli(["build", "--emit", "python", str(child), "-o", str(base)])
    assert code == 2 and f"is the input '{base}'" in err, err
    assert base.read_bytes() == before


def test_export_refuses_an_output_that_is_the_weights_it_reads(tmp_path):
    spec = spec_file(tmp_path)
    weights = tmp_path / "w.onnx"
    assert cli(["build", str(spec), "-o", str(weights)])[0] == 0
    before = weights.read_bytes()
    code, err = cli(["export", "--onnx", "--no-check", str(spec), "--weights", str(weights), "-o", str(weights)])
    assert code == 2 and "which this command reads" in err, err
    assert weights.read_bytes() == before


def test_the_default_export_name_is_the_spec_files_own_name_in_the_current_folder(tmp_path, monkeypatch):
    """A `name:` with '../' or an absolute path decides nothing about where the output goes."""
    work = tmp_path / "work"
    work.mkdir()
    victim = tmp_path / "victim.onnx"
    victim.write_bytes(OLD)
    spec = spec_file(work, SPEC.replace("name: tiny", f"name: ../victim"), "net.yaml")
    monkeypatch.chdir(work)
    code, err = cli(["export", "--onnx", "--no-check", "net.yaml"])
    assert code == 0, err
    assert victim.read_bytes() == OLD
    assert sorted(p.name for p in work.iterdir()) == ["net.onnx", "net.yaml"] and spec.exists()


@pytest.mark.parametrize("source, name", [
    ("specs/x.yaml", "x.onnx"), ("/abs/../y.yaml", "y.onnx"),
    ("name: a\ninput: [1]\n", "_etc_passwd.onnx"), ({"name": "a"}, "_etc_passwd.onnx"),
])
def test_default_output_names_never_leave_the_current_folder(source, name):
    from archc.outputs import default_output

    got = default_output(source, "/../etc/passwd", ".onnx")
    assert got == Path(name.replace("_etc_passwd", "etc_passwd")) and got.parent == Path(".")
    assert default_output("spec\n", "..", ".onnx") == Path("model.onnx")


def test_a_symlinked_output_is_written_where_it_points_and_stays_a_link(tmp_path):
    spec, real = spec_file(tmp_path), tmp_path / "real.dot"
    real.write_bytes(OLD)
    link = tmp_path / "link.dot"
    link.symlink_to(real)
    code, err = cli(["graph", str(spec), "-o", str(link)])
    assert code == 0, err
    assert link.is_symlink() and real.read_text().startswith("digraph tiny")


def test_a_fifo_nobody_reads_is_refused_at_once_and_stays_a_fifo(tmp_path):
    spec, fifo = spec_file(tmp_path), tmp_path / "g.dot"
    os.mkfifo(fifo)
    code, err = cli(["graph", str(spec), "-o", str(fifo)])
    assert code == 1 and "no process is reading the FIFO" in err, err
    assert stat.S_ISFIFO(fifo.lstat().st_mode) and temp_files(tmp_path) == []


def test_a_fifo_with_a_reader_gets_the_whole_output_and_stays_a_fifo(tmp_path):
    spec, fifo = spec_file(tmp_path), tmp_path / "g.dot"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE)
    try:
        import time

        for _ in range(100):  # until cat has opened the FIFO
            code, err = cli(["graph", str(spec), "-o", str(fifo)])
            if "no process is reading" not in err:
                break
            time.sleep(0.05)
        out, _ = reader.communicate(timeout=30)
    finally:
        reader.kill()
    assert code == 0, err
    assert out.decode().startswith("digraph tiny") and out.decode().rstrip().endswith("}")
    assert stat.S_ISFIFO(fifo.lstat().st_mode)


def make_device(path: Path, minor: int) -> Path:
    """A character device like /dev/null (minor 3) or /dev/full (minor 7), made in the test's folder."""
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, minor))
    except (PermissionError, OSError) as exc:
        pytest.skip(f"cannot make a device node here: {exc}")
    return path


@pytest.mark.parametrize("args, name", READERS, ids=IDS)
def test_a_null_device_is_written_through_never_replaced(args, name, tmp_path):
    spec = spec_file(tmp_path)
    device = make_device(tmp_path / "null", 3)
    out = tmp_path / name
    out.symlink_to(device)  # the name says the format; the node behind it is a device
    code, err = cli([*args, str(spec), "-o", str(out)])
    assert code == 0, err
    assert stat.S_ISCHR(device.lstat().st_mode) and out.is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["tiny.yaml", "null", name])


@pytest.mark.parametrize("args, name", READERS, ids=IDS)
def test_a_full_device_is_a_write_error_not_a_success(args, name, tmp_path):
    spec = spec_file(tmp_path)
    device = make_device(tmp_path / "full", 7)
    out = tmp_path / name
    out.symlink_to(device)
    code, err = cli([*args, str(spec), "-o", str(out)])
    assert code == 1 and "No space left on device" in err, err
    assert stat.S_ISCHR(device.lstat().st_mode)


def test_a_socket_or_block_device_as_output_is_a_usage_error(tmp_path):
    import socket

    spec = spec_file(tmp_path)
    path = tmp_path / "s.dot"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    try:
        code, err = cli(["graph", str(spec), "-o", str(path)])
    finally:
        server.close()
    assert code == 2 and "is a socket" in err, err
    assert stat.S_ISSOCK(path.lstat().st_mode)


def test_atomic_path_refuses_a_directory_and_writes_through_a_fifo_without_a_temporary_beside_it(tmp_path):
    from archc.atomic import write_text

    with pytest.raises(OSError, match="is a directory, not a regular file"):
        write_text(tmp_path, "x")
    with pytest.raises(OSError, match="no process is reading"):
        fifo = tmp_path / "f"
        os.mkfifo(fifo)
        write_text(fifo, "x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]


def test_import_never_writes_onto_the_file_it_reads_or_one_output_onto_the_other(tmp_path):
    source = tmp_path / "m.onnx"
    source.write_bytes(OLD)  # the check comes before the file is read
    code, err = cli(["import", str(source), "-o", str(source)])
    assert code == 2 and "which this command reads" in err, err
    code, err = cli(["import", "torchvision:resnet18", "-o", str(tmp_path / "r.yaml"), "--weights",
                     str(tmp_path / "r.yaml")])
    assert code == 2 and "-o and --weights name the same file" in err, err
    assert source.read_bytes() == OLD and sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]


def test_import_of_a_fifo_is_refused_at_once(tmp_path):
    fifo = tmp_path / "m.onnx"
    os.mkfifo(fifo)
    code, err = cli(["import", str(fifo), "-o", str(tmp_path / "s.yaml")])
    assert code == 1 and "not a regular file" in err, err
