"""A real webhook receiver on 127.0.0.1 that records every request, and what a receiver checks (``verified``)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from orchestra_tui.engine.webhooks import (
    SIGNATURE_HEADER,
)


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> dict[str, Any]:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A real HTTP server in a thread: records every POST and answers with the next scripted response
    (status, extra headers); 200 once the script is used up."""

    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    port: int = 0
    requests: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self
        self._got = threading.Condition()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._got:
                    status, headers = receiver.script.pop(0) if receiver.script else (200, {})
                    receiver.requests.append(
                        Request(self.path, {k.lower(): v for k, v in self.headers.items()}, body, time.monotonic())
                    )
                    receiver._got.notify_all()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self.server.server_port
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self._thread.start()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Request]:
        """The requests once there are ``count`` of them, or whatever came within ``timeout`` seconds."""
        return self.wait_until(lambda requests: len(requests) >= count, timeout)

    def wait_until(self, condition: Callable[[list[Request]], bool], timeout: float = 30.0) -> list[Request]:
        """The requests once ``condition`` holds for them, or whatever came within ``timeout`` seconds."""
        with self._got:
            self._got.wait_for(lambda: condition(self.requests), timeout)
            return list(self.requests)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def pending(root: Path) -> list[Path]:
    return sorted((root / ".orchestra" / "webhooks" / "pending").glob("*.json"))


def verified(request: Request, secret: str, max_age: float = 300.0) -> bool:
    """What a receiver does (README, Webhooks): split ``t=...,v1=...``, recompute the HMAC of
    ``t.delivery.body``, compare in constant time, and refuse a timestamp older than ``max_age``."""
    fields = dict(
        part.split("=", 1) for part in request.headers.get(SIGNATURE_HEADER.lower(), "").split(",") if "=" in part
    )
    if "t" not in fields or "v1" not in fields:
        return False
    signed = f"{fields['t']}.{request.headers.get('x-orchestra-delivery', '')}.".encode() + request.body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(fields["v1"], expected) and abs(time.time() - int(fields["t"])) <= max_age
