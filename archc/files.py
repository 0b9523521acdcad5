"""Reading spec files safely: regular files only, their size checked before a byte is read.

A FIFO, a device (`/dev/zero`, `/dev/stdin`), a directory or a socket is refused from its `stat`
without being opened, so nothing blocks or streams forever; so are the kernel's pseudo-files
(`/proc`, `/sys`), which report a size of 0 and then stream whatever they hold (environments,
memory). A file is read with `O_NONBLOCK` and checked again on its open descriptor, and never more
than the limit plus one byte is read, so a file that grows meanwhile is refused too.
"""

from __future__ import annotations

import os
import stat

from . import limits

PSEUDO_ROOTS = ("/proc", "/sys")  # /dev holds devices (refused by their stat) and tmpfs files (/dev/shm)
_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


class Unreadable(Exception):
    """A file that is not read: `reason` completes "cannot read PATH: ..." (it is a FIFO, ...)."""

    def __init__(self, reason: str, missing: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.missing = missing


def _kind(mode: int) -> str | None:
    """What a non-regular file is ('a FIFO (named pipe)', ...), or None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    return next((kind for test, kind in _KINDS if test(mode)), "not a regular file")


def _pseudo(path: str) -> bool:
    real = os.path.realpath(path)
    return any(real == root or real.startswith(root + "/") for root in PSEUDO_ROOTS)


def check_regular(path: str | os.PathLike) -> int:
    """The size of `path` if it is a regular file outside /proc and /sys; raises Unreadable."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise Unreadable("no such file", missing=True) from None
    except OSError as exc:
        raise Unreadable(exc.strerror or str(exc)) from None
    kind = _kind(info.st_mode)
    if kind is not None:
        raise Unreadable(f"it is {kind}, not a regular file")
    if _pseudo(str(path)):
        raise Unreadable("it is a system pseudo-file (/proc, /sys)")
    return info.st_size


def read_limited(path: str, limit: int | None = None) -> bytes:
    """The bytes of the regular file `path`, at most `limit` (default: MAX_FILE_BYTES); raises Unreadable."""
    limit = limits.MAX_FILE_BYTES if limit is None else limit
    check_regular(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise Unreadable(exc.strerror or str(exc), missing=isinstance(exc, FileNotFoundError)) from None
    try:
        info = os.fstat(fd)
        kind = _kind(info.st_mode)
        if kind is not None:  # replaced between the stat and the open
            raise Unreadable(f"it is {kind}, not a regular file")
        if info.st_size > limit:
            raise Unreadable(f"it is {info.st_size:,} bytes; spec files are limited to {limit:,} bytes")
        data = _read_at_most(fd, limit + 1)
    except OSError as exc:
        raise Unreadable(exc.strerror or str(exc)) from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise Unreadable(f"it grew past {limit:,} bytes while being read; spec files are limited to {limit:,} bytes")
    if data and info.st_size == 0:
        raise Unreadable("it reports a size of 0 but has content: a pseudo-file, not a spec file")
    return data


def _read_at_most(fd: int, count: int) -> bytes:
    chunks, left = [], count
    while left > 0:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
