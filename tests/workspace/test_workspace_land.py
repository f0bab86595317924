"""``land``: the integration branch into the user's branch, real repositories and the real ``git``."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestra_tui.errors import GitError, WorkspaceError
from orchestra_tui.workspace.git import Git
from orchestra_tui.workspace.land import land, local_changes
from tests.helpers.gitrepo import commit, git, make_repo

INTEGRATION = "orchestra/p/integration"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = make_repo(tmp_path / "repo", {"README.md": "hello\n", "a.txt": "a\n", "b.txt": "b\n"})
    git(root, "branch", INTEGRATION)
    return root


def _advance_integration(root: Path, files: dict[str, str]) -> str:
    """A commit on the integration branch made without touching the user's checkout (as the merge queue does)."""
    scratch = root.parent / "scratch"
    if not scratch.exists():
        git(root, "worktree", "add", "--quiet", str(scratch), INTEGRATION)
    return commit(scratch, files, "integrated")


def test_fast_forward(repo: Path) -> None:
    new = _advance_integration(repo, {"a.txt": "a2\n", "c.txt": "c\n"})
    done = land(Git(repo), INTEGRATION)
    assert (done.kind, done.branch, done.new) == ("fast-forward", "main", new)
    assert (repo / "c.txt").read_text() == "c\n" and git(repo, "status", "--porcelain") == ""


def test_up_to_date(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD")
    assert land(Git(repo), INTEGRATION).to_dict()["kind"] == "up-to-date"
    assert git(repo, "rev-parse", "HEAD") == head


def test_unrelated_local_changes_stay(repo: Path) -> None:
    _advance_integration(repo, {"a.txt": "a2\n"})
    (repo / "b.txt").write_text("my edit\n")
    (repo / "mine.txt").write_text("untracked\n")
    land(Git(repo), INTEGRATION)
    assert (repo / "a.txt").read_text() == "a2\n"
    assert (repo / "b.txt").read_text() == "my edit\n" and (repo / "mine.txt").read_text() == "untracked\n"


def test_refused_when_local_changes_touch_the_files(repo: Path) -> None:
    _advance_integration(repo, {"a.txt": "a2\n", "new file.txt": "theirs\n"})
    (repo / "a.txt").write_text("my edit\n")
    (repo / "new file.txt").write_text("mine, untracked\n")
    head = git(repo, "rev-parse", "HEAD")
    with pytest.raises(
        WorkspaceError, match=r"^refusing to land: your uncommitted changes touch 2 files the fast-forward"
    ):
        land(Git(repo), INTEGRATION)
    assert git(repo, "rev-parse", "HEAD") == head
    assert (repo / "a.txt").read_text() == "my edit\n" and (repo / "new file.txt").read_text() == "mine, untracked\n"


def test_diverged_needs_merge(repo: Path) -> None:
    _advance_integration(repo, {"a.txt": "a2\n"})
    commit(repo, {"b.txt": "b2\n"}, "mine")
    with pytest.raises(WorkspaceError, match=r"^cannot fast-forward main: .*`orchestra land --merge`"):
        land(Git(repo), INTEGRATION)
    done = land(Git(repo), INTEGRATION, merge=True)
    assert done.kind == "merge"
    assert git(repo, "log", "-1", "--format=%s") == f"Merge {INTEGRATION} into main"
    assert git(repo, "rev-list", "--parents", "-n", "1", "HEAD").count(" ") == 2
    assert (repo / "a.txt").read_text() == "a2\n" and (repo / "b.txt").read_text() == "b2\n"


def test_a_conflicting_merge_is_refused_before_touching_anything(repo: Path) -> None:
    _advance_integration(repo, {"a.txt": "theirs\n"})
    head = commit(repo, {"a.txt": "mine\n"}, "mine")
    with pytest.raises(WorkspaceError, match=r"^refusing to land: merging would conflict in a\.txt;"):
        land(Git(repo), INTEGRATION, merge=True)
    assert git(repo, "rev-parse", "HEAD") == head and git(repo, "status", "--porcelain") == ""
    assert not (repo / ".git" / "MERGE_HEAD").exists()


def test_detached_head_and_missing_branch(repo: Path) -> None:
    with pytest.raises(WorkspaceError, match=r"^nothing to land: there is no branch 'nope' yet"):
        land(Git(repo), "nope")
    git(repo, "checkout", "--quiet", "--detach")
    with pytest.raises(GitError, match=r"^HEAD is detached"):
        land(Git(repo), INTEGRATION)


def test_local_changes_names_renames_and_untracked(repo: Path) -> None:
    git(repo, "mv", "a.txt", "renamed.txt")
    (repo / "sub dir").mkdir()
    (repo / "sub dir" / "ü.txt").write_text("x")
    assert local_changes(Git(repo)) == {"a.txt", "renamed.txt", "sub dir/ü.txt"}
