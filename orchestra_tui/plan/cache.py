"""The parse cache: the parsed TOML keyed by the file's sha256, so an unchanged plan is not parsed again.

A checkout may ship its own ``.orchestra/plan-cache.json`` (say with other commands under the plan's hash), so
the cache is signed: an HMAC-SHA256 under a key of this user's, kept outside every project (platformdirs' user
data directory, 0600). A cache whose MAC does not verify (forged, damaged, another user's) is ignored and
rewritten, never reported: only the plan file itself can have problems.

The cache also says when the plan's tasks were validated without a problem (``checked``: the orchestra and pydantic
versions that did it). Under the same versions the same tasks are valid again, so a signed mark spares every later
open validating thousands of tasks and their dependencies; what depends on the environment is checked every time.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import json
import os
import secrets
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

CACHE_FILE = "plan-cache.json"
KEY_FILE = "plan-cache.key"
KEY_BYTES = 32
_NOFOLLOW = os.O_NOFOLLOW | os.O_CLOEXEC


def _own_dir(directory: Path) -> bool:
    """``directory`` exists (created 0700 when missing) as a real directory of this user, not a symlink.
    (The plan layer sits below the store: these few lines stand in for ``store.fsio.private_dir``.)"""
    try:
        os.mkdir(directory, 0o700)
    except FileExistsError:
        pass
    except OSError:
        return False
    info = os.lstat(directory)
    return stat.S_ISDIR(info.st_mode) and info.st_uid == os.geteuid()


def _read(path: Path) -> bytes:
    fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
    with os.fdopen(fd, "rb") as handle:
        return handle.read()


def key_dir() -> Path:
    return platformdirs.user_data_path("orchestra")


@functools.cache
def _key() -> bytes | None:
    """This user's cache key, made on first use; None when it cannot be kept (then nothing is cached)."""
    directory = key_dir()
    path = directory / KEY_FILE
    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
        if not _own_dir(directory):
            return None
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600)
        except FileExistsError:
            key = _read(path)
            return key if len(key) == KEY_BYTES else None
        with os.fdopen(fd, "wb") as handle:
            key = secrets.token_bytes(KEY_BYTES)
            handle.write(key)
            handle.flush()
            os.fsync(fd)
        return key
    except OSError:
        return None


def _mac(key: bytes, payload: bytes) -> str:
    return hmac.new(key, payload, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class CacheHit:
    """The cached parse of the plan file: ``data``; ``checked`` the versions that validated its tasks (None when
    not validated, e.g. primed by a writer); ``payload`` the signed JSON itself (to mark it without encoding the
    data again), None when it is not written yet (primed in memory)."""

    data: dict[str, Any]
    checked: str | None
    payload: bytes | None


#: What a writer primed the cache with (``_cache_prime``), for the one read that follows in this process.
_primed: dict[tuple[Path, str], CacheHit] = {}


def _cache_read(cache_dir: Path | None, sha256: str) -> CacheHit | None:
    key = _key() if cache_dir is not None else None
    if key is None or cache_dir is None:
        return None
    primed = _primed.pop((Path(cache_dir).resolve(), sha256), None)
    if primed is not None:
        return primed
    try:
        mac, _, payload = _read(Path(cache_dir) / CACHE_FILE).partition(b"\n")
        if not hmac.compare_digest(mac, _mac(key, payload).encode()):
            return None
        cached = json.loads(payload)
    except Exception:
        return None
    if isinstance(cached, dict) and cached.get("sha256") == sha256 and isinstance(cached.get("data"), dict):
        checked = cached.get("checked")
        return CacheHit(cached["data"], checked if isinstance(checked, str) else None, payload)
    return None


def _cache_write(cache_dir: Path, sha256: str, data: dict[str, Any], checked: str | None = None) -> None:
    """Best effort: atomically replace the cache; any failure (unwritable dir, dates in the TOML) is ignored.
    ``checked``: the tasks of ``data`` were validated without a problem by these versions."""
    try:
        document: dict[str, Any] = {"sha256": sha256, "data": data}
        if checked is not None:
            document["checked"] = checked
        payload = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
    except Exception:
        return
    _write_signed(Path(cache_dir), payload)


def _cache_prime(cache_dir: Path, sha256: str, data: dict[str, Any]) -> None:
    """The parse of a plan file just written from ``data``, for a writer that opens the project next in this
    process: that open takes ``data`` from memory, unchecked, and writes the cache once it has validated it (an
    import's 5,000 tasks are megabytes of JSON not written, signed, read and decoded twice). ``data`` must not
    change afterwards."""
    _primed.clear()
    _primed[(Path(cache_dir).resolve(), sha256)] = CacheHit(data, None, None)


def _cache_mark(cache_dir: Path, sha256: str, hit: CacheHit, checked: str) -> None:
    """Mark a cached parse whose tasks were just validated without a problem (best effort, as ``_cache_write``).
    An unmarked payload is our own JSON object (its MAC verified): the mark is appended to it as its last key."""
    if hit.payload is None or hit.checked is not None:  # not written yet, or marked by other versions
        _cache_write(cache_dir, sha256, hit.data, checked)
        return
    _write_signed(Path(cache_dir), hit.payload[:-1] + b',"checked":' + json.dumps(checked).encode() + b"}")


def _write_signed(directory: Path, payload: bytes) -> None:
    key = _key()
    temp: str | None = None
    try:
        if key is None or not _own_dir(directory):
            return  # no key, or a state directory that is a symlink or another user's: no cache
        fd, temp = tempfile.mkstemp(prefix=".plan-cache-", suffix=".tmp", dir=directory)  # 0600, O_EXCL
        with os.fdopen(fd, "wb") as handle:
            handle.write(_mac(key, payload).encode() + b"\n" + payload)
        os.replace(temp, directory / CACHE_FILE)  # replaces a planted symlink, never writes through it
        temp = None
    except Exception:
        pass
    finally:
        if temp is not None:
            with contextlib.suppress(OSError):
                os.unlink(temp)
