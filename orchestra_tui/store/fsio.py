"""Durable, private file primitives: every write that must survive a crash goes through here.

Every file orchestra writes under ``.orchestra/`` is opened with ``O_NOFOLLOW`` and created ``0600`` (its
directories ``0700``, whatever the umask): a checkout may ship ``.orchestra/journal.log -> ~/somefile``,
and no write (nor read) goes through a link orchestra did not make (docs/ARCHITECTURE.md C13).

``fault_hook`` is the one seam the crash and fault-injection tests use: each durable step calls
``fault(step)`` first, and a test process installs a hook that kills itself or raises at a chosen step
(the approach of SQLite's crash tests). With no hook installed it costs one global lookup.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from pathlib import Path

fault_hook: Callable[[str], None] | None = None
TEMP_PREFIX = ".tmp-"  # atomic_write's temporary files: ``.tmp-NAME-PID`` beside the target
FILE_MODE = 0o600
DIR_MODE = 0o700
NOFOLLOW = os.O_NOFOLLOW | os.O_CLOEXEC


class UnsafePathError(OSError):
    """A path under the state directory that is a symbolic link, not the kind expected, or not the user's."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(errno.ELOOP, reason, str(path))
        self.path = path
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.path} {self.reason}"


def open_file(path: Path, flags: int, mode: int = FILE_MODE) -> int:
    """``os.open`` that never follows a final symlink (ELOOP) and creates private files."""
    fd = os.open(path, flags | NOFOLLOW, mode)
    if flags & os.O_CREAT and mode == FILE_MODE:
        try:
            if stat.S_IMODE(os.fstat(fd).st_mode) != mode:  # created under an unusual umask, or shipped wider
                os.fchmod(fd, mode)
        except OSError:
            pass  # a file of another user on a shared mount: reading it is still allowed
    return fd


def read_bytes(path: Path, start: int = 0, size: int = -1) -> bytes:
    """The file's bytes from ``start`` (``size`` of them, or all), not following a symlink (ELOOP for one)."""
    fd = open_file(path, os.O_RDONLY)
    try:
        with os.fdopen(fd, "rb", closefd=False) as handle:
            handle.seek(start)
            return handle.read(size)
    finally:
        os.close(fd)


def link_target(path: Path) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return "?"


def private_dir(path: Path, *, create: bool = True) -> None:
    """Make sure ``path`` is a real directory of this user, mode 0700 (created so when missing).

    Raises UnsafePathError for a symlink, a non-directory or a directory of another user."""
    if create:
        try:
            os.mkdir(path, DIR_MODE)
            os.chmod(path, DIR_MODE, follow_symlinks=False)  # mkdir's mode is masked by the umask
            return
        except FileExistsError:
            pass
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        raise UnsafePathError(path, f"is a symbolic link (to {link_target(path)}); orchestra does not follow it")
    if not stat.S_ISDIR(info.st_mode):
        raise UnsafePathError(path, "is not a directory")
    if info.st_uid != os.geteuid():
        raise UnsafePathError(
            path, f"belongs to another user (uid {info.st_uid}); orchestra uses only a state directory of your own"
        )
    if stat.S_IMODE(info.st_mode) != DIR_MODE:
        os.chmod(path, DIR_MODE, follow_symlinks=False)


def fault(step: str) -> None:
    if fault_hook is not None:
        fault_hook(step)


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written == 0:  # the kernel reports ENOSPC instead on Linux; a write taking nothing must not loop
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        view = view[written:]


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | NOFOLLOW)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes | Path, mode: int = FILE_MODE) -> None:
    """Replace ``path`` with ``data`` (bytes, or a file's contents copied file to file) so that a crash leaves
    either the old or the new file, never a mix.

    ``mode`` FILE_MODE (private) by default; a project file (a task's output) passes 0o666, the umask applies."""
    tmp = path.with_name(f"{TEMP_PREFIX}{path.name}-{os.getpid()}")
    try:
        fd = open_file(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:  # left by a killed process with this pid (or planted): replace it, never write through it
        tmp.unlink()
        fd = open_file(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
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
