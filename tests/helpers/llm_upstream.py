"""A scripted OpenAI-compatible upstream on 127.0.0.1 for a real LLM proxy (LiteLLM) to call.

``POST /v1/chat/completions`` streams Chat Completions chunks, ``POST /v1/responses`` streams Responses API
events. The answer is :data:`ANSWER`; a prompt containing ``CUT`` ends it as cut off at the token limit
(``finish_reason: "length"``, ``status: "incomplete"``). Usage is :data:`USAGE` (12 in, 5 out). Every request
is kept (path, JSON body) in ``requests``.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ANSWER = ["Hello", " from", " upstream"]
USAGE = {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}


def _sse(payloads: list[tuple[str | None, dict[str, Any] | str]]) -> bytes:
    out = b""
    for event, data in payloads:
        body = data if isinstance(data, str) else json.dumps(data)
        out += (f"event: {event}\n" if event else "").encode() + f"data: {body}\n\n".encode()
    return out


def chat_stream(model: str, cut: bool) -> bytes:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": "chatcmpl-up",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    payloads: list[tuple[str | None, dict[str, Any] | str]] = [(None, chunk({"role": "assistant", "content": ""}))]
    payloads += [(None, chunk({"content": piece})) for piece in ANSWER]
    payloads.append((None, chunk({}, "length" if cut else "stop")))
    payloads.append(
        (
            None,
            {
                "id": "chatcmpl-up",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": model,
                "choices": [],
                "usage": USAGE,
            },
        )
    )
    payloads.append((None, "[DONE]"))
    return _sse(payloads)


def responses_stream(model: str, cut: bool) -> bytes:
    text = "".join(ANSWER)
    status = "incomplete" if cut else "completed"
    message = {
        "id": "msg_up",
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }
    response = {
        "id": "resp_up",
        "object": "response",
        "created_at": 1,
        "model": model,
        "status": "in_progress",
        "output": [],
        "incomplete_details": None,
        "error": None,
        "usage": None,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
    }
    usage = {
        "input_tokens": 12,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 5,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 17,
    }
    done = {
        **response,
        "status": status,
        "output": [message],
        "usage": usage,
        "incomplete_details": {"reason": "max_output_tokens"} if cut else None,
    }
    seq = iter(range(100))
    events: list[tuple[str | None, dict[str, Any] | str]] = [
        ("response.created", {"type": "response.created", "sequence_number": next(seq), "response": response}),
        (
            "response.output_item.added",
            {
                "type": "response.output_item.added",
                "sequence_number": next(seq),
                "output_index": 0,
                "item": {**message, "status": "in_progress", "content": []},
            },
        ),
        (
            "response.content_part.added",
            {
                "type": "response.content_part.added",
                "sequence_number": next(seq),
                "item_id": "msg_up",
                "output_index": 0,
                "content_index": 0,
                "part": {"type": "output_text", "text": "", "annotations": []},
            },
        ),
    ]
    events += [
        (
            "response.output_text.delta",
            {
                "type": "response.output_text.delta",
                "sequence_number": next(seq),
                "item_id": "msg_up",
                "output_index": 0,
                "content_index": 0,
                "delta": piece,
                "logprobs": [],
            },
        )
        for piece in ANSWER
    ]
    events += [
        (
            "response.output_text.done",
            {
                "type": "response.output_text.done",
                "sequence_number": next(seq),
                "item_id": "msg_up",
                "output_index": 0,
                "content_index": 0,
                "text": text,
                "logprobs": [],
            },
        ),
        (
            "response.output_item.done",
            {"type": "response.output_item.done", "sequence_number": next(seq), "output_index": 0, "item": message},
        ),
        (f"response.{status}", {"type": f"response.{status}", "sequence_number": next(seq), "response": done}),
    ]
    return _sse(events)


class Upstream:
    """Start with ``with Upstream() as upstream``; ``upstream.url`` is the base (add ``/v1``)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, Any]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                owner.requests.append((self.path, body))
                cut = "CUT" in json.dumps(body)
                model = str(body.get("model") or "m")
                if self.path.endswith("/chat/completions"):
                    data = chat_stream(model, cut)
                elif self.path.endswith("/responses"):
                    data = responses_stream(model, cut)
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)

    def __enter__(self) -> Upstream:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
