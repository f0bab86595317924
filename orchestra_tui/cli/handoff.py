"""What the CLI hands over to the other faces: the app (``orchestra`` with no command) and the MCP server
(``orchestra mcp``).

The faces are independent of each other (import-linter's ``faces`` contract), so the CLI imports neither: the
entry module above every face, ``orchestra_tui.entry``, fills in :data:`FACES` before the command line is read.
A CLI driven without it (typer's ``CliRunner`` in tests) says so in one line instead of opening anything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import OrchestraError


@dataclass(frozen=True)
class AppOptions:
    """How to open the app: what ``orchestra [DIR]`` read from its command line and environment."""

    root: Path
    theme: str | None
    lock_timeout: float
    on_lock_wait: Callable[[str], None]


@dataclass
class Faces:
    """The faces the CLI can hand over to; each returns when it is closed (the app with its exit code)."""

    open_app: Callable[[AppOptions], int] | None = None
    serve_mcp: Callable[[Path], None] | None = None

    def app(self) -> Callable[[AppOptions], int]:
        if self.open_app is None:
            raise OrchestraError("this entry point cannot open the app: run `orchestra` (orchestra_tui.entry)")
        return self.open_app

    def mcp(self) -> Callable[[Path], None]:
        if self.serve_mcp is None:
            raise OrchestraError("this entry point cannot serve MCP: run `orchestra mcp` (orchestra_tui.entry)")
        return self.serve_mcp


FACES = Faces()
