"""Atomic file output: write to a temporary file beside the target, then rename over it.

The temporary file is named `.NAME.archc-tmp-XXXXXXXX` (hidden, beside NAME); it is removed on any
error. Only a process killed outright (SIGKILL, power loss) can leave one behind: such a stale file
never replaces NAME and can be deleted.

A target that is a symbolic link is written where the link points (the link stays). A target that
exists and is a FIFO or a character device (`/dev/stdout`, `/dev/null`, a pipe) is never replaced:
the complete content is made in the system's temporary folder first, then written through to it
(a FIFO nobody reads is refused instead of waiting). Any other kind of file (a directory, a block
device, a socket) is refused. Nothing is written unless the whole content was made.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path


TEMP_MARK = "archc-tmp-"
_CHUNK = 1 << 20


def file_kind(path: str | os.PathLike) -> str | None:
    """'regular', 'fifo', 'character device', 'directory', 'block device', 'socket' (links followed),
    or None where nothing exists under `path`."""
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return None
    for test, kind in ((stat.S_ISREG, "regular"), (stat.S_ISFIFO, "fifo"), (stat.S_ISCHR, "character device"),
                       (stat.S_ISDIR, "directory"), (stat.S_ISBLK, "block device"), (stat.S_ISSOCK, "socket")):
        if test(mode):
            return kind
    return "special file"


WRITTEN_THROUGH = ("fifo", "character device")


def _mode_for(target: Path) -> int:
    """The existing file's permissions, or what a new file gets under the umask (mkstemp makes 0600)."""
    try:
        return target.stat().st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def refused(target, kind: str) -> OSError:
    return OSError(errno.EINVAL, f"cannot write {target}: it is a {kind}, not a regular file (nothing written)")


@contextmanager
def atomic_path(target: str | os.PathLike, suffix: str = ""):
    """Yield a temporary path; on success it replaces `target`, on any error it is removed.

    An existing file under `target` is never touched unless the whole write succeeded; a FIFO or a
    character device gets the content written through, never replaced (see the module docstring).
    """
    kind = file_kind(target)
    if kind in WRITTEN_THROUGH:
        with _through(Path(target), kind, suffix) as tmp:
            yield tmp
        return
    if kind not in (None, "regular"):
        raise refused(target, kind)
    shown, target = target, Path(os.path.realpath(target))
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.{TEMP_MARK}", suffix=suffix, dir=target.parent)
    except OSError as exc:  # no such folder, no permission: name the output, not the temporary file
        raise OSError(exc.errno, f"cannot write {shown}: {exc.strerror}") from None
    os.close(fd)
    try:
        os.chmod(tmp, _mode_for(target))
        yield Path(tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def _through(target: Path, kind: str, suffix: str):
    """Make the content in the temporary folder, then write it into the FIFO or device `target`."""
    fd, tmp = tempfile.mkstemp(prefix=f"archc-{TEMP_MARK}", suffix=suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb") as source:
            _copy_into(source, target, kind)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _copy_into(source, target: Path, kind: str) -> None:
    flags = os.O_WRONLY | (os.O_NONBLOCK if kind == "fifo" else 0)
    try:
        fd = os.open(target, flags)
    except OSError as exc:
        if exc.errno == errno.ENXIO:
            raise OSError(exc.errno, f"cannot write {target}: no process is reading the FIFO (nothing written)") \
                from None
        raise OSError(exc.errno, f"cannot write {target}: {exc.strerror}") from None
    try:
        if kind == "fifo":
            os.set_blocking(fd, True)
        while chunk := source.read(_CHUNK):
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view):]
    except OSError as exc:  # a full device, a reader that went away
        raise OSError(exc.errno, f"cannot write {target}: {exc.strerror}") from None
    finally:
        os.close(fd)


def write_bytes(target: str | os.PathLike, data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def write_text(target: str | os.PathLike, text: str) -> None:
    write_bytes(target, text.encode("utf-8"))
