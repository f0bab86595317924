"""The seed's ``WebhookManager``: webhooks registered from a script.

``WebhookManager().register(event="task_completed", url=..., headers={"Authorization": "Bearer ..."})`` adds
a webhook to every project this process has open or opens later (``ProjectOrchestrator``,
``ParallelExecutor``, a scheduler), delivered exactly as a plan's ``[[webhooks]]`` are: the same JSON bodies,
``X-Orchestra-Signature`` when ``secret_env`` names the secret's variable, retries with backoff, the durable
outbox, never blocking or failing a change. Header values are secrets: they stay in this process's memory,
never in the outbox, the log or an error message. A webhook gets the events of changes made in this process.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

from pydantic import ValidationError

from .engine.webhooks import register_webhook, unregister_webhook
from .errors import OrchestraError
from .models import WebhookConfig, WebhookEvent


class WebhookError(OrchestraError, ValueError):
    """A webhook that cannot be registered (one line)."""


class WebhookManager:
    """Registers webhooks for this process's projects. Every instance adds to the same process-wide set."""

    def register(
        self,
        event: str | WebhookEvent | Iterable[str | WebhookEvent],
        url: str,
        headers: Mapping[str, str] | None = None,
        *,
        secret_env: str | None = None,
    ) -> WebhookConfig:
        """Deliver ``event`` (one name, a list of names, or ``"*"`` for all) to ``url``, with ``headers``.

        Events: task_started, task_completed, task_failed, task_review, rollback, run_finished. Registering
        the same URL again replaces its events and headers. Raises :class:`WebhookError` for a bad event, URL
        or header.
        """
        events = list(WebhookEvent) if event == "*" else [event] if isinstance(event, str) else list(event)
        try:
            hook = WebhookConfig(url=url, events=events, secret_env=secret_env)  # type: ignore[arg-type]
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            allowed = ", ".join(WebhookEvent) if where.startswith("events") else ""
            raise WebhookError(
                f"webhook: {where}: {first['msg']}" + (f" (events: {allowed}, or *)" if allowed else "")
            ) from None
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise WebhookError(
                f"webhook: url must be http:// or https:// with a host, got scheme {parts.scheme or 'none'!r}"
            )
        extra = dict(headers or {})
        for name, value in extra.items():
            if not isinstance(name, str) or not isinstance(value, str) or any(c in name + value for c in "\r\n"):
                raise WebhookError(f"webhook: header {name!r} must be a one-line string with a one-line string value")
        register_webhook(hook, extra)
        return hook

    def unregister(self, url: str) -> bool:
        """Stop delivering to ``url``; False when it was not registered."""
        return unregister_webhook(url)
