"""Webhooks (docs/ARCHITECTURE.md C7) against a real HTTP receiver on 127.0.0.1, with real files and processes."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import itertools
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from orchestra_tui.api import ProjectOrchestrator
from orchestra_tui.engine.outbox import Delivery, Outbox, hook_key
from orchestra_tui.engine.project import Project
from orchestra_tui.engine.webhooks import (
    LOG_FILE,
    SIGNATURE_HEADER,
    RetryPolicy,
    WebhookDispatcher,
    attach_webhooks,
    redact_url,
)
from orchestra_tui.models import WebhookConfig

from ..helpers.plans import task_block, write_plan
from ..helpers.receiver import Receiver, Request, pending, verified

FAST = RetryPolicy(attempts=3, delay=0.05, max_delay=0.2, jitter=0.1, timeout=2.0, rescan=0.05)
SECRET = "whsec-0123456789abcdef"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A plan without [[webhooks]]: tests attach their own, with a fast retry policy."""
    write_plan(tmp_path / "p", task_block("A") + task_block("B", ["A"]) + task_block("C"), project_id="hooked")
    return tmp_path / "p"


def attach(
    root: Path, hooks: list[WebhookConfig], environ: Mapping[str, str] | None = None, policy: RetryPolicy = FAST
) -> tuple[Project, WebhookDispatcher]:
    project = Project.open(root, actor="api")
    dispatcher = attach_webhooks(project, hooks=hooks, environ=environ or {}, policy=policy)
    assert dispatcher is not None
    return project, dispatcher


def log_lines(root: Path) -> list[dict[str, Any]]:
    path = root / ".orchestra" / LOG_FILE
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


# ------------------------------------------------------------------------------------------- bodies


def test_signed_body_verifies_and_describes_the_change(root: Path, receiver: Receiver) -> None:
    hooks = [
        WebhookConfig(url=receiver.url("/signed"), secret_env="WH_SECRET"),
        WebhookConfig(url=receiver.url("/plain")),
    ]
    project, dispatcher = attach(root, hooks, {"WH_SECRET": SECRET})
    with project:
        project.start("A")
        entry = project.complete("A")
        dispatcher.close()
    requests = receiver.wait_for(4)
    assert sorted((r.path, r.json()["event"]) for r in requests) == [
        ("/plain", "task_completed"),
        ("/plain", "task_started"),
        ("/signed", "task_completed"),
        ("/signed", "task_started"),
    ]
    for request in requests:
        if request.path == "/signed":
            assert verified(request, SECRET)
            assert not verified(Request(request.path, request.headers, request.body + b" ", request.at), SECRET)
        else:
            assert SIGNATURE_HEADER.lower() not in request.headers
        assert request.headers["content-type"] == "application/json"
        assert request.headers["x-orchestra-event"] == request.json()["event"]
    done = next(r.json() for r in requests if r.path == "/signed" and r.json()["event"] == "task_completed")
    assert done["project_id"] == "hooked"
    assert done["entry"] == {"id": entry.id, "time": entry.time, "actor": "api", "summary": "A completed"}
    assert done["task"] == {"id": "A", "title": "Task A", "status": "completed", "last_error": None}
    assert done["progress"]["completed_tasks"] == 1 and done["progress"]["total_tasks"] == 3
    assert [line["result"] for line in log_lines(root)] == ["delivered"] * 4
    assert pending(root) == []


def test_every_action_fires_its_event_and_each_webhook_gets_only_its_events(root: Path, receiver: Receiver) -> None:
    hooks = [
        WebhookConfig(url=receiver.url("/all")),
        WebhookConfig(url=receiver.url("/some"), events=["task_failed", "rollback"]),
    ]
    project, dispatcher = attach(root, hooks)
    with project:
        project.start("A")
        project.review("A")
        done = project.complete("A")
        project.start("B")
        project.fail("B", "the build broke")
        project.retry("B")  # no event
        project.cancel("C")  # no event
        project.rollback(done.id)
        project.undo()
        dispatcher.close()
    requests = receiver.wait_for(10)
    by_path = {path: [r.json() for r in requests if r.path == path] for path in ("/all", "/some")}
    assert [body["event"] for body in by_path["/all"]] == [
        "task_started",
        "task_review",
        "task_completed",
        "task_started",
        "task_failed",
        "rollback",
        "rollback",
    ]
    assert [body["event"] for body in by_path["/some"]] == ["task_failed", "rollback", "rollback"]
    failed = by_path["/some"][0]
    assert failed["task"] == {"id": "B", "title": "Task B", "status": "failed", "last_error": "the build broke"}
    rollback, undo = by_path["/some"][1:]
    assert rollback["rollback"]["target"] == done.id and rollback["rollback"]["undo"] is False
    assert set(rollback["rollback"]["tasks"]) == {"B", "C"}
    assert undo["rollback"]["undo"] is True and "task" not in undo
    assert len(requests) == 10


def test_run_finished_is_emitted_by_the_engine_and_filtered(root: Path, receiver: Receiver) -> None:
    hooks = [
        WebhookConfig(url=receiver.url("/runs"), events=["run_finished"]),
        WebhookConfig(url=receiver.url("/tasks"), events=["task_completed"]),
    ]
    project, dispatcher = attach(root, hooks)
    with project:
        dispatcher.emit("run_finished", {"run_id": "r-1", "task_id": "A", "outcome": "review", "event": "not this"})
        with pytest.raises(ValueError):
            dispatcher.emit("run_exploded", {})
        dispatcher.close()
    [request] = receiver.wait_for(1)
    body = request.json()
    assert request.path == "/runs"
    assert body["event"] == "run_finished" and body["project_id"] == "hooked"
    assert body["run_id"] == "r-1" and body["outcome"] == "review" and body["time"]
    assert receiver.wait_for(2, timeout=0.3) == [request]


# ------------------------------------------------------------------------------------------- retries


def test_failed_attempts_are_retried_with_backoff_until_delivered(root: Path) -> None:
    receiver = Receiver(script=[(500, {}), (503, {})])
    try:
        policy = RetryPolicy(attempts=5, delay=0.1, max_delay=1.0, jitter=0.1, timeout=2.0, rescan=0.05)
        project, dispatcher = attach(root, [WebhookConfig(url=receiver.url())], policy=policy)
        with project:
            project.complete("A")
            requests = receiver.wait_for(3)
            dispatcher.close()
    finally:
        receiver.close()
    assert len(requests) == 3
    assert len({r.body for r in requests}) == 1  # the same bytes every time
    assert len({r.headers["x-orchestra-delivery"] for r in requests}) == 1
    gaps = [b.at - a.at for a, b in itertools.pairwise(requests)]
    assert gaps[0] >= 0.1 * 0.9 and gaps[1] >= 0.2 * 0.9, gaps  # exponential
    lines = log_lines(root)
    assert [(line["attempt"], line.get("status"), line["result"]) for line in lines] == [
        (1, 500, "retrying"),
        (2, 503, "retrying"),
        (3, 200, "delivered"),
    ]
    assert pending(root) == []


def test_retry_after_is_honoured_up_to_the_longest_delay(root: Path) -> None:
    receiver = Receiver(script=[(429, {"Retry-After": "0.4"})])
    try:
        policy = RetryPolicy(attempts=3, delay=0.05, max_delay=1.0, jitter=0.1, timeout=2.0, rescan=0.05)
        project, dispatcher = attach(root, [WebhookConfig(url=receiver.url())], policy=policy)
        with project:
            project.complete("A")
            requests = receiver.wait_for(2)
            dispatcher.close()
    finally:
        receiver.close()
    assert len(requests) == 2 and requests[1].at - requests[0].at >= 0.35


@pytest.mark.parametrize(("status", "attempts"), [(404, 1), (500, 3)])
def test_gives_up_on_client_errors_at_once_and_on_server_errors_after_the_last_attempt(
    root: Path, status: int, attempts: int, caplog: pytest.LogCaptureFixture
) -> None:
    receiver = Receiver(script=[(status, {})] * 10)
    try:
        project, dispatcher = attach(root, [WebhookConfig(url=receiver.url())])
        with project, caplog.at_level(logging.WARNING):
            project.complete("A")
            requests = receiver.wait_for(attempts)
            deadline = time.monotonic() + 10
            while pending(root) and time.monotonic() < deadline:
                time.sleep(0.02)
            dispatcher.close()
            assert receiver.wait_for(attempts + 1, timeout=0.3) == requests  # no attempt after giving up
    finally:
        receiver.close()
    assert len(requests) == attempts
    assert log_lines(root)[-1]["result"] == "gave up" and log_lines(root)[-1]["status"] == status
    assert pending(root) == []
    assert any("gave up on task_completed" in record.getMessage() for record in caplog.records)


def test_a_down_receiver_never_slows_a_commit_and_the_next_process_delivers(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    down = Receiver()
    port = down.port
    down.close()  # nothing listens on the port now
    url = f"http://127.0.0.1:{port}/hook"
    senders: list[str] = []
    send = WebhookDispatcher._send
    monkeypatch.setattr(
        WebhookDispatcher,
        "_send",
        lambda self, *args: senders.append(threading.current_thread().name) or send(self, *args),
    )
    project, dispatcher = attach(root, [WebhookConfig(url=url)])
    with project:
        for task in ("A", "C"):
            project.complete(task)
        dispatcher.close(timeout=2.0)
    # Every attempt was made on the dispatcher's own thread, never on the committing one (how long a commit
    # takes is bench/bench_engine.py's business).
    assert senders and set(senders) == {"orchestra-webhooks"}
    assert len(pending(root)) == 2
    assert all(line["result"] == "retrying" and "ConnectError" in line["error"] for line in log_lines(root))
    assert not any(url in path.read_text() or str(port) in path.read_text() for path in pending(root))

    up = Receiver(port=port)
    try:
        project, dispatcher = attach(root, [WebhookConfig(url=url)])
        with project:
            requests = up.wait_for(2)
            dispatcher.close()
    finally:
        up.close()
    assert sorted(r.json()["task"]["id"] for r in requests) == ["A", "C"]
    assert pending(root) == []
    assert [line["result"] for line in log_lines(root)][-2:] == ["delivered", "delivered"]
    assert [line["attempt"] for line in log_lines(root)][-2:] == [2, 2]


def test_closing_never_waits_longer_than_its_timeout_for_a_receiver_that_hangs(root: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts connections (backlog), never answers
        project, dispatcher = attach(root, [WebhookConfig(url=f"http://127.0.0.1:{silent.getsockname()[1]}/hook")])
        with project:
            project.complete("A")
            started = time.perf_counter()
            dispatcher.close(timeout=0.5)
            assert time.perf_counter() - started > 0.45  # it gave the attempt under way its time...
            # ... and no more: the attempt is still waiting for an answer (its own timeout is 10 s), none logged
            assert [line for line in log_lines(root) if "status" in line or "result" in line] == []
    [left] = pending(root)
    assert json.loads(left.read_text())["attempts"] == 1  # counted before sending: an interrupted attempt is not free


def test_a_missing_secret_is_never_sent_unsigned(root: Path, receiver: Receiver) -> None:
    hooks = [WebhookConfig(url=receiver.url(), secret_env="WH_SECRET")]
    project, dispatcher = attach(root, hooks, environ={})
    with project:
        project.complete("A")
        dispatcher.close()
    assert receiver.wait_for(1, timeout=0.3) == []
    said, tried = log_lines(root)
    assert said["error"].startswith("secret_env WH_SECRET is not set") and said["result"] == "waiting"
    assert dispatcher.notes == [f"webhook {receiver.url()}: {said['error']}"]  # said once, for the face to show
    assert tried["error"] == said["error"] and tried["result"] == "retrying"
    assert len(pending(root)) == 1

    project, dispatcher = attach(root, hooks, environ={"WH_SECRET": SECRET})
    with project:
        [request] = receiver.wait_for(1)
        dispatcher.close()
    assert verified(request, SECRET) and request.json()["event"] == "task_completed"
    assert pending(root) == []


# ------------------------------------------------------------------------------------------- processes


def test_an_entry_seen_by_two_processes_is_delivered_once(root: Path, receiver: Receiver) -> None:
    hooks = [WebhookConfig(url=receiver.url())]
    first, first_hooks = attach(root, hooks)
    second, second_hooks = attach(root, hooks)
    with first, second:
        first.complete("A")
        assert second.refresh()  # the second process catches up with the entry: its listener sees it too
        second.complete("C")
        assert first.refresh()
        first_hooks.close()
        second_hooks.close()
    receiver.wait_for(2)  # both, however loaded the machine (bounded) ...
    requests = receiver.wait_for(3, timeout=0.5)  # ... and no third
    assert sorted(r.json()["task"]["id"] for r in requests) == ["A", "C"]


def test_an_entry_nobody_queued_is_delivered_by_the_next_process_but_a_new_webhook_gets_no_old_events(
    root: Path, receiver: Receiver
) -> None:
    hooks = [WebhookConfig(url=receiver.url("/old"))]
    project, dispatcher = attach(root, hooks)
    with project:
        dispatcher.close()
        project.complete("A")  # committed, never written to the outbox: as if killed right after the commit
    assert pending(root) == []

    project, dispatcher = attach(root, [*hooks, WebhookConfig(url=receiver.url("/new"))])
    with project:
        dispatcher.close()
    assert receiver.wait_for(1, timeout=0.3) == []  # another configuration: it does not replay old entries

    project, dispatcher = attach(root, [WebhookConfig(url=receiver.url("/old"))])
    with project:
        project.complete("C")
        dispatcher.close()
    assert [(r.path, r.json()["task"]["id"]) for r in receiver.wait_for(1)] == [("/old", "C")]


def test_closing_at_once_still_writes_the_new_configurations_cursor(
    root: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cursor a new configuration resets is written by the delivery thread's first work; a dispatcher closed
    before that work is done waits for it, or the next process with the old configuration would take the old
    cursor for its own and send entries the new one skipped."""
    hooks = [WebhookConfig(url=receiver.url("/old"))]
    project, dispatcher = attach(root, hooks)
    with project:
        dispatcher.close()
    first = Outbox(root / ".orchestra").cursor()
    housekeeping = WebhookDispatcher._housekeeping

    def slow(self: WebhookDispatcher) -> None:
        time.sleep(0.3)  # the thread is late to its first work: close comes first
        housekeeping(self)

    monkeypatch.setattr(WebhookDispatcher, "_housekeeping", slow)
    project, dispatcher = attach(root, [*hooks, WebhookConfig(url=receiver.url("/new"))])
    with project:
        dispatcher.close()
    after = Outbox(root / ".orchestra").cursor()
    assert first is not None and after is not None and after.hooks != first.hooks


def test_recovery_after_a_kill_between_commit_and_outbox(root: Path, receiver: Receiver) -> None:
    hooks = [WebhookConfig(url=receiver.url())]
    project, dispatcher = attach(root, hooks)
    with project:
        dispatcher.close()
    code = (
        "import os, sys\n"
        "from orchestra_tui.engine.project import Project\n"
        "project = Project.open(sys.argv[1], actor='cli')\n"
        "project.complete('A')\n"
        "os._exit(0)\n"  # no close: nothing of this process's webhook work (if any) survives
    )
    subprocess.run([sys.executable, "-c", code, str(root)], check=True, timeout=60)
    project, dispatcher = attach(root, hooks)
    with project:
        [request] = receiver.wait_for(1)
        dispatcher.close()
    assert request.json()["task"]["id"] == "A" and request.json()["entry"]["actor"] == "cli"


def test_a_damaged_outbox_file_is_moved_aside(root: Path, receiver: Receiver) -> None:
    project, dispatcher = attach(root, [WebhookConfig(url=receiver.url())])
    with project:
        dispatcher.close()
    bad = root / ".orchestra" / "webhooks" / "pending" / "00000009-0000000000000000.json"
    bad.write_text("{not json")
    project, dispatcher = attach(root, [WebhookConfig(url=receiver.url())])
    with project:
        project.complete("A")
        receiver.wait_for(1)
        deadline = time.monotonic() + 10  # the thread reaches it after this process's own delivery
        while bad.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        dispatcher.close()
    assert not bad.exists() and (root / ".orchestra" / "webhooks" / "damaged" / bad.name).read_text() == "{not json"
    assert any(line["result"] == "moved aside" for line in log_lines(root))


def test_no_webhooks_no_dispatcher(root: Path) -> None:
    with Project.open(root) as project:
        assert attach_webhooks(project) is None
    assert not (root / ".orchestra" / "webhooks").exists()


def test_redact_url() -> None:
    assert (
        redact_url("https://user:pw@hooks.example.com:8443/a/b?token=s3cret#frag")
        == "https://hooks.example.com:8443/a/b?[redacted]"
    )
    assert redact_url("http://127.0.0.1:9/hook") == "http://127.0.0.1:9/hook"


def test_a_sender_stops_as_soon_as_nothing_of_its_webhooks_waits(
    root: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sender's ``drain`` returns once its last delivery is answered: it used to wait the rescan interval first
    (5 s by default), holding the sender's lock, before looking at the outbox again."""
    url = receiver.url()
    state = root / ".orchestra"
    outbox = Outbox(state)
    outbox.pending.mkdir(parents=True)
    now = time.time()
    with outbox.locked():
        outbox.write(Delivery(f"1-{hook_key(url)}", hook_key(url), "task_started", None, "{}", now, now))
    dispatcher = WebhookDispatcher(state, "hooked", [WebhookConfig(url=url)], policy=RetryPolicy(rescan=30.0))
    naps: list[float] = []
    monkeypatch.setattr(time, "sleep", naps.append)
    dispatcher.drain(time.monotonic() + 60)
    assert len(receiver.requests) == 1 and pending(root) == []
    assert naps == []


# ------------------------------------------------------------------------------------------- faces


def plan_with_webhook(root: Path, url: str) -> Path:
    hook = f'[[webhooks]]\nurl = "{url}"\nevents = ["task_completed"]\nsecret_env = "WH_SECRET"\n\n'
    write_plan(root, hook + task_block("A") + task_block("B", ["A"]), project_id="faces")
    return root


def test_cli_and_api_fire_the_same_event_and_a_sender_process_delivers(tmp_path: Path, receiver: Receiver) -> None:
    """Needs ``attach_webhooks`` called in ``Project.open`` (and the dispatcher closed in ``Project.close``); the
    command itself sends nothing (``deliver.py``)."""
    cli_root = plan_with_webhook(tmp_path / "cli", receiver.url("/cli"))
    api_root = plan_with_webhook(tmp_path / "api", receiver.url("/api"))
    env = {**os.environ, "WH_SECRET": SECRET}
    result = subprocess.run(
        [sys.executable, "-m", "orchestra_tui", "-p", str(cli_root), "complete", "A"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert len(receiver.wait_for(1, timeout=30)) == 1, (
        "nothing delivered: Project.open must call attach_webhooks (see its docstring)"
    )
    [from_cli] = receiver.requests
    assert verified(from_cli, SECRET)

    os.environ["WH_SECRET"] = SECRET
    try:  # the sender, started before closing returns, inherits it
        with ProjectOrchestrator(api_root) as orchestrator:
            orchestrator.complete_task("A")
    finally:
        del os.environ["WH_SECRET"]
    [_, from_api] = receiver.wait_for(2, timeout=30)
    assert verified(from_api, SECRET)
    cli_body, api_body = from_cli.json(), from_api.json()
    assert (cli_body["entry"]["actor"], api_body["entry"]["actor"]) == ("cli", "api")
    for body in (cli_body, api_body):
        body["entry"].pop("actor")
        body["entry"].pop("time")
    assert cli_body == api_body
    assert cli_body["event"] == "task_completed" and cli_body["task"]["status"] == "completed"


def test_a_command_does_not_exit_before_its_sender_is_started(tmp_path: Path, receiver: Receiver) -> None:
    """The delivery thread writes the command's deliveries and starts the sender; closing waits for both. It used
    to wait only for the writing, so a process whose thread was slow to start the sender (a loaded machine) exited
    first, and the change's webhook waited for the next change."""
    root = plan_with_webhook(tmp_path / "p", receiver.url("/late"))
    code = (
        "import sys, time\n"
        "from orchestra_tui.engine import webhooks\n"
        "start = webhooks.start_sender\n"
        "def late(root):\n"
        "    time.sleep(1.0)\n"  # the thread starts the sender late
        "    start(root)\n"
        "webhooks.start_sender = late\n"
        "from orchestra_tui.entry import main\n"
        "sys.argv = ['orchestra', '-p', sys.argv[1], 'complete', 'A']\n"
        "main()\n"
    )
    env = {**os.environ, "WH_SECRET": SECRET}
    result = subprocess.run(
        [sys.executable, "-c", code, str(root)], check=False, capture_output=True, text=True, timeout=60, env=env
    )
    assert result.returncode == 0, result.stderr
    assert [request.path for request in receiver.wait_for(1, timeout=30)] == ["/late"]


# ------------------------------------------------------------------------------- issue 9 item 14


def test_the_signature_covers_the_time_and_the_delivery_id(root: Path, receiver: Receiver) -> None:
    project, dispatcher = attach(
        root, [WebhookConfig(url=receiver.url(), secret_env="WH_SECRET")], {"WH_SECRET": SECRET}
    )
    with project:
        project.complete("A")
        dispatcher.close()
    [request] = receiver.wait_for(1)
    header = request.headers[SIGNATURE_HEADER.lower()]
    assert re.fullmatch(r"t=\d+,v1=[0-9a-f]{64}", header), header
    assert verified(request, SECRET)
    replayed_as_another = Request(
        request.path, {**request.headers, "x-orchestra-delivery": "00000009-other"}, request.body, request.at
    )
    assert not verified(replayed_as_another, SECRET)
    stamp = int(header.split(",")[0][2:])
    old = hmac.new(
        SECRET.encode(),
        f"{stamp - 3600}.".encode() + request.headers["x-orchestra-delivery"].encode() + b"." + request.body,
        hashlib.sha256,
    ).hexdigest()
    backdated = Request(
        request.path,
        {**request.headers, SIGNATURE_HEADER.lower(): f"t={stamp - 3600},v1={old}"},
        request.body,
        request.at,
    )
    assert not verified(backdated, SECRET)  # correctly signed, but an hour old: a receiver refuses the replay


class SilentServer:
    """Accepts connections on 127.0.0.1 and never answers; records which processes held each client socket."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.owners: list[set[int]] = []
        self.held: list[socket.socket] = []
        self._got = threading.Condition()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, (_, port) = self.socket.accept()
            except OSError:
                return
            owners = socket_owners(port)
            with self._got:
                self.held.append(conn)
                self.owners.append(owners)
                self._got.notify_all()

    def wait_for(self, count: int, timeout: float = 30.0) -> list[set[int]]:
        with self._got:
            self._got.wait_for(lambda: len(self.owners) >= count, timeout)
            return list(self.owners)

    def close(self) -> None:
        self.socket.close()
        for conn in self.held:
            conn.close()


def socket_owners(local_port: int) -> set[int]:
    """The processes holding the TCP socket whose local port is ``local_port`` (Linux /proc)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as rows:
            for row in itertools.islice(rows, 1, None):
                fields = row.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == local_port:
                    inodes.add(f"socket:[{fields[9]}]")
    owners = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if any(os.readlink(f"/proc/{pid}/fd/{fd}") in inodes for fd in os.listdir(f"/proc/{pid}/fd")):
                owners.add(int(pid))
        except OSError:
            continue  # gone, or not ours to look at
    return owners


def test_a_receiver_that_never_answers_is_never_on_a_commands_path(tmp_path: Path) -> None:
    """The command that changes state never connects to a receiver (a sender process does); read-only commands
    with deliveries waiting connect to nothing."""
    silent = SilentServer()
    root = plan_with_webhook(tmp_path / "p", f"http://127.0.0.1:{silent.port}/hook")
    env = {**os.environ, "WH_SECRET": SECRET}
    senders: set[int] = set()
    try:
        command = subprocess.Popen(
            [sys.executable, "-m", "orchestra_tui", "-p", str(root), "complete", "A"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        _out, err = command.communicate(timeout=60)
        assert command.returncode == 0, err
        [owners] = silent.wait_for(1)  # the delivery is attempted: by a process that is not the command
        senders |= owners
        assert owners and command.pid not in owners
        assert len(list((root / ".orchestra" / "webhooks" / "pending").glob("*.json"))) == 1  # still waiting
        reads: set[int] = set()
        for read in (["list"], ["show", "A"], ["list", "--json"]):
            process = subprocess.Popen(
                [sys.executable, "-m", "orchestra_tui", "-p", str(root), *read],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env=env,
            )
            reads.add(process.pid)
            _out, err = process.communicate(timeout=60)
            assert process.returncode == 0, err
        # The reads opened no connection. On a loaded machine the reads may outlast the sender's 10 s timeout,
        # and its retry is a second connection: every connection must be held by a process that is not a read.
        seen = silent.wait_for(len(silent.owners) + 1, timeout=1.0)
        senders.update(*seen)
        assert all(owners and not owners & reads for owners in seen), (seen, reads)
    finally:
        silent.close()
        for pid in senders:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_a_missing_secret_is_said_at_the_change_and_in_the_log(tmp_path: Path, receiver: Receiver) -> None:
    root = plan_with_webhook(tmp_path / "p", receiver.url())
    env = {name: value for name, value in os.environ.items() if name != "WH_SECRET"}
    result = subprocess.run(
        [sys.executable, "-m", "orchestra_tui", "-p", str(root), "complete", "A"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    line = (
        f"webhook {receiver.url()}: secret_env WH_SECRET is not set; "
        "not sent unsigned (set it: the next change sends what waits)"
    )
    assert result.stderr.splitlines() == [f"warning: {line}"]
    assert log_lines(root)[0]["error"] in line and log_lines(root)[0]["result"] == "waiting"
    assert receiver.wait_for(1, timeout=1.0) == []
