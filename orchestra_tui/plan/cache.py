"""The parse cache: the parsed TOML keyed by the file's sha256, so an unchanged plan is not parsed again.

A checkout may ship its own ``.orchestra/plan-cache.json`` (say with other commands under the plan's hash), so
the cache is signed: an HMAC-SHA256 under a key of this user's, kept outside every project (platformdirs' user
data directory, 0600). A cache whose MAC does not verify (forged, damaged, another user's) is ignored and
rewritten, never reported: only the plan file itself can have problems.

The cache also says when the plan's tasks were validated without a problem (``checked``: the orchestra and pydantic
versions that did it). Under the same versions the same tasks are valid again, so a signed mark spares every later
open validating thousands of tasks and their dependencies; what depends on the environment is checked every time.

The signed payload is two JSON documents on two lines: the plan without its tasks (``tasks`` kept in its place,
as null) with the hash and the mark, then the tasks' tables. An open whose tasks are checked needs only the first
line (the tables are decoded when the tasks are first asked for): at 1,000 tasks the tables are ~95% of the file
and ~2.4 ms of decoding on every open (~25 ms at 10,000).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..signing import read_nofollow as _read
from ..signing import unsign, user_key, write_signed

CACHE_FILE = "plan-cache.json"


_FORMAT = 2  # the two-line payload (a cache without it, as an older orchestra wrote it, is parsed again)


@dataclass(frozen=True)
class CacheHit:
    """The cached parse of the plan file: ``data`` without its tasks (``tasks`` null in its place, when it has
    them), and ``tables`` (the encoded task tables: :meth:`full` and :meth:`tasks` decode them); ``checked`` the
    versions that validated its tasks (None when not validated, e.g. primed by a writer); ``payload`` the signed
    bytes themselves (to mark them without encoding the data again), None when not written yet (primed in memory,
    ``primed`` the whole data)."""

    data: dict[str, Any]
    checked: str | None
    payload: bytes | None
    tables: bytes = b"null"
    primed: dict[str, Any] | None = field(default=None, repr=False)

    def tasks(self) -> Any:
        """The plan's ``tasks`` as parsed (None when it has none)."""
        return self.primed.get("tasks") if self.primed is not None else json.loads(self.tables)

    def full(self) -> dict[str, Any]:
        """The whole parsed plan, tasks included."""
        if self.primed is not None:
            return self.primed
        return {**self.data, "tasks": self.tasks()} if "tasks" in self.data else dict(self.data)


#: What a writer primed the cache with (``_cache_prime``), for the one read that follows in this process.
_primed: dict[tuple[Path, str], CacheHit] = {}


def _cache_read(cache_dir: Path | None, sha256: str) -> CacheHit | None:
    if cache_dir is None or user_key() is None:
        return None
    primed = _primed.pop((Path(cache_dir).resolve(), sha256), None)
    if primed is not None:
        return primed
    try:
        payload = unsign(_read(Path(cache_dir) / CACHE_FILE))
        if payload is None:
            return None
        head, _, tables = payload.partition(b"\n")
        cached = json.loads(head)
    except Exception:
        return None
    if (
        isinstance(cached, dict)
        and cached.get("format") == _FORMAT
        and cached.get("sha256") == sha256
        and isinstance(cached.get("data"), dict)
    ):
        checked = cached.get("checked")
        return CacheHit(cached["data"], checked if isinstance(checked, str) else None, payload, tables)
    return None


def _cache_write(cache_dir: Path, sha256: str, data: dict[str, Any], checked: str | None = None) -> None:
    """Best effort: atomically replace the cache; any failure (unwritable dir, dates in the TOML) is ignored.
    ``checked``: the tasks of ``data`` were validated without a problem by these versions."""
    try:
        head = {**data, "tasks": None} if "tasks" in data else data
        document: dict[str, Any] = {"format": _FORMAT, "sha256": sha256, "data": head}
        if checked is not None:
            document["checked"] = checked
        payload = _encode(document) + b"\n" + _encode(data.get("tasks"))
    except Exception:
        return
    _write_signed(Path(cache_dir), payload)


def _encode(value: Any) -> bytes:
    """Compact JSON on one line (a newline in a string is escaped: the payload's first newline ends the head)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _cache_prime(cache_dir: Path, sha256: str, data: dict[str, Any]) -> None:
    """The parse of a plan file just written from ``data``, for a writer that opens the project next in this
    process: that open takes ``data`` from memory, unchecked, and writes the cache once it has validated it (an
    import's 5,000 tasks are megabytes of JSON not written, signed, read and decoded twice). ``data`` must not
    change afterwards."""
    _primed.clear()
    _primed[(Path(cache_dir).resolve(), sha256)] = CacheHit(data, None, None, primed=data)


def _cache_mark(cache_dir: Path, sha256: str, hit: CacheHit, checked: str) -> None:
    """Mark a cached parse whose tasks were just validated without a problem (best effort, as ``_cache_write``).
    An unmarked payload's head is our own JSON object (its MAC verified): the mark is appended to it as its last
    key."""
    if hit.payload is None or hit.checked is not None:  # not written yet, or marked by other versions
        _cache_write(cache_dir, sha256, hit.full(), checked)
        return
    head, _, tables = hit.payload.partition(b"\n")
    _write_signed(Path(cache_dir), head[:-1] + b',"checked":' + json.dumps(checked).encode() + b"}\n" + tables)


def _write_signed(directory: Path, payload: bytes) -> None:
    write_signed(directory, CACHE_FILE, payload)
