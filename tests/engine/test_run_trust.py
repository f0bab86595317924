"""Runs that can be trusted (issue 9, the run items): an outcome never lands on a later attempt, one live run per
task, no task process outlives a killed orchestra unnoticed, timeouts, a run ends with its own process, bounded
memory whatever the output size, byte-exact output, a full disk in one line. Real processes, real files."""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from orchestra_tui.agents.process import DEFAULT_IDLE_TIMEOUT, DEFAULT_TIMEOUT, Limits
from orchestra_tui.engine.project import Project
from orchestra_tui.engine.runner import Runner
from orchestra_tui.engine.runs import OUTPUT_FILE, ProcessGroup, is_live, read_events, run_dir
from orchestra_tui.models import AgentConfig, AgentTask, AgentType

from ..helpers.plans import task_block, write_plan
from ..helpers.waits import read_until, running, wait_for

ENTRY_POINT = [sys.executable, "-m", "orchestra_tui"]
LIMIT = 60  # seconds any one orchestra command of these tests may take


def spawn(root: Path, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*ENTRY_POINT, "-p", str(root), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "COLUMNS": "200"},
    )


def orchestra(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ENTRY_POINT, "-p", str(root), *args],
        capture_output=True,
        text=True,
        timeout=LIMIT,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "COLUMNS": "200"},
    )


def task(root: Path, task_id: str) -> AgentTask:
    with Project.open(root, actor="cli") as project:
        return project.task(task_id)


def kill_quietly(*pids: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def end_of(root: Path, run_id: str) -> dict:
    return [event for event in read_events(root, run_id) if event["event"] == "end"][-1]


# ------------------------------------------------------------------------ item 1: the outcome of the right attempt


def test_a_runs_outcome_never_lands_on_a_later_attempt(tmp_path: Path) -> None:
    """The issue's reproduction: A succeeds (slowly) on its first attempt and exits 3 on its second; B needs A.
    While the first run goes, A is failed and retried from other processes: the first run stops at once (its
    task moved on; issue 10) recording nothing, and the second attempt's failure is A's."""
    first, release = tmp_path / "first-attempt", tmp_path / "release"
    # the 9 s, made certain
    wait = f"n=0; while [ ! -e {release} ] && [ $n -lt 600 ]; do sleep 0.1; n=$((n+1)); done"
    command = f"if [ -e {first} ]; then echo second-attempt; exit 3; fi; touch {first}; echo first-attempt; {wait}"
    write_plan(tmp_path, task_block("A", commands=[command]) + task_block("B", ["A"], commands=["echo B ran"]))
    plan = tmp_path / "orchestra.toml"
    plan.write_text(plan.read_text().replace('name = "Test"', 'name = "Test"\nauto_complete = true'))
    runner = spawn(tmp_path, "run")
    try:
        wait_for(lambda: first.exists(), "first attempt")
        first_run = task(tmp_path, "A").last_run_id
        assert orchestra(tmp_path, "fail", "A", "--reason", "stuck").returncode == 0
        assert orchestra(tmp_path, "retry", "A").returncode == 0
        wait_for(lambda: not is_live(tmp_path, first_run), "the first run stops once its task moved on")
        assert end_of(tmp_path, first_run)["status"] == "superseded"
        second = orchestra(tmp_path, "execute", "A")
        assert second.returncode == 1 and "exited with 3" in second.stderr, second.stderr
        release.touch()
        runner.communicate(timeout=LIMIT)
    finally:
        runner.kill() if runner.poll() is None else None
    record = task(tmp_path, "A")
    assert (
        record.status == "failed"
        and record.attempts == 2
        and record.last_error.startswith("command 1 of 1 exited with 3")
    ), record
    assert end_of(tmp_path, record.last_run_id)["status"] == "failed"
    assert task(tmp_path, "B").status == "pending" and task(tmp_path, "B").attempts == 0, "B must not run"
    with Project.open(tmp_path, actor="cli") as project:
        assert not any(entry.summary.startswith("A completed") for entry in project.history())


def test_undo_of_the_start_supersedes_the_run_and_execute_says_so(tmp_path: Path) -> None:
    write_plan(tmp_path, task_block("A", commands=["echo going; sleep 3; echo done"]))
    process = spawn(tmp_path, "execute", "A")
    try:
        read_until(process, b"going\n")
        run_id = task(tmp_path, "A").last_run_id
        undone = orchestra(tmp_path, "undo")
        assert undone.returncode == 0, undone.stderr
        assert task(tmp_path, "A").status == "pending"
        _out, err = process.communicate(timeout=LIMIT)
    finally:
        process.kill() if process.poll() is None else None
    assert process.returncode == 1
    lines = err.decode().splitlines()
    assert lines[-1].startswith(
        f"error: run superseded: A moved on while run {run_id} went (it is pending); "
        "the run's outcome was not recorded (output: "
    ), lines
    record = task(tmp_path, "A")
    assert record.status == "pending" and record.attempts == 0 and record.last_error is None
    assert end_of(tmp_path, run_id)["status"] == "superseded"
    assert (run_dir(tmp_path, run_id) / OUTPUT_FILE).read_text() == "going\ndone\n"  # its output is kept


async def test_a_second_live_run_of_a_task_is_refused_in_the_same_process_too(tmp_path: Path) -> None:
    write_plan(tmp_path, task_block("A", commands=["sleep 0.5"]))
    with Project.open(tmp_path, actor="api") as project:
        runner = Runner(project)
        run = runner.begin("A")
        project.fail("A", "stuck")
        project.retry("A")
        with pytest.raises(Exception, match=f"cannot start A: its run {run.run_id} is still going"):
            runner.begin("A")
        assert project.task("A").status == "pending"  # nothing was started
        result = await runner.finish(run)
        assert result.status == "superseded" and not result.ok
        assert project.task("A").status == "pending"
        assert (await runner.execute("A")).status == "review"  # the lock went with the first run


# ------------------------------------------------------------------------ item 9: leftovers of a killed orchestra


def test_processes_a_killed_run_left_are_stopped_before_recovery_and_never_run_twice(tmp_path: Path) -> None:
    pids, again = tmp_path / "pids", tmp_path / "again"
    command = (
        f"if [ -e {again} ]; then echo second-copy; exit 0; fi; touch {again}; "
        f"sleep 300 & echo $$ $! > {pids}; echo before-the-crash; wait"
    )
    write_plan(tmp_path, task_block("LONG", commands=[command]))
    process = spawn(tmp_path, "execute", "LONG")
    try:
        read_until(process, b"before-the-crash\n")
        shell, sleeper = map(int, pids.read_text().split())
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=LIMIT)
        assert running(shell) and running(sleeper), "the task's processes outlive orchestra (they are what is tested)"
        run_id = task(tmp_path, "LONG").last_run_id
        recorded = [event for event in read_events(tmp_path, run_id) if event["event"] == "process"]
        assert recorded and recorded[0]["pgid"] == shell and isinstance(recorded[0]["start"], int)
        recovered = orchestra(tmp_path, "run")
        assert "LONG was interrupted" in recovered.stderr, recovered.stderr
        assert not running(shell) and not running(sleeper), (
            "recovery must stop the group before calling the task interrupted"
        )
        assert task(tmp_path, "LONG").last_error == "interrupted"
    finally:
        process.kill() if process.poll() is None else None
        if pids.exists():
            kill_quietly(*map(int, pids.read_text().split()))


def test_a_new_run_of_a_task_stops_the_copy_a_killed_run_left_going(tmp_path: Path) -> None:
    pids, again = tmp_path / "pids", tmp_path / "again"
    command = (
        f"if [ -e {again} ]; then echo second-copy; exit 0; fi; "
        f"touch {again}; echo $$ > {pids}; echo first-copy; exec sleep 300"
    )
    write_plan(tmp_path, task_block("A", commands=[command]))
    process = spawn(tmp_path, "execute", "A")
    try:
        read_until(process, b"first-copy\n")
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=LIMIT)
        first = int(pids.read_text())
        assert running(first)
        assert orchestra(tmp_path, "fail", "A", "--reason", "gone").returncode == 0  # not via recovery this time
        assert orchestra(tmp_path, "retry", "A").returncode == 0
        second = orchestra(tmp_path, "execute", "A")
        assert second.returncode == 0 and second.stdout == "second-copy\n", second.stderr
        assert not running(first), "two copies of A ran side by side"
        stopped = [
            e for e in read_events(tmp_path, task(tmp_path, "A").last_run_id) if e["event"] == "stopped_leftover"
        ]
        assert [e["pgid"] for e in stopped] == [first]
    finally:
        process.kill() if process.poll() is None else None
        if pids.exists():
            kill_quietly(int(pids.read_text()))


def test_a_recorded_group_whose_pid_now_names_another_process_is_never_signalled(tmp_path: Path) -> None:
    other = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        real = ProcessGroup.of(other.pid)
        assert real is not None and real.alive()
        reused = ProcessGroup(other.pid, real.start - 1, real.boot)  # the same pid, started at another time
        assert not reused.alive() and not reused.stop()
        assert ProcessGroup(other.pid, real.start, "another-boot").stop() is False
        assert other.poll() is None, "a process that merely reuses a recorded pid was signalled"
        assert real.stop(grace=1.0) and other.wait(timeout=10) == -signal.SIGTERM
    finally:
        other.kill() if other.poll() is None else None


# ------------------------------------------------------------------------ item 13: timeouts, background children


def plan_with_agents(root: Path, agents: str, tasks: str) -> None:
    write_plan(root, tasks)
    plan = root / "orchestra.toml"
    text = plan.read_text()
    head, rest = text.split("\n\n", 1)
    plan.write_text(head + "\n\n" + agents + "\n" + rest)


async def test_shell_and_cli_runs_are_stopped_by_their_timeout_and_idle_timeout(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    agents = (
        '[agents.slow]\ntype = "shell"\ntimeout = 1\n\n'
        '[agents.quiet]\ntype = "cli"\ncommand = ["sh", "-c", "echo $$ >> pids; echo hello; sleep '
        '300"]\nidle_timeout = 1\n'
    )
    plan_with_agents(
        tmp_path,
        agents,
        task_block("WALL", agent="slow", commands=[f"echo $$ >> {pids}; while true; do echo tick; sleep 0.2; done"])
        + task_block("IDLE", commands=[f"echo $$ >> {pids}; echo once; sleep 300"], idle_timeout=1)
        + task_block("CLI", agent="quiet"),
    )
    with Project.open(tmp_path, actor="api") as project:
        runner = Runner(project)
        wall = await runner.execute("WALL")
        idle = await runner.execute("IDLE")
        cli = await runner.execute("CLI")
    assert wall.status == "failed" and wall.error.startswith("command 1 of 1 timed out after 1 s: "), wall.error
    assert idle.status == "failed" and idle.error.startswith("command 1 of 1 no output for 1 s: "), idle.error
    assert cli.status == "failed" and cli.error == "sh no output for 1 s", cli.error
    assert "tick" in wall.output and idle.output == "once\n" and cli.output == "hello\n"
    assert all(not running(int(pid)) for pid in pids.read_text().split())


def test_timeout_defaults_and_precedence() -> None:
    shell, cli = AgentConfig(type=AgentType.SHELL), AgentConfig(type=AgentType.CLI)
    plain = AgentTask("T", "t")
    assert (
        Limits.of(shell, plain)
        == Limits(DEFAULT_TIMEOUT[AgentType.SHELL], DEFAULT_IDLE_TIMEOUT)
        == Limits(1800.0, 600.0)
    )
    assert Limits.of(cli, plain) == Limits(3600.0, 600.0)
    assert Limits.of(AgentConfig(type=AgentType.CLI, timeout=50, idle_timeout=0), plain) == Limits(50.0, None)
    assert Limits.of(
        AgentConfig(type=AgentType.CLI, timeout=50), AgentTask("T", "t", timeout=7, idle_timeout=3)
    ) == Limits(7.0, 3.0)


def test_a_run_ends_when_its_own_process_exits_whatever_background_children_hold(tmp_path: Path) -> None:
    background = tmp_path / "background"
    write_plan(tmp_path, task_block("A", commands=[f"(sleep 300 & echo $! > {background}); echo started"]))
    try:
        result = orchestra(tmp_path, "execute", "A")  # waiting for the child's pipe would take 300 s: past LIMIT
        assert result.returncode == 0 and result.stdout == "started\n", result.stderr
        assert task(tmp_path, "A").status == "review"
        assert not running(int(background.read_text())), "what the command left in its group is stopped with it"
    finally:
        if background.exists():
            kill_quietly(int(background.read_text()))


@pytest.mark.parametrize("then", ["", "; sleep 30"], ids=["shell-exited", "shell-running"])
def test_ctrl_c_with_a_child_in_its_own_session_ends_without_event_loop_noise(tmp_path: Path, then: str) -> None:
    """The child keeps the output pipe open; the shell has exited (the old code then waited for the pipe, and
    Ctrl-C there printed "Exception ignored ... Event loop is closed") or still runs."""
    escaped, shell = tmp_path / "escaped", tmp_path / "shell"
    write_plan(
        tmp_path,
        task_block("A", commands=[f"echo $$ > {shell}; setsid sleep 25 & echo $! > {escaped}; echo started{then}"]),
    )
    process = spawn(tmp_path, "execute", "A")
    try:
        read_until(process, b"started\n")
        if not then:
            wait_for(lambda: not running(int(shell.read_text())), "the shell's exit")
        process.send_signal(signal.SIGINT)
        _out, err = process.communicate(timeout=LIMIT)
    finally:
        process.kill() if process.poll() is None else None
        if escaped.exists():
            kill_quietly(int(escaped.read_text()))
    text = err.decode()
    assert "Exception ignored" not in text and "Event loop is closed" not in text and "Traceback" not in text, text
    if then or process.returncode != 0:  # with the shell gone the run may have ended before the Ctrl-C came
        assert process.returncode == 130 and "A failed: cancelled by user" in text, text


# ------------------------------------------------------------------------ items 10, 11, 12: output of any size


def peak_rss_kib(root: Path, *args: str) -> int:
    """Run orchestra to the end with its stdout thrown away; its peak RSS (KiB)."""
    errors = root / "stderr.txt"
    with open(errors, "wb") as err:
        process = subprocess.Popen(
            [*ENTRY_POINT, "-p", str(root), *args], stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL
        )
    try:
        _pid, status, usage = os.wait4(process.pid, 0)
    finally:
        process.kill() if process.returncode is None and running(process.pid) else None
    process.returncode = os.waitstatus_to_exitcode(status)
    assert process.returncode == 0, errors.read_text()
    return usage.ru_maxrss


def test_memory_stays_bounded_whatever_the_output_size(tmp_path: Path) -> None:
    """A 64 MB answer (with an ``output`` file, which needs the whole of it) costs no more memory than 5 bytes."""
    size = 64 * 1024 * 1024
    write_plan(
        tmp_path,
        task_block("SMALL", commands=["echo small"], output="small.txt")
        + task_block("BIG", commands=[f"yes | head -c {size}"], output="big.txt"),
    )
    small = peak_rss_kib(tmp_path, "execute", "SMALL")
    big = peak_rss_kib(tmp_path, "execute", "BIG")
    assert (tmp_path / "big.txt").stat().st_size == size
    assert big - small < 32 * 1024, f"peak RSS grew by {(big - small) // 1024} MiB for a {size >> 20} MiB output"


async def test_output_keeps_exactly_the_bytes_the_process_wrote(tmp_path: Path) -> None:
    data = os.urandom(2_000_000)
    (tmp_path / "data.bin").write_bytes(data)
    write_plan(tmp_path, task_block("BIN", commands=["cat data.bin"], output="copy.bin"))
    with Project.open(tmp_path, actor="api") as project:
        result = await Runner(project).execute("BIN")
    assert result.status == "review", result.error
    assert (run_dir(tmp_path, result.run_id) / OUTPUT_FILE).read_bytes() == data
    assert (tmp_path / "copy.bin").read_bytes() == data


def test_a_full_disk_during_execute_is_one_line(tmp_path: Path) -> None:
    write_plan(tmp_path, task_block("A", commands=["head -c 5000000 /dev/zero"]))
    assert orchestra(tmp_path, "list").returncode == 0  # the state exists before the limit applies
    limit = 1_000_000

    def full_disk() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # so a write past the limit fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    result = subprocess.run(
        [*ENTRY_POINT, "-p", str(tmp_path), "execute", "A"],
        capture_output=True,
        timeout=LIMIT,
        stdin=subprocess.DEVNULL,
        preexec_fn=full_disk,
    )
    err = result.stderr.decode()
    assert result.returncode == 1 and "Traceback" not in err and "OSError" not in err, err
    last = err.splitlines()[-1]
    assert last.startswith("error: A failed: cannot write ") and "output.txt: File too large" in last, last
    record = task(tmp_path, "A")
    assert record.status == "failed" and "output.txt: File too large" in record.last_error
