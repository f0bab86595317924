"""A real HTTP/1.1 server on 127.0.0.1 that replays scripted responses byte for byte.

Each request takes the next scripted :class:`Reply` (a 500 saying so when none is left) and is recorded
(method, path with query, lower-cased headers, body). A reply controls what goes on the wire: the status
line after an optional delay (a slow first byte), headers, body pieces written exactly as given with
pauses between them, the framing (chunked, content-length, or ended by closing the connection) and
whether the connection is dropped before the body is complete. Connections are kept alive between
requests, so connection reuse by a client is observable (``connections``). A pause notices when the
client goes away (``client_gone``), which is how a test sees that a cancelled client closed its response.

    with FakeServer() as server:
        server.reply(Reply(body=[b"data: 1\\n\\n", 0.05, b"data: 2\\n\\n"]))
        ... request server.url ...
        assert server.requests[0].path == "/v1/chat/completions"
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Literal, Self

_MAX_HEAD = 64 * 1024
GATE_LIMIT = 60.0  # seconds a body waits for its gate (an Event) at the most


@dataclass(frozen=True)
class Reply:
    """One scripted response. ``body`` items: ``bytes`` written as they are, a number pauses that many seconds, a
    ``threading.Event`` waits until the test sets it."""

    status: int = 200
    headers: Sequence[tuple[str, str]] = (("content-type", "text/event-stream"),)
    body: Sequence[bytes | float | threading.Event] = ()  # an Event: wait until the test sets it
    delay: float = 0.0  # before the status line
    framing: Literal["chunked", "length", "close"] = "chunked"
    drop: bool = False  # close the connection before the body is complete

    @classmethod
    def json(cls, status: int, document: Any, headers: Sequence[tuple[str, str]] = ()) -> Reply:
        return cls(
            status, (("content-type", "application/json"), *headers), [json.dumps(document).encode()], framing="length"
        )


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class ClientGone(Exception):
    pass


@dataclass
class FakeServer:
    """Start with ``with FakeServer() as server`` (or ``start()`` / ``stop()``)."""

    replies: deque[Reply] = field(default_factory=deque)
    requests: list[Recorded] = field(default_factory=list)
    route: Callable[[Recorded], Reply | None] | None = None  # answers first; None: the next scripted reply
    connections: int = 0
    client_gone: int = 0

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"

    def reply(self, *replies: Reply) -> None:
        with self._lock:
            self.replies.extend(replies)

    def start(self) -> Self:
        self._spawn(self._accept_loop)
        return self

    def stop(self) -> None:
        self._stop.set()
        _close(self._listener)  # shutdown() wakes the thread blocked in accept()
        with self._lock:
            for conn in self._open:
                _close(conn)
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _spawn(self, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self.connections += 1
                self._open.add(conn)
            self._spawn(self._serve, conn)

    def _serve(self, conn: socket.socket) -> None:
        buffer = b""
        try:
            while not self._stop.is_set():
                request, buffer = _read_request(conn, buffer)
                if request is None:
                    return
                with self._lock:
                    self.requests.append(request)
                    reply = self.route(request) if self.route is not None else None
                    if reply is None:
                        reply = (
                            self.replies.popleft()
                            if self.replies
                            else Reply.json(500, {"error": "fakeserver: no reply scripted"})
                        )
                if not self._send(conn, reply, head_only=request.method == "HEAD"):
                    return
        except ClientGone:
            with self._lock:
                self.client_gone += 1
        except OSError:
            pass
        finally:
            with self._lock:
                self._open.discard(conn)
            _close(conn)

    def _send(self, conn: socket.socket, reply: Reply, head_only: bool) -> bool:
        """Write one reply; False when the connection must close afterwards."""
        self._pause(conn, reply.delay)
        pieces = [item for item in reply.body if isinstance(item, bytes)]
        head = [f"HTTP/1.1 {reply.status} {_phrase(reply.status)}"] + [
            f"{name}: {value}" for name, value in reply.headers
        ]
        if reply.framing == "chunked":
            head.append("transfer-encoding: chunked")
        elif reply.framing == "length":
            head.append(f"content-length: {sum(map(len, pieces)) + (1 if reply.drop else 0)}")
        else:
            head.append("connection: close")
        conn.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        if head_only:
            return reply.framing != "close"
        for item in reply.body:
            if isinstance(item, bytes):
                if item:
                    conn.sendall(b"%x\r\n%s\r\n" % (len(item), item) if reply.framing == "chunked" else item)
            elif isinstance(item, threading.Event):
                self._pause(conn, GATE_LIMIT, until=item)
            else:
                self._pause(conn, float(item))
        if reply.drop or reply.framing == "close":
            return False
        if reply.framing == "chunked":
            conn.sendall(b"0\r\n\r\n")
        return True

    def _pause(self, conn: socket.socket, seconds: float, until: threading.Event | None = None) -> None:
        """Sleep (or wait for ``until``, at most ``seconds``); raise ClientGone as soon as the client closes its end."""
        if seconds <= 0:
            return
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0 and not (until is not None and until.is_set()):
            if self._stop.is_set():
                raise ClientGone
            readable, _, _ = select.select([conn], [], [], min(left, 0.05))
            if readable and conn.recv(1, socket.MSG_PEEK) == b"":
                raise ClientGone


def _read_request(conn: socket.socket, buffer: bytes) -> tuple[Recorded | None, bytes]:
    while b"\r\n\r\n" not in buffer:
        data = conn.recv(65536)
        if not data or len(buffer) > _MAX_HEAD:
            return None, b""
        buffer += data
    head, _, rest = buffer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        data = conn.recv(65536)
        if not data:
            return None, b""
        rest += data
    return Recorded(method, path, headers, rest[:length]), rest[length:]


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def _close(conn: socket.socket) -> None:
    with contextlib.suppress(OSError):
        conn.shutdown(socket.SHUT_RDWR)
    conn.close()
