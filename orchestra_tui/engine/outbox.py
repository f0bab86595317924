"""The durable webhook outbox: ``.orchestra/webhooks/pending/`` holds one JSON file per delivery not yet made.

Every orchestra process of a project shares it. Writes happen under ``.orchestra/webhooks/lock`` and are
atomic (``fsio.atomic_write``), so a delivery survives the process that queued it: the next process that
opens the project sends it. The ``cursor`` file says up to which history entry events have been queued, so
an entry seen by several processes (a CLI commits it, the TUI catches up with it) is queued once. It also
keeps a fingerprint of the webhook configuration that queued it (see ``WebhookDispatcher.catch_up``).

Files never hold a webhook's URL (it may carry a token): a delivery names its webhook by ``hook_key(url)``.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import StateError
from ..projectfiles import WEBHOOKS_CURSOR, WEBHOOKS_DIR
from ..store import fsio

if TYPE_CHECKING:
    import filelock

LOCK_TIMEOUT = 10.0


def hook_key(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()[:16]


class DamagedDelivery(Exception):
    pass


@dataclass
class Delivery:
    """One POST to make: ``body`` is the exact JSON text sent (and signed) on every attempt."""

    name: str
    hook: str
    event: str
    entry: str | None
    body: str
    created: float
    next_at: float
    attempts: int = 0


@dataclass(frozen=True)
class Cursor:
    seq: int
    hooks: str  # fingerprint of the webhook configuration that wrote it


class Outbox:
    def __init__(self, state_dir: Path) -> None:
        self.dir = state_dir / WEBHOOKS_DIR
        self.pending = self.dir / "pending"
        self.damaged = self.dir / "damaged"
        self._cursor_path = self.dir / WEBHOOKS_CURSOR
        self._lock: filelock.FileLock | None = None  # made when first locked (see ``locked``)
        self._mutex = threading.Lock()  # the file lock alone does not exclude threads of one process

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Exclusive across processes and threads; every change to the outbox happens inside.

        ``filelock`` is imported here: a read-only command never locks the outbox, and the import is ~8 ms of
        the ~200 ms a cold ``orchestra next`` takes."""
        import filelock

        if self._lock is None:
            self._lock = filelock.FileLock(str(self.dir / "lock"), timeout=LOCK_TIMEOUT, mode=fsio.FILE_MODE)
        for directory in (self.dir, self.pending):
            fsio.private_dir(directory)
        try:
            with self._mutex, self._lock.acquire(poll_interval=0.005):
                yield
        except filelock.Timeout:
            raise StateError(
                f"another orchestra process has held {self.dir / 'lock'} for over {LOCK_TIMEOUT:g}s"
            ) from None

    def cursor(self) -> Cursor | None:
        try:
            data = json.loads(self._cursor_path.read_bytes())
            return Cursor(int(data["seq"]), str(data["hooks"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def set_cursor(self, cursor: Cursor) -> None:
        fsio.atomic_write(self._cursor_path, json.dumps(asdict(cursor)).encode())

    def names(self) -> list[str]:
        """Pending deliveries, oldest entry first (names start with the entry id)."""
        try:
            return sorted(
                name[:-5]
                for name in os.listdir(self.pending)
                if name.endswith(".json") and not name.startswith(fsio.TEMP_PREFIX)
            )
        except FileNotFoundError:
            return []

    def read(self, name: str) -> Delivery | None:
        """The delivery, or None when it is gone (made by another process).

        A file that cannot be trusted is moved to ``damaged/`` and ``DamagedDelivery`` says where."""
        path = self.pending / f"{name}.json"
        try:
            return Delivery(**json.loads(fsio.read_bytes(path)))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError) as error:
            fsio.private_dir(self.damaged)
            target = self.damaged / path.name
            os.replace(path, target)
            raise DamagedDelivery(f"{path} could not be read ({type(error).__name__}); moved to {target}") from None

    def write(self, delivery: Delivery) -> None:
        fsio.atomic_write(
            self.pending / f"{delivery.name}.json", json.dumps(asdict(delivery), ensure_ascii=False).encode()
        )

    def remove(self, name: str) -> None:
        (self.pending / f"{name}.json").unlink(missing_ok=True)

    def remove_stale_temp_files(self, older_than: float, now: float) -> None:
        """Temporary files of a process killed mid-write (a live writer's file is seconds old at most)."""
        for path in self.pending.glob(f"{fsio.TEMP_PREFIX}*"):
            try:
                if now - path.stat().st_mtime > older_than:
                    path.unlink()
            except OSError:
                pass
