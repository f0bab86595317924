"""Issue 15 item 3: ``orchestra next`` without a kept answer runs without typer (``cli/direct.py``) and says
exactly what the typer command says: the same stdout, stderr and exit code, in every state of a project."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from orchestra_tui import entry
from orchestra_tui.answers import ANSWERS_FILE
from orchestra_tui.cli import direct
from orchestra_tui.engine.project import Project
from orchestra_tui.projectfiles import JOURNAL_FILE, STATE_DIR

from ..helpers.cli import cli
from ..helpers.plans import task_block, write_plan

#: Runs the CLI through typer, as every command but the kept-answer ones is run.
THROUGH_TYPER = "import sys\nfrom orchestra_tui.cli.main import main\nmain(sys.argv[1:])\n"
#: Runs ``entry``, then names the heavy modules it imported, on stderr after everything else.
THROUGH_ENTRY = (
    "import sys\nfrom orchestra_tui.entry import main\ntry:\n    main(sys.argv[1:])\nfinally:\n"
    "    print('imported:', *sorted(m for m in ('typer', 'click', 'orchestra_tui.cli.main', 'pydantic')"
    " if m in sys.modules), file=sys.stderr)\n"
)


def run(script: str, root: Path, shape: list[str], env: dict[str, str] | None = None) -> tuple[int, str, str]:
    done = subprocess.run(
        [sys.executable, "-c", script, "-p", str(root), *shape],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    return done.returncode, done.stdout, done.stderr


def fine(root: Path) -> None:
    write_plan(root, task_block("A") + task_block("B", ["A"]))


def all_done(root: Path) -> None:
    fine(root)
    for task in ("A", "B"):
        cli(root, "complete", task)


def failed_dependency(root: Path) -> None:
    fine(root)
    cli(root, "fail", "A", "--reason", "no")


def one_problem(root: Path) -> None:
    write_plan(root, task_block("A", ["NOPE"]))


def two_problems(root: Path) -> None:
    write_plan(root, task_block("A", ["NOPE"]) + task_block("B", ["ALSO"]))


def damaged_journal(root: Path) -> None:
    fine(root)
    cli(root, "start", "A")
    with open(root / STATE_DIR / JOURNAL_FILE, "ab") as journal:
        journal.write(b"\x00garbage\n")


STATES: dict[str, Callable[[Path], None]] = {
    "fine": fine,
    "all done": all_done,
    "failed dependency": failed_dependency,
    "one problem": one_problem,
    "two problems": two_problems,
    "damaged journal": damaged_journal,
}


@pytest.mark.parametrize("shape", [["next"], ["next", "--json"]])
@pytest.mark.parametrize("state", list(STATES))
def test_without_a_kept_answer_next_says_what_the_typer_command_says(
    tmp_path: Path, state: str, shape: list[str]
) -> None:
    STATES[state](tmp_path)
    expected = run(THROUGH_TYPER, tmp_path, shape)
    (tmp_path / STATE_DIR / ANSWERS_FILE).unlink(missing_ok=True)
    code, out, err = run(THROUGH_ENTRY, tmp_path, shape)
    err, _, imported = err.rpartition("imported:")
    assert (code, out, err) == expected
    assert imported.split() == ["pydantic"]  # the engine, and no typer
    if state in ("one problem", "two problems"):
        assert code == 1 and err.startswith("error: ") and err.count("\n") == 1
        assert err.endswith("`orchestra validate` lists them all\n") is (state == "two problems")


def test_a_bad_lock_timeout_is_the_same_one_line_error(tmp_path: Path) -> None:
    fine(tmp_path)
    env = {**os.environ, "ORCHESTRA_LOCK_TIMEOUT": "soon"}
    expected = run(THROUGH_TYPER, tmp_path, ["next"], env)
    code, out, err = run(THROUGH_ENTRY, tmp_path, ["next"], env)
    assert (code, out, err.rpartition("imported:")[0]) == expected
    assert code == 1 and "ORCHESTRA_LOCK_TIMEOUT" in err


@pytest.mark.parametrize("script", [THROUGH_TYPER, THROUGH_ENTRY], ids=["typer", "direct"])
def test_a_reader_gone_before_the_answer_is_exit_1_without_a_complaint(tmp_path: Path, script: str) -> None:
    fine(tmp_path)
    reader, writer = os.pipe()
    os.close(reader)  # nobody will read: the answer meets a closed pipe
    try:
        done = subprocess.run(
            [sys.executable, "-c", script, "-p", str(tmp_path), "next", "--json"],
            stdout=writer,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(writer)
    assert done.returncode == 1
    assert "Error" not in done.stderr and "Exception" not in done.stderr


def test_the_collector_is_off_while_next_runs_directly_and_on_again_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fine(tmp_path)
    seen: list[bool] = []
    show = direct.show_next

    def noting(project: Project, as_json: bool) -> None:
        seen.append(gc.isenabled())
        show(project, as_json)

    monkeypatch.setattr(direct, "show_next", noting)
    (tmp_path / STATE_DIR / ANSWERS_FILE).unlink(missing_ok=True)
    assert gc.isenabled()
    entry.main(["-p", str(tmp_path), "next", "--json"])
    assert seen == [False] and gc.isenabled()
    assert '"A"' in capsys.readouterr().out


#: Runs ``entry``, then names the models whose schema was built and the modules a reading command has no use for.
WHAT_WAS_BUILT = (
    "import sys\nfrom orchestra_tui.entry import main\ntry:\n    main(sys.argv[1:])\nfinally:\n"
    "    from orchestra_tui import models\n"
    "    built = [name for name in ('TaskSpec', 'PlanFile', 'Price', 'WebhookConfig')"
    " if getattr(models, name).__pydantic_complete__]\n"
    "    unused = [m for m in ('logging', 'concurrent.futures', 'tomllib', 'tomli', 'subprocess', 'difflib',"
    " 'importlib.metadata', 'email') if m in sys.modules]\n"
    "    print('built:', *built, 'imported:', *unused, file=sys.stderr)\n"
)


@pytest.mark.parametrize("shape", [["next"], ["next", "--json"]])
def test_a_cold_next_over_a_checked_plan_builds_and_imports_only_what_it_reads(
    tmp_path: Path, shape: list[str]
) -> None:
    """Issue 15 item 3: once the signed parse cache says the plan's tasks are valid, the first ``next`` after a
    change validates the plan's other sections alone (no schema for a task spec or the whole file, nor for a
    section the plan does not have), and imports no logging, thread pool, TOML parser, subprocess, difflib, nor
    pydantic's plugin loader (``importlib.metadata``, ``email``)."""
    fine(tmp_path)
    run(THROUGH_ENTRY, tmp_path, shape)  # (the plan parsed, validated, and marked checked in the cache)
    expected = run(THROUGH_TYPER, tmp_path, shape)
    (tmp_path / STATE_DIR / ANSWERS_FILE).unlink(missing_ok=True)
    code, out, err = run(WHAT_WAS_BUILT, tmp_path, shape)
    err, _, report = err.rpartition("built:")
    assert (code, out, err) == expected and code == 0
    assert report.split() == ["imported:"]


#: Runs ``script`` with the installed distributions' listing watched (pydantic's plugin discovery lists them when
#: it builds its first validator), then prints how often they were listed and the variable after the run.
WATCHING_PLUGIN_DISCOVERY = (
    "import importlib.metadata, os, sys\nlisted = []\nlisting = importlib.metadata.distributions\n"
    "def watched(*args, **kwargs):\n    listed.append(1)\n    return listing(*args, **kwargs)\n"
    "importlib.metadata.distributions = watched\ntry:\n    exec({script!r})\nfinally:\n"
    "    print('listed:', len(listed), os.environ.get('PYDANTIC_DISABLE_PLUGINS', '-'), file=sys.stderr)\n"
)


@pytest.mark.parametrize(
    ("way", "users", "listed"),
    [("direct", None, "0 -"), ("direct", "someplugin", "1 someplugin"), ("typer", None, "1 -")],
    ids=["direct", "direct, the user's own value", "typer"],
)
def test_a_direct_next_does_not_list_the_installed_distributions_for_pydantic_plugins(
    tmp_path: Path, way: str, users: str | None, listed: str
) -> None:
    """Issue 15 item 3: pydantic looks for plugins in every installed distribution's entry points (~4.5 ms) unless
    ``PYDANTIC_DISABLE_PLUGINS`` says not to; a direct ``next`` says so while it runs, unless the user set the
    variable (theirs is kept), and puts it back before keeping its answer (kept: the key covers the environment).
    Every other way (typer here) leaves pydantic to its own discovery."""
    fine(tmp_path)
    run(THROUGH_ENTRY, tmp_path, ["next", "--json"])  # (the state written and the plan cached: settled)
    env = {name: value for name, value in os.environ.items() if name != "PYDANTIC_DISABLE_PLUGINS"}
    if users is not None:
        env["PYDANTIC_DISABLE_PLUGINS"] = users
    expected = run(THROUGH_TYPER, tmp_path, ["next", "--json"], env)
    (tmp_path / STATE_DIR / ANSWERS_FILE).unlink(missing_ok=True)
    script = WATCHING_PLUGIN_DISCOVERY.format(script=THROUGH_ENTRY if way == "direct" else THROUGH_TYPER)
    code, out, err = run(script, tmp_path, ["next", "--json"], env)
    err, _, report = err.rpartition("listed:")
    assert (code, out, err.rpartition("imported:")[0] if way == "direct" else err) == expected and code == 0
    assert report.split() == listed.split()
    assert (tmp_path / STATE_DIR / ANSWERS_FILE).exists() is (way == "direct")
