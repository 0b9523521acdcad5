"""Atomic file output: write to a temporary file beside the target, then rename over it.

The temporary file is named `.NAME.archc-tmp-XXXXXXXX` (hidden, beside NAME); it is removed on any
error. Only a process killed outright (SIGKILL, power loss) can leave one behind: such a stale file
never replaces NAME and can be deleted.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path


TEMP_MARK = "archc-tmp-"


def _mode_for(target: Path) -> int:
    """The existing file's permissions, or what a new file gets under the umask (mkstemp makes 0600)."""
    try:
        return target.stat().st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


@contextmanager
def atomic_path(target: str | os.PathLike, suffix: str = ""):
    """Yield a temporary path; on success it replaces `target`, on any error it is removed.

    An existing file under `target` is never touched unless the whole write succeeded.
    """
    target = Path(target)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.{TEMP_MARK}", suffix=suffix, dir=target.parent or ".")
    except OSError as exc:  # no such folder, no permission: name the output, not the temporary file
        raise OSError(exc.errno, f"cannot write {target}: {exc.strerror}") from None
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


def write_bytes(target: str | os.PathLike, data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def write_text(target: str | os.PathLike, text: str) -> None:
    write_bytes(target, text.encode("utf-8"))
