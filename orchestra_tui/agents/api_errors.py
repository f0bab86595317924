"""What a provider's error says, read without any HTTP library: its message, type and code, and the kind of
failure orchestra makes of it (auth, quota, rate_limit, overloaded, timeout, server, error) with whether
another attempt may help. Shared by the HTTP agents (``transport``) and the coding-agent CLIs (``cli``),
which pass their APIs' errors on (and must not load httpx, which drags in a terminal toolkit)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..retry import seconds_from_now

_RETRY_STATUSES = frozenset({408, 409, 429})


@dataclass(frozen=True)
class ErrorInfo:
    """What a provider said in an error body or error event."""

    message: str = ""
    type: str | None = None
    code: Any = None
    retry_delay: float | None = None  # Gemini's google.rpc.RetryInfo


def error_info(document: Any) -> ErrorInfo:
    """Read the usual shapes: ``{"error": {"message", "type"|"status", "code"}}``, ``{"error": "..."}``, ``[{...}]``."""
    if isinstance(document, list) and document:
        document = document[0]
    if not isinstance(document, dict):
        return ErrorInfo(one_line(str(document)) if document not in (None, "") else "")
    error = document.get("error", document)
    if isinstance(error, str):
        return ErrorInfo(one_line(error))
    if not isinstance(error, dict):
        return ErrorInfo(one_line(json.dumps(document)))
    message = error.get("message") or error.get("detail") or ""
    kind = error.get("type") or error.get("status")
    delay = None
    for detail in error.get("details") or ():
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("RetryInfo"):
            delay = seconds_from_now(detail.get("retryDelay"))
    return ErrorInfo(one_line(str(message)), str(kind) if kind else None, error.get("code"), delay)


def error_info_from_body(body: bytes) -> ErrorInfo:
    try:
        return error_info(json.loads(body))
    except ValueError:
        return ErrorInfo(one_line(body.decode("utf-8", "replace")))


def classify(status: int | None, info: ErrorInfo) -> tuple[str, bool]:
    """(kind, retryable) for an HTTP status and/or a provider's error type."""
    kind = (info.type or "").lower()
    code = str(info.code or "").lower()
    if "insufficient_quota" in (kind, code):
        return "quota", False
    if status == 401 or kind in ("authentication_error", "unauthenticated"):
        return "auth", False
    if status == 403 or kind in ("permission_error", "permission_denied"):
        return "auth", False
    if status == 529 or kind in ("overloaded_error", "unavailable"):
        return "overloaded", True
    if status == 429 or kind in ("rate_limit_error", "resource_exhausted", "rate_limit_exceeded"):
        return "rate_limit", True
    if status == 408:
        return "timeout", True
    if status in _RETRY_STATUSES or (status or 0) >= 500 or kind in ("api_error", "internal", "server_error"):
        return "server", True
    return "error", False


def one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
