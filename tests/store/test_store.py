"""Unit tests of the store (docs/ARCHITECTURE.md C4): journal framing, changes, snapshots, and Store's commit,
history, resolve, state_at, diff and checkpoints; rollback and undo as entries; commit cost O(change)."""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.generate import write_project
from orchestra_tui.engine.project import Project
from orchestra_tui.errors import StateError, UnknownEntryError
from orchestra_tui.store import CHECKPOINT_EVERY, Mutation, Store, entry_id, snapshot
from orchestra_tui.store.changes import Progress, apply, diff_meta, diff_record, diff_tasks, invert
from orchestra_tui.store.journal import HEADER, FrameError, Journal, dumps, encode_frame, iter_frames, read_body
from orchestra_tui.store.snapshot import (
    FORMAT_VERSION,
    SnapshotError,
    TaskBytes,
    checkpoint_bytes,
    checkpoint_name,
    decode,
    encode,
    read_checkpoint,
)

from ..helpers.committer import state_digest, write_crash_plan

# ------------------------------------------------------------------------------ journal framing


def frames_bytes(*pairs: tuple[dict, dict]) -> bytes:
    return b"".join(encode_frame(meta, body) for meta, body in pairs)


def test_dumps_is_canonical() -> None:
    assert dumps({"b": 1, "a": [1, {"d": 2, "c": "é"}]}) == dumps({"a": [1, {"c": "é", "d": 2}], "b": 1})
    assert dumps({"a": "é"}) == '{"a":"é"}'.encode()


def test_frames_round_trip() -> None:
    pairs = [
        ({"seq": 1, "id": "00000001"}, {"changes": [1]}),
        ({"seq": 2, "id": "00000002", "s": "é"}, {"changes": []}),
    ]
    data = frames_bytes(*pairs)
    frames = list(iter_frames(data))
    assert [f.meta for f in frames] == [meta for meta, _ in pairs]
    assert [read_body(data, f) for f in frames] == [body for _, body in pairs]
    assert frames[0].offset == 0 and frames[0].end == frames[1].offset and frames[1].end == len(data)
    assert [f.meta["seq"] for f in iter_frames(data, frames[1].offset)] == [2]


def test_every_cut_of_the_last_frame_is_torn() -> None:
    first = encode_frame({"seq": 1}, {"changes": ["x" * 50]})
    second = encode_frame({"seq": 2}, {"changes": ["y" * 50]})
    for cut in range(1, len(second)):
        data = first + second[:cut]
        seen = []
        with pytest.raises(FrameError) as info:
            for frame in iter_frames(data):
                seen.append(frame.meta["seq"])
        assert seen == [1] and info.value.torn and info.value.offset == len(first), cut


def test_every_flipped_byte_of_a_middle_frame_is_damage_not_a_torn_tail() -> None:
    frames = [encode_frame({"seq": n}, {"changes": [f"change {n}" * 5]}) for n in (1, 2, 3)]
    start = len(frames[0])
    for position in range(start, start + len(frames[1])):
        data = bytearray(b"".join(frames))
        data[position] ^= 0x01
        seen = []
        with pytest.raises(FrameError) as info:
            for frame in iter_frames(bytes(data)):
                seen.append(frame.meta["seq"])
        assert seen == [1] and not info.value.torn and info.value.offset == start, position


def test_a_damaged_last_frame_counts_as_torn() -> None:
    """The last frame may be the victim of a torn write (length written, data not): it was never committed."""
    data = bytearray(frames_bytes(({"seq": 1}, {"c": 1}), ({"seq": 2}, {"c": 2})))
    data[-3] ^= 0x01
    with pytest.raises(FrameError) as info:
        list(iter_frames(bytes(data)))
    assert info.value.torn and info.value.reason == "checksum mismatch"


def test_journal_append_and_truncate(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.log")
    assert journal.size() == 0 and journal.read() == b""
    one, two = encode_frame({"seq": 1}, {}), encode_frame({"seq": 2}, {})
    assert journal.append(one, 0) == len(one)
    assert journal.append(two, len(one)) == len(one) + len(two)
    assert journal.read() == one + two and journal.read(len(one)) == two
    journal.truncate(len(one))
    assert journal.read() == one
    assert journal.append(two, len(one)) == len(one) + len(two)  # reopens after truncate
    journal.close()
    assert [f.meta["seq"] for f in iter_frames(journal.read())] == [1, 2]


# ------------------------------------------------------------------------------ changes

# Records as the store holds them: every record has the same keys (a model dump); values may be None.
values = st.one_of(
    st.none(),
    st.integers(-5, 5),
    st.text(max_size=5),
    st.lists(st.integers(0, 3), max_size=3),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
)
records = st.fixed_dictionaries(
    {
        "status": st.sampled_from(["pending", "in_progress", "review", "completed", "failed", "cancelled"]),
        "estimated_hours": st.one_of(st.none(), st.integers(0, 40).map(lambda n: n / 2)),
        "title": values,
        "deps": values,
        "metadata": values,
    }
)
states = st.dictionaries(st.sampled_from([f"T-{i}" for i in range(6)]), records, max_size=6)


def test_diff_record_cases() -> None:
    old = {"status": "pending", "title": "A", "hours": 1.0}
    assert diff_record("A", None, None) is None
    assert diff_record("A", old, dict(old)) is None
    assert diff_record("A", None, old) == {"task": "A", "op": "add", "before": None, "after": old}
    assert diff_record("A", old, None) == {"task": "A", "op": "remove", "before": old, "after": None}
    change = diff_record("A", old, {**old, "status": "completed"})
    assert change == {"task": "A", "op": "update", "before": {"status": "pending"}, "after": {"status": "completed"}}


@settings(max_examples=200, deadline=None)
@given(states, states)
def test_apply_of_diff_gives_the_new_state_and_invert_gives_the_old(old: dict, new: dict) -> None:
    changes = diff_tasks(old, new)
    assert [c["task"] for c in changes] == sorted(c["task"] for c in changes)
    progress = Progress(old.values())
    forward = {k: dict(v) for k, v in old.items()}
    meta: dict = {}
    apply(forward, meta, changes, progress)
    assert forward == new
    assert progress.figures() == Progress(new.values()).figures()
    apply(forward, meta, invert(changes))
    assert forward == old
    assert diff_tasks(new, new) == []


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=4),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=4),
)
def test_meta_changes(old: dict, new: dict) -> None:
    change = diff_meta(old, new)
    if old == new:
        assert change is None
        return
    merged = dict(old)
    apply({}, merged, [change])
    assert {k: v for k, v in merged.items() if v is not None} == new  # a removed key reads as None


def test_progress_figures() -> None:
    progress = Progress(
        [
            {"status": "completed", "estimated_hours": 2},
            {"status": "pending", "estimated_hours": 3},
            {"status": "pending"},
        ]
    )
    assert progress.figures() == {
        "total_tasks": 3,
        "completed_tasks": 1,
        "completion_percentage": 33.3,
        "by_status": {"completed": 1, "pending": 2},
        "hours_total": 5.0,
        "hours_done": 2.0,
    }
    assert Progress().figures()["completion_percentage"] == 0.0


# ------------------------------------------------------------------------------ snapshots and checkpoints


def small_snapshot() -> bytes:
    tasks = {"A": {"status": "pending", "title": "Write the spec"}, "B": {"status": "completed", "title": "Ship it"}}
    data, _ = encode(
        version="0.1.0",
        project_id="p",
        tasks=tasks,
        meta={"k": 1},
        metrics={"total_tasks": 2},
        seq=7,
        offset=1234,
        last_updated="2024-01-01T00:00:00+00:00",
    )
    return data


def test_snapshot_round_trip_and_checksum() -> None:
    data = small_snapshot()
    snap = decode(data)
    assert (snap.project_id, snap.seq, snap.offset, snap.meta) == ("p", 7, 1234, {"k": 1})
    assert snap.tasks["B"] == {"status": "completed", "title": "Ship it"}
    doc = json.loads(data)
    assert doc["format_version"] == FORMAT_VERSION and set(doc) >= {
        "version",
        "project_id",
        "last_updated",
        "checksum",
        "tasks",
        "metrics",
    }
    body = b"{" + data[len(b'{"checksum":"') + 64 + 2 :]
    assert hashlib.sha256(body).hexdigest() == doc["checksum"] == snap.checksum


def assert_canonical(tasks: dict, meta: dict, known: TaskBytes | None = None) -> None:
    """Encoded a task at a time (``known``: reusing the bytes of the records a snapshot before encoded), the snapshot
    is byte for byte the one ``dumps`` of the whole document gave (the checksums and checkpoint names of existing
    projects stay what they were)."""
    figures = Progress(tasks.values()).figures()
    state = {"version": "0.1.0", "project_id": "p", "last_updated": "2024-01-01T00:00:00+00:00", "meta": meta}
    data, checksum = encode(**state, tasks=tasks, metrics=figures, seq=3, offset=99, frame=(40, 7), known=known)
    journal = {"seq": 3, "offset": 99, "frame_start": 40, "frame_crc": 7}
    whole = dumps({**state, "format_version": FORMAT_VERSION, "tasks": tasks, "metrics": figures, "journal": journal})
    assert data == b'{"checksum":"' + checksum.encode() + b'",' + whole[1:]


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(st.text(max_size=4), records, max_size=6),
    st.dictionaries(st.text(max_size=4), st.one_of(st.integers(), st.text(max_size=4), st.none()), max_size=4),
)
def test_snapshot_bytes_are_the_canonical_dumps_of_the_whole_document(tasks: dict, meta: dict) -> None:
    assert_canonical(tasks, meta)


def test_a_snapshot_of_many_tasks_is_the_canonical_dumps_of_the_whole_document() -> None:
    assert_canonical({f"T{index:04d}é": {"status": "pending", "n": index} for index in range(507)}, {})
    assert_canonical({}, {})


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(st.text(max_size=4), records, max_size=6),
    st.dictionaries(st.text(max_size=4), records, max_size=6),
    st.sets(st.text(max_size=4), max_size=4),
)
def test_a_snapshot_reusing_the_bytes_of_the_one_before_is_the_canonical_dumps(
    before: dict, replaced: dict, removed: set
) -> None:
    """The state after some records were replaced, added and removed (as ``changes.apply`` does it: a new record,
    never an edited one), encoded with the bytes kept from the snapshot of the state before."""
    known = TaskBytes()
    assert_canonical(before, {}, known)
    after = {task_id: record for task_id, record in before.items() if task_id not in removed}
    after.update({task_id: dict(record) for task_id, record in replaced.items()})
    assert_canonical(after, {}, known)
    assert_canonical(after, {}, known)


def test_a_snapshot_encodes_only_the_records_changed_since_the_one_before(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each checkpoint of a long run used to encode every task again: 2,000 tasks every ~128 runs."""
    tasks = {f"T{index:04d}": {"status": "pending", "n": index} for index in range(300)}
    known = TaskBytes()
    encode(version="0", project_id="p", tasks=tasks, meta={}, metrics={}, seq=1, offset=9, last_updated="", known=known)
    encoded: list[object] = []

    def counting(value: object) -> bytes:
        encoded.append(value)
        return dumps(value)

    monkeypatch.setattr(snapshot, "dumps", counting)
    tasks = {**tasks, "T0007": {"status": "completed", "n": 7}, "T0300": {"status": "pending", "n": 300}}
    del tasks["T0001"]
    data, _ = encode(
        version="0", project_id="p", tasks=tasks, meta={}, metrics={}, seq=2, offset=9, last_updated="", known=known
    )
    assert [value for value in encoded if isinstance(value, dict) and "status" in value] == [
        {"status": "completed", "n": 7},
        {"status": "pending", "n": 300},
    ]
    assert decode(data).tasks == tasks


def test_every_flipped_byte_and_every_truncation_of_a_snapshot_is_detected() -> None:
    data = small_snapshot()
    for position in range(len(data)):
        bad = bytearray(data)
        bad[position] ^= 0x04
        with pytest.raises(SnapshotError):
            decode(bytes(bad))
    for cut in range(len(data)):
        with pytest.raises(SnapshotError):
            decode(data[:cut])


def test_future_snapshot_is_recognised() -> None:
    with pytest.raises(SnapshotError) as info:
        decode(json.dumps({"format_version": FORMAT_VERSION + 1, "tasks": {}}).encode())
    assert info.value.future and f"format_version {FORMAT_VERSION + 1}" in info.value.reason
    with pytest.raises(SnapshotError) as info:
        decode(json.dumps({"format_version": 2, "tasks": {}}).encode())
    assert not info.value.future


def test_checkpoint_round_trip(tmp_path: Path) -> None:
    data = small_snapshot()
    checksum = decode(data).checksum
    path = tmp_path / checkpoint_name(7, checksum)
    path.write_bytes(checkpoint_bytes(data))
    assert path.name == f"00000007.{checksum}.json.gz"
    assert read_checkpoint(path) == decode(data)
    wrong = tmp_path / checkpoint_name(7, "0" * 64)
    wrong.write_bytes(checkpoint_bytes(data))
    with pytest.raises(SnapshotError, match="checksum"):
        read_checkpoint(wrong)
    path.write_bytes(b"not gzip")
    with pytest.raises(SnapshotError, match="unreadable"):
        read_checkpoint(path)


# ------------------------------------------------------------------------------ Store


def record(task_id: str, status: str = "pending", hours: float = 1.0) -> dict:
    return {"task_id": task_id, "title": f"Task {task_id}", "status": status, "estimated_hours": hours}


def unit_store(directory: Path) -> Store:
    return Store.open(directory, project_id="unit", version="0.1.0")


def put(store: Store, task_id: str, **fields) -> object:
    def compute() -> Mutation:
        old = store.tasks.get(task_id)
        new = {**(old or record(task_id)), **fields}
        return Mutation([diff_record(task_id, old, new)], "set", f"{task_id} set")

    return store.commit(compute, actor="api")


def test_commit_writes_an_entry_with_everything_the_history_shows(tmp_path: Path) -> None:
    store = unit_store(tmp_path)
    seen = []
    store.listeners.append(lambda entry, changes: seen.append((entry.seq, [c["task"] for c in changes])))
    entry = put(store, "A", estimated_hours=4.0)
    put(store, "B", status="completed", hours=2.0)
    assert (entry.seq, entry.id, entry.actor, entry.action, entry.summary) == (1, "00000001", "api", "set", "A set")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", entry.time)
    assert entry.progress["total_tasks"] == 1 and entry.progress["hours_total"] == 4.0
    assert store.history()[-1].progress["completed_tasks"] == 1
    assert seen == [(1, ["A"]), (2, ["B"])]
    assert [e.as_dict()["id"] for e in store.history()] == ["00000001", "00000002"]
    store.close()
    reopened = unit_store(tmp_path)
    assert reopened.tasks == store.tasks and reopened.seq == 2 and reopened.history() == store.history()


def test_commit_of_nothing_or_a_failing_compute_writes_nothing(tmp_path: Path) -> None:
    store = unit_store(tmp_path)
    put(store, "A")
    size = store.journal.size()
    assert store.commit(lambda: None, actor="api") is None
    assert store.commit(lambda: Mutation([], "noop", "nothing"), actor="api") is None

    def broken() -> Mutation:
        raise RuntimeError("compute failed")

    with pytest.raises(RuntimeError):
        store.commit(broken, actor="api")
    assert store.journal.size() == size and store.seq == 1
    assert put(store, "A", status="completed").seq == 2  # and the lock was released


def test_history_ids_are_unique_and_sortable(tmp_path: Path) -> None:
    store = unit_store(tmp_path)
    for n in range(120):
        put(store, f"T{n % 7}", attempts=n)
    entries = store.history()
    ids = [e.id for e in entries]
    assert len(set(ids)) == len(ids) == 120
    assert ids == sorted(ids) == [entry_id(e.seq) for e in entries]
    assert sorted(ids, key=str) == sorted(ids, key=int)  # text order is seq order
    assert [e.time for e in entries] == sorted(e.time for e in entries)  # same-millisecond entries still differ by id


def test_resolve(tmp_path: Path) -> None:
    store = unit_store(tmp_path)
    for n in range(45):
        put(store, "A", attempts=n)
    for ref in ("42", "00000042", 42, " 42 "):
        assert store.resolve(ref).seq == 42
    assert store.resolve("-1").seq == 44 and store.resolve("-0").seq == 45 and store.resolve(-44).seq == 1
    for bad in ("0", "46", "-45", "abc", "", "4.2"):
        with pytest.raises(UnknownEntryError):
            store.resolve(bad)


def test_state_at_and_diff(tmp_path: Path) -> None:
    store = unit_store(tmp_path)
    states = {0: state_digest({}, {})}
    for n in range(30):
        put(store, f"T{n % 4}", attempts=n, status="completed" if n % 3 else "pending")
        states[store.seq] = state_digest(store.tasks, store.meta)
    for seq, digest in states.items():
        assert state_digest(*store.state_at(seq)) == digest
    with pytest.raises(UnknownEntryError):
        store.state_at(31)
    a, _ = store.state_at(10)
    b, _ = store.state_at(20)
    changes = store.diff(10, 20)
    assert changes == diff_tasks(a, b) and changes
    apply(a, {}, changes)
    assert a == b
    assert store.diff(30) == [] and store.diff(0, 4) == diff_tasks({}, store.state_at(4)[0])


def test_checkpoints_every_checkpoint_every_entries(tmp_path: Path) -> None:
    store = unit_store(tmp_path)
    digests = {}
    total = 2 * CHECKPOINT_EVERY + 10
    for n in range(total):
        put(store, f"T{n % 9}", attempts=n, status=("pending", "completed", "failed")[n % 3])
        digests[store.seq] = state_digest(store.tasks, store.meta)
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert [int(name[:8]) for name in names] == [CHECKPOINT_EVERY, 2 * CHECKPOINT_EVERY]
    for name in names:  # content-addressed: the name carries the SHA-256 of the content
        body = gzip.decompress((tmp_path / "checkpoints" / name).read_bytes())
        assert hashlib.sha256(body).hexdigest() == name.split(".")[1]
        assert (
            state_digest(*(lambda s: (s.tasks, s.meta))(read_checkpoint(tmp_path / "checkpoints" / name)))
            == digests[int(name[:8])]
        )
    assert decode((tmp_path / "project_state.json").read_bytes()).seq == 2 * CHECKPOINT_EVERY  # the snapshot trails
    around = [
        1,
        2,
        CHECKPOINT_EVERY - 1,
        CHECKPOINT_EVERY,
        CHECKPOINT_EVERY + 1,
        2 * CHECKPOINT_EVERY - 1,
        2 * CHECKPOINT_EVERY,
        total,
    ]
    for seq in sorted(set(around) | set(range(3, total, 17))):
        assert state_digest(*store.state_at(seq)) == digests[seq], seq
    store.close()
    assert decode((tmp_path / "project_state.json").read_bytes()).seq == total  # close brings it up to date


def test_state_at_with_a_damaged_history_is_one_line(tmp_path: Path) -> None:
    store = unit_store(tmp_path)
    for n in range(10):
        put(store, "A", attempts=n)
    journal = tmp_path / "journal.log"
    data = bytearray(journal.read_bytes())
    data[HEADER.size + 2] ^= 0x01  # entry 1
    journal.write_bytes(bytes(data))
    with pytest.raises(StateError) as info:
        store.state_at(5)
    assert "00000005" in str(info.value) and "\n" not in str(info.value)


# ------------------------------------------------------------------------------ rollback, undo, diff through the engine


def test_rollback_is_a_new_entry_and_undo_restores_the_state_before_it(tmp_path: Path) -> None:
    write_crash_plan(tmp_path)
    with Project.open(tmp_path, actor="cli") as project:
        store = project.store
        project.start("T-0")
        project.complete("T-0")
        target = project.start("T-1").seq
        at_target = state_digest(store.tasks, store.meta)
        project.review("T-1")
        project.fail("T-3", "broken")
        project.add_tasks([{"id": "X-1", "title": "Extra"}])
        before_rollback = state_digest(store.tasks, store.meta)
        count = len(project.history())

        rollback = project.rollback(str(target))
        assert (
            rollback.seq == count + 1 and rollback.action == "rollback" and rollback.extra["target"] == entry_id(target)
        )
        assert state_digest(store.tasks, store.meta) == at_target and "X-1" not in project.tasks
        assert len(project.history()) == count + 1  # nothing was erased
        assert project.rollback(str(target)) is None  # already there

        undo = project.undo()
        assert undo.action == "undo" and undo.seq == count + 2
        assert state_digest(store.tasks, store.meta) == before_rollback
        assert project.tasks["X-1"].title == "Extra" and project.status_of("T-1") == "review"

        changes = project.diff(str(target), str(undo.seq))
        assert {c["task"] for c in changes} == {"T-1", "T-3", "X-1"}
        assert project.diff(str(rollback.seq), "-1") == project.diff(str(target), str(undo.seq - 1))
    reopened = Project.open(tmp_path, actor="cli")
    assert state_digest(reopened.store.tasks, reopened.store.meta) == before_rollback
    reopened.close()


# ------------------------------------------------------------------------------ commit cost is O(change)


def bytes_per_change(root: Path, n_tasks: int) -> tuple[float, bool]:
    write_project(root, n_tasks)
    with Project.open(root, actor="cli") as project:
        project.store.flush()
        snapshot = root / ".orchestra" / "project_state.json"
        stat = snapshot.stat()
        journal = root / ".orchestra" / "journal.log"
        ready = [task.task_id for task in project.ready_tasks()][:10]
        size = journal.stat().st_size
        for task_id in ready:
            project.start(task_id)
            project.complete(task_id)
            project.record_run(task_id, {"input_tokens": 1234}, f"{task_id} ran")
        grown = journal.stat().st_size - size
        untouched = snapshot.stat().st_mtime_ns == stat.st_mtime_ns
    return grown / (3 * len(ready)), untouched


def test_commit_cost_does_not_grow_with_the_project(tmp_path: Path) -> None:
    small, small_untouched = bytes_per_change(tmp_path / "small", 100)
    large, large_untouched = bytes_per_change(tmp_path / "large", 2000)
    assert small_untouched and large_untouched, "a commit rewrote the state file"
    assert 0.8 < large / small < 1.25, (small, large)
    assert large < 2000, f"{large:.0f} bytes of history per single-task change"


def test_a_store_closing_after_another_process_committed_leaves_the_snapshot_to_it(tmp_path: Path) -> None:
    """`orchestra run` closes after its driver committed every run and refreshed the snapshot: it neither replays
    those entries nor writes the snapshot again (the later writer's snapshot holds its changes too)."""
    from ..helpers.grouping import bump, open_store

    first = open_store(tmp_path)
    first.commit(lambda: bump(first, "A"), actor="test")
    later = open_store(tmp_path)
    later.commit(lambda: bump(later, "A"), actor="test")
    later.close()
    snapshot_path = tmp_path / ".orchestra" / "project_state.json"
    written = snapshot_path.read_bytes()
    first.close()
    assert first.seq == 1 and snapshot_path.read_bytes() == written
    reopened = open_store(tmp_path)
    assert reopened.seq == 2 and reopened.tasks["A"]["n"] == 2
    reopened.close()
