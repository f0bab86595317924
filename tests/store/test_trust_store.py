"""Issue 9 (trust), the store and its files: a checkout's `.orchestra/` and plan may come from someone else.

Every test is the issue's reproduction with real files and the real `orchestra` command in a child process:
symlinks are never written through and read-only commands never write (item 3), the plan cache is signed
(6), a task's `output` cannot target orchestra's own files (7), a foreign or misaligned snapshot does not cut
the history (8), bad state files give one short line (12), a held lock is named at once (15), `.orchestra/`
is private whatever the umask (16), and `-1` is an entry (17).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from orchestra_tui.engine.project import Project
from orchestra_tui.store.journal import iter_frames

from ..helpers.disk import cli
from ..helpers.plans import task_block, write_plan
from ..helpers.receiver import Receiver, pending
from ..helpers.waits import read_until, wait_for

HELPERS = Path(__file__).resolve().parents[1] / "helpers"


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def tree(directory: Path) -> dict[str, tuple[int, bytes | str]]:
    """Every path under ``directory``: its mode and its bytes (a symlink: its target), to compare before/after."""
    found: dict[str, tuple[int, bytes | str]] = {}
    for path in sorted(directory.rglob("*")):
        info = path.lstat()
        content: bytes | str = os.readlink(path) if path.is_symlink() else path.read_bytes() if path.is_file() else b""
        found[str(path.relative_to(directory))] = (info.st_mode, content)
    return found


def demo_with_history(demo_dir: Path) -> Path:
    for task_id in ("DES-001", "DES-002"):
        assert cli(demo_dir, "complete", task_id).returncode == 0
    return demo_dir / ".orchestra"


READ_ONLY = [["list"], ["show", "DES-001"], ["next"], ["report"], ["backups"], ["diff", "1"], ["graph"], []]


# ---------------------------------------------------------------------------------- item 3: symlinks


def test_a_shipped_journal_symlink_is_never_truncated_or_written(demo_dir: Path, tmp_path: Path) -> None:
    """`.orchestra/journal.log -> ~/somefile`: `orchestra list` used to truncate and overwrite the file."""
    state = demo_with_history(demo_dir)
    outside = tmp_path / "somefile"
    outside.write_bytes(b"the user's own file\n")
    (state / "journal.log").unlink()
    (state / "journal.log").symlink_to(outside)
    listed = cli(demo_dir, "list")
    assert listed.returncode == 0, listed.stderr
    assert "journal.log is a symbolic link" in listed.stderr and "`orchestra repair` repairs it" in listed.stderr
    assert outside.read_bytes() == b"the user's own file\n"
    assert not (state / "damaged").exists()  # a read-only command set nothing aside
    repaired = cli(demo_dir, "repair")
    assert repaired.returncode == 0 and "repaired: journal.log is a symbolic link" in repaired.stderr
    assert outside.read_bytes() == b"the user's own file\n"
    assert [path.is_symlink() for path in (state / "damaged").iterdir()] == [True]  # the link itself, moved
    assert cli(demo_dir, "complete", "DES-003").returncode == 0
    assert outside.read_bytes() == b"the user's own file\n"
    assert not (state / "journal.log").is_symlink() and (state / "journal.log").stat().st_size > 0


@pytest.mark.parametrize("name", ["project_state.json", "lock", ".gitignore", "plan-cache.json", "checkpoints", "runs"])
def test_no_symlink_in_the_state_directory_is_followed(demo_dir: Path, tmp_path: Path, name: str) -> None:
    state = demo_with_history(demo_dir)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "file").write_bytes(b"keep\n")
    target = outside if name in ("checkpoints", "runs") else outside / "file"
    victim = state / name
    if victim.is_dir():
        shutil.rmtree(victim)
    else:
        victim.unlink(missing_ok=True)
    victim.symlink_to(target)
    before = tree(outside)
    for args in (["list"], ["complete", "DES-003"], ["execute", "DEV-001"], ["list"]):
        result = cli(demo_dir, *args)
        assert result.returncode == 0, (args, result.stderr)
        assert tree(outside) == before, args
    assert not victim.is_symlink()


def test_a_state_directory_that_is_a_symlink_is_refused(demo_dir: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (demo_dir / ".orchestra").symlink_to(elsewhere)
    for args in (["list"], ["complete", "DES-001"]):
        line = one_error_line(cli(demo_dir, *args))
        assert ".orchestra is a symbolic link" in line, line
    assert list(elsewhere.iterdir()) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a directory to another user needs root (CI runs as root)")
def test_a_state_directory_of_another_user_is_refused(demo_dir: Path) -> None:
    state = demo_with_history(demo_dir)
    before = tree(state)
    os.chown(state, 65534, 65534)
    line = one_error_line(cli(demo_dir, "list"))
    assert "belongs to another user (uid 65534)" in line, line
    os.chown(state, 0, 0)
    assert tree(state) == before


def test_read_only_commands_report_damage_and_write_nothing(demo_dir: Path) -> None:
    state = demo_with_history(demo_dir)
    wanted = cli(demo_dir, "list", "--json").stdout
    snapshot = state / "project_state.json"
    data = bytearray(snapshot.read_bytes())
    data[data.index(b"Write the")] = ord("X")
    snapshot.write_bytes(bytes(data))
    with open(state / "journal.log", "ab") as journal:
        journal.write(b"ORJ1\x00\x00\x00\x10torn")  # a torn last entry
    before = tree(state)
    for args in READ_ONLY:
        result = cli(demo_dir, *args)
        assert result.returncode == 0, (args, result.stderr)
        assert "not repaired: `orchestra repair` repairs it" in result.stderr, (args, result.stderr)
        assert "repaired: " not in result.stderr.replace("not repaired: ", ""), args
        assert tree(state) == before, args
    repaired = cli(demo_dir, "repair")
    assert repaired.stderr.count("repaired: ") == 2, repaired.stderr
    assert cli(demo_dir, "repair").stdout.strip() == "nothing to repair"
    assert cli(demo_dir, "list", "--json").stdout == wanted


# ------------------------------------------------------------------------------- item 6: plan cache


def test_a_forged_plan_cache_is_neither_shown_nor_run(tmp_path: Path) -> None:
    """A cache keyed by the TOML's sha256 holding other commands made `show` display and `run` execute them."""
    root = tmp_path / "p"
    write_plan(root, task_block("A", commands=["echo honest > out.txt"]))
    assert cli(root, "list").returncode == 0
    cache = root / ".orchestra" / "plan-cache.json"
    head, _, tables = cache.read_bytes().partition(b"\n")[2].partition(b"\n")
    tasks = json.loads(tables)
    tasks[0]["commands"] = ["echo forged > out.txt"]
    tasks[0]["estimated_hmands"] = 3
    cache.write_bytes(head + b"\n" + json.dumps(tasks).encode())  # (unsigned: its MAC line is gone)
    shown = cli(root, "show", "A")
    assert shown.returncode == 0 and shown.stderr == "", shown.stderr
    assert "echo honest" in shown.stdout and "forged" not in shown.stdout
    ran = cli(root, "execute", "A")
    assert ran.returncode == 0, ran.stderr
    assert (root / "out.txt").read_text() == "honest\n"


# ------------------------------------------------------------------------- item 7: output targets


def test_outputs_into_orchestras_own_files_are_refused_with_file_and_line(tmp_path: Path) -> None:
    root = tmp_path / "p"
    write_plan(
        root,
        task_block("A", commands=["echo x"], output=".orchestra/journal.log")
        + task_block("B", commands=["echo x"], output="orchestra.toml")
        + task_block("C", commands=["echo x"], output=".git/config")
        + task_block("D", commands=["echo x"], output="./sub/../.orchestra/x"),
    )
    result = cli(root, "validate")
    assert result.returncode == 1
    lines = [line.removeprefix(f"{root}/") for line in result.stderr.splitlines()]
    assert lines == [
        "orchestra.toml:10: task A: field 'output': '.orchestra/journal.log' is inside .orchestra/; a task may "
        "not write there",
        "orchestra.toml:17: task B: field 'output': 'orchestra.toml' is the plan file; a task may not replace it",
        "orchestra.toml:24: task C: field 'output': '.git/config' is inside .git/; a task may not write there",
        "orchestra.toml:31: task D: field 'output': './sub/../.orchestra/x' is inside .orchestra/; a task may "
        "not write there",
    ], result.stderr


def test_an_existing_file_is_replaced_only_when_it_is_a_deliverable(tmp_path: Path) -> None:
    root = tmp_path / "p"
    write_plan(
        root,
        task_block("A", commands=["echo new"], output="notes.txt")
        + task_block("B", commands=["echo new"], output="report.txt", deliverables=["report.txt"]),
    )
    (root / "notes.txt").write_text("the user's notes\n")
    (root / "report.txt").write_text("old report\n")
    refused = cli(root, "execute", "A")
    assert (
        refused.returncode == 1
        and "'notes.txt' is an existing file the task does not list in its deliverables" in refused.stderr
    )
    assert (root / "notes.txt").read_text() == "the user's notes\n"
    assert cli(root, "execute", "B").returncode == 0
    assert (root / "report.txt").read_text() == "new\n"


# -------------------------------------------------------------------- item 8: foreign snapshots


def make_history(root: Path, project_id: str, rounds: int, reason: str = "again") -> None:
    write_plan(root, task_block("A") + task_block("B", ["A"]), project_id=project_id)
    with Project.open(root, actor="api") as project:
        for _ in range(rounds):
            project.fail("A", reason)
            project.retry("A")


def backups(root: Path) -> list[dict]:
    result = cli(root, "backups", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("other_id", ["live", "other"])
def test_a_snapshot_copied_from_another_project_does_not_cut_the_history(tmp_path: Path, other_id: str) -> None:
    """Copying another project's project_state.json in cut the live history to the other's offset."""
    live, other = tmp_path / "live", tmp_path / "other"
    make_history(live, "live", 40)
    make_history(other, other_id, 20, reason="a longer reason, so that the other's entries do not line up")
    journal = (live / ".orchestra" / "journal.log").read_bytes()
    entries = backups(live)
    tasks = cli(live, "list", "--json").stdout
    assert len(entries) == 81
    shutil.copy(other / ".orchestra" / "project_state.json", live / ".orchestra" / "project_state.json")
    assert backups(live) == entries
    assert cli(live, "list", "--json").stdout == tasks
    assert cli(live, "complete", "A").returncode == 0
    assert (live / ".orchestra" / "journal.log").read_bytes().startswith(journal)
    assert len(backups(live)) == 82
    assert json.loads(cli(live, "next", "--json").stdout)["task_id"] == "B"


def test_a_duplicated_region_of_the_journal_keeps_the_genuine_last_entries(tmp_path: Path) -> None:
    root = tmp_path / "live"
    make_history(root, "live", 30)
    path = root / ".orchestra" / "journal.log"
    data = path.read_bytes()
    frames = list(iter_frames(data))
    assert len(frames) == 61
    copy = data[frames[20].offset : frames[30].end]
    path.write_bytes(data[: frames[40].end] + copy + data[frames[40].end :])
    (root / ".orchestra" / "project_state.json").unlink()  # rebuilt from the journal alone
    entries = backups(root)
    assert [entry["seq"] for entry in entries] == list(range(61, 0, -1))
    repaired = cli(root, "repair")
    assert repaired.returncode == 0 and "journal.log-from" not in repaired.stderr, repaired.stderr
    assert path.read_bytes() == data[: frames[40].end] + copy + data[frames[40].end :]  # nothing cut
    assert cli(root, "complete", "A").returncode == 0
    assert [entry["seq"] for entry in backups(root)][:2] == [62, 61]
    assert cli(root, "diff", "50", "55").returncode == 0


# ------------------------------------------------------------------ item 12: one short line


def test_import_state_with_a_list_status_is_one_line(demo_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"format_version":2,"tasks":{"A":{"task_id":"A","title":"a","status":[]}}}')
    line = one_error_line(cli(demo_dir, "import-state", str(bad)))
    assert (
        line
        == f"error: {bad}: task A: field 'status': input should be 'pending', 'in_progress', 'review', 'completed', "
        "'failed', 'cancelled', 'ready' or 'blocked' (found [])"
    )


def test_a_100_kb_value_is_not_echoed_whole(demo_dir: Path, tmp_path: Path) -> None:
    big = "x" * 100_000
    state = tmp_path / "big.json"
    state.write_text(json.dumps({"format_version": 2, "tasks": {"A": {"task_id": "A", "title": "a", "status": big}}}))
    line = one_error_line(cli(demo_dir, "import-state", str(state)))
    assert len(line) < 400 and "xxx...'" in line, line[:500]
    root = tmp_path / "p"
    write_plan(root, task_block("A", [big], agent=big, priority=big) + task_block(big))
    result = cli(root, "validate")
    assert result.returncode == 1 and result.stderr.count("\n") >= 2
    assert max(len(line) for line in result.stderr.splitlines()) < 400, [
        len(line) for line in result.stderr.splitlines()
    ]
    assert len(one_error_line(cli(demo_dir, "show", big))) < 400
    assert len(one_error_line(cli(demo_dir, "rollback", big, "--yes"))) < 400


# ------------------------------------------------------------------------------- item 15: locks


def test_a_held_lock_is_named_at_once_and_the_wait_ends_in_one_line(demo_dir: Path) -> None:
    assert cli(demo_dir, "list").returncode == 0
    stuck = subprocess.Popen(
        [sys.executable, str(HELPERS / "stuck.py"), "-p", str(demo_dir), "complete", "DES-001"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        read_until(stuck, b"stuck")
        env = {**os.environ, "ORCHESTRA_LOCK_TIMEOUT": "1.5"}
        waiter = subprocess.run(
            [sys.executable, "-m", "orchestra_tui", "-p", str(demo_dir), "cancel", "TST-003"],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
    finally:
        os.killpg(stuck.pid, 9)
        stuck.wait(timeout=10)
    lines = waiter.stderr.splitlines()
    assert waiter.returncode == 1 and len(lines) == 2, waiter.stderr
    holder = f"held by pid {stuck.pid} (stuck.py complete) since "
    assert lines[0].startswith("waiting up to 1.5 s for ") and holder in lines[0], lines[0]
    assert lines[1].startswith("error: gave up after 1.5 s waiting for ") and holder in lines[1], lines[1]
    assert lines[1].endswith("nothing was changed (try again when it is done)")


def test_the_app_says_who_holds_the_lock_before_it_draws(demo_dir: Path, tmp_path: Path) -> None:
    """The TUI used to show a blank screen for 30 s: opening it (here with a plan change to record) now says at
    once who holds the lock, through the same hook the CLI prints on stderr, and fails in one line."""
    from orchestra_tui.errors import LockTimeoutError

    from ..helpers.tui import app_on

    assert cli(demo_dir, "list").returncode == 0
    stuck = subprocess.Popen(
        [sys.executable, str(HELPERS / "stuck.py"), "-p", str(demo_dir), "cancel", "TST-003"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    heard: list[str] = []
    try:
        read_until(stuck, b"stuck")
        with open(demo_dir / "orchestra.toml", "a") as plan:
            plan.write(task_block("NEW-001"))
        with pytest.raises(LockTimeoutError) as error:
            app_on(demo_dir, tmp_path, lock_timeout=1.0, on_lock_wait=heard.append)
    finally:
        os.killpg(stuck.pid, 9)
        stuck.wait(timeout=10)
    assert len(heard) == 1 and f"held by pid {stuck.pid} (stuck.py cancel) since " in heard[0], heard
    assert "\n" not in str(error.value) and f"held by pid {stuck.pid}" in str(error.value)


# ------------------------------------------------------------------------- item 16: permissions


def file_modes(base: Path, top: Path) -> dict[str, int]:
    """The permission bits of ``top`` and everything below it, skipping a file removed since the listing (the
    webhook sender, still retrying, renames its temporary delivery files)."""
    modes = {}
    for path in [top, *top.rglob("*")]:
        with contextlib.suppress(FileNotFoundError):
            modes[str(path.relative_to(base))] = stat.S_IMODE(path.lstat().st_mode)
    return modes


def test_the_state_directory_is_private_whatever_the_umask(demo_dir: Path, receiver: Receiver) -> None:
    with open(demo_dir / "orchestra.toml", "a") as plan:  # a receiver that answers: the senders end, none retries
        plan.write(f'\n[[webhooks]]\nurl = "{receiver.url("/hook")}"\n')
    for mask in (0o022, 0o000):
        for made in (".orchestra", "build"):
            shutil.rmtree(demo_dir / made, ignore_errors=True)
        result = cli(demo_dir, "run", preexec=lambda mask=mask: os.umask(mask))
        assert result.returncode == 0, result.stderr
        state = demo_dir / ".orchestra"
        modes = file_modes(demo_dir, state)
        kinds = {name.split("/")[1] if "/" in name else name for name in modes}
        assert {"journal.log", "project_state.json", "runs", "webhooks", "lock", "plan-cache.json"} <= kinds, sorted(
            kinds
        )
        assert any(name.endswith("output.txt") for name in modes) and any(
            name.endswith("events.jsonl") for name in modes
        )
        wrong = {
            name: oct(mode) for name, mode in modes.items() if mode != (0o700 if (demo_dir / name).is_dir() else 0o600)
        }
        assert wrong == {}, (oct(mask), wrong)
        assert stat.S_IMODE((demo_dir / "build" / "SPEC.md").stat().st_mode) == 0o666 & ~mask  # the project's own files
        # Every delivery made before the next round removes the state: no sender is left retrying (it ends once
        # it finds nothing waiting).
        wait_for(lambda: not pending(demo_dir), "the run's webhook deliveries")


# ------------------------------------------------------------------------- item 17: -1 offsets


def test_rollback_and_diff_take_negative_offsets(demo_dir: Path) -> None:
    demo_with_history(demo_dir)
    diff = cli(demo_dir, "diff", "-1")
    assert diff.returncode == 0 and diff.stdout.startswith("00000002 -> now: 1 change"), (diff.stdout, diff.stderr)
    assert cli(demo_dir, "diff", "-2", "-1", "--json").returncode == 0
    rolled = cli(demo_dir, "rollback", "-1", "--yes")
    assert rolled.returncode == 0 and "rollback to 00000002" in rolled.stdout, (rolled.stdout, rolled.stderr)
    assert json.loads(cli(demo_dir, "next", "--json").stdout)["task_id"] == "DES-002"
    assert cli(demo_dir, "rollback", "--yes", "-2").returncode == 0
    unknown = cli(demo_dir, "rollback", "-1", "--bogus")
    assert unknown.returncode == 2 and "--bogus" in unknown.stderr


def test_a_run_output_that_is_a_symlink_is_not_read(tmp_path: Path) -> None:
    """A checkout shipping `.orchestra/runs/ID/output.txt -> ~/secret` must not feed that file to the screen or
    to a dependant's prompt."""
    from orchestra_tui.engine.runs import OUTPUT_FILE, read_events, read_output, run_dir

    root = tmp_path / "p"
    write_plan(root, task_block("A", commands=["echo hi"]))
    assert cli(root, "execute", "A").returncode == 0
    run_id = json.loads(cli(root, "show", "A", "--json").stdout)["last_run_id"]
    assert read_output(root, run_id) == "hi\n" and read_events(root, run_id)
    secret = tmp_path / "secret"
    secret.write_text("sk-not-for-you\n")
    for name in (OUTPUT_FILE, "events.jsonl"):
        (run_dir(root, run_id) / name).unlink()
        (run_dir(root, run_id) / name).symlink_to(secret)
    assert read_output(root, run_id) is None and read_events(root, run_id) == []
