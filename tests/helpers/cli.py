"""The ``orchestra`` command run in process (typer's runner): ``cli``, ``ok``, ``user_error``, ``as_json``."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner, Result

from orchestra_tui.cli.main import app

runner = CliRunner()


def cli(root: Path | None, *args: str, env: dict[str, str | None] | None = None) -> Result:
    argv = (["-p", str(root)] if root is not None else []) + list(args)
    result = runner.invoke(app, argv, env=env)
    # A user error is an exit code, never an exception escaping the command.
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    return result


def ok(root: Path | None, *args: str, env: dict[str, str | None] | None = None) -> Result:
    result = cli(root, *args, env=env)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result


def user_error(root: Path | None, *args: str) -> str:
    """Run a command that must fail with exit 1 and exactly one ``error: ...`` line on stderr; return that line."""
    result = cli(root, *args)
    assert result.exit_code == 1, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


def as_json(root: Path, *args: str) -> object:
    result = ok(root, *args, "--json")
    assert result.stderr == ""
    return json.loads(result.stdout)
