"""The git wrapper against the real ``git`` binary: version check, repository faults, clean environment, identity."""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestra_tui.errors import GitError
from orchestra_tui.workspace import git as gitmod
from orchestra_tui.workspace.git import Git, open_repo, ref_component, require_branch, require_git, toplevel
from orchestra_tui.workspace.worktrees import task_branch
from tests.helpers.gitrepo import commit, git, make_repo


@pytest.fixture
def fresh_version() -> Iterator[None]:
    gitmod.git_version.cache_clear()
    yield
    gitmod.git_version.cache_clear()


def _fake_git(folder: Path, version: str) -> None:
    folder.mkdir()
    script = folder / "git"
    script.write_text(f"#!/bin/sh\necho 'git version {version}'\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)


def test_git_missing_names_the_version_needed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_version: None
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    with pytest.raises(GitError, match=r"^git not found on PATH: worktrees need git 2\.38 or newer$"):
        require_git()
    with pytest.raises(GitError, match="git not found"):
        open_repo(tmp_path)
    assert toplevel(tmp_path) is None


def test_git_too_old_names_both_versions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_version: None) -> None:
    _fake_git(tmp_path / "bin", "2.30.1")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    with pytest.raises(GitError, match=r"^git 2\.30\.1 is too old: worktrees need git 2\.38 or newer$"):
        require_git()


def test_git_new_enough_passes(fresh_version: None) -> None:
    require_git()
    version = gitmod.git_version()
    assert version is not None and version >= (2, 38)


def test_not_a_repository(tmp_path: Path) -> None:
    with pytest.raises(GitError, match=r"^not a git repository: .*workspace = \"root\"\)$"):
        open_repo(tmp_path)
    assert toplevel(tmp_path) is None


def test_bare_repository(tmp_path: Path) -> None:
    bare = tmp_path / "bare.git"
    subprocess.run(["git", "init", "--quiet", "--bare", str(bare)], check=True)
    with pytest.raises(GitError, match="is a bare git repository: worktrees need a work tree"):
        open_repo(bare)


def test_open_repo_from_a_subdirectory_finds_the_top(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"src/a.py": "x = 1\n"})
    assert open_repo(repo / "src").cwd == repo.resolve()
    assert toplevel(repo / "src") == repo.resolve()


def test_detached_head_is_refused_with_the_commit(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    head = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "--quiet", "--detach")
    with pytest.raises(GitError, match=rf"^HEAD is detached at {head[:12]} in .*: check out a branch first"):
        require_branch(Git(repo))


def test_branch_without_commit_is_refused(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "--quiet", "-b", "main")
    with pytest.raises(GitError, match="has no commit yet"):
        require_branch(Git(repo))


def test_inherited_git_variables_do_not_redirect(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A GIT_DIR / GIT_WORK_TREE / GIT_INDEX_FILE left in the environment (a hook, an agent) must not aim
    orchestra at another repository."""
    mine = make_repo(tmp_path / "mine", {"a.txt": "mine\n"})
    other = make_repo(tmp_path / "other", {"b.txt": "other\n"})
    monkeypatch.setenv("GIT_DIR", str(other / ".git"))
    monkeypatch.setenv("GIT_WORK_TREE", str(other))
    monkeypatch.setenv("GIT_INDEX_FILE", str(other / ".git" / "index"))
    assert Git(mine).run("ls-files") == "a.txt"
    assert open_repo(mine).cwd == mine.resolve()


def test_failure_is_one_line_naming_the_command(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    with pytest.raises(GitError) as caught:
        Git(repo).run("rev-parse", "--verify", "no-such-branch")
    assert str(caught.value).startswith("git rev-parse: fatal: ")
    assert "\n" not in str(caught.value)
    assert Git(repo).run_status("rev-parse", "--verify", "no-such-branch")[0] != 0
    assert Git(repo).rev("no-such-branch") is None
    assert Git(repo).rev("HEAD") == git(repo, "rev-parse", "HEAD")


def test_missing_directory_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(GitError, match=r"^no such directory: "):
        Git(tmp_path / "gone").run("status")


def test_commits_without_a_user_identity(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty.gitconfig"
    empty.write_text("")
    repo = make_repo(tmp_path / "repo")
    git(repo, "config", "--unset", "user.name")
    git(repo, "config", "--unset", "user.email")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(empty))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for name in ("EMAIL", "GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"):
        monkeypatch.delenv(name, raising=False)
    (repo / "new.txt").write_text("x\n")
    here = Git(repo)
    here.run("add", "new.txt")
    here.run("commit", "--quiet", "-m", "by orchestra")
    assert git(repo, "log", "-1", "--format=%an <%ae>") == "orchestra <orchestra@localhost>"


def test_a_user_identity_is_kept(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    (repo / "new.txt").write_text("x\n")
    Git(repo).run("add", "new.txt")
    Git(repo).run("commit", "--quiet", "-m", "by the person")
    assert git(repo, "log", "-1", "--format=%an <%ae>") == "Test Person <person@example.com>"


@pytest.mark.parametrize("text", ["TASK-1", "a:b", "x..y", "v1.lock", "my project", "é", "%", ".hidden", "a.b.c"])
def test_ref_components_are_valid_and_distinct(tmp_path: Path, text: str) -> None:
    repo = make_repo(tmp_path / "repo")
    branch = task_branch(text, text)
    assert subprocess.run(["git", "check-ref-format", "--branch", branch], cwd=repo).returncode == 0
    git(repo, "branch", branch)
    assert Git(repo).rev(branch) == git(repo, "rev-parse", "HEAD")


def test_ref_component_keeps_plain_ids() -> None:
    assert ref_component("DES-001") == "DES-001"
    assert ref_component("a:b") != ref_component("a%3Ab")
    assert task_branch("web", "T1") == "orchestra/web/tasks/T1"


def test_run_bytes_and_input(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    sha = Git(repo).run("hash-object", "-w", "--stdin", input=b"\x00\xffbinary")
    assert Git(repo).run_bytes("cat-file", "blob", sha) == b"\x00\xffbinary"
    assert commit(repo, {"b.txt": "b"}) == Git(repo).rev("HEAD")


def test_environment_has_no_redirects(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_DIR", "/elsewhere")
    env = gitmod.clean_env({"GIT_INDEX_FILE": "/tmp/index"})
    assert "GIT_DIR" not in env and env["GIT_INDEX_FILE"] == "/tmp/index" and env["LC_ALL"] == "C"
    assert os.environ["GIT_DIR"] == "/elsewhere"
