"""Group commit (``Store.commit_async``): changes that arrive together share one write and one fdatasync, and
none is acknowledged (returned, applied, told to a listener) before the fdatasync that covers it is done.

``os.fdatasync`` is wrapped through the seam every durable write goes through (the ``os`` module the journal
calls): each call on the journal records how many bytes of it the fdatasync covers, once it has returned.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path

import pytest

from orchestra_tui.errors import StateError
from orchestra_tui.store import Entry, Mutation, Store
from orchestra_tui.store.holder import HOLDER_FILE
from orchestra_tui.store.journal import iter_frames

from ..helpers.grouping import bump, bump_async, open_store

Log = list[tuple[str, int]]


class Syncs:
    """The journal's fdatasyncs, in the order they returned, with the journal size each covers."""

    def __init__(self, journal: Path, log: Log, fail: Callable[[], bool]) -> None:
        self.journal, self.log, self.fail = os.path.realpath(journal), log, fail
        self.lock = threading.Lock()
        self.real = os.fdatasync

    def __call__(self, fd: int) -> None:
        if os.readlink(f"/proc/self/fd/{fd}") != self.journal:
            self.real(fd)
            return
        covered = os.fstat(fd).st_size
        if self.fail():
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        self.real(fd)
        with self.lock:
            self.log.append(("synced", covered))

    def count(self) -> int:
        return sum(kind == "synced" for kind, _ in self.log)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(tmp_path)
    yield opened
    opened.close()


def watch(store: Store, monkeypatch: pytest.MonkeyPatch, fail: Callable[[], bool] = lambda: False) -> Syncs:
    log: Log = []
    syncs = Syncs(store.journal.path, log, fail)
    monkeypatch.setattr(os, "fdatasync", syncs)
    store.listeners.append(lambda entry, _changes: log.append(("told", entry.seq)))
    return syncs


def frame_ends(store: Store) -> dict[int, int]:
    """Each entry's seq -> the journal size at which its frame ends."""
    return {frame.meta["seq"]: frame.end for frame in iter_frames(store.journal.read())}


def test_no_change_is_acknowledged_before_the_fdatasync_that_covers_it(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    syncs = watch(store, monkeypatch)
    workers, bumps = 12, 15

    async def worker(task_id: str) -> None:
        for _ in range(bumps):
            entry = await bump_async(store, task_id)
            syncs.log.append(("returned", entry.seq))
            await asyncio.sleep(0)  # the workers interleave: some bumps meet a group in flight, some start one

    async def main() -> None:
        await asyncio.gather(*(worker(f"W{index}") for index in range(workers)))

    asyncio.run(main())
    ends = frame_ends(store)
    assert sorted(ends) == list(range(1, workers * bumps + 1))
    durable = 0  # journal bytes covered by an fdatasync that has returned, at each point of the log
    acknowledged = {"told": 0, "returned": 0}
    for kind, value in syncs.log:
        if kind == "synced":
            durable = max(durable, value)
        else:
            assert ends[value] <= durable, f"entry {value} was {kind} before an fdatasync covered it"
            acknowledged[kind] += 1
    assert acknowledged == {"told": workers * bumps, "returned": workers * bumps}
    assert all(store.tasks[f"W{index}"]["n"] == bumps for index in range(workers)), "a bump saw a stale state"
    assert syncs.count() < workers * bumps, "no two changes shared an fdatasync"


def test_changes_that_arrive_together_share_one_write_and_one_fdatasync(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    syncs = watch(store, monkeypatch)

    async def main() -> list[Entry]:
        return list(await asyncio.gather(*(bump_async(store, f"T{index}") for index in range(20))))

    entries = asyncio.run(main())
    assert [entry.seq for entry in entries] == list(range(1, 21))
    assert syncs.count() == 1
    reopened = open_store(store.dir.parent)
    assert reopened.seq == 20 and reopened.tasks == store.tasks
    assert [entry.seq for entry in reopened.history()] == list(range(1, 21))


def test_a_change_that_reads_what_the_group_writes_waits_for_the_next_group(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each bump reads its task's counter: bumps of one task never share a group, and each sees the last."""
    syncs = watch(store, monkeypatch)

    async def main() -> list[Entry]:
        return list(await asyncio.gather(*(bump_async(store, task) for task in ["A", "B", "A", "B", "A"])))

    asyncio.run(main())
    assert store.tasks["A"]["n"] == 3 and store.tasks["B"]["n"] == 2
    assert [entry.summary for entry in store.history()] == ["A -> 1", "B -> 1", "A -> 2", "B -> 2", "A -> 3"]
    assert syncs.count() == 3  # {A, B}, {A, B}, {A}


def test_a_change_that_writes_more_than_it_reads_goes_alone(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A change that says it reads C but bumps B, behind a bump of B in the same group: computed there on the state
    before that bump, it is set aside and computed again alone in the next group (where it sees the bump)."""
    syncs = watch(store, monkeypatch)

    async def main() -> None:
        sneaky = store.commit_async(lambda: bump(store, "B"), actor="test", reads=lambda: frozenset(("C",)))
        await asyncio.gather(bump_async(store, "A"), bump_async(store, "B"), sneaky)

    asyncio.run(main())
    assert store.tasks["B"]["n"] == 2
    assert [entry.summary for entry in store.history()] == ["A -> 1", "B -> 1", "B -> 2"]
    assert syncs.count() == 2


def test_a_failed_fdatasync_fails_every_change_of_its_group_and_applies_none(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    failing = [True]

    def fail() -> bool:
        return failing.pop() if failing else False

    syncs = watch(store, monkeypatch, fail)

    async def main() -> list[Entry | BaseException]:
        return list(
            await asyncio.gather(*(bump_async(store, f"T{index}") for index in range(5)), return_exceptions=True)
        )

    outcomes = asyncio.run(main())
    assert all(isinstance(outcome, StateError) for outcome in outcomes), outcomes
    assert "nothing was changed" in str(outcomes[0])
    assert store.seq == 0 and store.tasks == {} and store.journal.size() == 0
    assert ("told", 1) not in syncs.log
    asyncio.run(bump_async(store, "T0"))  # the next group writes from where the journal was cut back
    assert open_store(store.dir.parent).tasks == {"T0": {"task_id": "T0", "status": "pending", "n": 1}}


def test_a_caller_that_gives_up_before_its_change_is_computed_writes_nothing(store: Store) -> None:
    async def main() -> None:
        first = asyncio.ensure_future(bump_async(store, "A"))
        second = asyncio.ensure_future(bump_async(store, "A"))  # reads what the first writes: the next group
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        second.cancel()
        await first
        with pytest.raises(asyncio.CancelledError):
            await second

    asyncio.run(main())
    assert store.tasks["A"]["n"] == 1 and store.seq == 1


def test_a_plain_commit_while_a_group_is_in_flight_waits_for_it(store: Store) -> None:
    """``commit`` on the event loop's thread during a group's fdatasync: the group is told first, then the
    commit is computed on the state after it."""
    seen: list[int] = []

    def plain() -> Mutation:
        seen.append(store.tasks["A"]["n"])
        return bump(store, "A")

    async def main() -> None:
        grouped = asyncio.ensure_future(bump_async(store, "A"))
        for _ in range(100):  # the group forms within a turn or two of the loop
            if store._in_flight is not None:
                break
            await asyncio.sleep(0)
        assert store._in_flight is not None and not grouped.done()
        store.commit(plain, actor="test")
        await grouped

    store.commit(lambda: bump(store, "A"), actor="test")
    asyncio.run(main())
    assert seen == [2] and store.tasks["A"]["n"] == 3
    assert [entry.summary for entry in store.history()] == ["A -> 1", "A -> 2", "A -> 3"]


def test_a_change_refused_by_its_computation_fails_alone(store: Store) -> None:
    def refuse() -> Mutation:
        raise StateError("refused")

    async def main() -> list[Entry | BaseException | None]:
        refused = store.commit_async(refuse, actor="test", reads=lambda: frozenset(("B",)))
        nothing = store.commit_async(lambda: None, actor="test", reads=lambda: frozenset(("C",)))
        return list(
            await asyncio.gather(
                bump_async(store, "A"), refused, nothing, bump_async(store, "D"), return_exceptions=True
            )
        )

    first, refused, nothing, last = asyncio.run(main())
    assert isinstance(refused, StateError) and nothing is None
    assert isinstance(first, Entry) and isinstance(last, Entry) and (first.seq, last.seq) == (1, 2)
    assert store.tasks.keys() == {"A", "D"}


def test_a_checkpoint_a_group_makes_due_is_written_beside_the_next_groups_not_before_them(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The snapshot and checkpoint files (four fsyncs) go out in a thread of their own: while their write is held,
    group commits go on being acknowledged; once written, the project opens to the same state from them."""
    from orchestra_tui.store import fsio
    from orchestra_tui.store import store as store_module

    monkeypatch.setattr(store_module, "CHECKPOINT_EVERY", 8)
    released, real = threading.Event(), fsio.atomic_write
    writing: list[str] = []  # the files being written now (held until released)
    written: list[str] = []

    def holding(path: Path, data: bytes | Path, mode: int = fsio.FILE_MODE) -> None:
        writing.append(path.name)
        released.wait(2.0)  # (bounded: a store that writes them in line holds the event loop here meanwhile)
        real(path, data, mode)
        writing.remove(path.name)
        written.append(path.name)

    monkeypatch.setattr(fsio, "atomic_write", holding)
    acknowledged_while_held: list[int] = []

    async def main() -> None:
        for _ in range(12):  # past the first checkpoint: due at entry 8
            entry = await bump_async(store, "A")
            if writing:
                acknowledged_while_held.append(entry.seq)
        released.set()

    asyncio.run(main())
    assert {9, 10, 11, 12} <= set(acknowledged_while_held)
    store.close()  # waits for the checkpoint's files, then writes the last snapshot
    assert any(name.startswith("00000008.") for name in written)  # the checkpoint of entry 8, written aside
    assert any(path.name.startswith("00000008.") for path in (store.dir / "checkpoints").iterdir())
    reopened = open_store(store.dir.parent)
    assert reopened.seq == 12 and reopened.tasks == {"A": {"task_id": "A", "status": "pending", "n": 12}}
    reopened.close()


def test_a_checkpoint_is_encoded_aside_from_the_state_of_its_entry(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The state a checkpoint holds is taken when it falls due and encoded in the checkpoint's thread: while that
    encoding is held, group commits go on being acknowledged, and what they change does not leak into it."""
    from orchestra_tui.store import snapshot
    from orchestra_tui.store import store as store_module

    monkeypatch.setattr(store_module, "CHECKPOINT_EVERY", 8)
    released, real, loop_thread = threading.Event(), snapshot.encode, threading.get_ident()
    holding: list[bool] = []

    def encode(**state: object) -> tuple[bytes, str]:
        if threading.get_ident() != loop_thread and not holding:
            holding.append(True)
            released.wait(2.0)  # (bounded: a store that encodes it in line holds the event loop here meanwhile)
        return real(**state)  # type: ignore[arg-type]

    monkeypatch.setattr(snapshot, "encode", encode)
    acknowledged_while_held: list[int] = []

    async def main() -> None:
        for _ in range(12):  # past the first checkpoint: due at entry 8
            entry = await bump_async(store, "A")
            if holding and not released.is_set():
                acknowledged_while_held.append(entry.seq)
        released.set()

    asyncio.run(main())
    store.close()  # waits for the checkpoint's files
    assert {9, 10, 11, 12} <= set(acknowledged_while_held)
    [path] = [path for path in (store.dir / "checkpoints").iterdir() if path.name.startswith("00000008.")]
    checkpoint = snapshot.read_checkpoint(path)
    assert checkpoint.seq == 8 and checkpoint.tasks == {"A": {"task_id": "A", "status": "pending", "n": 8}}


def test_an_older_snapshot_never_replaces_a_later_one_this_process_wrote(store: Store) -> None:
    """The checkpoint thread may finish after ``flush`` wrote a later snapshot: the later one stays."""
    store.commit(lambda: bump(store, "A"), actor="test")
    older, seq = store._encode_snapshot(), store.seq
    store.commit(lambda: bump(store, "A"), actor="test")
    store.flush()
    later = (store.dir / "project_state.json").read_bytes()
    assert store._write_checkpoint(older, seq)  # its checkpoint is kept; the snapshot is not set back
    assert (store.dir / "project_state.json").read_bytes() == later


def test_while_a_group_is_written_lock_holder_names_this_process(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """``lock.holder`` is written in the writer thread, before the group's frames: a process waiting for the lock
    while a group's fdatasync is under way is told who holds it (not the previous holder)."""
    record = store.dir / HOLDER_FILE
    record.write_text(json.dumps({"pid": 1, "command": "orchestra complete", "since": "2026-01-01T00:00:00+00:00"}))
    seen: list[dict[str, object]] = []
    real = os.fdatasync

    def fdatasync(fd: int) -> None:
        if os.readlink(f"/proc/self/fd/{fd}") == os.path.realpath(store.journal.path):
            seen.append(json.loads(record.read_text()))
        real(fd)

    monkeypatch.setattr(os, "fdatasync", fdatasync)

    async def main() -> None:
        await asyncio.gather(*(bump_async(store, f"T{index}") for index in range(3)))

    asyncio.run(main())
    assert seen, "no group was written"
    assert all(holder["pid"] == os.getpid() and holder["since"] != "2026-01-01T00:00:00+00:00" for holder in seen)


def test_a_group_in_flight_wakes_the_commit_chain_with_one_callback_from_the_writer() -> None:
    """The chain every commit waits on resumes on the second turn of the event loop after the writer thread is done
    (one callback settles the future it awaits, the next turn runs it). ``asyncio.shield`` around
    ``asyncio.wrap_future`` took a turn more, behind the runs' own callbacks, for every group."""
    from orchestra_tui.store.store import _io_done

    async def turns_until_io_done(io: Future[int]) -> int:
        turns = [0]

        def tick() -> None:
            turns[0] += 1
            ticking.append(asyncio.get_running_loop().call_soon(tick))

        ticking = [asyncio.get_running_loop().call_soon(tick)]
        await _io_done(io)
        ticking[-1].cancel()
        return turns[0]

    done: Future[int] = Future()
    done.set_result(1)
    assert asyncio.run(turns_until_io_done(done)) <= 2

    later: Future[int] = Future()
    threading.Timer(0.05, later.set_result, (2,)).start()  # from another thread, as the writer's is
    assert asyncio.run(asyncio.wait_for(turns_until_io_done(later), 5.0)) >= 1


def test_a_commit_chain_cancelled_while_its_group_is_written_stops_waiting_at_once() -> None:
    """Cancelled (the loop closing), ``_io_done`` raises at once; ``_write_groups`` then waits for the io itself and
    answers the group (its ``finally``). A writer finishing after the loop closed finds nobody to wake, quietly."""
    from orchestra_tui.store.store import _io_done

    io: Future[int] = Future()

    async def main() -> None:
        waiting = asyncio.ensure_future(_io_done(io))
        await asyncio.sleep(0)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting

    asyncio.run(main())
    assert not io.done()
    io.set_result(3)  # the loop is closed: the callback says nothing, raises nothing


def test_a_change_given_to_commit_soon_is_queued_in_the_callers_own_turn(store: Store) -> None:
    """``commit_soon`` queues the change before it returns (a run's start awaits its future through a shield, with
    no task of its own): one asked later in the same turn goes after it, one asked through a new task goes after
    both, however they group."""

    def soon(task_id: str) -> asyncio.Future[Entry | None]:
        return store.commit_soon(lambda: bump(store, task_id), actor="test", reads=lambda: frozenset((task_id,)))

    async def main() -> list[Entry | None]:
        first = soon("A")
        later = asyncio.ensure_future(bump_async(store, "B"))
        second = soon("C")
        return [await first, await later, await second]

    entries = asyncio.run(main())
    assert [entry.seq if entry else None for entry in entries] == [1, 3, 2]
