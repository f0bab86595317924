"""Webhooks (docs/ARCHITECTURE.md C7, C13): a JSON POST to each ``[[webhooks]]`` URL for the events it lists.

A commit never waits on a webhook: the listener ``attach_webhooks`` puts on ``Project.listeners`` only builds
the body and queues it in memory. A background thread writes queued deliveries to the durable outbox
(``outbox.py``). Who sends them:

- ``Project.open`` attaches a *held* dispatcher: nothing is written or sent until ``release()``, which the
  project calls on a change a person made (not inside ``Project.quietly()``, e.g. the app's recovery of
  interrupted runs). Its thread then writes to the outbox and starts a detached sender process
  (``deliver.py``), which sends; so opening the app and read-only commands send nothing, and no command ever
  has a receiver on its path. Events queued by a process that never released are found by the next one
  (``catch_up``).
- A dispatcher attached directly (``attach_webhooks(project, hooks=...)``) and the sender process send from
  their own thread: bounded attempts with exponential backoff and jitter; 2xx is delivered; 408, 429, 5xx and
  network errors are retried; any other status is given up. ``close(timeout)`` waits, bounded, until this
  process's deliveries have had their first attempt.

Every attempt is a JSON line in ``.orchestra/webhooks.log``.

Events come from history entries, whoever made them (scheduler, CLI, TUI, API), and from ``emit`` (the run
engine's ``run_finished``). A delivery is at least once: receivers can deduplicate on the
``X-Orchestra-Delivery`` header. ``X-Orchestra-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.id.body">``
signs the time and the delivery id with the body, so a receiver can refuse replays.

Webhooks registered from code (the Python API's ``WebhookManager``, :func:`register_webhook`) are added to
every project this process has open or opens later; their extra headers are secrets, kept in memory only
(never in the outbox or the log). They get the events of this process's changes; a delivery of theirs left
in the outbox is sent by the next process of this script that registers the same URL.

Secrets: the HMAC secret is read from ``environ[secret_env]`` at send time, and nothing is sent unsigned
when it is missing (said once to the face, through ``notes``, and in the log). Bodies and log lines are
redacted (``redaction.py``: every value expanded from the environment), and scrubbed of the values of the
variables the plan names as a key or secret; the log shows a URL without its userinfo, query or fragment.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from ..errors import OrchestraError
from ..models import WebhookConfig, WebhookEvent
from ..plan import Plan
from ..redaction import REDACTED, redact, redact_values
from ..retry import backoff, seconds_from_now
from ..store import Entry, Store
from ..store.changes import Change, Record
from ..store.fsio import open_file, write_all
from ..store.store import now_iso
from ..version import __version__
from .outbox import Cursor, DamagedDelivery, Delivery, Outbox, hook_key
from .sender import start_sender

if TYPE_CHECKING:
    import logging

    import httpx


def _warn(message: str, *args: object) -> None:
    """A warning on this module's logger. ``logging`` is imported here, when there is one to give: a command that
    only reads (``orchestra next``) never imports it (~2 ms)."""
    import logging

    logging.getLogger(__name__).warning(message, *args)


ENTRY_EVENTS: dict[str, WebhookEvent] = {
    "start": WebhookEvent.TASK_STARTED,
    "complete": WebhookEvent.TASK_COMPLETED,
    "fail": WebhookEvent.TASK_FAILED,
    "review": WebhookEvent.TASK_REVIEW,
    "rollback": WebhookEvent.ROLLBACK,
    "undo": WebhookEvent.ROLLBACK,
}
SIGNATURE_HEADER = "X-Orchestra-Signature"
LOG_FILE = "webhooks.log"
LOG_ROTATE_BYTES = 1 << 20  # the log moves to webhooks.log.1 beyond this
RECOVER_MAX = 20  # history entries a new process looks back at for events nobody queued
FORGET_UNKNOWN_AFTER = 86400.0  # a delivery to a webhook no longer in the plan is dropped after a day
MIN_SECRET = 8  # shorter environment values are not scrubbed (they would match ordinary words)


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts and timing. The defaults make 5 attempts over about a minute."""

    attempts: int = 5
    delay: float = 4.0  # before the second attempt; doubled for each later one
    max_delay: float = 30.0
    jitter: float = 0.25  # each delay is scaled by a random factor in [1 - jitter, 1 + jitter]
    timeout: float = 10.0  # connect, read and write, each
    rescan: float = 5.0  # how often an idle dispatcher looks for deliveries other processes left due

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        return backoff(attempt, self.delay, self.max_delay, jitter=(1 - self.jitter, 1 + self.jitter))

    @property
    def lease(self) -> float:
        """How long a delivery being attempted is hidden from other processes (longer than any attempt takes)."""
        return 4 * self.timeout


def redact_url(url: str) -> str:
    """What the log may show of ``url``: no userinfo, no query, no fragment (each may carry a token)."""
    parts = urlsplit(url)
    shown = urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))
    return shown + (f"?{REDACTED}" if parts.query else "")


def sign(secret: str, body: bytes, delivery: str, timestamp: int) -> str:
    """The ``X-Orchestra-Signature`` value, ``t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.delivery.body">``:
    the time and the delivery id are signed with the body, so a receiver can refuse a replayed request (an old
    ``t``, or an id it has seen) as well as a forged one."""
    signed = f"{timestamp}.{delivery}.".encode() + body
    return f"t={timestamp},v1=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def _unsigned(hook: WebhookConfig) -> str:
    return f"secret_env {hook.secret_env} is not set; not sent unsigned (set it: the next change sends what waits)"


class _RedactUrls:
    """httpx logs each request's full URL (at INFO): show this dispatcher's webhook URLs the way the log does. (A
    logging filter is any object with this ``filter`` method.)"""

    def __init__(self, url_type: type, urls: Iterable[str]) -> None:
        self._url_type = url_type
        self.shown = {redact_url(url) for url in urls}

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(arg, self._url_type) for arg in record.args):
            record.args = tuple(self._clean(arg) for arg in record.args)
        return True

    def _clean(self, arg: object) -> object:
        if isinstance(arg, self._url_type) and redact_url(str(arg)) in self.shown:
            return redact_url(str(arg))
        return arg


@dataclass(frozen=True)
class _Outcome:
    status: int | None = None
    error: str | None = None
    retry: bool = False
    retry_after: float | None = None

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class WebhookDispatcher:
    """Queues, stores and delivers the webhook events of one open project. Thread-safe; ``on_entry`` and
    ``emit`` never block and never raise for a delivery problem."""

    def __init__(
        self,
        state_dir: Path,
        project_id: str,
        hooks: Sequence[WebhookConfig],
        *,
        environ: Mapping[str, str] | None = None,
        policy: RetryPolicy | None = None,
        secret_names: Iterable[str] = (),
        deliver_here: bool = True,
        notes: list[str] | None = None,
    ) -> None:
        self.project_id = project_id
        self.deliver_here = deliver_here
        self.notes = notes if notes is not None else []  # one line each, for the face to show
        self._unsigned: set[str] = set()  # webhooks whose missing secret was noted
        self.policy = policy or RetryPolicy()
        self.outbox = Outbox(state_dir)
        self.log_path = state_dir / LOG_FILE
        self._environ = os.environ if environ is None else environ
        self._hooks: dict[str, WebhookConfig] = {}
        for hook in hooks:
            key = hook_key(hook.url)
            known = self._hooks.get(key)
            if known is not None:  # the same URL twice: one webhook with both lists of events
                hook = known.model_copy(
                    update={"events": [*known.events, *(e for e in hook.events if e not in known.events)]}
                )
            self._hooks[key] = hook
        described = sorted((key, sorted(hook.events), hook.secret_env or "") for key, hook in self._hooks.items())
        self._fingerprint = hashlib.sha256(json.dumps(described).encode()).hexdigest()[:16]
        self._secret_names = sorted(
            {*secret_names, *(hook.secret_env for hook in self._hooks.values() if hook.secret_env)}
        )
        self._headers: dict[str, dict[str, str]] = {}  # hook key -> extra headers given in code (secrets)
        self._cond = threading.Condition()
        self._queue: list[tuple[int | None, list[Delivery]]] = []  # (entry seq or None for emit, deliveries)
        self._own: set[str] = set()  # written by this process, not attempted yet
        self._waiting = 0  # this process's deliveries not attempted yet (queued, being written, or in _own)
        self._in_flight = False  # an attempt is under way (close waits for it, so its outcome is recorded)
        self._closing = False
        self._stopped = False
        self._started = False
        self._settled = False  # the thread has done its first work: housekeeping, and the cursor's reset if due
        self._reset: tuple[Cursor | None, int] | None = None  # (cursor catch_up found, entry to restart from)
        self._client: httpx.Client | None = None
        self._log_filter: _RedactUrls | None = None
        self._thread = threading.Thread(target=self._run, name="orchestra-webhooks", daemon=True)

    def add(self, hook: WebhookConfig, headers: Mapping[str, str]) -> None:
        """Add a webhook registered from code (any thread). It is not part of the configuration's fingerprint:
        other processes do not have it, so this process sends (a sender process could not)."""
        key = hook_key(hook.url)
        with self._cond:
            self.deliver_here = True
            self._headers = {**self._headers, key: dict(headers)}
            self._hooks = {**self._hooks, key: hook}  # replaced, never changed: the delivery thread reads it unlocked
            if hook.secret_env:
                self._secret_names = sorted({*self._secret_names, hook.secret_env})
            if self._log_filter is not None:
                self._log_filter.shown.add(redact_url(hook.url))

    def remove(self, url: str) -> None:
        key = hook_key(url)
        with self._cond:
            self._hooks = {name: hook for name, hook in self._hooks.items() if name != key}
            self._headers = {name: headers for name, headers in self._headers.items() if name != key}

    # -- queueing (any thread) ------------------------------------------------------------------------

    def _keys_for(self, event: str) -> list[str]:
        return [key for key, hook in self._hooks.items() if event in hook.events]

    def on_entry(self, entry: Entry, tasks: Mapping[str, Record]) -> None:
        """Queue the deliveries a committed (or caught-up) history entry fires; ``tasks`` is the state after it."""
        if entry.action == "reload":
            return
        try:
            event = ENTRY_EVENTS.get(entry.action)
            keys = self._keys_for(event) if event is not None else []
            deliveries = []
            if event is not None and keys:
                body = self._encode(self._entry_body(event, entry, tasks))
                now = time.time()
                deliveries = [Delivery(f"{entry.id}-{key}", key, event.value, entry.id, body, now, now) for key in keys]
            self._put(entry.seq, deliveries)
        except Exception as error:
            _warn("webhooks: could not queue the events of entry %s: %s", entry.id, self._scrub(str(error)))

    def emit(self, event: WebhookEvent | str, payload: Mapping[str, Any]) -> None:
        """Queue an event that is not a history entry (the run engine's ``run_finished``).

        The body is ``payload`` with ``event``, ``project_id`` and ``time`` (unless given) added. Raises
        ``ValueError`` for a name that is not a webhook event (a programming error)."""
        event = WebhookEvent(event)
        keys = self._keys_for(event)
        if not keys:
            return
        body = self._encode(
            {
                "event": event.value,
                "project_id": self.project_id,
                "time": now_iso(),
                **{name: value for name, value in payload.items() if name not in ("event", "project_id")},
            }
        )
        now = time.time()
        stamp = f"x{time.time_ns()}-{os.getpid()}-{threading.get_ident()}"  # sorts after entry ids
        self._put(None, [Delivery(f"{stamp}-{key}", key, event.value, None, body, now, now) for key in keys])

    def _put(self, seq: int | None, deliveries: list[Delivery]) -> None:
        with self._cond:
            self._queue.append((seq, deliveries))
            self._waiting += len(deliveries)
            self._cond.notify_all()

    def _entry_body(self, event: WebhookEvent, entry: Entry, tasks: Mapping[str, Record]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "event": event.value,
            "project_id": self.project_id,
            "entry": {"id": entry.id, "time": entry.time, "actor": entry.actor, "summary": entry.summary},
        }
        task_ids = list(entry.extra.get("tasks") or [])
        if event is WebhookEvent.ROLLBACK:
            body["rollback"] = {"target": entry.extra.get("target"), "undo": entry.action == "undo", "tasks": task_ids}
        elif task_ids and task_ids[0] in tasks:
            record = tasks[task_ids[0]]
            body["task"] = {
                "id": task_ids[0],
                "title": record.get("title"),
                "status": record.get("status"),
                "last_error": record.get("last_error"),
            }
        body["progress"] = entry.progress
        return body

    # -- secrets --------------------------------------------------------------------------------------

    def _secrets(self) -> list[str]:
        """Values never to write: the environment's keys and secrets, and what the webhook URLs carry besides
        their address (query, userinfo), which may have come from the environment too."""
        values = [self._environ.get(name) or "" for name in self._secret_names]
        for hook in self._hooks.values():
            parts = urlsplit(hook.url)
            values += [parts.query, parts.password or ""]
        for headers in self._headers.values():
            values += headers.values()
        return [value for value in values if len(value) >= MIN_SECRET]

    def _scrub(self, text: str, secrets: list[str] | None = None) -> str:
        return redact_values(redact(text), self._secrets() if secrets is None else secrets)

    def _scrub_tree(self, value: Any, secrets: list[str]) -> Any:
        if isinstance(value, str):
            return self._scrub(value, secrets)
        if isinstance(value, Mapping):
            return {key: self._scrub_tree(item, secrets) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [self._scrub_tree(item, secrets) for item in value]
        return value

    def _encode(self, body: dict[str, Any]) -> str:
        return json.dumps(
            self._scrub_tree(body, self._secrets()), ensure_ascii=False, separators=(",", ":"), default=str
        )

    # -- catching up at open --------------------------------------------------------------------------

    def catch_up(self, store: Store) -> None:
        """Queue (in memory) the events of entries after the cursor that no process queued (one killed between
        its commit and its outbox write, or one that never sent: a read-only command, an app only looked at).
        Only with the webhook configuration that wrote the cursor, and only the last ``RECOVER_MAX`` entries: a
        webhook that is new, or put back after a while, gets no old events. Writes nothing: a cursor to reset
        is reset by the first write (``_write``)."""
        cursor = self.outbox.cursor()
        if cursor is None or cursor.hooks != self._fingerprint or cursor.seq > store.seq:
            self._reset = (cursor, store.seq)
            return
        if cursor.seq == store.seq:
            return
        for entry in [entry for entry in store.history() if entry.seq > cursor.seq][-RECOVER_MAX:]:
            event = ENTRY_EVENTS.get(entry.action)
            wanted = event is not None and bool(self._keys_for(event))
            self.on_entry(entry, store.state_at(entry.seq)[0] if wanted else {})

    # -- the delivery thread --------------------------------------------------------------------------

    def start(self) -> None:
        """Start the thread that writes queued deliveries to the outbox (and sends them when ``deliver_here``)."""
        with self._cond:
            if self._started:
                return
            self._started = True
        self._thread.start()

    release = start  # a change a person made: what waits may go out now (docs/ARCHITECTURE.md C13)

    def _run(self) -> None:
        try:
            try:
                self._housekeeping()
                if self._reset is not None:  # catch_up found no usable cursor: this configuration starts now
                    self._write([])
            except (OrchestraError, OSError) as error:
                self._log_line({"error": str(error), "result": "outbox error"})
            with self._cond:
                self._settled = True
                self._cond.notify_all()
            wake = 0.0
            while True:
                with self._cond:
                    if not self._queue and not self._closing and not self._stopped:
                        self._cond.wait(max(0.0, min(wake, time.time() + self.policy.rescan) - time.time()))
                    if self._stopped:
                        return
                    batches, self._queue = self._queue, []
                    closing = self._closing
                try:
                    if batches:
                        self._write(batches)
                    if self.deliver_here:
                        wake = self._pass(only_own=closing)
                    else:
                        self._hand_off()
                except Exception as error:
                    self._log_line({"error": f"{type(error).__name__}: {error}", "result": "outbox error"})
                    wake = time.time() + self.policy.rescan
                with self._cond:
                    if self._closing and not self._queue and (closing or self._waiting == 0):
                        return
        finally:
            if self._client is not None:
                self._client.close()
            if self._log_filter is not None:
                import logging

                logging.getLogger("httpx").removeFilter(self._log_filter)

    def _housekeeping(self) -> None:
        try:
            if self.log_path.stat().st_size > LOG_ROTATE_BYTES:
                os.replace(self.log_path, self.log_path.with_name(LOG_FILE + ".1"))
        except OSError:
            pass
        with self.outbox.locked():
            self.outbox.remove_stale_temp_files(older_than=60.0, now=time.time())

    def _done_with(self, count: int) -> None:
        with self._cond:
            self._waiting -= count
            self._cond.notify_all()

    def _write(self, batches: list[tuple[int | None, list[Delivery]]]) -> None:
        """Put queued deliveries into the outbox, except those of entries another process already queued.

        If this fails, the deliveries not written are lost here, but the cursor did not move past their
        entries: the next process's ``catch_up`` finds them."""
        total = sum(len(deliveries) for _seq, deliveries in batches)
        written = 0
        try:
            with self.outbox.locked():
                stored = cursor = self.outbox.cursor()
                if self._reset is not None:
                    if stored == self._reset[0]:  # as catch_up found it: start from the entry it saw last
                        cursor = Cursor(self._reset[1], self._fingerprint)
                    self._reset = None
                top = cursor.seq if cursor is not None else 0
                for seq, deliveries in batches:
                    if seq is not None:
                        if cursor is not None and seq <= cursor.seq:
                            continue
                        top = max(top, seq)
                    for delivery in deliveries:
                        self.outbox.write(delivery)
                        written += 1
                        self._note_unsigned(delivery)
                        with self._cond:
                            self._own.add(delivery.name)
                if cursor is None or cursor != stored or top != cursor.seq:
                    self.outbox.set_cursor(Cursor(top, self._fingerprint))
        finally:
            self._done_with(total - written)  # the ones written are done with once attempted

    def _note_unsigned(self, delivery: Delivery) -> None:
        """Say once per webhook, in the log and to the face (``notes``), that its secret is missing."""
        hook = self._hooks.get(delivery.hook)
        if hook is None or not hook.secret_env or self._environ.get(hook.secret_env) or delivery.hook in self._unsigned:
            return
        self._unsigned.add(delivery.hook)
        message = f"webhook {redact_url(hook.url)}: {_unsigned(hook)}"
        self.notes.append(message)
        self._log(delivery, hook, {"error": _unsigned(hook), "result": "waiting"})

    def waiting(self) -> list[str]:
        """Deliveries in the outbox for this dispatcher's webhooks (a name ends with its webhook's key)."""
        return [name for name in self.outbox.names() if name.rpartition("-")[2] in self._hooks]

    def drain(self, end: float) -> None:
        """Send what waits in the outbox for these webhooks, with retries, until none is left or the monotonic
        clock passes ``end``: the work of a sender process (``deliver.py``), in its own thread of control."""
        try:
            self._housekeeping()
            while self.waiting() and end > time.monotonic():
                wake = self._pass(only_own=False)
                if self.waiting():  # else done: no rescan's wait with the sender's lock held
                    time.sleep(max(0.0, min(wake - time.time(), end - time.monotonic())))
        finally:
            if self._client is not None:
                self._client.close()
                self._client = None

    def _hand_off(self) -> None:
        """What this process wrote to the outbox is the sender process's to send (``deliver.py``). Those
        deliveries count as waiting until the sender is started: ``close`` returning earlier let the process exit
        while this thread was starting it, which left them for the next change."""
        with self._cond:
            count = len(self._own)
            self._own.clear()
        try:
            if count:
                start_sender(self.outbox.dir.parent.parent)
        finally:
            self._done_with(count)

    def _pass(self, only_own: bool) -> float:
        """Attempt each due delivery once (only this process's once closing); returns when to look again."""
        wake = time.time() + self.policy.rescan
        with self._cond:
            own = sorted(self._own)
        names = own if only_own else own + [name for name in self.outbox.names() if name not in own]
        for name in names:
            with self._cond:
                if self._stopped or (self._closing and name not in own):
                    break
                self._in_flight = True
            try:
                due = self._attempt(name)
            finally:
                with self._cond:
                    self._in_flight = False
                    if name in self._own:
                        self._own.discard(name)
                        self._waiting -= 1
                    self._cond.notify_all()
            if due is not None:
                wake = min(wake, due)
        return wake

    def _attempt(self, name: str) -> float | None:
        """One attempt at one delivery, if it is due and no other process holds it. Returns when it is due next."""
        now = time.time()
        with self.outbox.locked():
            try:
                delivery = self.outbox.read(name)
            except DamagedDelivery as error:
                self._log_line({"delivery": name, "error": str(error), "result": "moved aside"})
                return None
            if delivery is None:
                return None
            hook = self._hooks.get(delivery.hook)
            if hook is None:
                if now - delivery.created > FORGET_UNKNOWN_AFTER:
                    self.outbox.remove(name)
                    self._log(delivery, None, {"error": "its webhook is no longer in the plan", "result": "dropped"})
                return None
            if delivery.next_at > now:
                return delivery.next_at
            if delivery.attempts >= self.policy.attempts:
                self.outbox.remove(name)
                self._gave_up(delivery, hook, {"error": "the last attempt was interrupted"})
                return None
            delivery.attempts += 1
            delivery.next_at = now + self.policy.lease
            self.outbox.write(delivery)
        outcome = self._send(hook, delivery)
        fields: dict[str, Any] = {"status": outcome.status} if outcome.status is not None else {}
        if outcome.error:
            fields["error"] = outcome.error
        with self.outbox.locked():
            current = self.outbox.read(name)
            if current is None or current.attempts != delivery.attempts:
                return None  # our lease ran out and another process took it over
            if outcome.delivered or not outcome.retry or delivery.attempts >= self.policy.attempts:
                self.outbox.remove(name)
            else:
                delay = max(
                    self.policy.backoff(delivery.attempts), min(outcome.retry_after or 0.0, self.policy.max_delay)
                )
                delivery.next_at = time.time() + delay
                self.outbox.write(delivery)
                self._log(delivery, hook, {**fields, "result": "retrying", "retry_in": round(delay, 3)})
                return delivery.next_at
        if outcome.delivered:
            self._log(delivery, hook, {**fields, "result": "delivered"})
        else:
            self._gave_up(delivery, hook, fields)
        return None

    def _send(self, hook: WebhookConfig, delivery: Delivery) -> _Outcome:
        import httpx  # here, not at the top: most orchestra commands never send anything

        body = delivery.body.encode()
        headers = {
            **self._headers.get(delivery.hook, {}),
            "Content-Type": "application/json",
            "X-Orchestra-Event": delivery.event,
            "X-Orchestra-Delivery": delivery.name,
        }
        if hook.secret_env:
            secret = self._environ.get(hook.secret_env)
            if not secret:
                return _Outcome(error=_unsigned(hook), retry=True)
            headers[SIGNATURE_HEADER] = sign(secret, body, delivery.name, int(time.time()))
        if self._client is None:
            import logging

            self._log_filter = _RedactUrls(httpx.URL, [hook.url for hook in self._hooks.values()])
            logging.getLogger("httpx").addFilter(self._log_filter)
            self._client = httpx.Client(timeout=self.policy.timeout, headers={"User-Agent": f"orchestra/{__version__}"})
        try:
            with self._client.stream("POST", hook.url, content=body, headers=headers) as response:
                status = response.status_code
                retry_after = seconds_from_now(response.headers.get("retry-after"))
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as error:
            return _Outcome(error=self._describe(error, hook.url))
        except Exception as error:
            return _Outcome(error=self._describe(error, hook.url), retry=True)
        retry = status in (408, 429) or status >= 500
        return _Outcome(status=status, retry=retry, retry_after=retry_after if retry else None)

    def _describe(self, error: Exception, url: str) -> str:
        text = (str(error) or "no details").replace(url, redact_url(url))
        return self._scrub(f"{type(error).__name__}: {text}")  # what is left of the query or userinfo too

    # -- the log --------------------------------------------------------------------------------------

    def _gave_up(self, delivery: Delivery, hook: WebhookConfig, fields: dict[str, Any]) -> None:
        self._log(delivery, hook, {**fields, "result": "gave up"})
        reason = fields.get("error") or f"HTTP {fields.get('status')}"
        _warn(
            "webhook %s: gave up on %s (%s) after %d attempt(s): %s",
            redact_url(hook.url),
            delivery.event,
            delivery.name,
            delivery.attempts,
            reason,
        )

    def _log(self, delivery: Delivery, hook: WebhookConfig | None, fields: dict[str, Any]) -> None:
        self._log_line(
            {
                "event": delivery.event,
                "delivery": delivery.name,
                "entry": delivery.entry,
                "url": redact_url(hook.url) if hook is not None else None,
                "attempt": delivery.attempts,
                **fields,
            }
        )

    def _log_line(self, fields: dict[str, Any]) -> None:
        line = json.dumps(self._scrub_tree({"time": now_iso(), **fields}, self._secrets()), ensure_ascii=False) + "\n"
        try:
            fd = open_file(self.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
            try:
                write_all(fd, line.encode())
            finally:
                os.close(fd)
        except OSError as error:
            _warn("webhooks: cannot write %s: %s", self.log_path, error.strerror)

    # -- closing --------------------------------------------------------------------------------------

    def close(self, timeout: float = 2.0) -> None:
        """Stop delivering. Waits up to ``timeout`` seconds until the thread's first work is done (the cursor a
        new configuration resets is written: the next process must not take the old one for its own), this
        process's deliveries are in the outbox and have had one attempt, and the attempt under way (if any) is
        over; what is left stays in the outbox for the next orchestra process."""
        deadline = time.monotonic() + timeout
        with self._cond:
            if not self._started:  # nothing was released: nothing is written or sent (catch_up finds it later)
                self._stopped = True
                self._queue = []
                return
            self._closing = True
            self._cond.notify_all()
            while (
                (self._waiting > 0 or self._in_flight or not self._settled)
                and self._thread.is_alive()
                and (left := deadline - time.monotonic()) > 0
            ):
                self._cond.wait(left)
            self._stopped = True
            leftover, self._queue = self._queue, []
            self._cond.notify_all()
        if leftover:
            try:
                self._write(leftover)
            except (OrchestraError, OSError) as error:
                _warn("webhooks: %s", self._scrub(str(error)))
        if not self.deliver_here:
            self._hand_off()


# Registered from code in this process: url key -> (webhook, extra headers); and the projects open in it.
class Hosted(Protocol):
    """What webhooks use of an open project (``Project`` is one; no import of it, so no cycle)."""

    plan: Plan
    store: Store
    listeners: list[Callable[[Entry, list[Change]], None]]
    webhooks: WebhookDispatcher | None


_REGISTERED: dict[str, tuple[WebhookConfig, dict[str, str]]] = {}
_OPEN: weakref.WeakSet[Hosted] = weakref.WeakSet()


def register_webhook(hook: WebhookConfig, headers: Mapping[str, str]) -> None:
    """Deliver ``hook``'s events from every project this process has open, and from those it opens later.
    ``headers`` go with each request and are kept in memory only. The same URL again replaces it."""
    _REGISTERED[hook_key(hook.url)] = (hook, dict(headers))
    for project in list(_OPEN):
        if project.webhooks is None:
            project.webhooks = _start(project, [], None, None, held=True)  # with every webhook registered, this one too
        else:
            project.webhooks.add(hook, headers)


def unregister_webhook(url: str) -> bool:
    """Stop delivering to a webhook registered from code; False when none was registered for ``url``."""
    if _REGISTERED.pop(hook_key(url), None) is None:
        return False
    for project in list(_OPEN):
        if project.webhooks is not None:
            project.webhooks.remove(url)
    return True


def detach_webhooks(project: Hosted) -> None:
    """The project is closing: webhooks registered from now on are not added to it."""
    _OPEN.discard(project)


def attach_webhooks(
    project: Hosted,
    *,
    hooks: Sequence[WebhookConfig] | None = None,
    environ: Mapping[str, str] | None = None,
    policy: RetryPolicy | None = None,
    held: bool = False,
) -> WebhookDispatcher | None:
    """Deliver the events of ``project`` to its plan's ``[[webhooks]]`` (or ``hooks``); call once, at the end of
    ``Project.open``, and ``close()`` the dispatcher when the project closes. None when there is nothing to
    deliver to or the state directory is read-only.

    ``held`` (what ``Project.open`` asks for): nothing is written or sent until ``release()`` (a change a
    person made), and then a detached sender process sends (``deliver.py``), never this one."""
    hooks = project.plan.webhooks if hooks is None else hooks
    if project.store.read_only:
        return None
    _OPEN.add(project)
    if not hooks and not _REGISTERED:
        return None
    return _start(project, hooks, environ, policy, held)


def _start(
    project: Hosted,
    hooks: Sequence[WebhookConfig],
    environ: Mapping[str, str] | None,
    policy: RetryPolicy | None,
    held: bool,
) -> WebhookDispatcher:
    secret_names = [agent.api_key_env for agent in project.plan.agents.values() if agent.api_key_env]
    dispatcher = WebhookDispatcher(
        project.store.dir,
        project.plan.project.id,
        hooks,
        environ=environ,
        policy=policy,
        secret_names=secret_names,
        deliver_here=not held,
        notes=project.store.warnings,
    )
    try:
        dispatcher.catch_up(project.store)
    except (OrchestraError, OSError) as error:
        _warn("webhooks: could not look for undelivered events: %s", dispatcher._scrub(str(error)))
    for hook, headers in list(_REGISTERED.values()):  # after catching up: a webhook new here gets no old events
        dispatcher.add(hook, headers)
    store = project.store
    project.listeners.append(lambda entry, _changes: dispatcher.on_entry(entry, store.tasks))
    if not held:
        dispatcher.start()
    return dispatcher
