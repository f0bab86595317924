"""Durable file primitives: every write that must survive a crash goes through here.

``fault_hook`` is the one seam the crash and fault-injection tests use: each durable step calls
``fault(step)`` first, and a test process installs a hook that kills itself or raises at a chosen step
(the approach of SQLite's crash tests). With no hook installed it costs one global lookup.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path

fault_hook: Callable[[str], None] | None = None
TEMP_PREFIX = ".tmp-"  # atomic_write's temporary files: ``.tmp-NAME-PID`` beside the target


def fault(step: str) -> None:
    if fault_hook is not None:
        fault_hook(step)


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written == 0:  # pragma: no cover - the kernel reports ENOSPC instead on Linux
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        view = view[written:]


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes | Path) -> None:
    """Replace ``path`` with ``data`` (bytes, or a file's contents copied file to file) so that a crash leaves
    either the old or the new file, never a mix."""
    tmp = path.with_name(f"{TEMP_PREFIX}{path.name}-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        try:
            fault("atomic.write")
            if isinstance(data, Path):
                _copy_into(fd, data)
            else:
                write_all(fd, data)
            fault("atomic.before-fsync")
            os.fsync(fd)
            fault("atomic.after-fsync")
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fault("atomic.after-rename")
    fsync_dir(path.parent)


def _copy_into(fd: int, source: Path) -> None:
    """Append the file ``source`` to ``fd``, in the kernel (``sendfile``): any size, never in memory."""
    with open(source, "rb") as reading:
        size, offset = os.fstat(reading.fileno()).st_size, 0
        while offset < size:
            sent = os.sendfile(fd, reading.fileno(), offset, size - offset)
            if sent == 0:
                break  # the source shrank
            offset += sent


def describe_os_error(error: OSError, path: Path) -> str:
    """One line for a failed write, e.g. ``cannot write .orchestra/journal.log: No space left on device``."""
    reason = error.strerror or str(error)
    return f"cannot write {path}: {reason}"
