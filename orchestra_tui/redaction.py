"""The secrets registry: every value orchestra took from the environment for a ``${VAR}``, and every key it
read through an agent's ``api_key_env``, is registered here; :func:`redact` replaces each of them (and its
base64 and percent-encoded forms) with the unexpanded ``${VAR}``.

Invariant: every place orchestra writes a file or prints (history commits, run events, webhook bodies and
logs, the CLI, the TUI) passes its text through :func:`redact` (or :func:`redact_tree`), so a value
registered before it was used never reaches a file or the screen. Registration happens where values are
taken from the environment: :func:`orchestra_tui.plan.env.expand_env` and the agents' key lookup.

Values shorter than :data:`MIN_SECRET` characters are not registered: they would match ordinary words.
The registry is process-wide (values only ever get added) and thread-safe.
"""

from __future__ import annotations

import base64
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

MIN_SECRET = 8
REDACTED = "[redacted]"  # what stands for a value hidden without a name (an API key, a webhook URL's query)


def _base64_cores(value: bytes) -> set[str]:
    """Substrings every base64 encoding of a text containing ``value`` holds, whatever its alignment: for each
    of the three offsets, the encoding of ``value`` without the groups it shares with its neighbours."""
    cores = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + value).decode()
        start = 4 if offset else 0
        end = len(encoded) - (0 if (offset + len(value)) % 3 == 0 else 4)
        core = encoded[start:end]
        if len(core) >= MIN_SECRET:
            cores |= {core, core.replace("+", "-").replace("/", "_")}
    return cores


class Registry:
    """Values to hide, each with the label shown instead (``${NAME}``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._labels: dict[str, str] = {}
        self._pattern: re.Pattern[str] | None = None

    def register(self, name: str, value: str | None) -> None:
        """Hide ``value`` (from environment variable ``name``) and its encoded forms from now on."""
        if not value or len(value) < MIN_SECRET or value in self._labels:
            return
        label = "${" + name + "}"
        forms = {value, quote(value, safe="")} | _base64_cores(value.encode())
        with self._lock:
            for form in forms:
                self._labels.setdefault(form, label)
            self._pattern = re.compile(
                "|".join(re.escape(form) for form in sorted(self._labels, key=len, reverse=True))
            )

    def clear(self) -> None:
        """Forget every value (tests: one test's values must not change what another sees)."""
        with self._lock:
            self._labels = {}
            self._pattern = None

    def register_env(self, names: Mapping[str, str] | Any, environ: Mapping[str, str]) -> None:
        """Register the current value of each of ``names`` in ``environ``."""
        for name in names:
            self.register(name, environ.get(name))

    def redact(self, text: str) -> str:
        pattern = self._pattern
        if pattern is None or not text:
            return text
        labels = self._labels
        return pattern.sub(lambda match: labels[match.group(0)], text)

    def redact_tree(self, value: Any) -> Any:
        """``value`` with every string in it (dict keys and values, list items) redacted."""
        if self._pattern is None:
            return value
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, Mapping):
            return {self.redact_tree(key): self.redact_tree(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.redact_tree(item) for item in value]
        return value


REGISTRY = Registry()
register = REGISTRY.register
register_env = REGISTRY.register_env
redact = REGISTRY.redact
redact_tree = REGISTRY.redact_tree


def redact_values(text: str, values: Iterable[str]) -> str:
    """``text`` with each of ``values`` replaced by :data:`REDACTED`."""
    for value in values:
        text = text.replace(value, REDACTED)
    return text


def redact_key(text: str, key: str | None) -> str:
    """``text`` with ``key``, and any word of 8+ characters of ``[A-Za-z0-9_-]`` that is a piece of it, replaced
    by :data:`REDACTED` (an error message may quote a key cut short)."""
    if not key:
        return text
    text = text.replace(key, REDACTED)
    return re.sub(r"[A-Za-z0-9_-]{8,}", lambda m: REDACTED if m.group() in key else m.group(), text)
