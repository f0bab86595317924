"""Secrets never reach anything orchestra writes (DESIGN.md sections 3, 6, 7).

Planted values sit in the environment variables the plan names (an agent's ``api_key_env``, a webhook's
``secret_env``, a token in a webhook URL); then everything that writes is exercised: plan load, state
changes from the CLI and the API, history, rollback, reports, an agent run refused with the key echoed
back, webhooks delivered and failing. Finally every file under the project (gzip opened), every captured
output, every log record and every webhook body received is searched. The walk lists no files by name, so
a new writer is covered the day it appears.
"""

from __future__ import annotations

import gzip
import logging
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestra_tui.api import ProjectOrchestrator
from orchestra_tui.models import AgentTask

from .conftest import task_block, write_plan
from .fakeserver import FakeServer, Reply
from .test_webhooks import Receiver, pending, verified

KEY_ENV, HOOK_ENV, TOKEN_ENV = "ORCH_TEST_OPENAI_KEY", "ORCH_TEST_HOOK_SECRET", "ORCH_TEST_URL_TOKEN"


def readable(path: Path) -> bytes:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        try:
            return data + gzip.decompress(data)
        except (OSError, EOFError):
            return data
    return data


def files_holding(root: Path, needles: list[bytes]) -> tuple[int, list[str]]:
    """(files searched, 'path: needle' for each hit) over every file below ``root``."""
    searched, hits = 0, []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
        searched += 1
        data = readable(path)
        hits += [f"{path.relative_to(root)}: {needle.decode()}" for needle in needles if needle in data]
    return searched, hits


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
    tmp_path: Path, servers: tuple[FakeServer, Receiver, int], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    provider, receiver, down_port = servers
    key = f"sk-test-PLANTED-{secrets.token_hex(12)}"
    hook_secret = f"whsec-PLANTED-{secrets.token_hex(12)}"
    url_token = f"tok-PLANTED-{secrets.token_hex(12)}"
    planted = [key, hook_secret, url_token]
    for name, value in ((KEY_ENV, key), (HOOK_ENV, hook_secret), (TOKEN_ENV, url_token)):
        monkeypatch.setenv(name, value)
    root = tmp_path / "project"
    body = (
        f'[agents.gpt]\ntype = "openai"\nmodel = "gpt-4o-mini"\nbase_url = "{provider.url}/v1"\napi_key_env = "{KEY_ENV}"\n'
        'max_attempts = 1\n\n'
        f'[[webhooks]]\nurl = "{receiver.url()}?token=${{{TOKEN_ENV}}}"\nsecret_env = "{HOOK_ENV}"\n\n'
        f'[[webhooks]]\nurl = "http://127.0.0.1:{down_port}/down?token=${{{TOKEN_ENV}}}"\nsecret_env = "{HOOK_ENV}"\n\n'
        + task_block("GPT-1", agent="gpt", description=f"Say hello. The key is in ${{{KEY_ENV}}} (never expand it into a file).")
        + task_block("C") + task_block("D", ["C"]) + task_block("E")
    )
    write_plan(root, body, project_id="secrets")
    outputs: list[str] = []

    def orchestra(*args: str, code: int = 0) -> None:
        result = subprocess.run([sys.executable, "-m", "orchestra_tui.cli.main", "-p", str(root), *args],
                                check=False, capture_output=True, text=True, timeout=120, env=os.environ.copy())
        outputs.extend([result.stdout, result.stderr])
        assert result.returncode == code, (args, result.stderr)

    # The plan, state changes and reads from the CLI.
    orchestra("validate")
    orchestra("start", "C")
    orchestra("complete", "C")
    orchestra("fail", "D", "--reason", "the build broke")
    orchestra("retry", "D")
    for read in (["list", "--json"], ["next", "--json"], ["report", "--json"], ["report", "--markdown"], ["report"],
                 ["backups", "--json"], ["diff", "1"], ["graph"], ["agents", "--json"], ["agents"]):
        orchestra(*read)

    # An agent run refused by the provider, which echoes the key it was sent.
    provider.reply(Reply.json(401, {"error": {"message": f"Incorrect API key provided: {key}.", "type": "invalid_request_error",
                                              "code": "invalid_api_key"}}))
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

    received = receiver.wait_for(1)
    assert received, "no webhook delivered: Project.open must call attach_webhooks"
    assert all(verified(request, hook_secret) for request in received)  # the secret was used to sign
    assert {request.json()["event"] for request in received} >= {"task_started", "task_completed", "task_failed", "rollback"}
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
        assert not any(value in record.getMessage() or value in (record.exc_text or "") for value in planted), record.getMessage()
    for request in received:
        assert not any(value.encode() in request.body for value in planted)
