"""Files orchestra writes into a project for itself and must not trust when they come back: signed with a key of
this user's. A checkout may ship its own ``.orchestra/`` (``plan-cache.json``, ``answers.json``), so what such a
file says is believed only when its HMAC-SHA256 verifies under the key kept outside every project (platformdirs'
user data directory, 0600). A file that does not verify (forged, damaged, another user's) or is a symlink is
ignored and rewritten, never reported and never followed. Standard library and platformdirs only: the answers of
``orchestra next`` are checked with it before anything heavy is imported (``answers.py``).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import os
import stat
from pathlib import Path

import platformdirs

KEY_FILE = "plan-cache.key"  # (named when it signed only the plan cache; renaming it would drop every cache)
KEY_BYTES = 32
NOFOLLOW = os.O_NOFOLLOW | os.O_CLOEXEC


def own_dir(directory: Path) -> bool:
    """``directory`` exists (created 0700 when missing) as a real directory of this user, not a symlink.
    (The layers below the store use it: these few lines stand in for ``store.fsio.private_dir``.)"""
    try:
        os.mkdir(directory, 0o700)
    except FileExistsError:
        pass
    except OSError:
        return False
    info = os.lstat(directory)
    return stat.S_ISDIR(info.st_mode) and info.st_uid == os.geteuid()


def read_nofollow(path: Path) -> bytes:
    """The bytes of ``path``; OSError (ELOOP) when it is a symlink."""
    fd = os.open(path, os.O_RDONLY | NOFOLLOW)
    with os.fdopen(fd, "rb") as handle:
        return handle.read()


def key_dir() -> Path:
    return platformdirs.user_data_path("orchestra")


@functools.cache
def user_key() -> bytes | None:
    """This user's key, made on first use; None when it cannot be kept (then nothing is cached)."""
    directory = key_dir()
    path = directory / KEY_FILE
    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
        if not own_dir(directory):
            return None
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | NOFOLLOW, 0o600)
        except FileExistsError:
            key = read_nofollow(path)
            return key if len(key) == KEY_BYTES else None
        import secrets  # (once per user: a served answer imports as little as it can)

        with os.fdopen(fd, "wb") as handle:
            key = secrets.token_bytes(KEY_BYTES)
            handle.write(key)
            handle.flush()
            os.fsync(fd)
        return key
    except OSError:
        return None


def mac(key: bytes, payload: bytes) -> str:
    return hmac.new(key, payload, hashlib.sha256).hexdigest()


def unsign(data: bytes) -> bytes | None:
    """The payload of a signed file's bytes (``MAC\\npayload``), or None when its MAC does not verify."""
    key = user_key()
    signature, _, payload = data.partition(b"\n")
    if key is None or not hmac.compare_digest(signature, mac(key, payload).encode()):
        return None
    return payload


def write_signed(directory: Path, name: str, payload: bytes) -> None:
    """Best effort: atomically replace ``directory/name`` with ``payload`` signed; nothing when there is no key
    or ``directory`` is a symlink or another user's. The temporary file is ``.NAME-*.tmp``."""
    import tempfile  # (only when writing: a served answer imports as little as it can)

    key = user_key()
    temp: str | None = None
    try:
        if key is None or not own_dir(directory):
            return
        fd, temp = tempfile.mkstemp(prefix=temp_prefix(name), suffix=".tmp", dir=directory)  # 0600, O_EXCL
        with os.fdopen(fd, "wb") as handle:
            handle.write(mac(key, payload).encode() + b"\n" + payload)
        os.replace(temp, directory / name)  # replaces a planted symlink, never writes through it
        temp = None
    except Exception:
        pass
    finally:
        if temp is not None:
            with contextlib.suppress(OSError):
                os.unlink(temp)


def temp_prefix(name: str) -> str:
    """The prefix of ``write_signed``'s temporary files for ``name``."""
    return f".{name.rsplit('.', 1)[0]}-"
