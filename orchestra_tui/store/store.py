"""The durable state of one project: the current task records, and the permanent history of every change.

Commit protocol (docs/ARCHITECTURE.md C4): under the lock on ``.orchestra/lock``, catch up with entries other
processes appended, compute the change from that fresh state, append one CRC-framed entry to the journal and
fdatasync it (the commit point), then apply it in memory. Every ``CHECKPOINT_EVERY`` entries, once the journal has
also grown by a quarter of the snapshot's size (and on ``flush``), the snapshot ``project_state.json`` is
rewritten atomically and a compressed, content-addressed copy is kept under ``checkpoints/``: a checkpoint costs
O(project), so its cost stays O(1) per journal byte, and loading or rolling back any distance replays at most a
quarter of a snapshot's worth of journal. On open, a damaged snapshot, checkpoint or journal tail is moved to
``damaged/`` and the state is rebuilt from what remains; ``repairs`` says what was done.

Trust (docs/ARCHITECTURE.md C13): the state directory must be a real directory of this user (0700, files 0600); a
symlink in it was not made by orchestra and is never followed (set aside when repairing). A snapshot or
checkpoint names the journal frame it ends with; one that belongs to another project or does not line up
with this journal is not trusted (the journal is). Opened with ``repair=False`` (read-only commands, the
app until a change) nothing is written: damage is reported in ``warnings``, and the first commit repairs.
"""

from __future__ import annotations

import collections
import errno
import os
import stat
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import LockTimeoutError, StaleStateError, StateError, UnknownEntryError
from ..projectfiles import CHECKPOINT_DIR, JOURNAL_FILE, SNAPSHOT_FILE
from . import fsio, holder, snapshot
from .changes import Change, Figures, Progress, Record, apply, diff_meta, diff_tasks
from .journal import MAGIC, FrameError, Journal, encode_frame, frame_at, frame_crc, iter_frames, read_body
from .statelock import LockBusy, StateLock

if TYPE_CHECKING:  # asyncio and the writer threads load with the first commit needing them: reading commands never do
    import asyncio
    from concurrent.futures import Future, ThreadPoolExecutor

CHECKPOINT_EVERY = 256
LOCK_FILE = "lock"
LOCK_POLL = 0.002  # seconds between tries for a held lock (50 ms let a busy writer starve the others)
REPAIR_HINT = "`orchestra repair` repairs it"  # so does any command that changes state


@dataclass(frozen=True)
class Entry:
    """One history entry: what changed, when, by whom, and the progress figures after it."""

    seq: int
    id: str
    time: str
    actor: str
    action: str
    summary: str
    progress: Mapping[str, Any]  # Figures when this process wrote it; what the file holds when read
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> Entry:
        known = {"seq", "id", "time", "actor", "action", "summary", "progress"}
        return cls(
            seq=int(meta["seq"]),
            id=str(meta["id"]),
            time=str(meta["time"]),
            actor=str(meta.get("actor", "")),
            action=str(meta.get("action", "")),
            summary=str(meta.get("summary", "")),
            progress=dict(meta.get("progress") or {}),
            extra={k: v for k, v in meta.items() if k not in known},
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "seq": self.seq,
            "time": self.time,
            "actor": self.actor,
            "action": self.action,
            "summary": self.summary,
            "progress": self.progress,
            **self.extra,
        }


@dataclass
class Mutation:
    """What a commit writes: computed by the caller from the fresh state, under the lock."""

    changes: list[Change]
    action: str
    summary: str
    extra: dict[str, Any] = field(default_factory=dict)


Listener = Callable[[Entry, list[Change]], None]


@dataclass
class _Waiting:
    """A change queued for the next group (``commit_async``): told through ``told`` once durable, or at once when
    it changes nothing or its computation refuses it."""

    compute: Callable[[], Mutation | None]
    actor: str
    reads: Callable[[], frozenset[str]]  # the task ids its computation reads (asked when its group forms)
    told: asyncio.Future[Entry | None]


@dataclass
class _Member:
    """A change of a group: its entry, where its frame ends and its (start, CRC), and whom to tell."""

    told: asyncio.Future[Entry | None]
    entry: Entry
    changes: list[Change]
    end: int
    frame: tuple[int, int]


@dataclass
class _Group:
    """Entries written together: one write and one fdatasync (``io``, in the store's writer thread)."""

    members: list[_Member]
    io: Future[int]


def _answer(told: asyncio.Future[Entry | None], entry: Entry | None = None, error: Exception | None = None) -> None:
    if not told.done():  # (its caller may have given up meanwhile)
        told.set_result(entry) if error is None else told.set_exception(error)


async def _io_done(io: Future[int]) -> None:
    """Until the writer thread is done with ``io``, woken by one callback from that thread. (``asyncio.wrap_future``
    under ``asyncio.shield`` took three turns of the event loop, each behind the runs' own callbacks, in the one
    chain every commit waits on.) Cancelled, it returns at once: the caller's ``_finish_group`` waits for the io."""
    import asyncio

    loop = asyncio.get_running_loop()
    landed: asyncio.Future[None] = loop.create_future()

    def settle() -> None:
        if not landed.done():
            landed.set_result(None)

    def wake(_io: Future[int]) -> None:
        with suppress(RuntimeError):  # the loop closed meanwhile: nobody waits any more
            loop.call_soon_threadsafe(settle)

    io.add_done_callback(wake)
    await landed


def entry_id(seq: int) -> str:
    return f"{seq:08d}"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class Store:
    def __init__(self, directory: Path, *, project_id: str, version: str, lock_timeout: float = 30.0) -> None:
        self.dir = directory
        self.project_id = project_id
        self.version = version
        self.lock_timeout = lock_timeout
        self.journal = Journal(directory / JOURNAL_FILE)
        self.snapshot_path = directory / SNAPSHOT_FILE
        self.checkpoint_dir = directory / CHECKPOINT_DIR
        self.damaged_dir = directory / "damaged"
        self.tasks: dict[str, Record] = {}
        self.meta: dict[str, Any] = {}
        self.progress = Progress()
        self.seq = 0
        self.offset = 0
        self.read_only = False  # opened without write access: reads work, changes fail in one line
        self._prepared = False  # repaired and ready for writing (at open with repair=True, else at the first commit)
        self._last_frame: tuple[int, int] | None = None  # (start, CRC) of the frame ending at ``offset``
        self.repairs: list[str] = []
        self.warnings: list[str] = []
        self.listeners: list[Listener] = []
        self._snapshot_seq = -1
        self._snapshot_size = 0
        self._task_bytes = snapshot.TaskBytes()  # the tasks as the last snapshot encoded them
        self._checkpoint_seq = 0
        self._checkpoint_offset = 0
        self._history: list[Entry] = []
        self._history_end: int | None = None
        self._file_lock = StateLock(directory / LOCK_FILE)
        self._holder = holder.HolderRecord(directory)
        self.on_wait: Callable[[str], None] | None = None  # told at once, in one line, when the lock is busy
        self._mutex = threading.RLock()
        self._waiting: collections.deque[_Waiting] = collections.deque()  # commit_async's queue
        self._grouping: asyncio.Task[None] | None = None  # writes the queue out, one group at a time
        self._in_flight: _Group | None = None  # written, its fdatasync under way; the lock and _mutex held for it
        self._writer: ThreadPoolExecutor | None = None
        self._checkpointer: ThreadPoolExecutor | None = None  # writes the checkpoints group commits make due
        self._snapshot_lock = threading.Lock()  # one writer of project_state.json at a time in this process

    def notes(self) -> list[str]:
        """Every repair and warning so far, as a person is told them (``repaired: …`` / ``warning: …``); the
        faces show those they have not shown yet."""
        return [f"repaired: {line}" for line in self.repairs] + [f"warning: {line}" for line in self.warnings]

    # -- opening and recovery -------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        directory: Path,
        *,
        project_id: str,
        version: str,
        lock_timeout: float = 30.0,
        repair: bool = True,
        on_wait: Callable[[str], None] | None = None,
    ) -> Store:
        """Load the state. With ``repair`` (and write access) damage is set aside and the state rebuilt; without,
        damage is only reported in ``warnings`` and nothing is written until the first commit."""
        store = cls(directory, project_id=project_id, version=version, lock_timeout=lock_timeout)
        store.on_wait = on_wait
        store._check_dir()
        if repair:
            store._set_links_aside()
        store.read_only = not store._writable()
        if repair and not store.read_only:
            with store._locked():
                store._prepare()
        else:
            store._set_links_aside(report_only=True)
            store._load(repair=False)
        return store

    def _check_dir(self) -> None:
        """Refuse a state directory that is a symlink or another user's (a checkout may ship either)."""
        if not os.path.lexists(self.dir):
            return
        try:
            fsio.private_dir(self.dir, create=False)
        except fsio.UnsafePathError as error:
            raise StateError(f"{error}; nothing was read or written (move it away to start afresh)") from None
        except OSError as error:
            raise StateError(f"cannot read {self.dir}: {error.strerror or error}") from None

    def _writable(self) -> bool:
        try:
            self.dir.parent.mkdir(parents=True, exist_ok=True)
            fsio.private_dir(self.dir)
            os.close(fsio.open_file(self.dir / LOCK_FILE, os.O_WRONLY | os.O_CREAT))
            return True
        except fsio.UnsafePathError as error:
            raise StateError(f"{error}; nothing was read or written (move it away to start afresh)") from None
        except OSError:
            return False

    def _set_links_aside(self, report_only: bool = False) -> None:
        """Symlinks in the state directory were not made by orchestra: never followed, and moved (the links
        themselves) to ``damaged/`` when repairing."""
        try:
            links = [entry.name for entry in os.scandir(self.dir) if entry.is_symlink()]
        except FileNotFoundError:
            return
        for name in sorted(links, key=lambda name: name != "damaged"):
            path = self.dir / name
            message = (
                f"{name} is a symbolic link (to {fsio.link_target(path)}); orchestra does not follow "
                f"links in {self.dir.name}/"
            )
            if report_only:
                self._problem(False, message)
            elif name == self.damaged_dir.name:
                path.unlink(missing_ok=True)  # removing a link leaves what it points to alone
                self.repairs.append(message + "; removed")
            else:
                try:
                    self._problem(True, message, move=path)
                except OSError as error:  # no write access: reported, and still never followed
                    self.warnings.append(f"{message} (not repaired: {fsio.describe_os_error(error, path)})")

    def _prepare(self) -> None:
        """Under the lock: write ``.gitignore``, drop dead temp files, and load repairing what is damaged."""
        ignore = self.dir / ".gitignore"
        if not os.path.lexists(ignore):
            fsio.atomic_write(ignore, b"# orchestra's runtime state: not for version control\n*\n")
        self._remove_temp_files()
        self._load(repair=True)
        self._prepared = True

    def _remove_temp_files(self) -> None:
        """Temporary files a killed process left mid-write. The store writes them only under the lock, so now
        (holding it) none of them is in use."""
        for directory, pattern in (
            (self.dir, f"{fsio.TEMP_PREFIX}{SNAPSHOT_FILE}-*"),
            (self.dir, f"{fsio.TEMP_PREFIX}.gitignore-*"),
            (self.checkpoint_dir, f"{fsio.TEMP_PREFIX}*"),
            (self.damaged_dir, f"{fsio.TEMP_PREFIX}*"),
        ):
            for path in directory.glob(pattern):
                path.unlink(missing_ok=True)

    def _load(self, *, repair: bool) -> None:
        self._snapshot_seq = -1
        base = self._load_snapshot(repair)
        if base is None:
            base = self._best_checkpoint(repair)
        if base is not None:
            self.tasks, self.meta, self.seq, self.offset = dict(base.tasks), dict(base.meta), base.seq, base.offset
            self._checkpoint_seq, self._checkpoint_offset = base.seq, base.offset
            self._last_frame = base.frame
        else:
            self.tasks, self.meta, self.seq, self.offset = {}, {}, 0, 0
            self._last_frame = None
        journal_size = self.journal.size()
        if journal_size < self.offset:
            self._problem(
                repair,
                f"{JOURNAL_FILE} is shorter than the state expects (entries after {entry_id(self.seq)} were never "
                f"there or were cut off); history stops early",
                copy=self.journal.path,
            )
            self.offset, self._last_frame = self._last_good_frame()
        self.progress = Progress(self.tasks.values())
        self._catch_up(repair)
        if repair and (self.repairs or not self.snapshot_path.exists()) and self.seq > 0:
            self._write_snapshot()

    def _load_snapshot(self, repair: bool) -> snapshot.Snapshot | None:
        try:
            data = fsio.read_bytes(self.snapshot_path)
        except FileNotFoundError:
            # A young project has no snapshot until its first checkpoint or a clean close (another process
            # may still be writing its first entries); once a checkpoint exists, a snapshot was written too.
            if self.journal.size() > 0 and self._checkpoints():
                self._problem(repair, f"{SNAPSHOT_FILE} was missing; rebuilt it from the history")
            return None
        except OSError as error:
            if error.errno == errno.ELOOP:
                return None  # a symlink: reported by _set_links_aside, never read through
            raise StateError(f"cannot read {self.snapshot_path}: {error.strerror}") from None
        try:
            snap = snapshot.decode(data)
            self._check_belongs(snap)
        except snapshot.SnapshotError as error:
            if error.future:
                raise StateError(f"{self.snapshot_path}: {error.reason}; the file was left untouched") from None
            self._problem(repair, f"{SNAPSHOT_FILE} could not be trusted ({error.reason})", move=self.snapshot_path)
            return None
        self._snapshot_seq, self._snapshot_size = snap.seq, len(data)
        return snap

    def _check_belongs(self, snap: snapshot.Snapshot) -> None:
        """A snapshot or checkpoint is this project's and ends where this journal has that very frame; else
        SnapshotError (the journal is preferred over a state that disagrees with it)."""
        if snap.project_id != self.project_id:
            raise snapshot.SnapshotError(f"it belongs to project {snap.project_id!r}, not {self.project_id!r}")
        if self.journal.size() < snap.offset or snap.offset == 0:
            return  # a journal cut short: the snapshot holds what was lost (reported by _load)
        if snap.frame is not None:
            start, crc = snap.frame
            frame = frame_at(self.journal.path, start, snap.offset) if 0 <= start < snap.offset else None
            if frame is None or frame.crc != crc:  # (its seq may be lower: after a journal was cut short)
                raise snapshot.SnapshotError(
                    f"it does not line up with {JOURNAL_FILE} (the entry it ends with is not at byte {start})"
                )
        elif self.journal.size() > snap.offset and self.journal.read(snap.offset, len(MAGIC)) != MAGIC:
            # an older snapshot: the next frame must start right there
            raise snapshot.SnapshotError(f"it does not line up with {JOURNAL_FILE}")

    def _checkpoints(self) -> list[tuple[int, Path]]:
        try:
            if not stat.S_ISDIR(os.lstat(self.checkpoint_dir).st_mode):
                return []  # a symlink: reported by _set_links_aside, never listed through
            names = os.listdir(self.checkpoint_dir)
        except FileNotFoundError:
            return []
        found = []
        for name in names:
            match = snapshot.CHECKPOINT_NAME.match(name)
            if match:
                found.append((int(match.group(1)), self.checkpoint_dir / name))
        return sorted(found)

    def _best_checkpoint(self, repair: bool, at_most: int | None = None) -> snapshot.Snapshot | None:
        for seq, path in reversed(self._checkpoints()):
            if at_most is not None and seq > at_most:
                continue
            try:
                checkpoint = snapshot.read_checkpoint(path)
                self._check_belongs(checkpoint)
                return checkpoint
            except snapshot.SnapshotError as error:
                self._problem(repair, f"checkpoint {path.name} could not be trusted ({error.reason})", move=path)
        return None

    def _catch_up(self, repair: bool) -> int:
        """Apply the journal's entries after ``self.offset``. Returns how many were applied."""
        start = self.offset
        data = self.journal.read(start)
        applied = 0
        try:
            for frame in iter_frames(data):
                if _repeated(frame.meta, self.seq):
                    self._skip_repeated(frame.meta, start + frame.offset, start + frame.end)
                    continue
                if frame.meta.get("seq") != self.seq + 1:
                    raise FrameError(
                        frame.offset, f"entry {frame.meta.get('seq')} where {self.seq + 1} was expected", torn=False
                    )
                entry = Entry.from_meta(frame.meta)
                changes = read_body(data, frame)["changes"]
                self._apply(entry, changes, start + frame.end, (start + frame.offset, frame.crc))
                applied += 1
        except FrameError as error:
            if error.torn and not repair:
                return applied  # another process may be appending it right now
            self._problem(
                repair,
                f"{JOURNAL_FILE} had a {'torn' if error.torn else 'damaged'} entry after {entry_id(self.seq)} "
                f"({error.reason}); it was never committed"
                if error.torn
                else f"{JOURNAL_FILE} is damaged after entry {entry_id(self.seq)} ({error.reason}); "
                "the state was rebuilt up to that entry",
                tail=start + error.offset,
            )
        return applied

    def _skip_repeated(self, meta: dict[str, Any], start: int, end: int) -> None:
        """A copy of an entry already applied (a duplicated region of the file): skipped, so the entries after
        it are not set aside with it. The journal is append-only; the copy stays, and is skipped on every read."""
        self.offset = end
        note = f"{JOURNAL_FILE} repeats entry {entry_id(int(meta['seq']))} at byte {start}; the copy is skipped"
        if note not in self.warnings:
            self.warnings.append(note)

    def _last_good_frame(self) -> tuple[int, tuple[int, int] | None]:
        """The end of the journal's whole frames, and the (start, CRC) of the last one."""
        end, last = 0, None
        try:
            for frame in iter_frames(self.journal.read(0)):
                end, last = frame.end, (frame.offset, frame.crc)
        except FrameError:
            pass
        return end, last

    def _problem(
        self, repair: bool, message: str, *, move: Path | None = None, copy: Path | None = None, tail: int | None = None
    ) -> None:
        """Record damage; when repairing, set the untrusted bytes aside (never overwrite them)."""
        if not repair:
            why = "the state directory is not writable" if self.read_only else REPAIR_HINT
            self.warnings.append(f"{message} (not repaired: {why})")
            return
        fsio.private_dir(self.damaged_dir)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        if move is not None and os.path.lexists(move):
            target = self.damaged_dir / f"{stamp}-{move.name}"
            os.replace(move, target)
            fsio.fsync_dir(move.parent)
            message += f"; moved to {target}"
        if copy is not None and os.path.isfile(copy) and not os.path.islink(copy):
            target = self.damaged_dir / f"{stamp}-{copy.name}"
            fsio.atomic_write(target, fsio.read_bytes(copy))
            message += f"; a copy is in {target}"
        if tail is not None:
            start = tail
            rest = self.journal.read(start)
            target = self.damaged_dir / f"{stamp}-{JOURNAL_FILE}-from-{start}"
            fsio.atomic_write(target, rest)
            self.journal.truncate(start)
            message += f"; the {len(rest)} bytes set aside are in {target}"
        fsio.fsync_dir(self.damaged_dir)
        self.repairs.append(message)

    # -- locking --------------------------------------------------------------------------------------

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with self._mutex:
            self._finish_group()  # this thread's own group in flight (the loop's, re-entered): told first
            self._lock()
            try:
                yield
            except OSError as error:  # a repair or snapshot write on a full or read-only disk: one line, no traceback
                raise StateError(fsio.describe_os_error(error, Path(error.filename or self.dir))) from None
            finally:
                self._file_lock.release()

    def _lock(self, *, say_holder: bool = True) -> None:
        """Take the state lock; ``say_holder`` False: the caller writes ``lock.holder`` itself (a group commit, in
        its writer thread: two system calls fewer on the event loop while it holds the lock)."""
        try:
            self._acquire()
        except OSError as error:
            raise StateError(fsio.describe_os_error(error, self.dir / LOCK_FILE)) from None
        if say_holder:
            self._holder.write(now_iso())

    def _acquire(self) -> None:
        """Take the lock; when it is busy, say at once who holds it (``on_wait``), then wait up to the timeout."""
        try:
            self._file_lock.acquire(0, LOCK_POLL)
            return
        except LockBusy:
            pass
        if self.on_wait is not None:
            self.on_wait(
                f"waiting up to {self.lock_timeout:g} s for {self.dir / LOCK_FILE}: held by {holder.describe(self.dir)}"
            )
        try:
            self._file_lock.acquire(self.lock_timeout, LOCK_POLL)
        except LockBusy:
            raise LockTimeoutError(
                f"gave up after {self.lock_timeout:g} s waiting for {self.dir / LOCK_FILE}: held by "
                f"{holder.describe(self.dir)}; "
                "nothing was changed (try again when it is done)"
            ) from None

    # -- reading and writing --------------------------------------------------------------------------

    def refresh(self) -> int:
        """Catch up with entries other processes committed (lock-free). Returns how many were applied."""
        with self._mutex:
            size = self.journal.size()
            if size == self.offset or self._in_flight is not None:
                return 0  # (with a group in flight this process holds the lock: the entries after are its own)
            if size < self.offset:  # another process cut a damaged tail: start over from disk
                self._reload()
                return 1
            return self._catch_up(repair=False)

    def _sync_locked(self) -> None:
        size = self.journal.size()
        if size < self.offset:
            self._load(repair=True)
            self._history, self._history_end = [], None
            self._notify_reload()
        elif size > self.offset:
            self._catch_up(repair=True)

    def _reload(self) -> None:
        with self._locked():
            self._load(repair=self._prepared)  # a store opened read-only repairs nothing until it commits
        self._history, self._history_end = [], None
        self._notify_reload()

    def _notify_reload(self) -> None:
        """Listeners get an entry with action ``reload`` and no changes: rebuild from ``tasks``."""
        entry = Entry(
            self.seq, entry_id(self.seq), now_iso(), "store", "reload", "reloaded from disk", self.progress.figures()
        )
        for listener in self.listeners:
            listener(entry, [])

    def commit(
        self, compute: Callable[[], Mutation | None], *, actor: str, expect_seq: int | None = None
    ) -> Entry | None:
        """Compute a change on the fresh state and make it durable. Returns None when nothing changed.

        ``expect_seq`` refuses the commit if another change landed since the caller looked at entry
        ``expect_seq`` (for changes computed from what a person saw, not from the fresh state).
        """
        if self.read_only:
            # There is no lock to take without write access. Find out lock-free whether anything would change,
            # so that reads (and a no-op plan sync) work on a read-only project; a real change fails at the lock.
            with self._mutex:
                self.refresh()
                self._check_expected(expect_seq)
                mutation = compute()
                if mutation is None or not mutation.changes:
                    return None
        with self._locked():
            if not self._prepared:
                self._prepare_late()
            self._sync_locked()
            self._check_expected(expect_seq)
            mutation = compute()
            if mutation is None or not mutation.changes:
                return None
            entry, frame = self._encode(mutation, actor, self.seq + 1, self.progress.copy())
            start = self.offset
            try:
                end = self.journal.append(frame, start)
            except OSError as error:
                raise StateError(fsio.describe_os_error(error, self.journal.path) + "; nothing was changed") from None
            self._apply(entry, mutation.changes, end, (start, frame_crc(frame)))
            self._maybe_checkpoint()
            return entry

    def _encode(self, mutation: Mutation, actor: str, seq: int, progress: Progress) -> tuple[Entry, bytes]:
        """Entry ``seq`` of ``mutation`` and its frame; ``progress`` (the figures before it) is moved past it."""
        meta = {
            **mutation.extra,
            "seq": seq,
            "id": entry_id(seq),
            "time": now_iso(),
            "actor": actor,
            "action": mutation.action,
            "summary": mutation.summary,
            "progress": self._progress_after(mutation.changes, progress),
        }
        return Entry.from_meta(meta), encode_frame(meta, {"changes": mutation.changes})

    def _maybe_checkpoint(self, *, aside: bool = False) -> None:
        if (
            self.seq - self._checkpoint_seq >= CHECKPOINT_EVERY
            and self.offset - self._checkpoint_offset >= self._snapshot_size // 4
        ):
            self._checkpoint(aside=aside)

    # -- group commit ---------------------------------------------------------------------------------

    async def commit_async(
        self, compute: Callable[[], Mutation | None], *, actor: str, reads: Callable[[], frozenset[str]]
    ) -> Entry | None:
        """``commit``, grouped (group commit): changes that arrive while a group's fdatasync is under way wait, and
        go out together in the next write and fdatasync. The durability promise is per change, not per
        fdatasync: each is computed on the fresh state under the lock, as by ``commit``, and returns (is applied
        in memory, told to the listeners) only once the fdatasync that covers it is done. The event loop runs
        meanwhile (the write and the fdatasync are in the store's writer thread).

        ``reads()``: the task ids ``compute`` reads (their records, and what the graph says of them), asked on the
        fresh state when the group forms. A change that reads what an earlier change of the group writes, or
        writes what it did not say it reads, waits for the next group: each is computed on exactly the state one
        commit at a time would have given it. A caller cancelled before its change was computed writes nothing."""
        return await self.commit_soon(compute, actor=actor, reads=reads)

    def commit_soon(
        self, compute: Callable[[], Mutation | None], *, actor: str, reads: Callable[[], frozenset[str]]
    ) -> asyncio.Future[Entry | None]:
        """``commit_async``'s change queued now, and the future it is answered through (a caller that must not take
        a change under way back awaits it through ``asyncio.shield``, with no task of its own: a task only to await
        this future cost a turn of the event loop before the change was queued and one after it was answered)."""
        import asyncio

        loop = asyncio.get_running_loop()
        told: asyncio.Future[Entry | None] = loop.create_future()
        if self.read_only:
            try:
                told.set_result(self.commit(compute, actor=actor))
            except Exception as error:
                told.set_exception(error)
            return told
        self._waiting.append(_Waiting(compute, actor, reads, told))
        if self._grouping is None or self._grouping.done():
            self._grouping = loop.create_task(self._write_groups(), name="orchestra group commit")
        return told

    async def _write_groups(self) -> None:
        """Write the waiting changes out, one group at a time, until none waits."""
        import asyncio

        try:
            while self._waiting:
                self._mutex.acquire()  # released by _finish_group (or below, when nothing was written)
                try:
                    group = self._start_group()
                except BaseException as error:
                    self._mutex.release()
                    if not isinstance(error, Exception):
                        raise
                    self._answer_waiting(error)  # the lock or a repair failed: as for each of them one at a time
                    continue
                if group is None:
                    self._mutex.release()
                    continue
                try:
                    await _io_done(group.io)
                finally:  # also when cancelled (the loop closing): the fdatasync is waited for, and told
                    self._finish_group()
        except asyncio.CancelledError:
            self._answer_waiting(None)
            raise

    def _answer_waiting(self, error: Exception | None) -> None:
        """Every waiting change fails with ``error`` (None: cancelled); nothing of them was written."""
        while self._waiting:
            told = self._waiting.popleft().told
            if not told.done():
                told.cancel() if error is None else told.set_exception(error)

    def _start_group(self) -> _Group | None:
        """Under ``_mutex``: take the lock, catch up, compute the waiting changes that go together, write them and
        start their fdatasync. None, the lock released, when none of them changed anything."""
        self._lock(say_holder=False)
        try:
            if not self._prepared:
                self._prepare_late()
            self._sync_locked()
            members, frames = self._compute_group()
        except OSError as error:
            self._file_lock.release()
            raise StateError(fsio.describe_os_error(error, Path(error.filename or self.dir))) from None
        except BaseException:
            self._file_lock.release()
            raise
        if not members:
            self._file_lock.release()
            return None
        if self._writer is None:
            from concurrent.futures import ThreadPoolExecutor

            self._writer = ThreadPoolExecutor(1, thread_name_prefix="orchestra-journal")
        group = _Group(members, self._writer.submit(self._append_group, b"".join(frames), self.offset))
        self._in_flight = group
        return group

    def _append_group(self, frames: bytes, offset: int) -> int:
        """In the writer thread, the lock held: say who holds it, then write and fdatasync the group's frames."""
        self._holder.write(now_iso())
        return self.journal.append(frames, offset)

    def _compute_group(self) -> tuple[list[_Member], list[bytes]]:
        """The next group's entries and frames, from the front of the queue, in order. A change that changes
        nothing, or whose computation (or encoding) raises, is answered at once and leaves the queue."""
        members: list[_Member] = []
        frames: list[bytes] = []
        written: set[str | None] = set()
        progress, seq, offset = self.progress.copy(), self.seq, self.offset
        while self._waiting:
            waiting = self._waiting[0]
            try:
                reads = waiting.reads()
                if not written.isdisjoint(reads):
                    break
                mutation = None if waiting.told.done() else waiting.compute()  # (done: its caller gave up)
                if mutation is not None and mutation.changes:
                    touched = {change["task"] for change in mutation.changes}
                    alone = not touched <= reads  # it wrote what it did not name: nothing may follow it
                    if members and alone:
                        break  # computed again at the head of the next group, on the state this one leaves
                    entry, frame = self._encode(mutation, waiting.actor, seq + 1, progress)
            except Exception as error:
                self._waiting.popleft()
                _answer(waiting.told, error=error)
                if members:
                    break  # (the figures may have moved past it: what follows goes in the next group)
                progress = self.progress.copy()
                continue
            self._waiting.popleft()
            if mutation is None or not mutation.changes:
                _answer(waiting.told, None)
                continue
            seq += 1
            members.append(
                _Member(waiting.told, entry, mutation.changes, offset + len(frame), (offset, frame_crc(frame)))
            )
            frames.append(frame)
            offset += len(frame)
            written |= touched
            if alone:
                break
        return members, frames

    def _finish_group(self) -> None:
        """Once the group in flight is durable (its fdatasync done, waited for here), apply its entries in order,
        then tell the listeners and answer each caller; a failed write or fdatasync answers each with the error
        (the journal was cut back: none of them was committed). Releases the lock and ``_mutex`` it held."""
        group, self._in_flight = self._in_flight, None
        if group is None:
            return
        try:
            try:
                group.io.result()
            except Exception as error:
                failed = (
                    StateError(fsio.describe_os_error(error, self.journal.path) + "; nothing was changed")
                    if isinstance(error, OSError)
                    else error
                )
                for member in group.members:
                    _answer(member.told, error=failed)
                return
            for member in group.members:  # all applied before any listener runs: one that commits sees them
                self._apply_state(member.entry, member.changes, member.end, member.frame)
            for member in group.members:
                try:
                    self._tell(member.entry, member.changes)
                except Exception as error:  # as from ``commit``: the change is durable, its caller hears of this
                    _answer(member.told, error=error)
                _answer(member.told, member.entry)
            self._maybe_checkpoint(aside=True)
        finally:
            self._file_lock.release()
            self._mutex.release()

    def _prepare_late(self) -> None:
        """The first commit of a store opened without repair: repair first (links, damage), then write."""
        before = (self.seq, self.offset, len(self.repairs))
        self._set_links_aside()
        self._prepare()
        if (self.seq, self.offset, len(self.repairs)) != before:
            self._history, self._history_end = [], None
            self._notify_reload()

    def _check_expected(self, expect_seq: int | None) -> None:
        if expect_seq is not None and expect_seq != self.seq:
            raise StaleStateError(
                f"the project changed since you looked (entry {entry_id(expect_seq)} -> {entry_id(self.seq)}); "
                "nothing was written"
            )

    def _progress_after(self, changes: list[Change], progress: Progress) -> Figures:
        touched: dict[str, Record] = {}
        meta: dict[str, Any] = {}
        for change in changes:
            task = change["task"]
            if task is not None and task not in touched and task in self.tasks:
                touched[task] = self.tasks[task]
        apply(touched, meta, changes, progress)
        return progress.figures()

    def _apply(self, entry: Entry, changes: list[Change], end: int, frame: tuple[int, int]) -> None:
        self._apply_state(entry, changes, end, frame)
        self._tell(entry, changes)

    def _apply_state(self, entry: Entry, changes: list[Change], end: int, frame: tuple[int, int]) -> None:
        apply(self.tasks, self.meta, changes, self.progress)
        self.seq, self.offset, self._last_frame = entry.seq, end, frame
        if self._history_end is not None:
            self._history.append(entry)
            self._history_end = end

    def _tell(self, entry: Entry, changes: list[Change]) -> None:
        for listener in self.listeners:
            listener(entry, changes)

    def _checkpoint(self, *, aside: bool = False) -> None:
        """Refresh the snapshot and keep a checkpoint. The commit is already durable: a failure here only warns.

        ``aside`` (after a group commit): the state is taken here, under the lock, and encoded, written and fsync'd
        in a thread of their own, outside the lock, while the event loop and the next groups go on. Written in
        line, their four fsyncs held every run waiting for a commit: 0.9 s of a 10.7 s run of 2,000 instant tasks
        at load 10, up to 0.2 s at a time; encoded in line, 24 ms at 2,000 tasks, every ~180 runs. The snapshot is
        not the commit point: one that lands after a newer one of another process trails the journal, which the
        next open replays from it."""
        seq, offset = self.seq, self.offset
        if not aside:
            if self._write_checkpoint(self._encode_snapshot(), seq):
                self._checkpoint_seq, self._checkpoint_offset = seq, offset
            return
        self._checkpoint_seq, self._checkpoint_offset = seq, offset  # (due again in CHECKPOINT_EVERY entries)
        if self._checkpointer is None:
            from concurrent.futures import ThreadPoolExecutor

            self._checkpointer = ThreadPoolExecutor(1, thread_name_prefix="orchestra-checkpoint")
        encode = self._state_now()
        self._checkpointer.submit(lambda: self._write_checkpoint(encode(), seq))

    def _write_checkpoint(self, data: bytes, seq: int) -> bool:
        """The snapshot of entry ``seq`` (unless a later one was written meanwhile) and its checkpoint. False: a
        write failed (said in ``warnings``)."""
        try:
            self._save_snapshot(data, seq)
            fsio.private_dir(self.checkpoint_dir)
            checksum = data[len(b'{"checksum":"') : len(b'{"checksum":"') + 64].decode()
            with self._snapshot_lock:
                fsio.atomic_write(
                    self.checkpoint_dir / snapshot.checkpoint_name(seq, checksum), snapshot.checkpoint_bytes(data)
                )
        except OSError as error:
            self.warnings.append(fsio.describe_os_error(error, self.checkpoint_dir) + " (the change itself is saved)")
            return False
        return True

    def _write_snapshot(self) -> bytes:
        data = self._encode_snapshot()
        self._save_snapshot(data, self.seq)
        return data

    def _save_snapshot(self, data: bytes, seq: int) -> None:
        """Replace ``project_state.json`` with the snapshot of entry ``seq``, unless this process wrote a later one
        (one writer at a time: the temporary file's name is the process's)."""
        with self._snapshot_lock:
            if seq < self._snapshot_seq:
                return
            fsio.atomic_write(self.snapshot_path, data)
            self._snapshot_seq, self._snapshot_size = seq, len(data)

    def _encode_snapshot(self) -> bytes:
        return self._state_now()()

    def _state_now(self) -> Callable[[], bytes]:
        """The snapshot of the state as it is now, to encode later (in another thread): the task and meta tables
        are copied, their values taken as they are (a change replaces a task's record or a meta value, never edits
        it: ``changes.apply``)."""
        tasks, meta, metrics = dict(self.tasks), dict(self.meta), self.progress.figures()
        seq, offset, frame, taken = self.seq, self.offset, self._last_frame, now_iso()

        def encode() -> bytes:
            data, _checksum = snapshot.encode(
                version=self.version,
                project_id=self.project_id,
                tasks=tasks,
                meta=meta,
                metrics=metrics,
                seq=seq,
                offset=offset,
                last_updated=taken,
                frame=frame,
                known=self._task_bytes,
            )
            return data

        return encode

    def flush(self) -> None:
        """Bring ``project_state.json`` up to date (it otherwise trails the journal by a bounded number of entries)."""
        if self.seq == self._snapshot_seq or self.seq == 0 or not self._prepared:
            return  # a store opened without repair that never committed writes nothing
        if self.journal.size() > self.offset:
            return  # another process committed since: the snapshot is that one's to refresh, from the state it has
            # (this one would replay its entries first: `orchestra run` closing after its driver's 2,000 runs)
        try:
            with self._locked():
                self._sync_locked()
                self._write_snapshot()
        except (OSError, StateError) as error:
            self.warnings.append(f"could not refresh {SNAPSHOT_FILE}: {error} (the history is intact)")

    def close(self) -> None:
        if self._checkpointer is not None:  # its files written before the last snapshot (a later one)
            self._checkpointer.shutdown()
            self._checkpointer = None
        self.flush()
        if self._writer is not None:
            self._writer.shutdown()
            self._writer = None
        self.journal.close()
        self._holder.close()
        self._file_lock.close()

    # -- history --------------------------------------------------------------------------------------

    def history(self) -> list[Entry]:
        """Every entry up to the current state, oldest first. Damaged entries in the middle are skipped (with a
        warning)."""
        with self._mutex:
            start = self._history_end if self._history_end is not None else 0
            if start == 0:
                self._history = []
            data = memoryview(self.journal.read(start))[: max(0, self.offset - start)]
            pos = 0
            while pos < len(data):
                try:
                    for frame in iter_frames(data, pos):
                        pos = frame.end
                        if not self._history or not _repeated(frame.meta, self._history[-1].seq):
                            self._history.append(Entry.from_meta(frame.meta))
                except FrameError as error:
                    self.warnings.append(
                        f"history entry at byte {start + error.offset} of {JOURNAL_FILE} is damaged "
                        f"({error.reason}); skipped"
                    )
                    pos = bytes(data).find(MAGIC, error.offset + 1)
                    if pos < 0:
                        break
            self._history_end = self.offset
            return list(self._history)

    def resolve(self, ref: str | int) -> Entry:
        """An entry by id (``00000042``), seq (``42``), or ``-N`` (N entries before the last)."""
        entries = self.history()
        text = str(ref).strip()
        try:
            number = int(text)
        except ValueError:
            raise UnknownEntryError(text) from None
        if number < 0 or text.startswith("-"):
            index = len(entries) - 1 + number
            if 0 <= index < len(entries):
                return entries[index]
            raise UnknownEntryError(text)
        for entry in entries:
            if entry.seq == number:
                return entry
        raise UnknownEntryError(text)

    def state_at(self, seq: int) -> tuple[dict[str, Record], dict[str, Any]]:
        """The task records and meta right after entry ``seq`` (0: before the first entry)."""
        with self._mutex:
            if seq == self.seq:
                return dict(self.tasks), dict(self.meta)
            if seq < 0 or seq > self.seq:
                raise UnknownEntryError(entry_id(seq))
            base = self._best_checkpoint(repair=False, at_most=seq)
            tasks, meta, at, offset = (
                ({}, {}, 0, 0) if base is None else (dict(base.tasks), dict(base.meta), base.seq, base.offset)
            )
            if at == seq:
                return tasks, meta
            data = self.journal.read(offset)
            try:
                for frame in iter_frames(data):
                    frame_seq = frame.meta.get("seq")
                    if _repeated(frame.meta, at):
                        continue
                    if frame_seq != at + 1:
                        break
                    apply(tasks, meta, read_body(data, frame)["changes"])
                    at = frame_seq
                    if at == seq:
                        return tasks, meta
            except FrameError:
                pass
            raise StateError(
                f"the history needed to rebuild entry {entry_id(seq)} is damaged; `orchestra backups` shows "
                "what is left"
            )

    def diff(self, seq_a: int, seq_b: int | None = None) -> list[Change]:
        """Changes that turn the state after entry ``seq_a`` into the state after ``seq_b`` (default: now)."""
        tasks_a, meta_a = self.state_at(seq_a)
        tasks_b, meta_b = self.state_at(self.seq if seq_b is None else seq_b)
        changes = diff_tasks(tasks_a, tasks_b)
        meta_change = diff_meta(meta_a, meta_b)
        return changes + ([meta_change] if meta_change else [])


def _repeated(meta: dict[str, Any], seq: int) -> bool:
    """A frame whose entry was already applied: a copy of an earlier one (entry seqs only grow)."""
    number = meta.get("seq")
    return isinstance(number, int) and 0 < number <= seq
