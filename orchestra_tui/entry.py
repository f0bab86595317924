"""The console-script entry, above every face: ``orchestra`` is the CLI, which hands over to the app
(no command) or the MCP server (``orchestra mcp``). Wiring them here keeps the faces independent of each
other; each face is imported only when it is asked for, so ``--version`` and ``--help`` load neither.

Before any of them, a read-only command whose answer was kept for exactly these files prints it (``answers.py``):
nothing heavy is imported for it. Without a kept answer, such a command runs without typer (``cli/direct.py``)
and its answer is kept."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from . import answers

if TYPE_CHECKING:
    from .cli import handoff


def open_app(options: handoff.AppOptions) -> int:
    """Run the app on the project until it quits; its exit code."""
    from .tui.app import create_app

    app = create_app(
        options.root, theme=options.theme, lock_timeout=options.lock_timeout, on_lock_wait=options.on_lock_wait
    )
    app.run()
    return app.return_code or 0


def serve_mcp(root: Path) -> None:
    """Serve the project over MCP (stdio) until the client closes the connection."""
    from .errors import OrchestraError

    try:
        from .mcp.server import serve
    except ImportError:
        raise OrchestraError("`orchestra mcp` needs the MCP SDK: pip install 'orchestra-tui[mcp]'") from None
    serve(root)


def _run_directly(question: answers.Question) -> None:
    """Run the question's command without typer (``cli/direct.py``) and keep its answer when it is quiet. The
    cyclic collector is off meanwhile: its passes over what the imports make are ~8 ms of a cold ``next``, a short
    read-only run whose cycles die with it (the opened project is frozen out of it anyway)."""
    import gc

    from .cli import direct

    gc.disable()
    try:
        answers.record(question, lambda: direct.run(question.root, question.command))
    finally:
        gc.enable()


def main(argv: list[str] | None = None) -> None:
    question = answers.ask(sys.argv[1:] if argv is None else argv)
    if question is not None and answers.answer(question):
        return
    if question is not None:
        _run_directly(question)
        return
    from .cli import handoff
    from .cli.main import main as cli_main

    handoff.FACES.open_app = open_app
    handoff.FACES.serve_mcp = serve_mcp
    cli_main(argv)
