"""The history journal: an append-only file of CRC-framed entries, fdatasync'd before a commit returns.

A frame is ``MAGIC | meta length | body length | CRC-32 of meta+body`` (16 bytes), then the meta JSON
(id, time, actor, summary, progress: what a history listing reads) and the body JSON (the changes, read
only to replay or diff). Appending a frame is the commit point: a frame that is incomplete or fails its
CRC was never committed.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import fsio

MAGIC = b"ORJ1"
HEADER = struct.Struct(">4sIII")
MAX_PART = 256 * 1024 * 1024


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def dumps(value: Any) -> bytes:
    """Canonical JSON bytes: the same value always gives the same bytes (checksums depend on it). One encoder for
    every call (``json.dumps`` with options builds one per call: a few of these run for every commit)."""
    return _CANONICAL.encode(value).encode()


def encode_frame(meta: dict[str, Any], body: dict[str, Any]) -> bytes:
    meta_bytes, body_bytes = dumps(meta), dumps(body)
    crc = zlib.crc32(body_bytes, zlib.crc32(meta_bytes))
    return HEADER.pack(MAGIC, len(meta_bytes), len(body_bytes), crc) + meta_bytes + body_bytes


def frame_crc(frame: bytes) -> int:
    """The CRC-32 an encoded frame's header carries."""
    return int(HEADER.unpack_from(frame)[3])


@dataclass(frozen=True, slots=True)
class Frame:
    offset: int
    end: int
    meta: dict[str, Any]
    body_start: int
    body_end: int
    crc: int = 0


class FrameError(Exception):
    """A frame that is torn (the file ends inside it) or damaged (bad magic, CRC or JSON)."""

    def __init__(self, offset: int, reason: str, torn: bool) -> None:
        super().__init__(reason)
        self.offset = offset
        self.reason = reason
        self.torn = torn


def iter_frames(data: bytes | memoryview, start: int = 0) -> Iterator[Frame]:
    """Frames in ``data`` from ``start``; raises FrameError at the first one that is not whole and valid."""
    view = memoryview(data)
    size = len(view)
    offset = start
    while offset < size:
        if size - offset < HEADER.size:
            raise FrameError(offset, "the file ends inside a frame header", torn=True)
        magic, meta_len, body_len, crc = HEADER.unpack_from(view, offset)
        if magic != MAGIC or meta_len > MAX_PART or body_len > MAX_PART:
            raise FrameError(offset, "bad frame header", torn=False)
        meta_start = offset + HEADER.size
        body_start = meta_start + meta_len
        end = body_start + body_len
        if end > size:
            if _whole_frame_after(
                view, meta_start
            ):  # a torn frame is the last thing in the file: this one has a bad length
                raise FrameError(offset, "bad frame length", torn=False)
            raise FrameError(offset, "the file ends inside a frame", torn=True)
        if zlib.crc32(view[meta_start:end]) != crc:
            raise FrameError(offset, "checksum mismatch", torn=end == size)
        try:
            meta = json.loads(bytes(view[meta_start:body_start]))
        except ValueError:
            raise FrameError(offset, "unreadable entry", torn=False) from None
        yield Frame(offset, end, meta, body_start, end, crc)
        offset = end


def _whole_frame_after(view: memoryview, start: int) -> bool:
    data = bytes(view[start:])  # only on the error path
    at = data.find(MAGIC)
    while at >= 0:
        if len(data) - at >= HEADER.size:
            _, meta_len, body_len, crc = HEADER.unpack_from(data, at)
            end = at + HEADER.size + meta_len + body_len
            if meta_len and end <= len(data) and zlib.crc32(data[at + HEADER.size : end]) == crc:
                return True
        at = data.find(MAGIC, at + 1)
    return False


def frame_at(path: Path, start: int, end: int) -> Frame | None:
    """The whole, valid frame at ``start`` that ends exactly at ``end`` in the file, or None."""
    if end - start < HEADER.size:
        return None
    try:
        fd = fsio.open_file(path, os.O_RDONLY)
        try:
            data = os.pread(fd, end - start, start)
        finally:
            os.close(fd)
    except OSError:
        return None
    try:
        frame = next(iter_frames(data))
    except (FrameError, StopIteration):
        return None
    return frame if frame.end == len(data) else None


def read_body(data: bytes | memoryview, frame: Frame) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(bytes(memoryview(data)[frame.body_start : frame.body_end]))
    return body


class Journal:
    """The journal file, opened for appending for the life of the store."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def size(self) -> int:
        """The file's size; 0 when it is missing or a symlink (never followed: the store reports it)."""
        try:
            info = os.lstat(self.path)
        except FileNotFoundError:
            return 0
        return info.st_size if stat.S_ISREG(info.st_mode) else 0

    def read(self, start: int = 0, size: int = -1) -> bytes:
        try:
            return fsio.read_bytes(self.path, start, size)
        except FileNotFoundError:
            return b""
        except OSError as error:
            if error.errno == errno.ELOOP:
                return b""  # a symlink: the store reports it and never reads through it
            raise

    def append(self, frame: bytes, expected_size: int) -> int:
        """Append and fdatasync; returns the new size. On failure the file is cut back to ``expected_size``."""
        created = self._fd is None and not self.path.exists()
        if self._fd is None:
            self._fd = fsio.open_file(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        fd = self._fd
        try:
            fsio.fault("journal.before-append")
            if fsio.fault_hook is not None:
                half = len(frame) // 2
                fsio.write_all(fd, frame[:half])
                fsio.fault("journal.mid-append")
                fsio.write_all(fd, frame[half:])
            else:
                fsio.write_all(fd, frame)
            fsio.fault("journal.before-fsync")
            os.fdatasync(fd)
            fsio.fault("journal.after-fsync")
            if created:
                fsio.fsync_dir(self.path.parent)
        except OSError:
            self._cut_back(expected_size)
            raise
        return expected_size + len(frame)

    def _cut_back(self, size: int) -> None:
        try:
            if self._fd is not None:
                os.ftruncate(self._fd, size)
                os.fdatasync(self._fd)
        except OSError:
            pass  # what is left is a torn tail, which the next open detects and moves aside

    def truncate(self, size: int) -> None:
        self.close()
        fd = fsio.open_file(self.path, os.O_WRONLY)
        try:
            os.ftruncate(fd, size)
            os.fsync(fd)
        finally:
            os.close(fd)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
