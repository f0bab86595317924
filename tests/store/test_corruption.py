"""Damage on disk (docs/ARCHITECTURE.md C4): each kind is detected, repaired where the history allows, and the
damaged bytes are moved to ``.orchestra/damaged/`` unchanged, never silently overwritten. A state file from a
newer orchestra is left untouched and opening fails with one line.

The base project has 620 entries: checkpoints at 256 and 512, ``project_state.json`` at 600 (the last close),
and 20 entries after it only in the journal, as a process that never closed would leave them.
"""

from __future__ import annotations

import gzip
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from orchestra_tui.engine.project import Project
from orchestra_tui.errors import StateError
from orchestra_tui.store import CHECKPOINT_EVERY
from orchestra_tui.store.journal import iter_frames
from orchestra_tui.store.snapshot import decode, encode

from ..helpers.committer import state_digest, write_crash_plan
from ..helpers.disk import cli, damaged_files, digest_of, journal_bytes, open_store

SNAPSHOT_AT, LAST = 600, 620


@dataclass
class Base:
    root: Path
    digests: dict[int, str]  # seq -> state after it
    frames: dict[int, tuple[int, int]]  # seq -> (start, end) in journal.log


def churn(project: Project, digests: dict[int, str], until: int) -> None:
    """Commit until entry ``until``: runs recorded on every task, some tasks taken through their statuses."""
    store = project.store
    while store.seq < until:  # bounded: each pass commits one entry
        task_id = f"T-{store.seq % 12}"
        status = project.tasks[task_id].status
        if store.seq % 7 == 0 and task_id in {t.task_id for t in project.ready_tasks()}:
            project.start(task_id)
        elif store.seq % 7 == 1 and status == "in_progress":
            project.review(task_id)
        elif store.seq % 5 == 0 and status == "review":
            project.retry(task_id)
        else:
            project.record_run(task_id, {"output_tokens": store.seq}, f"{task_id} ran")
        digests[store.seq] = state_digest(store.tasks, store.meta)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Base:
    root = tmp_path_factory.mktemp("base") / "p"
    write_crash_plan(root)
    digests: dict[int, str] = {}
    with Project.open(root, actor="cli") as project:
        digests[1] = digest_of(project.store)
        churn(project, digests, SNAPSHOT_AT)
    project = Project.open(root, actor="cli")
    churn(project, digests, LAST)
    project.store.journal.close()  # no flush: the snapshot stays at SNAPSHOT_AT
    data = (root / ".orchestra" / "journal.log").read_bytes()
    frames = {frame.meta["seq"]: (frame.offset, frame.end) for frame in iter_frames(data)}
    assert sorted(frames) == list(range(1, LAST + 1))
    assert decode((root / ".orchestra" / "project_state.json").read_bytes()).seq == SNAPSHOT_AT
    assert sorted(int(p.name[:8]) for p in (root / ".orchestra" / "checkpoints").iterdir()) == [
        CHECKPOINT_EVERY,
        2 * CHECKPOINT_EVERY,
    ]
    return Base(root, digests, frames)


@pytest.fixture
def project(base: Base, tmp_path: Path) -> Path:
    root = tmp_path / "p"
    shutil.copytree(base.root, root)
    return root


def state_file(root: Path) -> Path:
    return root / ".orchestra" / "project_state.json"


def journal(root: Path) -> Path:
    return root / ".orchestra" / "journal.log"


def flip(path: Path, position: int) -> bytes:
    data = bytearray(path.read_bytes())
    data[position] ^= 0x20
    path.write_bytes(bytes(data))
    return bytes(data)


def reopen_and_check(root: Path, expected_seq: int, base: Base) -> list[str]:
    """Open (repairing), check the state is exactly entry ``expected_seq``'s, and that it stays repaired."""
    store = open_store(root)
    assert (store.seq, digest_of(store)) == (expected_seq, base.digests[expected_seq])
    assert store.repairs, "the damage went unreported"
    for line in store.repairs:
        assert "\n" not in line
    again = open_store(root)
    assert (again.repairs, again.seq, digest_of(again)) == ([], expected_seq, base.digests[expected_seq])
    return store.repairs


# ------------------------------------------------------------------------------ the state file


@pytest.mark.parametrize("keep", [0, 1, 80, 0.5, -1])
def test_truncated_state_file(project: Path, base: Base, keep: float) -> None:
    data = state_file(project).read_bytes()
    cut = int(len(data) * keep) if isinstance(keep, float) else keep % len(data)
    state_file(project).write_bytes(data[:cut])
    (repair,) = reopen_and_check(project, LAST, base)
    assert "project_state.json could not be trusted" in repair and "moved to" in repair
    assert damaged_files(project) == [data[:cut]]
    assert decode(state_file(project).read_bytes()).seq == LAST  # rewritten, after the old one was set aside


@pytest.mark.parametrize("where", [0, 5, 40, 0.25, 0.5, 0.9, -2, -1])
def test_flipped_byte_in_state_file(project: Path, base: Base, where: float) -> None:
    size = state_file(project).stat().st_size
    position = int(size * where) if isinstance(where, float) else where % size
    bad = flip(state_file(project), position)
    (repair,) = reopen_and_check(project, LAST, base)
    assert "project_state.json could not be trusted" in repair
    assert damaged_files(project) == [bad]


@pytest.mark.parametrize(
    "garbage",
    [
        b"",
        b"\x00" * 4096,
        b"not json at all",
        b'{"tasks": {}, "format_version": 3}',
        b"[1, 2, 3]",
        bytes(range(256)) * 8,
    ],
)
def test_garbage_state_file(project: Path, base: Base, garbage: bytes) -> None:
    state_file(project).write_bytes(garbage)
    (repair,) = reopen_and_check(project, LAST, base)
    assert "project_state.json could not be trusted" in repair
    assert damaged_files(project) == [garbage]


def test_missing_state_file_is_rebuilt_from_the_history(project: Path, base: Base) -> None:
    state_file(project).unlink()
    (repair,) = reopen_and_check(project, LAST, base)
    assert "missing" in repair and "rebuilt" in repair


# ------------------------------------------------------------------------------ the journal


@pytest.mark.parametrize("keep", [1, 10, 16, 17, 0.5, -1])
def test_torn_history_tail(project: Path, base: Base, keep: float) -> None:
    """An entry cut off while being appended (taken from a real entry: the first ``keep`` bytes of it)."""
    whole = journal_bytes(project)
    start, end = base.frames[LAST]
    frame = whole[start:end]
    cut = int(len(frame) * keep) if isinstance(keep, float) else keep % len(frame)
    torn = frame[:cut]
    journal(project).write_bytes(whole + torn)
    (repair,) = reopen_and_check(project, LAST, base)
    assert "torn entry after 00000620" in repair and "never committed" in repair
    assert journal_bytes(project) == whole
    assert damaged_files(project) == [torn]


@pytest.mark.parametrize("part", ["magic", "length", "crc", "meta", "body"])
def test_flipped_byte_in_an_entry_after_the_state_file(project: Path, base: Base, part: str) -> None:
    """The state file is at 600; entry 610 is damaged: the state is rebuilt up to 609, the rest set aside.
    (Entries 611-620 were committed: the report must not call the damage a torn, uncommitted entry.)"""
    whole = journal_bytes(project)
    start, end = base.frames[610]
    position = {"magic": start + 1, "length": start + 6, "crc": start + 13, "meta": start + 30, "body": end - 5}[part]
    flip(journal(project), position)
    bad = journal_bytes(project)
    (repair,) = reopen_and_check(project, 609, base)
    assert "damaged after entry 00000609" in repair and "rebuilt up to that entry" in repair
    assert journal_bytes(project) == whole[:start]
    assert damaged_files(project) == [bad[start:]]
    with Project.open(project, actor="cli") as reopened:  # and the project goes on from there
        assert reopened.complete("T-0").seq == 610


@pytest.mark.parametrize("part", ["header", "meta", "body"])
def test_flipped_byte_in_an_entry_the_state_file_covers(project: Path, base: Base, part: str) -> None:
    """The state (at 600) does not depend on entry 300, so it loads exactly; the history reports the damaged
    entry, lists all the others, and refuses to rebuild states across it with one line."""
    start, end = base.frames[300]
    position = {"header": start + 5, "meta": start + 40, "body": end - 10}[part]
    bad = flip(journal(project), position)
    store = open_store(project)
    assert (store.seq, digest_of(store)) == (LAST, base.digests[LAST])
    entries = store.history()
    (warning,) = store.warnings
    assert f"history entry at byte {start} of journal.log is damaged" in warning
    assert [entry.seq for entry in entries] == [seq for seq in range(1, LAST + 1) if seq != 300]
    assert digest_of_state(store, 299) == base.digests[299]  # from the start: before the damage
    assert digest_of_state(store, 520) == base.digests[520]  # from checkpoint 512: after it
    with pytest.raises(StateError) as info:
        store.state_at(400)  # from checkpoint 256, across the damage
    assert "00000400" in str(info.value) and "\n" not in str(info.value)
    assert journal_bytes(project) == bad, "the journal is never rewritten"


def digest_of_state(store, seq: int) -> str:
    return state_digest(*store.state_at(seq))


@pytest.mark.parametrize("at", ["boundary", "inside"])
def test_journal_shorter_than_the_state_expects(project: Path, base: Base, at: str) -> None:
    """Truncation: the state file (at 600, entries up to 620 applied after it) is trusted; history stops early."""
    whole = journal_bytes(project)
    start, end = base.frames[400]
    cut = end if at == "boundary" else (start + end) // 2
    journal(project).write_bytes(whole[:cut])
    # The state file is at 600: entries 601..620 are gone with the rest of the journal.
    repairs = reopen_and_check(project, SNAPSHOT_AT, base)
    assert "shorter than the state expects" in repairs[0]
    assert damaged_files(project)[0] == whole[:cut]  # a copy of the journal as it was
    if at == "inside":
        assert "torn entry" in repairs[1] and damaged_files(project)[1] == whole[start:cut]
    assert journal_bytes(project) == whole[: end if at == "boundary" else start]
    with Project.open(project, actor="cli") as reopened:
        assert reopened.complete("T-0").seq == SNAPSHOT_AT + 1
        assert reopened.history()[-1].seq == SNAPSHOT_AT + 1
    assert open_store(project).repairs == []


# ------------------------------------------------------------------------------ checkpoints


def checkpoint(root: Path, seq: int) -> Path:
    (path,) = (root / ".orchestra" / "checkpoints").glob(f"{seq:08d}.*.json.gz")
    return path


@pytest.mark.parametrize(
    "damage", ["flip 1", "flip 12", "flip 0.3", "flip 0.6", "flip -8", "flip -2", "truncate", "wrong content"]
)
def test_damaged_checkpoint(project: Path, base: Base, damage: str) -> None:
    """With the state file gone, the newest checkpoint is needed: a damaged one is moved aside and the state
    rebuilt from the one before it and the history. (Flips: gzip header, deflate data, CRC, size.)"""
    path = checkpoint(project, 512)
    data = path.read_bytes()
    if damage.startswith("flip"):
        where = float(damage.split()[1])
        bad = flip(path, int(len(data) * where) if 0 < where < 1 else int(where) % len(data))
    elif damage == "truncate":
        bad = data[: len(data) // 2]
        path.write_bytes(bad)
    else:  # a whole, readable gzip whose content does not match the checksum in its name
        bad = gzip.compress(gzip.decompress(checkpoint(project, 256).read_bytes()))
        path.write_bytes(bad)
    # Reading a past state through it notices, and falls back to checkpoint 256.
    store = open_store(project)
    assert digest_of_state(store, 515) == base.digests[515]
    assert any("checkpoint 00000512" in line and "could not be trusted" in line for line in store.warnings)
    state_file(project).unlink()
    repairs = reopen_and_check(project, LAST, base)
    assert any("checkpoint 00000512" in line and "moved to" in line for line in repairs)
    assert bad in damaged_files(project)
    assert not path.exists()


# ------------------------------------------------------------------------------ a newer orchestra


def future_files(root: Path) -> dict[str, bytes]:
    store = open_store(root)
    ours, _ = encode(
        version="9.0",
        project_id="crash",
        tasks=store.tasks,
        meta=store.meta,
        metrics={},
        seq=store.seq,
        offset=store.offset,
        last_updated="",
    )
    doc = json.loads(ours)
    return {
        "checksummed": ours.replace(b'"format_version":3', b'"format_version":4'),  # checksum no longer matches
        "re-checksummed": encode_future(doc, 4),
        "other layout": json.dumps({"format_version": 7, "schema": "something new", "tasks": []}).encode(),
    }


def encode_future(doc: dict, version: int) -> bytes:
    import hashlib

    from orchestra_tui.store.journal import dumps

    body = dumps({**{k: v for k, v in doc.items() if k != "checksum"}, "format_version": version})
    return b'{"checksum":"' + hashlib.sha256(body).hexdigest().encode() + b'",' + body[1:]


@pytest.mark.parametrize("kind", ["checksummed", "re-checksummed", "other layout"])
def test_state_file_from_a_newer_orchestra_is_left_untouched(project: Path, kind: str) -> None:
    data = future_files(project)[kind]
    state_file(project).write_bytes(data)
    journal_before = journal_bytes(project)
    stat = state_file(project).stat()
    with pytest.raises(StateError) as info:
        Project.open(project, actor="cli")
    message = str(info.value)
    assert "format_version" in message and "newer" in message and "untouched" in message and "\n" not in message
    assert state_file(project).read_bytes() == data and state_file(project).stat().st_mtime_ns == stat.st_mtime_ns
    assert journal_bytes(project) == journal_before and damaged_files(project) == []


def test_newer_state_file_through_the_cli_is_one_line(project: Path) -> None:
    state_file(project).write_bytes(future_files(project)["re-checksummed"])
    result = cli(project, "list")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and "format_version 4" in line


def test_a_young_project_without_a_snapshot_yet_is_not_reported_as_damaged(tmp_path: Path) -> None:
    """A second process opening a project whose first writer has not written the snapshot yet (no checkpoint,
    no clean close) finds the journal alone: that is normal, not damage."""
    from orchestra_tui.engine import Project

    (tmp_path / "orchestra.toml").write_text('[project]\nid = "y"\n\n[[tasks]]\nid = "A"\ntitle = "a"\n')
    first = Project.open(tmp_path)
    first.complete("A")
    assert not state_file(tmp_path).exists()
    second = Project.open(tmp_path)
    assert second.store.repairs == [] and second.task("A").status == "completed"
    second.close()
    first.close()
