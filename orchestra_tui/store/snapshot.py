"""The state snapshot (``project_state.json``, the seed's shape) and the compressed checkpoints.

The snapshot's ``checksum`` is a SHA-256 over canonical bytes, and the file is written so that those bytes
are the file itself minus the leading checksum member: verifying needs no re-serialisation. A checkpoint
is the same canonical bytes, gzip-compressed, named by their SHA-256 (content-addressed) and the entry seq.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import fsio
from .journal import dumps

FORMAT_VERSION = 3
_PREFIX = re.compile(rb'^\{"checksum":"([0-9a-f]{64})",')
CHECKPOINT_NAME = re.compile(r"^(\d{8,})\.([0-9a-f]{64})\.json\.gz$")


class SnapshotError(Exception):
    """The file cannot be trusted (``reason`` says why); ``future`` when it is from a newer orchestra."""

    def __init__(self, reason: str, future: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.future = future


@dataclass(frozen=True)
class Snapshot:
    project_id: str
    tasks: dict[str, dict[str, Any]]
    meta: dict[str, Any]
    seq: int
    offset: int
    last_updated: str
    checksum: str
    frame: tuple[int, int] | None = None  # (start, CRC-32) of the journal frame ending at ``offset``


def encode(
    *,
    version: str,
    project_id: str,
    tasks: dict[str, Any],
    meta: dict[str, Any],
    metrics: Mapping[str, Any],
    seq: int,
    offset: int,
    last_updated: str,
    frame: tuple[int, int] | None = None,
    known: TaskBytes | None = None,
) -> tuple[bytes, str]:
    """Returns (file bytes, checksum). ``frame`` names the journal frame the state ends with, so that a snapshot
    copied from elsewhere, or one that does not line up with this journal, is recognised on load. ``known``: the
    tasks' bytes from the store's previous snapshot, reused for the records that did not change since."""
    position: dict[str, int] = {"seq": seq, "offset": offset}
    if frame is not None:
        position.update(frame_start=frame[0], frame_crc=frame[1])
    body = _object(
        {
            "version": dumps(version),
            "format_version": dumps(FORMAT_VERSION),
            "project_id": dumps(project_id),
            "last_updated": dumps(last_updated),
            "tasks": (known or TaskBytes()).encode(tasks),
            "metrics": dumps(metrics),
            "meta": dumps(meta),
            "journal": dumps(position),
        }
    )
    checksum = hashlib.sha256(body).hexdigest()
    return b'{"checksum":"' + checksum.encode() + b'",' + body[1:], checksum


class TaskBytes:
    """Each task's canonical bytes (``"id":{record}``) as the last snapshot encoded them, kept with the record they
    came from. A change replaces a task's record and never edits it (``changes.apply``), so a record that is the
    same object encodes to the same bytes: a snapshot encodes only the tasks changed since the one before. Every
    checkpoint of a run of 2,000 instant tasks encoded all 2,000 (one every ~128 runs: 15 encodings a task; ~6% of
    the driver's GIL time). Each task is its own ``dumps``, so a thread encoding the state lets the event loop run
    between two. Used from the checkpoint's thread and the store's: each call swaps in a whole new table, so two at
    once cost an encoding more, never a wrong byte."""

    def __init__(self) -> None:
        self._known: dict[str, tuple[Any, bytes]] = {}

    def encode(self, tasks: Mapping[str, Any]) -> bytes:
        """``dumps(tasks)``, byte for byte."""
        known, fresh = self._known, {}
        for task_id in sorted(tasks):
            record = tasks[task_id]
            kept = known.get(task_id)
            if kept is None or kept[0] is not record:
                kept = (record, dumps(task_id) + b":" + dumps(record))
            fresh[task_id] = kept
        self._known = fresh
        return b"{" + b",".join(part for _record, part in fresh.values()) + b"}"


def _object(members: Mapping[str, bytes]) -> bytes:
    """The canonical JSON object of members already encoded: the bytes ``dumps`` gives for the same values."""
    return b"{" + b",".join(dumps(key) + b":" + members[key] for key in sorted(members)) + b"}"


def decode(data: bytes) -> Snapshot:
    match = _PREFIX.match(data)
    if match is None:
        # Maybe a readable document from a newer orchestra, or not ours at all.
        _raise_if_future(data)
        raise SnapshotError("not an orchestra state file (no checksum header)")
    body = b"{" + data[match.end() :]
    if hashlib.sha256(body).hexdigest() != match.group(1).decode():
        _raise_if_future(data)
        raise SnapshotError("checksum mismatch (damaged or truncated)")
    return _from_body(body, match.group(1).decode())


def _from_body(body: bytes, checksum: str) -> Snapshot:
    try:
        doc = json.loads(body)
    except ValueError as error:
        raise SnapshotError(f"unreadable JSON: {error}") from None
    fmt = doc.get("format_version")
    if isinstance(fmt, int) and fmt > FORMAT_VERSION:
        raise SnapshotError(
            f"format_version {fmt} is newer than this orchestra understands ({FORMAT_VERSION}); upgrade orchestra",
            future=True,
        )
    try:
        journal = doc["journal"]
        return Snapshot(
            project_id=str(doc["project_id"]),
            tasks=dict(doc["tasks"]),
            meta=dict(doc.get("meta") or {}),
            seq=int(journal["seq"]),
            offset=int(journal["offset"]),
            last_updated=str(doc.get("last_updated", "")),
            checksum=checksum,
            frame=(int(journal["frame_start"]), int(journal["frame_crc"])) if "frame_start" in journal else None,
        )
    except (KeyError, TypeError, ValueError) as error:
        raise SnapshotError(f"missing or malformed field: {error}") from None


def _raise_if_future(data: bytes) -> None:
    try:
        fmt = json.loads(data).get("format_version")
    except (ValueError, AttributeError):
        return
    if isinstance(fmt, int) and fmt > FORMAT_VERSION:
        raise SnapshotError(
            f"format_version {fmt} is newer than this orchestra understands ({FORMAT_VERSION}); upgrade orchestra",
            future=True,
        )


def checkpoint_bytes(snapshot_file: bytes) -> bytes:
    """The compressed checkpoint for a snapshot file's bytes (level 1: checkpoints sit on the commit path)."""
    match = _PREFIX.match(snapshot_file)
    assert match is not None
    return gzip.compress(b"{" + snapshot_file[match.end() :], compresslevel=1, mtime=0)


def checkpoint_name(seq: int, checksum: str) -> str:
    return f"{seq:08d}.{checksum}.json.gz"


def read_checkpoint(path: Path) -> Snapshot:
    match = CHECKPOINT_NAME.match(path.name)
    if match is None:
        raise SnapshotError("not a checkpoint file name")
    try:
        body = gzip.decompress(fsio.read_bytes(path))
    except (OSError, EOFError, zlib.error) as error:  # gzip.BadGzipFile is an OSError
        raise SnapshotError(f"unreadable checkpoint: {error}") from None
    if hashlib.sha256(body).hexdigest() != match.group(2):
        raise SnapshotError("checkpoint checksum mismatch")
    return _from_body(body, match.group(2))
