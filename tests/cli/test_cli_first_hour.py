"""The CLI in a new user's first hour (issue 14 items 9 and 11): the project found from a subdirectory, the
demo shipped in the package, and texts that read right."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestra_tui.cli.main import app, demo_source

from ..helpers.plans import SAMPLES, task_block, write_plan

runner = CliRunner()


def test_a_command_in_a_subdirectory_uses_the_nearest_project_above_and_says_so(
    demo_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deeper = demo_dir / "src" / "pkg"
    deeper.mkdir(parents=True)
    monkeypatch.chdir(deeper)
    result = runner.invoke(app, ["next"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("next: DES-001")
    assert result.stderr == f"using the project in {demo_dir.resolve()} (the nearest above .)\n"
    monkeypatch.chdir(demo_dir)
    result = runner.invoke(app, ["next"])
    assert result.exit_code == 0 and result.stderr == ""  # in the project itself: nothing to say


def test_no_project_above_names_the_way_out_and_a_file_is_not_a_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.chdir(empty)
    result = runner.invoke(app, ["next"])
    assert result.exit_code == 1
    assert (
        result.stderr == "error: no orchestra.toml in . or above it: run `orchestra init .`, or try `orchestra demo`\n"
    )
    file = tmp_path / "plain"
    file.write_text("x")
    result = runner.invoke(app, ["-p", str(file), "next"])
    assert result.exit_code == 1 and result.stderr == f"error: not a directory: {file}\n"


def test_demo_copies_the_packaged_demo_and_opens_it_never_over_a_folder_in_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (demo_source() / "orchestra.toml").read_text() == (SAMPLES / "demo" / "orchestra.toml").read_text()
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["demo"])  # not a terminal: the overview instead of the app
    assert result.exit_code == 0, result.output
    assert (tmp_path / "orchestra-demo" / "orchestra.toml").read_text() == (
        SAMPLES / "demo" / "orchestra.toml"
    ).read_text()
    assert "wordfreq" in result.stdout and "the demo is in orchestra-demo" in result.stderr
    result = runner.invoke(app, ["demo"])
    assert result.exit_code == 1 and "orchestra-demo exists and is not an empty directory" in result.stderr


def test_texts_read_right(tmp_path: Path) -> None:
    root = tmp_path / "newproj"
    write_plan(
        root, task_block("HELLO-1", commands=["true"]) + task_block("HELLO-3", commands=["true"]), project_id="newproj"
    )
    plan = root / "orchestra.toml"
    plan.write_text(plan.read_text().replace('name = "Test"', 'name = "newproj"'))
    result = runner.invoke(app, ["-p", str(root), "report"])
    assert result.exit_code == 0 and "newproj (newproj)" not in " ".join(result.stdout.split())
    result = runner.invoke(app, ["-p", str(root), "run", "--until", "HELLO-3"])
    assert "HELLO-3 is in review" in result.stdout, result.output
    broken = tmp_path / "broken"
    write_plan(broken, task_block("HELLO-3", ["HELLO-9"], phase="develop"))
    result = runner.invoke(app, ["-p", str(broken), "validate"])
    assert result.exit_code == 1
    assert "unknown task 'HELLO-9'" in result.stderr and "did you mean 'HELLO-3'" not in result.stderr, result.stderr
    assert "invalid value 'develop' (did you mean 'development'?)" in result.stderr, result.stderr


@pytest.mark.parametrize("args", [["--version"], ["--help"]])
def test_version_and_help_import_none_of_the_heavy_libraries(args: list[str]) -> None:
    """Item 12: what `orchestra --version` and `orchestra --help` load (the figures are in bench/bench_tui.py)."""
    script = (
        "import sys\nfrom orchestra_tui.cli.main import main\ntry:\n    main(sys.argv[1:])\nexcept "
        "SystemExit:\n    pass\n"
        "heavy = ('textual', 'httpx', 'pydantic', 'networkx', 'orchestra_tui.engine', 'orchestra_tui.store',"
        " 'orchestra_tui.models', 'orchestra_tui.graph', 'orchestra_tui.plan')\n"
        "print(' '.join(m for m in heavy if m in sys.modules), file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr.strip() == "", done.stderr
    assert ("0.1" in done.stdout) if args == ["--version"] else ("demo" in done.stdout and "next" in done.stdout)


@pytest.mark.parametrize(
    ("args", "usage", "shown"),
    [
        (["show", "--help"], "Usage: orchestra show [OPTIONS] TASK_ID", ["TASK_ID", "--json"]),
        (["diff", "--help"], "Usage: orchestra diff [OPTIONS] [ENTRY] [ENTRY2]", ["ENTRY"]),
        (["list", "--help"], "Usage: orchestra list [OPTIONS]", ["[critical|high|medium|low]"]),
        (["import", "taskmaster", "--help"], "Usage: orchestra import taskmaster [OPTIONS] PATH", ["--all-tags"]),
        (["--help"], "Usage: orchestra [OPTIONS] COMMAND [ARGS]...", ["--version"]),
    ],
)
def test_help_names_arguments_in_capitals_and_gives_flags_no_type(
    args: list[str], usage: str, shown: list[str]
) -> None:
    """Item 11: typer's ``<bool>``, ``<str>`` and ``{task_id}`` do not reach the help."""
    result = runner.invoke(app, args, terminal_width=100)
    assert result.exit_code == 0, result.output
    assert usage in result.stdout
    assert all(text in result.stdout for text in shown)
    assert "<bool>" not in result.stdout and "<str>" not in result.stdout and "{" not in result.stdout


def test_a_missing_argument_is_named_as_the_help_names_it() -> None:
    result = runner.invoke(app, ["show"])
    assert result.exit_code == 2 and "Missing argument 'TASK_ID'" in result.stderr


def test_the_app_and_the_commands_start_without_networkx() -> None:
    """Issue 15 item 3 / issue 14 item 12: networkx (~90 ms) only names the cycles of a broken plan."""
    script = (
        "import sys\nimport orchestra_tui.tui.app, orchestra_tui.engine.project, orchestra_tui.dag_layout\n"
        "print(' '.join(m for m in ('networkx', 'httpx') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "", done.stdout + done.stderr
