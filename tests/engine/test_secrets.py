"""Secrets never reach anything orchestra writes (docs/ARCHITECTURE.md C3, C6, C7).

Planted values sit in the environment variables the plan names (an agent's ``api_key_env``, a webhook's
``secret_env``, a token in a webhook URL); then everything that writes is exercised: plan load, state
changes from the CLI and the API, history, rollback, reports, an agent run refused with the key echoed
back, webhooks delivered and failing. Finally every file under the project (gzip opened), every captured
output, every log record and every webhook body received is searched. The walk lists no files by name, so
a new writer is covered the day it appears.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import logging
import os
import secrets
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from orchestra_tui.api import ProjectOrchestrator
from orchestra_tui.models import AgentTask
from orchestra_tui.tui.messages import TaskSelected

from ..helpers.fakeserver import FakeServer, Reply
from ..helpers.plans import task_block, write_plan
from ..helpers.receiver import Receiver, pending, verified
from ..helpers.secrets import allow, files_holding

KEY_ENV, HOOK_ENV, TOKEN_ENV = "ORCH_TEST_OPENAI_KEY", "ORCH_TEST_HOOK_SECRET", "ORCH_TEST_URL_TOKEN"


def test_the_scan_finds_what_it_looks_for(tmp_path: Path) -> None:
    (tmp_path / "deep" / "er").mkdir(parents=True)
    (tmp_path / "deep" / "er" / "x.gz").write_bytes(gzip.compress(b"..sk-test-PLANTED-1.."))
    (tmp_path / "plain").write_bytes(b"sk-test-PLANTED-2")
    searched, hits = files_holding(tmp_path, [b"sk-test-PLANTED-1", b"sk-test-PLANTED-2", b"absent"])
    assert searched == 2 and sorted(hits) == ["deep/er/x.gz: sk-test-PLANTED-1", "plain: sk-test-PLANTED-2"]


@pytest.fixture
def servers() -> Iterator[tuple[FakeServer, Receiver, int]]:
    down = Receiver()
    down_port = down.port
    down.close()  # a webhook that always fails: nothing listens there
    receiver = Receiver()
    with FakeServer() as provider:
        yield provider, receiver, down_port
    receiver.close()


def test_no_planted_secret_reaches_any_file_output_log_or_webhook_body(
    tmp_path: Path,
    servers: tuple[FakeServer, Receiver, int],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    provider, receiver, down_port = servers
    key = f"sk-test-PLANTED-{secrets.token_hex(12)}"
    hook_secret = f"whsec-PLANTED-{secrets.token_hex(12)}"
    url_token = f"tok-PLANTED-{secrets.token_hex(12)}"
    planted = [key, hook_secret, url_token]
    for name, value in ((KEY_ENV, key), (HOOK_ENV, hook_secret), (TOKEN_ENV, url_token)):
        monkeypatch.setenv(name, value)
    allow(tmp_path, monkeypatch, TOKEN_ENV)  # the person allows the token in the webhook URLs
    root = tmp_path / "project"
    body = (
        f'[agents.gpt]\ntype = "openai"\nmodel = "gpt-4o-mini"\nbase_url = "{provider.url}/v1"\napi_key_env = '
        f'"{KEY_ENV}"\n'
        "max_attempts = 1\n\n"
        f'[[webhooks]]\nurl = "{receiver.url()}?token=${{{TOKEN_ENV}}}"\nsecret_env = "{HOOK_ENV}"\n\n'
        f'[[webhooks]]\nurl = "http://127.0.0.1:{down_port}/down?token=${{{TOKEN_ENV}}}"\nsecret_env = "{HOOK_ENV}"\n\n'
        + task_block(
            "GPT-1", agent="gpt", description=f"Say hello. The key is in ${{{KEY_ENV}}} (never expand it into a file)."
        )
        + task_block("C")
        + task_block("D", ["C"])
        + task_block("E")
    )
    write_plan(root, body, project_id="secrets")
    outputs: list[str] = []

    def orchestra(*args: str, code: int = 0) -> None:
        result = subprocess.run(
            [sys.executable, "-m", "orchestra_tui", "-p", str(root), *args],
            check=False,
            capture_output=True,
            text=True,
            timeout=120,
            env=os.environ.copy(),
        )
        outputs.extend([result.stdout, result.stderr])
        assert result.returncode == code, (args, result.stderr)

    # The plan, state changes and reads from the CLI.
    orchestra("validate")
    orchestra("start", "C")
    orchestra("complete", "C")
    orchestra("fail", "D", "--reason", "the build broke")
    orchestra("retry", "D")
    for read in (
        ["list", "--json"],
        ["next", "--json"],
        ["report", "--json"],
        ["report", "--markdown"],
        ["report"],
        ["backups", "--json"],
        ["diff", "1"],
        ["graph"],
        ["agents", "--json"],
        ["agents"],
    ):
        orchestra(*read)

    # An agent run refused by the provider, which echoes the key it was sent.
    provider.reply(
        Reply.json(
            401,
            {
                "error": {
                    "message": f"Incorrect API key provided: {key}.",
                    "type": "invalid_request_error",
                    "code": "invalid_api_key",
                }
            },
        )
    )
    orchestra("execute", "GPT-1", code=1)
    assert provider.requests and key in provider.requests[0].headers.get("authorization", "")  # the key was used

    # The Python API, in this process (its log records are captured).
    with caplog.at_level(logging.DEBUG), ProjectOrchestrator(root) as orchestrator:
        orchestrator.add_task(AgentTask("API-1", "Added from the API", notes=f"see ${{{KEY_ENV}}}"))
        orchestrator.start_task("API-1")
        orchestrator.complete_task("API-1")
        orchestrator.fail_task("E", "failed from the API")
        report = orchestrator.generate_report()
        backups = orchestrator.list_backups(None, show=False)
        outputs.extend([repr(report), repr(backups)])
        assert orchestrator.rollback_to_backup(backups[-1]["id"], confirm=True)

    # History: rollback and undo from the CLI.
    orchestra("rollback", "3", "--yes")
    orchestra("undo")
    orchestra("backups")

    expected = {"task_started", "task_completed", "task_failed", "rollback"}
    received = receiver.wait_until(lambda requests: {r.json()["event"] for r in requests} >= expected, timeout=60)
    assert received, "no webhook delivered: Project.open must call attach_webhooks"
    assert all(verified(request, hook_secret) for request in received)  # the secret was used to sign
    assert {request.json()["event"] for request in received} >= expected
    assert pending(root)  # the failing webhook's deliveries wait in the outbox
    log_text = (root / ".orchestra" / "webhooks.log").read_text()
    assert "ConnectError" in log_text and "/down?[redacted]" in log_text

    needles = [value.encode() for value in planted]
    searched, hits = files_holding(root, needles)
    assert searched > 10
    assert hits == []
    for text in outputs:
        assert not any(value in text for value in planted), text
    for record in caplog.records:
        assert not any(value in record.getMessage() or value in (record.exc_text or "") for value in planted), (
            record.getMessage()
        )
    for request in received:
        assert not any(value.encode() in request.body for value in planted)


# ------------------------------------------------------------- every value expanded from ${VAR} (issue 9 item 2)


class EchoServer:
    """A real server on 127.0.0.1 that refuses every request with a body quoting the request's headers, as
    sent and base64-encoded (what some proxies and debug endpoints do)."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                echoed = "; ".join(f"{name}: {value}" for name, value in self.headers.items())
                message = f"bad request headers: {echoed} (base64: {base64.b64encode(echoed.encode()).decode()})"
                body = json.dumps({"error": {"message": message, "type": "invalid_request_error"}}).encode()
                self.send_response(400)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_values_expanded_from_the_environment_reach_no_file_output_webhook_or_screen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The exact reproductions of issue 9 item 2: a command line with ``${OPENAI_API_KEY}`` that fails, a header
    ``${OTHER_TOKEN}`` a server echoes back (also in base64), a ``?key=${VAR}`` in a base_url, a token expanded
    into a webhook's URL path. Every file, every output of every command, every webhook body, the TUI."""
    planted = {
        name: f"PLANTED-{name}-{secrets.token_hex(12)}"
        for name in ("OPENAI_API_KEY", "OTHER_TOKEN", "QUERY_KEY", "PATH_TOKEN")
    }
    for name, value in planted.items():
        monkeypatch.setenv(name, value)
    allow(tmp_path, monkeypatch, "OTHER_TOKEN", "QUERY_KEY", "PATH_TOKEN")
    echo, receiver = EchoServer(), Receiver()
    root = tmp_path / "project"
    body = (
        f'[agents.leaky]\ntype = "openai"\nmodel = "m"\nbase_url = "{echo.url}/v1"\nmax_attempts = 1\n'
        'headers = {"X-Other" = "${OTHER_TOKEN}"}\n\n'
        f'[agents.query]\ntype = "openai"\nmodel = "m"\nbase_url = "{echo.url}/v1?key=${{QUERY_KEY}}"\n\n'
        f'[[webhooks]]\nurl = "{receiver.url("/hooks/${PATH_TOKEN}")}"\n\n'
        + task_block("SH-1", commands=["false ${OPENAI_API_KEY}"])
        + task_block("HTTP-1", agent="leaky", description="Say hi.")
    )
    write_plan(root, body, project_id="expanded")
    outputs: list[bytes] = []

    def orchestra(*args: str, code: int | None = 0) -> None:
        result = subprocess.run(
            [sys.executable, "-m", "orchestra_tui", "-p", str(root), *args],
            check=False,
            capture_output=True,
            timeout=120,
            env=os.environ.copy(),
        )
        outputs.extend([result.stdout, result.stderr])
        assert code is None or result.returncode == code, (args, result.stderr)

    try:
        orchestra("run", code=1)  # both tasks fail
        orchestra("execute", "SH-1", code=None)  # refused: it is failed; the message names the task only
        for read in (
            ["list", "--json"],
            ["list"],
            ["show", "SH-1"],
            ["show", "HTTP-1"],
            ["backups", "--json"],
            ["agents", "--json", "--offline"],
            ["report", "--json"],
            ["diff", "1"],
        ):
            orchestra(*read)
        assert receiver.wait_for(4, timeout=30), "the sender delivered the run's events"
    finally:
        echo.close()
        receiver.close()

    tui_text = asyncio.run(_tui_screen(root, tmp_path))
    assert "exited with 1: false ${OPENAI_API_KEY}" in tui_text, tui_text

    state = json.loads((root / ".orchestra" / "project_state.json").read_text())
    assert state["tasks"]["SH-1"]["last_error"] == "command 1 of 1 exited with 1: false ${OPENAI_API_KEY}"
    assert "${OTHER_TOKEN}" in state["tasks"]["HTTP-1"]["last_error"]  # the echo, with the unexpanded form in it
    needles = [value.encode() for value in planted.values()]
    needles += [base64.b64encode(f"X-Other: {planted['OTHER_TOKEN']}".encode())[4:-4]]
    searched, hits = files_holding(root, needles)
    assert searched > 10 and hits == []
    for output in [*outputs, *(request.body for request in receiver.requests), tui_text.encode()]:
        assert not any(needle in output for needle in needles), output
    assert receiver.requests[0].path == f"/hooks/{planted['PATH_TOKEN']}"  # it was sent where the person allowed it


async def _tui_screen(root: Path, tmp_path: Path) -> str:
    """What the app shows with SH-1 selected (its detail has the last error)."""
    from ..helpers.tui import app_on, screen
    from ..helpers.waits import until

    app = app_on(root, tmp_path)
    async with app.run_test(size=(140, 45)) as pilot:
        await pilot.pause()
        app.post_message(TaskSelected("SH-1"))
        await until(
            pilot, lambda: "SH-1  Task SH-1" in "".join(seg.text for line in screen(app) for seg in line), "the detail"
        )
        return "\n".join("".join(seg.text for seg in line) for line in screen(app))
