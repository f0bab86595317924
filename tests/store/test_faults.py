"""Fault injection at every durable write step (``fsio.fault_hook``), and a real full disk and read-only state.

In a child process a hook SIGKILLs the process at the Nth occurrence of a step; reopened, the project must
hold exactly the old or the new state, a consistent history, and report a repair where one was needed. In
process, a hook raises ENOSPC at each step: the commit fails with one line and changes nothing, or (after
the commit point) succeeds with a warning. Then the real thing: RLIMIT_FSIZE and a read-only directory.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import re
import resource
import shutil
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from orchestra_tui.engine.project import Project
from orchestra_tui.errors import StateError
from orchestra_tui.store import CHECKPOINT_EVERY, fsio
from orchestra_tui.store.snapshot import decode

from ..helpers.committer import state_digest, write_crash_plan
from ..helpers.disk import cli, damaged_files, journal_bytes, open_store
from ..helpers.forkserver import ForkServer, Ledger

STORE_SOURCES = Path(fsio.__file__).parent
JOURNAL_STEPS = ["journal.before-append", "journal.mid-append", "journal.before-fsync", "journal.after-fsync"]
ATOMIC_STEPS = ["atomic.write", "atomic.before-fsync", "atomic.after-fsync", "atomic.after-rename"]
STEPS = JOURNAL_STEPS + ATOMIC_STEPS


def test_every_fault_step_of_the_store_is_covered() -> None:
    found = set()
    for source in STORE_SOURCES.glob("*.py"):
        found |= set(re.findall(r"""fault\(["']([\w.-]+)["']\)""", source.read_text()))
    assert found == set(STEPS)


def test_a_commit_is_durable_before_it_is_applied_or_returned(tmp_path: Path) -> None:
    """The order the crash guarantees rest on: the entry is fdatasync'd (the commit point) before memory
    changes and before commit returns; the checkpoint's atomic write comes only after."""
    write_crash_plan(tmp_path)
    steps: list[str] = []
    with Project.open(tmp_path, actor="cli") as project:
        while project.store.seq < CHECKPOINT_EVERY - 1:  # bounded: one entry per pass
            project.record_run("T-0", {"input_tokens": project.store.seq}, "ran")
        project.store.listeners.append(lambda entry, changes: steps.append(f"applied {entry.seq}"))
        fsio.fault_hook = steps.append
        try:
            project.start("T-0")
            steps.append("returned")
        finally:
            fsio.fault_hook = None
    assert steps == [
        *JOURNAL_STEPS,
        f"applied {CHECKPOINT_EVERY}",
        *ATOMIC_STEPS,  # project_state.json
        *ATOMIC_STEPS,  # checkpoints/00000256.<sha256>.json.gz
        "returned",
    ]


# ------------------------------------------------------------------------------ killed at a step


@pytest.fixture(scope="module")
def server() -> Iterator[ForkServer]:
    server = ForkServer()
    yield server
    server.close()


def fresh(root: Path) -> Ledger:
    write_crash_plan(root)
    Project.open(root, actor="cli").close()
    return Ledger.start(root)


@pytest.mark.parametrize("nth", [1, 2, 5])
@pytest.mark.parametrize("step", STEPS)
def test_killed_at_a_step_leaves_old_or_new_state(tmp_path: Path, server: ForkServer, step: str, nth: int) -> None:
    root = tmp_path / "p"
    ledger = fresh(root)
    run = server.run({"root": str(root), "seed": nth, "checkpoint_every": 3, "fault": [step, nth]})
    assert {"fault": step} in run.events and run.signal == signal.SIGKILL, run
    raw = journal_bytes(root)
    verdict = ledger.judge(root, run)
    store = verdict.store
    if step in ("journal.before-append", "journal.mid-append"):
        assert not verdict.new  # the entry never reached the commit point
    else:
        assert verdict.new, "the entry was whole in the journal (or already committed) when the process died"
    if step == "journal.mid-append":
        (repair,) = verdict.repairs
        assert "torn entry" in repair and "never committed" in repair
        cut = store.offset
        assert journal_bytes(root) == raw[:cut] and cut < len(raw)
        assert damaged_files(root) == [raw[cut:]], "the torn bytes are kept, byte for byte"
    else:
        assert verdict.repairs == [] and damaged_files(root) == []
        assert journal_bytes(root) == raw
    decode((root / ".orchestra" / "project_state.json").read_bytes())  # old or new, but whole
    assert not list((root / ".orchestra").rglob(".tmp-*"))
    # The project goes on: a new committer opens it and commits.
    after = server.run({"root": str(root), "seed": 99, "checkpoint_every": 3, "max_commits": 4})
    ledger.judge(root, after)
    assert ledger.seq == store.seq + 4


@pytest.mark.parametrize(
    ("step", "nth"), [("atomic.write", 1), ("atomic.after-rename", 1), ("atomic.write", 2), ("atomic.after-rename", 2)]
)
def test_killed_while_repairing(tmp_path: Path, server: ForkServer, step: str, nth: int) -> None:
    """Set a torn tail aside (atomic write 1), then rewrite the snapshot (atomic write 2): a kill in either
    leaves the repair to the next open, and the torn bytes are never lost."""
    root = tmp_path / "p"
    ledger = fresh(root)
    torn = server.run({"root": str(root), "seed": 1, "fault": ["journal.mid-append", 3]})
    ledger.follow(torn)
    raw = journal_bytes(root)
    run = server.run({"root": str(root), "seed": 2, "fault": [step, nth]})
    assert {"fault": step} in run.events and run.signal == signal.SIGKILL, run
    verdict = ledger.judge(root, run)
    good = verdict.store.offset
    assert not verdict.new and good < len(raw)
    assert journal_bytes(root) == raw[:good]
    kept = damaged_files(root)
    assert kept and all(data == raw[good:] for data in kept)
    assert not list((root / ".orchestra").rglob(".tmp-*"))


# ------------------------------------------------------------------------------ ENOSPC in process


@pytest.fixture
def no_space() -> Iterator[Callable[[str], list[str]]]:
    """Install a hook that raises ENOSPC at the first occurrence of a step (and uninstall it after)."""

    def install(step: str) -> list[str]:
        fired: list[str] = []

        def hook(name: str) -> None:
            if name == step and not fired:
                fired.append(name)
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        fsio.fault_hook = hook
        return fired

    yield install
    fsio.fault_hook = None


def files_of(root: Path) -> dict[str, bytes]:
    state = root / ".orchestra"
    return {
        str(p.relative_to(state)): p.read_bytes()
        for p in sorted(state.rglob("*"))
        if p.is_file() and p.name not in ("plan-cache.json", "lock.holder")
    }


@pytest.mark.parametrize("step", JOURNAL_STEPS)
def test_enospc_before_the_commit_point_changes_nothing(tmp_path: Path, no_space, step: str) -> None:
    write_crash_plan(tmp_path)
    with Project.open(tmp_path, actor="cli") as project:
        project.store.flush()
        seq, digest, files = (
            project.store.seq,
            state_digest(project.store.tasks, project.store.meta),
            files_of(tmp_path),
        )
        fired = no_space(step)
        with pytest.raises(StateError) as info:
            project.start("T-0")
        assert fired == [step]
        message = str(info.value)
        assert (
            "\n" not in message
            and "journal.log" in message
            and "No space left on device" in message
            and "nothing was changed" in message
        )
        assert (project.store.seq, state_digest(project.store.tasks, project.store.meta)) == (seq, digest)
        assert project.tasks["T-0"].status == "pending" and files_of(tmp_path) == files
        fsio.fault_hook = None
        entry = project.start("T-0")
        assert entry.seq == seq + 1 and project.tasks["T-0"].status == "in_progress"
        after = state_digest(project.store.tasks, project.store.meta)
    reopened = open_store(tmp_path)
    assert (reopened.seq, state_digest(reopened.tasks, reopened.meta), reopened.repairs) == (seq + 1, after, [])


@pytest.mark.parametrize("step", ATOMIC_STEPS)
def test_enospc_in_a_checkpoint_keeps_the_commit_and_warns(tmp_path: Path, no_space, step: str) -> None:
    write_crash_plan(tmp_path)
    with Project.open(tmp_path, actor="cli") as project:
        store = project.store
        store.flush()
        while store.seq < CHECKPOINT_EVERY - 1:  # bounded: one entry per pass
            project.record_run("T-0", {"input_tokens": store.seq}, "ran")
        snapshot_before = (tmp_path / ".orchestra" / "project_state.json").read_bytes()
        fired = no_space(step)
        entry = project.start("T-0")  # entry CHECKPOINT_EVERY: the checkpoint fails after the commit point
        assert fired == [step] and entry.seq == CHECKPOINT_EVERY
        (warning,) = store.warnings
        assert "No space left on device" in warning and "the change itself is saved" in warning and "\n" not in warning
        assert not (tmp_path / ".orchestra" / "checkpoints").is_dir() or not list(
            (tmp_path / ".orchestra" / "checkpoints").iterdir()
        )
        snapshot_now = (tmp_path / ".orchestra" / "project_state.json").read_bytes()
        assert snapshot_now == snapshot_before or decode(snapshot_now).seq == CHECKPOINT_EVERY
        assert not list((tmp_path / ".orchestra").rglob(".tmp-*"))
        fsio.fault_hook = None
        project.complete("T-0")  # the next commit works, and takes the checkpoint that failed
        assert len(list((tmp_path / ".orchestra" / "checkpoints").iterdir())) == 1
        digest = state_digest(store.tasks, store.meta)
    reopened = open_store(tmp_path)
    assert (reopened.seq, state_digest(reopened.tasks, reopened.meta)) == (CHECKPOINT_EVERY + 1, digest)


@pytest.mark.parametrize("step", ATOMIC_STEPS)
def test_enospc_while_opening_is_one_line(tmp_path: Path, no_space, step: str) -> None:
    """Opening writes .gitignore (new state directory) and, after a repair, the snapshot: a full disk there
    is a one-line StateError, and the damage waits, untouched, for the next open."""
    write_crash_plan(tmp_path)
    no_space(step)
    with pytest.raises(StateError) as info:
        Project.open(tmp_path, actor="cli")
    assert "No space left on device" in str(info.value) and "\n" not in str(info.value)
    fsio.fault_hook = None
    Project.open(tmp_path, actor="cli").close()
    torn = b"ORJ1\x00\x00\x00\x10"
    with open(tmp_path / ".orchestra" / "journal.log", "ab") as handle:
        handle.write(torn)
    raw = journal_bytes(tmp_path)
    fired = no_space(step)
    with pytest.raises(StateError) as info:
        Project.open(tmp_path, actor="cli")
    assert fired and "No space left on device" in str(info.value) and "\n" not in str(info.value)
    fsio.fault_hook = None
    assert journal_bytes(tmp_path) == raw
    with Project.open(tmp_path, actor="cli") as project:
        assert journal_bytes(tmp_path) == raw[: -len(torn)]
        assert torn in damaged_files(tmp_path)
        assert project.store.seq == 1


def test_enospc_when_flushing_warns(tmp_path: Path, no_space) -> None:
    write_crash_plan(tmp_path)
    project = Project.open(tmp_path, actor="cli")
    project.start("T-0")
    no_space("atomic.write")
    project.close()
    (warning,) = project.store.warnings
    assert "could not refresh project_state.json" in warning and "No space left on device" in warning
    fsio.fault_hook = None
    reopened = open_store(tmp_path)
    assert reopened.tasks["T-0"]["status"] == "in_progress"


# ------------------------------------------------------------------------------ a real full disk, a read-only project

PR_CAPBSET_DROP = 24
# CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER, CAP_FSETID, CAP_LINUX_IMMUTABLE
FILE_CAPABILITIES = (0, 1, 2, 3, 4, 9)


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


@pytest.mark.parametrize("room", [0, 100])  # no room at all; room for part of the entry (a short write)
def test_full_disk_is_one_line_and_changes_nothing(tmp_path: Path, room: int) -> None:
    write_crash_plan(tmp_path)
    Project.open(tmp_path, actor="cli").close()
    before = files_of(tmp_path)
    limit = len(before["journal.log"]) + room

    def full_disk() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # so a write past the limit fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    line = one_error_line(cli(tmp_path, "complete", "T-0", preexec=full_disk))
    assert "journal.log" in line and "File too large" in line and "nothing was changed" in line
    assert files_of(tmp_path) == before, "a failed change must leave every state file byte-identical"
    done = cli(tmp_path, "complete", "T-0")
    assert done.returncode == 0, done.stderr
    assert open_store(tmp_path).tasks["T-0"]["status"] == "completed"


def read_only() -> None:
    """As root, chmod does not stop writes: drop the capabilities that bypass file permissions (they go at exec)."""
    if os.geteuid() == 0:
        libc = ctypes.CDLL(None, use_errno=True)
        for capability in FILE_CAPABILITIES:
            if libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
                raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def test_read_only_project_reads_work_and_changes_fail_in_one_line(tmp_path: Path) -> None:
    source = tmp_path / "source"
    write_crash_plan(source)
    with Project.open(source, actor="cli") as project:
        project.start("T-0")
    root = tmp_path / "ro"
    shutil.copytree(source, root)
    for path in [*sorted(root.rglob("*"), reverse=True), root]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        before = files_of(root)
        probe = subprocess.run(
            ["sh", "-c", f"touch {root}/probe"], capture_output=True, preexec_fn=read_only, timeout=30
        )
        assert probe.returncode != 0, "the child can still write: the test would prove nothing"

        listed = cli(root, "list", "--json", preexec=read_only)
        assert listed.returncode == 0 and "Traceback" not in listed.stderr, listed
        statuses = {task["task_id"]: task["status"] for task in json.loads(listed.stdout)}
        assert statuses["T-0"] == "in_progress" and len(statuses) == 12
        line = one_error_line(cli(root, "complete", "T-0", preexec=read_only))
        assert "Permission denied" in line or "read-only" in line, line
        assert files_of(root) == before
    finally:
        for path in [root, *root.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
