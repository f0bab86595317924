"""Finding the line of a table or key in the raw TOML or JSON text, for error messages."""

from __future__ import annotations

import re

_HEADER_RE = re.compile(r"^\s*(\[\[?)\s*([^\[\]#]+?)\s*\]\]?\s*(?:#.*)?$")
_KEY_RE = re.compile(r"""^\s*("(?:[^"\\]|\\.)*"|'[^']*'|[A-Za-z0-9_-]+)\s*[.=]""")
_TASK_HEADER_RE = re.compile(r"^[ \t]*\[\[[ \t]*tasks[ \t]*\]\][ \t]*(?:#[^\n]*)?\r?$", re.MULTILINE)
_KEY_PART_RE = re.compile(r""""((?:[^"\\]|\\.)*)"|'([^']*)'|([A-Za-z0-9_-]+)""")


def _unquote(token: str) -> str:
    if len(token) >= 2 and token[0] == token[-1] and token[0] in "\"'":
        return token[1:-1]
    return token


def _dotted(name: str) -> list[str]:
    return [a or b or c for a, b, c in _KEY_PART_RE.findall(name)]


class _Block:
    __slots__ = ("keys", "line")

    def __init__(self, line: int | None) -> None:
        self.line = line
        self.keys: dict[str, int] = {}

    def key_line(self, *names: str) -> int | None:
        for name in names:
            if name in self.keys:
                return self.keys[name]
        return self.line


class _LineIndex:
    """Where things are in the TOML text: a light line scan, not a parser (tomllib already accepted the text).

    Tracks multi-line strings so that a ``[x]`` line inside a docstring is not taken for a header.
    """

    def __init__(self, text: str) -> None:
        self.top: dict[str, int] = {}
        self.project = _Block(None)
        self.agents: dict[str, _Block] = {}
        self.agents_table: int | None = None
        self.webhooks: list[_Block] = []
        self.tasks: list[_Block] = []
        current: _Block | None = None  # block whose keys we are recording
        agent_keys_context = False  # inside [agents]: keys are agent names
        in_string: str | None = None
        top_level = True
        # Split on "\n" only: TOML (and tomllib's messages) count lines that way, unlike str.splitlines.
        for number, line in enumerate(text.split("\n"), start=1):
            if in_string is not None:
                if line.count(in_string) % 2 == 1:
                    in_string = None
                continue
            stripped = line.lstrip()
            if not stripped or stripped[0] == "#":
                continue
            if stripped[0] == "[":
                match = _HEADER_RE.match(line)
                if match:
                    top_level = False
                    agent_keys_context = False
                    is_array = match.group(1) == "[["
                    parts = _dotted(match.group(2))
                    current = self._header(parts, is_array, number)
                    if parts == ["agents"] and not is_array:
                        self.agents_table = number
                        agent_keys_context = True
                    continue
            key_match = _KEY_RE.match(line)
            if key_match:
                key = _unquote(key_match.group(1))
                if top_level:
                    self.top.setdefault(key, number)
                    if key == "project":
                        self.project.line = self.project.line or number
                elif agent_keys_context:
                    self.agents.setdefault(key, _Block(number))
                elif current is not None:
                    current.keys.setdefault(key, number)
            for delimiter in ('"""', "'''"):
                if delimiter in line and line.count(delimiter) % 2 == 1:
                    in_string = delimiter
                    break

    def _header(self, parts: list[str], is_array: bool, number: int) -> _Block | None:
        if not parts:
            return None
        self.top.setdefault(parts[0], number)
        head, rest = parts[0], parts[1:]
        if head == "tasks":
            if not rest and is_array:
                self.tasks.append(_Block(number))
                return self.tasks[-1]
            if rest and self.tasks:
                self.tasks[-1].keys.setdefault(rest[0], number)
            return None
        if head == "webhooks":
            if not rest and is_array:
                self.webhooks.append(_Block(number))
                return self.webhooks[-1]
            if rest and self.webhooks:
                self.webhooks[-1].keys.setdefault(rest[0], number)
            return None
        if head == "project":
            if not rest:
                self.project.line = self.project.line or number
                return self.project
            self.project.keys.setdefault(rest[0], number)
            return None
        if head == "agents" and rest:
            block = self.agents.setdefault(rest[0], _Block(number))
            if len(rest) == 1:
                return block
            block.keys.setdefault(rest[1], number)
            return None
        return None

    def task_block(self, index: int) -> _Block:
        return self.tasks[index] if 0 <= index < len(self.tasks) else _Block(self.top.get("tasks"))

    def webhook_block(self, index: int) -> _Block:
        return self.webhooks[index] if 0 <= index < len(self.webhooks) else _Block(self.top.get("webhooks"))

    def agent_block(self, name: str) -> _Block:
        return self.agents.get(name) or _Block(self.agents_table or self.top.get("agents"))


def _json_key_line(text: str, key: str) -> int | None:
    """First line of a JSON text where ``"key":`` appears (light scan for error messages)."""
    pattern = re.compile(r'"' + re.escape(key) + r'"\s*:')
    for number, line in enumerate(text.split("\n"), start=1):
        if pattern.search(line):
            return number
    return None
