"""``orchestra plan`` with HTTP agents (a real server on 127.0.0.1 replays each provider's stream): the answer's
JSON Schema goes with the request in the provider's own structured-output form, the structured answer is read
(Anthropic's forced tool input included), a server that refuses the schema is asked again without it, and what
planning cost lands in the history and the report like a run's tokens and cost."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from orchestra_tui.agents.structured import gemini_schema, inline_refs
from orchestra_tui.engine.planning import task_schema

from ..helpers.cli import as_json, ok
from ..helpers.fakeserver import FakeServer, Reply

ANSWER = {
    "tasks": [
        {"id": "REQ-1", "title": "Write the parser", "estimated_hours": 3, "priority": "high"},
        {"id": "REQ-2", "title": "Test the parser", "dependencies": ["REQ-1"], "phase": "testing"},
    ]
}
TEXT = json.dumps(ANSWER)
HALVES = (TEXT[: len(TEXT) // 2], TEXT[len(TEXT) // 2 :])


def sse(*payloads: object, named: bool = False) -> bytes:
    out = b""
    for payload in payloads:
        data = json.dumps(payload)
        kind = payload.get("type") if named and isinstance(payload, dict) else None
        out += (f"event: {kind}\n" if kind else "").encode() + f"data: {data}\n\n".encode()
    return out


def openai_stream() -> bytes:
    chunks = [{"choices": [{"index": 0, "delta": {"content": half}, "finish_reason": None}]} for half in HALVES]
    chunks.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    chunks.append({"choices": [], "usage": {"prompt_tokens": 1000, "completion_tokens": 200}})
    return sse(*chunks) + b"data: [DONE]\n\n"


def responses_stream() -> bytes:
    events: list[dict[str, Any]] = [{"type": "response.output_text.delta", "delta": half} for half in HALVES]
    usage = {"input_tokens": 1000, "output_tokens": 200}
    events.append({"type": "response.completed", "response": {"status": "completed", "usage": usage}})
    return sse(*events)


def anthropic_stream() -> bytes:
    """A forced tool's input streamed as ``input_json_delta`` pieces, ending with ``stop_reason: tool_use``."""
    message = {"id": "m", "type": "message", "role": "assistant", "content": [], "usage": {"input_tokens": 1000}}
    block = {"type": "tool_use", "id": "toolu_1", "name": "orchestra_tasks", "input": {}}
    events: list[dict[str, Any]] = [
        {"type": "message_start", "message": message},
        {"type": "content_block_start", "index": 0, "content_block": block},
        *(
            {"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": half}}
            for half in HALVES
        ),
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 200}},
        {"type": "message_stop"},
    ]
    return sse(*events, named=True)


def gemini_stream() -> bytes:
    usage = {"promptTokenCount": 1000, "candidatesTokenCount": 200}
    first = {"candidates": [{"content": {"parts": [{"text": HALVES[0]}], "role": "model"}}]}
    last = {
        "candidates": [{"content": {"parts": [{"text": HALVES[1]}], "role": "model"}, "finishReason": "STOP"}],
        "usageMetadata": usage,
    }
    return sse(first, last)


def ollama_stream() -> bytes:
    lines = [{"message": {"role": "assistant", "content": half}, "done": False} for half in HALVES]
    lines.append({"message": {"content": ""}, "done": True, "done_reason": "stop", "prompt_eval_count": 1000})
    lines[-1]["eval_count"] = 200
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


def _schema_of_openai(body: dict[str, Any]) -> dict[str, Any]:
    assert body["response_format"]["type"] == "json_schema"
    return dict(body["response_format"]["json_schema"]["schema"])


def _schema_of_responses(body: dict[str, Any]) -> dict[str, Any]:
    assert body["text"]["format"]["type"] == "json_schema"
    return dict(body["text"]["format"]["schema"])


def _schema_of_anthropic(body: dict[str, Any]) -> dict[str, Any]:
    assert body["tool_choice"] == {"type": "tool", "name": "orchestra_tasks"}
    (tool,) = body["tools"]
    return dict(tool["input_schema"])


def _schema_of_gemini(body: dict[str, Any]) -> dict[str, Any]:
    assert body["generationConfig"]["responseMimeType"] == "application/json"
    return dict(body["generationConfig"]["responseSchema"])


def _schema_of_ollama(body: dict[str, Any]) -> dict[str, Any]:
    return dict(body["format"])


PROVIDERS = {
    "openai": ('type = "openai"\nmodel = "gpt-test"', "/v1", openai_stream, _schema_of_openai),
    "responses": (
        'type = "openai"\napi = "responses"\nmodel = "gpt-test"',
        "/v1",
        responses_stream,
        _schema_of_responses,
    ),
    "anthropic": ('type = "anthropic"\nmodel = "claude-test"', "", anthropic_stream, _schema_of_anthropic),
    "gemini": ('type = "gemini"\nmodel = "gemini-test"', "", gemini_stream, _schema_of_gemini),
    "ollama": ('type = "ollama"\nmodel = "llama-test"', "", ollama_stream, _schema_of_ollama),
}
KEYS = {"OPENAI_KEY": "sk-test-1", "ANTHROPIC_API_KEY": "sk-ant-test", "GEMINI_API_KEY": "gm-test"}


def project(root: Path, provider: str, url: str, priced: bool = True) -> Path:
    config, suffix, _stream, _schema = PROVIDERS[provider]
    key = 'api_key_env = "OPENAI_KEY"\n' if config.startswith('type = "openai"') else ""
    prices = "price_input = 2.0\nprice_output = 10.0\n" if priced else ""
    root.mkdir(parents=True, exist_ok=True)
    (root / "req.md").write_text("# Requirements\n\nA parser for the config format, with tests.\n")
    (root / "orchestra.toml").write_text(
        '[project]\nid = "p"\n\n'
        f'[agents.planner]\n{config}\nbase_url = "{url}{suffix}"\nmax_attempts = 1\n{key}{prices}\n'
        '[[tasks]]\nid = "DES-1"\ntitle = "Design"\n'
    )
    return root


@pytest.fixture
def server() -> Any:
    with FakeServer() as fake:
        yield fake


@pytest.fixture(autouse=True)
def _keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_the_schema_goes_natively_and_the_structured_answer_becomes_the_plan(
    tmp_path: Path, server: FakeServer, provider: str
) -> None:
    _config, _suffix, stream, schema_of = PROVIDERS[provider]
    headers = (("content-type", "application/x-ndjson" if provider == "ollama" else "text/event-stream"),)
    server.reply(Reply(200, headers, [stream()]))
    root = project(tmp_path / provider, provider, server.url)
    result = json.loads(ok(root, "plan", str(root / "req.md"), "--agent", "planner", "--yes", "--json").stdout)
    assert result["added"] == ["REQ-1", "REQ-2"] and result["structured_output"] is True
    assert (result["input_tokens"], result["output_tokens"]) == (1000, 200)
    assert result["cost_usd"] == pytest.approx(1000 * 2.0 / 1e6 + 200 * 10.0 / 1e6)

    (recorded,) = server.requests
    schema = schema_of(recorded.json())
    assert "$ref" not in json.dumps(schema)  # self-contained: servers that resolve no references read it whole
    if provider != "gemini":
        jsonschema.validate(ANSWER, schema)  # the very answer the plan was made of follows what was sent
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({"tasks": [{"id": "X", "title": "t", "priority": "urgent"}]}, schema)


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_planning_cost_is_in_the_history_and_the_report_and_undo_passes_over_it(
    tmp_path: Path, server: FakeServer, provider: str
) -> None:
    _config, _suffix, stream, _schema = PROVIDERS[provider]
    server.reply(Reply(200, (("content-type", "text/event-stream"),), [stream()]))
    root = project(tmp_path, provider, server.url)
    ok(root, "start", "DES-1")
    shown = json.loads(ok(root, "plan", str(root / "req.md"), "--agent", "planner", "--json").stdout)
    assert shown["written"] is False  # --json without --yes shows; the tokens were spent all the same
    report = as_json(root, "report")
    assert isinstance(report, dict)
    planning = report["planning"]
    assert (planning["input_tokens"], planning["output_tokens"], planning["requests"]) == (1000, 200, 1)
    assert planning["cost_usd"] == pytest.approx(0.004)
    history = as_json(root, "backups")
    assert isinstance(history, list) and history[0]["action"] == "planning"
    assert "plan from req.md with planner" in history[0]["summary"] and "$0.004" in history[0]["summary"]

    ok(root, "undo")  # undoes the start, not the spending
    task = as_json(root, "show", "DES-1")
    assert isinstance(task, dict) and task["status"] == "pending"
    assert as_json(root, "report")["planning"] == planning  # type: ignore[index,call-overload]


def test_a_server_that_refuses_the_schema_is_asked_again_without_it(tmp_path: Path, server: FakeServer) -> None:
    refusal = Reply.json(400, {"error": {"message": "Unrecognized request argument: response_format"}})
    server.reply(refusal, Reply(200, (("content-type", "text/event-stream"),), [openai_stream()]))
    root = project(tmp_path, "openai", server.url, priced=False)
    result = json.loads(ok(root, "plan", str(root / "req.md"), "--agent", "planner", "--yes", "--json").stdout)
    assert result["added"] == ["REQ-1", "REQ-2"] and result["structured_output"] is False
    first, second = (request.json() for request in server.requests)
    assert "response_format" in first and "response_format" not in second
    assert result["cost_usd"] is None  # no price known for gpt-test: unknown, never a made-up 0
    assert as_json(root, "report")["planning"]["unpriced_rounds"] == 1  # type: ignore[index,call-overload]


def test_the_task_schema_resolves_its_references_where_they_point() -> None:
    """The enums' ``$defs`` sit at the root, where ``#/$defs/...`` resolves (they were inside ``items``)."""
    schema = task_schema()
    jsonschema.validate(ANSWER, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"tasks": [{"id": "X", "title": "t", "phase": "someday"}]}, schema)
    assert inline_refs(schema)["properties"]["tasks"]["items"]["properties"]["priority"]["enum"][0] == "critical"


def test_gemini_gets_its_openapi_subset() -> None:
    converted = gemini_schema(task_schema())
    assert "$ref" not in json.dumps(converted)

    def nodes(node: Any) -> Any:
        if isinstance(node, dict):
            yield node
            for child in (node.get("properties") or {}).values():
                yield from nodes(child)
            if "items" in node:
                yield from nodes(node["items"])

    every = list(nodes(converted))
    assert all("type" in node for node in every)  # Gemini requires a type on every schema node
    unknown = {"$ref", "$defs", "title", "default", "additionalProperties", "pattern", "exclusiveMinimum"}
    assert not [node for node in every if unknown & node.keys()]  # keys outside its OpenAPI subset are refused
    task = converted["properties"]["tasks"]["items"]
    assert task["properties"]["agent"] == {**task["properties"]["agent"], "type": "string", "nullable": True}
    assert task["required"] == ["id", "title"] and "metadata" not in task["properties"]
