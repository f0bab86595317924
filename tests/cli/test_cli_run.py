"""``orchestra execute``, ``orchestra run`` and ``orchestra agents`` through real processes (and the
engine benchmark's smoke run): streamed output, exit codes, Ctrl-C, a crash during a run."""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from typer.testing import CliRunner

from orchestra_tui.cli.main import app
from orchestra_tui.engine.project import Project
from orchestra_tui.engine.runs import OUTPUT_FILE, read_events, run_dir

from ..helpers.fakeserver import FakeServer, Reply
from ..helpers.plans import task_block, write_plan
from ..helpers.waits import read_until

REPO = Path(__file__).resolve().parents[2]
ENTRY_POINT = [sys.executable, "-m", "orchestra_tui"]


def spawn(root: Path, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*ENTRY_POINT, "-p", str(root), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "COLUMNS": "120"},
    )


def orchestra(root: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ENTRY_POINT, "-p", str(root), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "COLUMNS": "120"},
    )


def task(root: Path, task_id: str):
    with Project.open(root, actor="cli") as project:
        return project.task(task_id)


def no_traceback(*texts: str | bytes) -> None:
    for text in texts:
        assert ("Traceback" if isinstance(text, str) else b"Traceback") not in text


def kill_quietly(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


# ----------------------------------------------------------------------------------------- execute


def test_execute_streams_the_answer_as_it_arrives_and_ends_in_review(tmp_path: Path) -> None:
    write_plan(
        tmp_path, task_block("A", commands=["echo first-line", "sleep 1.5", "echo second-line"], output="out/a.txt")
    )
    process = spawn(tmp_path, "execute", "A")
    try:
        seen = read_until(process, b"first-line\n")
        assert process.poll() is None  # the first line is on the terminal while the command still runs
        assert b"second-line" not in seen
        out, err = process.communicate(timeout=60)
    finally:
        process.kill() if process.poll() is None else None
    assert process.returncode == 0, err
    assert seen + out == b"first-line\nsecond-line\n"  # stdout is exactly the answer
    lines = err.decode().splitlines()
    assert lines[0].startswith("A started with agent shell (run ") and "ready for review" in lines[-1]
    assert task(tmp_path, "A").status == "review"
    assert (tmp_path / "out" / "a.txt").read_text() == "first-line\nsecond-line\n"


def test_execute_exit_codes_and_one_line_errors(tmp_path: Path) -> None:
    write_plan(
        tmp_path, task_block("A", commands=["echo some output", "exit 3"]) + task_block("B", ["A"], commands=["true"])
    )
    failed = orchestra(tmp_path, "execute", "A")
    assert failed.returncode == 1 and failed.stdout == "some output\n"
    last = failed.stderr.splitlines()[-1]
    assert re.fullmatch(r"error: A failed: command 2 of 2 exited with 3: exit 3 \(output: .*output\.txt\)", last), last
    blocked = orchestra(tmp_path, "execute", "B")
    assert (
        blocked.returncode == 1
        and blocked.stderr == "error: cannot start B: it depends on tasks not completed: A (failed)\n"
    )
    unknown = orchestra(tmp_path, "execute", "ZZZ")
    assert (
        unknown.returncode == 1
        and unknown.stderr.startswith("error: unknown task 'ZZZ'")
        and unknown.stderr.count("\n") == 1
    )
    orchestra(tmp_path, "retry", "A")
    no_agent = orchestra(tmp_path, "execute", "A", "--agent", "nobody")
    assert no_agent.returncode == 1 and no_agent.stderr.startswith("error: unknown agent 'nobody' for A")
    assert task(tmp_path, "A").status == "pending"  # nothing was started
    no_traceback(failed.stderr, blocked.stderr, unknown.stderr, no_agent.stderr)


def test_ctrl_c_during_execute_fails_the_task_keeps_its_output_and_exits_130(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    write_plan(tmp_path, task_block("A", commands=[f"echo $$ > {pid_file}; echo streamed; exec sleep 60"]))
    process = spawn(tmp_path, "execute", "A")
    try:
        read_until(process, b"streamed\n")
        process.send_signal(signal.SIGINT)
        _out, err = process.communicate(timeout=60)
    finally:
        process.kill() if process.poll() is None else None
    assert process.returncode == 130
    no_traceback(err)
    assert b"A failed: cancelled by user; its output is kept in " in err
    record = task(tmp_path, "A")
    assert record.status == "failed" and record.last_error == "cancelled by user"
    assert (run_dir(tmp_path, record.last_run_id) / OUTPUT_FILE).read_text() == "streamed\n"
    pid = int(pid_file.read_text())
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]


def test_a_run_killed_with_its_process_is_failed_interrupted_on_the_next_start(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    write_plan(
        tmp_path,
        task_block("LONG", commands=[f"echo $$ > {pid_file}; echo before-the-crash; exec sleep 60"])
        + task_block("OTHER", commands=["echo other"]),
    )
    process = spawn(tmp_path, "execute", "LONG")
    try:
        read_until(process, b"before-the-crash\n")
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=60)
    finally:
        process.kill() if process.poll() is None else None
        if pid_file.exists():
            kill_quietly(int(pid_file.read_text()))  # the agent's command lives in its own process group
    crashed = task(tmp_path, "LONG")
    assert crashed.status == "in_progress"  # reading does not judge runs
    result = orchestra(tmp_path, "run")
    assert result.returncode == 0, result.stderr
    assert "LONG was interrupted (its run ended with the process running it): marked failed" in result.stderr
    record = task(tmp_path, "LONG")
    assert record.status == "failed" and record.last_error == "interrupted"
    assert (run_dir(tmp_path, record.last_run_id) / OUTPUT_FILE).read_text() == "before-the-crash\n"
    assert [e["event"] for e in read_events(tmp_path, record.last_run_id)][-1] == "first_text"
    assert task(tmp_path, "OTHER").status == "review"
    again = orchestra(tmp_path, "run")
    assert "interrupted" not in again.stderr  # judged once


def test_a_task_started_by_hand_is_not_interrupted(tmp_path: Path) -> None:
    write_plan(tmp_path, task_block("HAND", commands=["true"]) + task_block("B", commands=["true"]))
    assert orchestra(tmp_path, "start", "HAND").returncode == 0
    result = orchestra(tmp_path, "execute", "B")
    assert result.returncode == 0 and "interrupted" not in result.stderr
    assert task(tmp_path, "HAND").status == "in_progress"


# --------------------------------------------------------------------------------------------- run


def test_run_dispatches_everything_ready_and_reports(tmp_path: Path) -> None:
    path = write_plan(
        tmp_path,
        task_block("A", commands=["echo a"])
        + task_block("B", ["A"], commands=["echo b"])
        + task_block("C", ["A"], commands=["echo c; exit 1"])
        + task_block("D", ["C"], commands=["true"]),
    )
    path.write_text(path.read_text().replace('name = "Test"', 'name = "Test"\nauto_complete = true'))
    result = orchestra(tmp_path, "run", "--parallel", "2")
    assert result.returncode == 1
    assert "ran 3 tasks: 2 completed, 1 failed" in result.stdout
    assert re.search(r"✗ failed C in [\d.]+ s: command 1 of 1 exited with 1: echo c; exit 1", result.stdout)
    assert result.stderr.splitlines()[-1].startswith("error: 1 task failed: C")
    assert [task(tmp_path, t).status for t in "ABCD"] == ["completed", "completed", "failed", "pending"]
    with Project.open(tmp_path) as project:
        assert {entry.actor for entry in project.history()[1:]} == {"scheduler"}
    nothing = orchestra(tmp_path, "run")
    assert nothing.returncode == 0 and nothing.stdout.startswith("nothing to run: ")
    no_traceback(result.stdout, result.stderr)


def test_run_reads_the_state_after_its_runs_only_when_its_summary_needs_it(tmp_path: Path) -> None:
    """The driver's summary says what ran: `orchestra run` does not replay the runs' entries, nor write the snapshot
    again when it closes (the driver wrote it), so the last holder of the state lock is the driver, not the starter.
    The runs' output is in their files, written there by the commands themselves."""
    write_plan(tmp_path, task_block("A", commands=["echo a-out"]) + task_block("B", commands=["echo b-out >&2"]))
    starter = spawn(tmp_path, "run", "--parallel", "2")
    stdout, stderr = starter.communicate(timeout=60)
    assert starter.returncode == 0, stderr
    assert b"ran 2 tasks: 2 review" in stdout
    [driver] = (tmp_path / ".orchestra" / "drivers").glob("*/driver.json")
    holder = json.loads((tmp_path / ".orchestra" / "lock.holder").read_text())
    assert holder["pid"] == json.loads(driver.read_text())["pid"] != starter.pid
    for task_id, text in (("A", "a-out\n"), ("B", "b-out\n")):
        assert (run_dir(tmp_path, task(tmp_path, task_id).last_run_id) / OUTPUT_FILE).read_text() == text


def test_run_until_and_review_hint(tmp_path: Path) -> None:
    write_plan(
        tmp_path,
        task_block("A", commands=["true"])
        + task_block("B", ["A"], commands=["true"])
        + task_block("X", commands=["true"]),
    )
    result = orchestra(tmp_path, "run", "--until", "B")
    assert result.returncode == 0, result.stderr
    assert "ran 1 task: 1 review" in result.stdout and "B is blocked, not done: it waits on A (review)" in result.stdout
    assert "`orchestra list --status review`" in result.stdout
    assert task(tmp_path, "X").status == "pending"
    bad = orchestra(tmp_path, "run", "--until", "NOPE")
    assert bad.returncode == 1 and bad.stderr.startswith("error: unknown task 'NOPE'")


def test_ctrl_c_during_run_fails_the_running_tasks_and_exits_130(tmp_path: Path) -> None:
    write_plan(
        tmp_path,
        "".join(task_block(f"L{i}", commands=[f"echo started-{i}; exec sleep 60"]) for i in range(3))
        + task_block("AFTER", ["L0"], commands=["true"]),
    )
    process = spawn(tmp_path, "run", "-j", "2")
    try:
        read_until(process, b"started L1")
        time.sleep(0.5)  # both commands have printed
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        process.kill() if process.poll() is None else None
    assert process.returncode == 130, err
    no_traceback(out, err)
    assert err.decode().strip().startswith("interrupted: L0, L1 failed: cancelled by user, output kept")
    for task_id in ("L0", "L1"):
        record = task(tmp_path, task_id)
        assert record.status == "failed" and record.last_error == "cancelled by user"
        assert (run_dir(tmp_path, record.last_run_id) / OUTPUT_FILE).read_text() == f"started-{task_id[1]}\n"
    assert task(tmp_path, "L2").status == "pending"


def test_execute_fires_run_finished_with_the_runs_outcome(tmp_path: Path) -> None:
    received: list[dict[str, object]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        write_plan(
            tmp_path,
            f'[[webhooks]]\nurl = "http://127.0.0.1:{server.server_port}/hook"\nevents = ["run_finished", '
            '"task_review"]\n\n' + task_block("A", commands=["echo hooked"]),
        )
        result = orchestra(tmp_path, "execute", "A")
        assert result.returncode == 0, result.stderr
        for _ in range(600):  # a sender process delivers after the command exits (at most 30 s here)
            if len(received) >= 2:
                break
            time.sleep(0.05)
    finally:
        server.shutdown()
        server.server_close()
    finished = [body for body in received if body["event"] == "run_finished"]
    assert [body["event"] for body in received if body["event"] != "run_finished"] == ["task_review"]
    assert len(finished) == 1 and finished[0]["task_id"] == "A" and finished[0]["outcome"] == "review"
    assert finished[0]["run_id"] == task(tmp_path, "A").last_run_id and finished[0]["error"] is None


# -------------------------------------------------------------------------------------------- agents


def test_agents_checks_every_endpoint_concurrently_within_a_few_seconds(tmp_path: Path) -> None:
    with FakeServer() as ollama, FakeServer() as slow:
        ollama.reply(Reply.json(200, {"models": [{"name": "llama3:latest"}]}))
        slow.reply(Reply(200, (("content-type", "application/json"),), [b'{"data": []}'], delay=20.0, framing="length"))
        write_plan(
            tmp_path,
            (
                f'[agents.local]\ntype = "ollama"\nmodel = "llama3"\nbase_url = "{ollama.url}"\n\n'
                f'[agents.stuck]\ntype = "openai"\nmodel = "m"\nbase_url = "{slow.url}/v1"\n\n'
                '[agents.gone]\ntype = "openai"\nmodel = "m"\nbase_url = "http://127.0.0.1:9/v1"\n\n'
                '[agents.claude]\ntype = "anthropic"\nmodel = "claude-sonnet-4-5"\napi_key_env = '
                '"ORCHESTRA_TEST_NO_SUCH_KEY"\n\n'
            ),
        )
        result = CliRunner().invoke(
            app, ["-p", str(tmp_path), "agents", "--json"], env={"ORCHESTRA_TEST_NO_SUCH_KEY": None}
        )
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["local"]["usable"] and rows["local"]["endpoint_checked"] is True
    assert not rows["stuck"]["usable"] and "did not answer within" in rows["stuck"]["problems"][0]
    assert not rows["gone"]["usable"] and "127.0.0.1:9" in rows["gone"]["problems"][0]
    assert rows["claude"]["problems"] == ["$ORCHESTRA_TEST_NO_SUCH_KEY is not set"]  # the offline reason, once
    assert rows["shell"]["usable"] and rows["interactive"]["usable"]
    assert ollama.requests[0].path == "/api/tags"
    offline = CliRunner().invoke(app, ["-p", str(tmp_path), "agents", "--json", "--offline"])
    assert json.loads(offline.stdout)[0]["endpoint_checked"] in (False, None)


# ------------------------------------------------------------------------------------------ bench


def test_engine_benchmark_quick_prints_every_row_and_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "engine.json"
    done = subprocess.run(
        [sys.executable, "bench/bench_engine.py", "--quick", "--tmpdir", str(tmp_path), "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    rows = json.loads(out.read_text())["rows"]
    metrics = {row["metric"] for row in rows}
    assert "orchestra run: instant shell tasks, parallel 4" in metrics
    for parallel in (2, 4, 8):
        assert f"makespan / lower bound, parallel {parallel}: next-task order" in metrics
        assert f"makespan / lower bound, parallel {parallel}: priority only (the seed's)" in metrics
    for row in rows:
        assert row["value"] > 0 and row["metric"] in done.stdout
    assert not list(tmp_path.glob("orchestra-bench-*"))


def test_run_on_a_terminal_shows_the_running_tasks_and_a_progress_bar(tmp_path: Path) -> None:
    write_plan(
        tmp_path, task_block("A", commands=["echo working on A; sleep 0.6"]) + task_block("B", commands=["sleep 0.6"])
    )
    master, slave = os.openpty()
    process = subprocess.Popen(
        [*ENTRY_POINT, "-p", str(tmp_path), "run"],
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
        env={**os.environ, "COLUMNS": "100", "TERM": "xterm-256color"},
    )
    os.close(slave)
    seen, deadline = b"", time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # the terminal closed with the process
                    break
                if not chunk:
                    break
                seen += chunk
            elif process.poll() is not None:
                break
        process.wait(timeout=60)
    finally:
        os.close(master)
        process.kill() if process.poll() is None else None
    text = re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]", b"", seen).decode(errors="replace")
    assert process.returncode == 0, text
    assert "▶ A" in text and "▶ B" in text and "working on A" in text  # the live lines, with the latest output
    assert "runs ended" in text and "2 running" in text
    assert "ran 2 tasks: 2 review" in text
    no_traceback(text)
