"""``orchestra diff --task``, ``worktrees``, ``gc`` and ``land`` on real repositories with the real ``git``."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from orchestra_tui.cli.main import app
from orchestra_tui.engine.project import Project
from orchestra_tui.engine.scheduler import Scheduler
from tests.helpers.gitrepo import git, make_repo, worktree_paths

runner = CliRunner()
INTEGRATION = "orchestra/t/integration"


def cli(root: Path, *args: str, env: dict[str, str | None] | None = None) -> Result:
    result = runner.invoke(app, ["-p", str(root), *args], env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    return result


def ok(root: Path, *args: str, env: dict[str, str | None] | None = None) -> str:
    result = cli(root, *args, env=env)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result.stdout


def error(root: Path, *args: str) -> str:
    result = cli(root, *args)
    assert result.exit_code == 1, (result.stdout, result.stderr)
    [line] = result.stderr.splitlines()
    assert line.startswith("error: ") and "Traceback" not in result.output
    return line


def _task(task_id: str, commands: list[str], **fields: object) -> str:
    lines = [f'[[tasks]]\nid = "{task_id}"\ntitle = "Task {task_id}"\ncommands = {json.dumps(commands)}']
    lines += [f"{key} = {json.dumps(value)}" for key, value in fields.items()]
    return "\n".join(lines) + "\n\n"


def project(root: Path, tasks: str, *, auto_complete: bool = False) -> Path:
    make_repo(root, {"README.md": "# project\n", "src/app.py": "print('hi')\n", ".gitignore": ".orchestra/\n"})
    (root / "orchestra.toml").write_text(
        f'[project]\nid = "t"\nname = "Test"\nparallel_max = 4\nworkspace = "worktree"\n'
        f"auto_complete = {str(auto_complete).lower()}\n\n" + tasks
    )
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "plan")
    return root


def run_all(root: Path) -> None:
    async def go() -> None:
        with Project.open(root, actor="cli") as opened:
            await Scheduler(opened).run()

    asyncio.run(go())


EDITS = [
    'printf \'print("hello")\\nprint("again")\\n\' > src/app.py',
    "mkdir -p 'new dir' && echo new > 'new dir/fïle.txt'",
    "printf '\\033]52;c;c2VjcmV0\\007 evil\\n' > evil.txt",
]


@pytest.fixture
def reviewed(tmp_path: Path) -> Path:
    root = project(
        tmp_path / "repo", _task("A", EDITS) + _task("B", ["echo b > b.txt"]) + _task("R", ["true"], workspace="root")
    )
    run_all(root)
    return root


# ------------------------------------------------------------------------------------------ diff


def test_diff_of_a_task_lists_files_then_the_patch(reviewed: Path) -> None:
    out = ok(reviewed, "diff", "--task", "A")
    first, *rest = out.splitlines()
    assert first.startswith("A: 3 files changed, +4 -1 (") and "branch orchestra/t/tasks/A" in first
    assert rest[0].split() == ["+1", "-0", "evil.txt"] or "evil.txt" in out
    assert any(line.split()[-1] == "src/app.py" and "+2" in line and "-1" in line for line in rest)
    assert "new dir/fïle.txt" in out
    assert '+print("again")' in out and "@@" in out
    assert "\x1b" not in out and "\x07" not in out  # an agent's escape sequences are shown, never sent
    assert "␛]52" in out


def test_diff_is_coloured_on_a_terminal(reviewed: Path) -> None:
    out = ok(reviewed, "diff", "--task", "A", env={"FORCE_COLOR": "1", "TTY_COMPATIBLE": "1"})
    assert "\x1b[32m" in out  # additions in green
    assert "\x1b]52" not in out


def test_diff_json(reviewed: Path) -> None:
    data = json.loads(ok(reviewed, "diff", "--task", "B", "--json"))
    assert data["task_id"] == "B" and data["branch"] == "orchestra/t/tasks/B"
    assert data["files"] == [{"path": "b.txt", "added": 1, "deleted": 0, "binary": False, "old_path": None}]
    assert data["added"] == 1 and "+b" in data["patch"]


def test_diff_after_the_merge_uses_the_recorded_head(reviewed: Path) -> None:
    ok(reviewed, "complete", "B")
    assert not (reviewed / ".orchestra" / "worktrees" / "B").exists()
    data = json.loads(ok(reviewed, "diff", "--task", "B", "--json"))
    assert data["head"] is not None and [f["path"] for f in data["files"]] == ["b.txt"]


def test_diff_includes_changes_made_in_review(reviewed: Path) -> None:
    (reviewed / ".orchestra" / "worktrees" / "B" / "by hand.txt").write_text("person\n")
    data = json.loads(ok(reviewed, "diff", "--task", "B", "--json"))
    assert {f["path"] for f in data["files"]} == {"b.txt", "by hand.txt"} and data["head"] is None


def test_diff_refusals(reviewed: Path) -> None:
    assert error(reviewed, "diff", "--task", "R") == (
        "error: R has no worktree: it has not run, or it ran in the project root"
    )
    assert "unknown task 'Z'" in error(reviewed, "diff", "--task", "Z")
    assert cli(reviewed, "diff").exit_code == 2
    assert cli(reviewed, "diff", "1", "--task", "A").exit_code == 2


# ------------------------------------------------------------------------------------------ worktrees, gc


def test_worktrees_agree_with_git(reviewed: Path) -> None:
    data = json.loads(ok(reviewed, "worktrees", "--json"))
    assert [(w["task_id"], w["status"], w["registered"], w["exists"]) for w in data] == [
        ("A", "review", True, True),
        ("B", "review", True, True),
    ]
    assert {Path(w["path"]).resolve() for w in data} == worktree_paths(reviewed)
    table = ok(reviewed, "worktrees")
    assert "orchestra/t/tasks/A" in table and "review" in table


def test_gc_removes_what_no_task_needs_and_keeps_branches(reviewed: Path) -> None:
    folder = reviewed / ".orchestra" / "worktrees"
    ok(reviewed, "cancel", "B")  # cancelling removes the worktree itself (its branch stays)
    assert not (folder / "B").exists()
    (folder / "stray").mkdir()
    shutil.rmtree(folder / "A")  # deleted by hand while in review
    dry = ok(reviewed, "gc", "--dry-run")
    assert dry.splitlines()[0] == "would remove 2 worktrees (branches kept):"
    assert "A  missing (deleted by hand)" in dry and "stray  orphan (not a git worktree)" in dry
    assert (folder / "stray").exists()
    done = ok(reviewed, "gc")
    assert done.splitlines()[0] == "removed 2 worktrees (branches kept):"
    assert json.loads(ok(reviewed, "worktrees", "--json")) == [] and worktree_paths(reviewed) == set()
    assert ok(reviewed, "gc") == "no worktrees to remove\n"
    for task_id in ("A", "B"):
        assert git(reviewed, "rev-parse", "--verify", f"orchestra/t/tasks/{task_id}")


def test_gc_keeps_review_and_failed(tmp_path: Path) -> None:
    root = project(tmp_path / "repo", _task("OK", ["echo x > x"]) + _task("BAD", ["echo y > y", "false"]))
    run_all(root)
    assert ok(root, "gc") == "no worktrees to remove\n"
    assert {w["task_id"] for w in json.loads(ok(root, "worktrees", "--json"))} == {"OK", "BAD"}


def test_worktrees_outside_git_is_one_line(tmp_path: Path) -> None:
    root = tmp_path / "plain"
    root.mkdir()
    (root / "orchestra.toml").write_text('[project]\nid = "t"\nname = "T"\n')
    assert error(root, "worktrees").startswith("error: not a git repository: ")


# ------------------------------------------------------------------------------------------ land


def test_land_fast_forwards_the_users_branch(tmp_path: Path) -> None:
    root = project(
        tmp_path / "repo", _task("A", ["echo a > a.txt"]) + _task("B", ["echo b > b.txt"]), auto_complete=True
    )
    run_all(root)
    assert not (root / "a.txt").exists()  # nothing reaches the checkout until `land`
    out = ok(root, "land")
    assert out.startswith("fast-forwarded main to ") and INTEGRATION in out
    assert (root / "a.txt").read_text() == "a\n" and (root / "b.txt").read_text() == "b\n"
    assert git(root, "rev-parse", "main") == git(root, "rev-parse", INTEGRATION)
    assert ok(root, "land") == f"main already has everything in {INTEGRATION}\n"


def test_land_refuses_local_changes_in_its_files_and_merges_with_merge(tmp_path: Path) -> None:
    root = project(tmp_path / "repo", _task("A", ["echo a >> README.md"]), auto_complete=True)
    run_all(root)
    (root / "README.md").write_text("# project\nmy edit\n")
    before = git(root, "rev-parse", "HEAD")
    line = error(root, "land")
    assert line.startswith(
        "error: refusing to land: your uncommitted changes touch 1 file the fast-forward changes (README.md)"
    )
    assert git(root, "rev-parse", "HEAD") == before and "my edit" in (root / "README.md").read_text()
    git(root, "commit", "-qam", "mine")
    assert "`orchestra land --merge`" in error(root, "land")
    assert "would conflict in README.md" in error(root, "land", "--merge")
    git(root, "reset", "-q", "--hard", before)
    (root / "other.txt").write_text("x\n")
    git(root, "add", "other.txt")
    git(root, "commit", "-qm", "other")
    data = json.loads(ok(root, "land", "--merge", "--json"))
    assert data["kind"] == "merge" and data["branch"] == "main"
    assert (root / "README.md").read_text().endswith("a\n")


def test_land_before_any_merge(tmp_path: Path) -> None:
    root = project(tmp_path / "repo", _task("A", ["true"]))
    assert (
        error(root, "land")
        == f"error: nothing to land: there is no branch '{INTEGRATION}' yet (no task has been merged)"
    )
