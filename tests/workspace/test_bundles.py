"""A worktree run's files travel as git bundles (issue 17 item 3), with the real ``git``: the base out, a clone
there, the new commits back into the task branch as a fast-forward; nothing changed brings nothing back."""

from __future__ import annotations

from pathlib import Path

from orchestra_tui.agents.base import VerifyStep
from orchestra_tui.workspace.bundles import WorktreeFiles

from ..helpers.gitrepo import git, make_repo


def task_worktree(tmp_path: Path) -> tuple[Path, Path, str]:
    """A repository whose project lives in ``app/``, and a worktree of it on a task branch."""
    repo = make_repo(tmp_path / "repo", {"app/notes.txt": "one\n", "README.md": "hello\n"})
    base = git(repo, "rev-parse", "HEAD")
    worktree = tmp_path / "worktree"
    git(repo, "worktree", "add", "--quiet", "-b", "orchestra/p/tasks/T-1", str(worktree), base)
    return repo, worktree, base


def test_the_base_travels_and_the_changes_come_back_into_the_task_branch(tmp_path: Path) -> None:
    repo, worktree, base = task_worktree(tmp_path)
    here = WorktreeFiles(worktree, "orchestra/p/tasks/T-1", base, "T-1: Change notes", "app")
    here.prepare()
    there = tmp_path / "there"
    there.mkdir()
    workdir = here.unpack(there, {})  # on a worker: the same object, unpickled
    assert workdir == there / "work" / "app" and (workdir / "notes.txt").read_text() == "one\n"
    (workdir / "notes.txt").write_text("two\n")
    (workdir / "new.txt").write_text("new\n")
    changes = here.pack(workdir)
    assert changes.startswith(b"# v2 git bundle") or changes.startswith(b"# v3 git bundle")
    steps = [VerifyStep(0, 0, 0.1, b"ok\n")]
    here.receive(changes, steps, b"")
    assert here.received and here.verified == steps
    head = git(worktree, "rev-parse", "HEAD")
    assert head != base and git(repo, "rev-parse", "orchestra/p/tasks/T-1") == head
    assert git(repo, "log", "-1", "--format=%s", head) == "T-1: Change notes"
    assert git(repo, "rev-parse", f"{head}^") == base  # one commit on top of the base
    assert (worktree / "app" / "notes.txt").read_text() == "two\n" and (worktree / "app" / "new.txt").exists()
    assert git(worktree, "status", "--porcelain") == ""


def test_a_run_that_changed_nothing_brings_nothing_back(tmp_path: Path) -> None:
    _, worktree, base = task_worktree(tmp_path)
    here = WorktreeFiles(worktree, "orchestra/p/tasks/T-1", base, "T-1: Nothing", "app")
    here.prepare()
    there = tmp_path / "there"
    there.mkdir()
    changes = here.pack(here.unpack(there, {}))
    assert changes == b""
    here.receive(changes, None, b"")
    assert here.received and here.verified is None and git(worktree, "rev-parse", "HEAD") == base


def test_changes_come_back_while_another_worktree_is_being_added(tmp_path: Path) -> None:
    """``git worktree add`` first writes the new worktree's HEAD as the null id; a ``git fetch`` at that moment
    (which checks against every worktree's HEAD) failed with ``bad object worktrees/<name>/HEAD``. The pack is
    taken in without that check."""
    repo, worktree, base = task_worktree(tmp_path)
    git(repo, "worktree", "add", "--quiet", "-b", "orchestra/p/tasks/T-2", str(tmp_path / "other"), base)
    (repo / ".git" / "worktrees" / "other" / "HEAD").write_text("0" * 40 + "\n")  # as mid-`worktree add`
    here = WorktreeFiles(worktree, "orchestra/p/tasks/T-1", base, "T-1: Change", "app")
    here.prepare()
    there = tmp_path / "there"
    there.mkdir()
    workdir = here.unpack(there, {})
    (workdir / "notes.txt").write_text("two\n")
    here.receive(here.pack(workdir), [], b"")
    assert (worktree / "app" / "notes.txt").read_text() == "two\n"
    assert git(repo, "rev-parse", "orchestra/p/tasks/T-1^") == base
