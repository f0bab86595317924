"""A worktree per task, against real repositories and the real ``git``: create, include, setup, commit,
remove, list, gc, recovery and diff, with the issue's bad inputs (binary, 100 MB, spaces and unicode,
a task deleting every file, a worktree deleted by hand, symlinks pointing out)."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from pathlib import Path

import pytest

from orchestra_tui.errors import GitError, WorkspaceError
from orchestra_tui.workspace import worktrees as wt
from orchestra_tui.workspace.git import Git
from tests.helpers.gitrepo import commit, git, make_repo, worktree_paths


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = make_repo(tmp_path / "repo", {"README.md": "hello\n", "src/app.py": "print('hi')\n", ".gitignore": ".env\n"})
    (root / ".orchestra").mkdir(mode=0o700)
    return root


def _head(root: Path) -> str:
    return git(root, "rev-parse", "HEAD")


def test_create_makes_the_task_branch_at_the_base(repo: Path) -> None:
    base = _head(repo)
    made = wt.create(Git(repo), repo, "proj", "T-1", "main")
    assert made.path == repo / ".orchestra" / "worktrees" / "T-1"
    assert made.branch == "orchestra/proj/tasks/T-1" and made.base == base
    assert (made.path / "src" / "app.py").read_text() == "print('hi')\n"
    assert git(made.path, "symbolic-ref", "--short", "HEAD") == made.branch
    assert git(repo, "rev-parse", made.branch) == base
    assert worktree_paths(repo) == {made.path.resolve()}
    assert git(repo, "symbolic-ref", "--short", "HEAD") == "main"  # the user's checkout stays where it was


def test_a_dependant_starts_from_its_dependencies_work(repo: Path) -> None:
    first = wt.create(Git(repo), repo, "proj", "A", "main")
    (first.path / "from_a.txt").write_text("a's work\n")
    head = wt.commit_all(first.path, "A: first")
    second = wt.create(Git(repo), repo, "proj", "B", head)
    assert (second.path / "from_a.txt").read_text() == "a's work\n"


def test_recreating_resets_the_branch_to_the_new_base(repo: Path) -> None:
    first = wt.create(Git(repo), repo, "proj", "T", "main")
    (first.path / "draft.txt").write_text("uncommitted\n")
    wt.commit_all(first.path, "T: attempt 1")
    newer = commit(repo, {"later.txt": "later\n"})
    again = wt.create(Git(repo), repo, "proj", "T", newer)
    assert again.base == newer and git(again.path, "rev-parse", "HEAD") == newer
    assert not (again.path / "draft.txt").exists() and (again.path / "later.txt").exists()


def test_unknown_base_is_one_line(repo: Path) -> None:
    with pytest.raises(GitError, match=r"^no commit 'nope' to start task T's worktree from$"):
        wt.create(Git(repo), repo, "proj", "T", "nope")


def test_ids_with_colons_and_dots_get_valid_branches(repo: Path) -> None:
    made = wt.create(Git(repo), repo, "my project", "api:v1.lock", "main")
    assert made.path.name == "api:v1.lock"
    assert git(made.path, "symbolic-ref", "--short", "HEAD") == made.branch


def test_a_symlinked_worktrees_directory_is_refused(repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (repo / ".orchestra" / "worktrees").symlink_to(outside)
    with pytest.raises(WorkspaceError, match="is not a directory \\(a symlink\\): refusing"):
        wt.create(Git(repo), repo, "proj", "T", "main")
    assert list(outside.iterdir()) == []


# ------------------------------------------------------------------------------------------ include


def test_included_files_are_copied(repo: Path) -> None:
    (repo / ".env").write_text("SECRET=1\n")
    (repo / "config" / "local").mkdir(parents=True)
    (repo / "config" / "local" / "dev.json").write_text("{}\n")
    (repo / "config" / "local" / "skip.json").write_text("{}\n")
    (repo / "notes.txt").write_text("not asked for\n")
    (repo / ".orchestra" / "secret.json").write_text("{}\n")
    script = repo / "run.sh"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    made = wt.create(
        Git(repo), repo, "p", "T", "main", include=[".env", "config/local/*.json", "!skip.json", "*.sh", "# comment"]
    )
    assert (made.path / ".env").read_text() == "SECRET=1\n"
    assert (made.path / "config" / "local" / "dev.json").exists()
    assert not (made.path / "config" / "local" / "skip.json").exists()
    assert not (made.path / "notes.txt").exists()
    assert not (made.path / ".orchestra").exists()
    assert os.access(made.path / "run.sh", os.X_OK)


def test_include_in_a_project_below_the_top_of_the_repository(tmp_path: Path) -> None:
    """The project may live in a folder of the repository: the worktree holds the whole repository, and an
    included file lands where it is in the main tree."""
    top = make_repo(tmp_path / "top", {"app/main.py": "x\n", ".gitignore": ".env\n"})
    root = top / "app"
    (root / ".orchestra").mkdir(mode=0o700)
    (root / ".env").write_text("APP=1\n")
    (root / ".orchestra" / "x.env").write_text("no\n")
    made = wt.create(Git(top), root, "p", "T", "main", include=["*.env"])
    assert made.path == root / ".orchestra" / "worktrees" / "T"
    assert (made.path / "app" / ".env").read_text() == "APP=1\n"
    assert not (made.path / "app" / ".orchestra").exists()


def test_include_never_follows_a_symlink(repo: Path, tmp_path: Path) -> None:
    """A symlink in the source is not copied (nor what it points to); a tracked symlinked directory in the
    worktree does not carry a copy outside."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "private.key").write_text("private\n")
    (repo / "link.env").symlink_to(outside / "private.key")
    (repo / "out").symlink_to(outside)
    git(repo, "add", "out")
    git(repo, "commit", "--quiet", "-m", "a tracked symlinked directory")
    (repo / "out").unlink()
    (repo / "out").mkdir()
    (repo / "out" / "local.env").write_text("local\n")
    made = wt.create(Git(repo), repo, "p", "T", "main", include=["*.env"])
    assert not os.path.lexists(made.path / "link.env")
    assert (made.path / "out").is_symlink()
    assert sorted(p.name for p in outside.iterdir()) == ["private.key"]


# ------------------------------------------------------------------------------------------ setup


def test_setup_runs_in_the_worktree_with_output_in_the_log(repo: Path, tmp_path: Path) -> None:
    log = tmp_path / "setup.log"
    made = wt.create(
        Git(repo),
        repo,
        "p",
        "T",
        "main",
        setup=["pwd", "echo made > built.txt", "echo $GREETING"],
        env={**os.environ, "GREETING": "hello from setup"},
        log=log,
    )
    text = log.read_text()
    assert f"$ pwd\n{made.path.resolve()}\n" in text or f"$ pwd\n{made.path}\n" in text
    assert "hello from setup" in text
    assert (made.path / "built.txt").read_text() == "made\n"
    assert not (repo / "built.txt").exists()


def test_failed_setup_fails_with_the_reason_and_keeps_the_worktree(repo: Path, tmp_path: Path) -> None:
    log = tmp_path / "setup.log"
    with pytest.raises(WorkspaceError, match=r"^worktree setup failed: `echo broken >&2; exit 3` exited 3 "):
        wt.create(Git(repo), repo, "p", "T", "main", setup=["echo broken >&2; exit 3", "touch never"], log=log)
    assert "broken" in log.read_text()
    assert (wt.worktree_path(repo, "T") / "README.md").exists()
    assert not (wt.worktree_path(repo, "T") / "never").exists()


async def test_async_setup_fails_and_cancels(repo: Path, tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match="exited 1"):
        await wt.create_async(Git(repo), repo, "p", "A", "main", setup=["false"])
    marker = tmp_path / "pid"
    task = asyncio.create_task(
        wt.create_async(Git(repo), repo, "p", "B", "main", setup=[f"sleep 30 & echo $! > {marker}; wait"])
    )
    deadline = time.monotonic() + 20
    while not marker.exists() or not marker.read_text().strip():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    sleeper = int(marker.read_text())
    deadline = time.monotonic() + 10
    while _alive(sleeper):  # the setup's whole process group is killed, its children too
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


# ------------------------------------------------------------------------------------------ commit


def test_nothing_changed_makes_no_commit(repo: Path) -> None:
    made = wt.create(Git(repo), repo, "p", "T", "main")
    assert wt.commit_all(made.path, "T: nothing") == made.base


def test_commit_names_the_task_and_takes_everything(repo: Path) -> None:
    made = wt.create(Git(repo), repo, "p", "T", "main")
    files = {
        "with spaces/a file.txt": "spaces\n",
        "unicodé/日本語.md": "unicode\n",
        "image.bin": bytes(range(256)) * 40,
        "-dash.txt": "leading dash\n",
    }
    for name, content in files.items():
        target = made.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content if isinstance(content, bytes) else content.encode())
    (made.path / "src" / "app.py").unlink()
    head = wt.commit_all(made.path, "T: Build the thing\n\norchestra task T")
    assert head != made.base
    assert git(repo, "log", "-1", "--format=%s", made.branch) == "T: Build the thing"
    names = set(git(repo, "ls-tree", "-r", "-z", "--name-only", made.branch).split("\0")) - {""}
    assert names == {"README.md", ".gitignore", *files}
    assert git(made.path, "status", "--porcelain") == ""


def test_a_task_that_deletes_every_file(repo: Path) -> None:
    made = wt.create(Git(repo), repo, "p", "T", "main")
    for name in git(made.path, "ls-files", "-z").split("\0"):
        if name:
            (made.path / name).unlink()
    head = wt.commit_all(made.path, "T: delete everything")
    assert git(repo, "ls-tree", "-r", head) == ""
    change = wt.diff(Git(repo), made.base, head)
    assert {f.path for f in change.files} == {"README.md", "src/app.py", ".gitignore"}
    assert change.added == 0 and change.deleted == 3
    assert (repo / "README.md").read_text() == "hello\n"  # the user's files are untouched


@pytest.mark.slow
def test_a_100_mb_file(repo: Path) -> None:
    made = wt.create(Git(repo), repo, "p", "T", "main")
    block = os.urandom(1024 * 1024)
    with open(made.path / "big.dat", "wb") as handle:
        for _ in range(100):
            handle.write(block)
    head = wt.commit_all(made.path, "T: a big file")
    assert int(git(repo, "cat-file", "-s", f"{head}:big.dat")) == 100 * 1024 * 1024
    change = wt.diff(Git(repo), made.base, head)
    assert change.files[0].binary and "Binary files" in change.patch


# ------------------------------------------------------------------------------------------ remove, list, gc


def test_remove_keeps_the_branch(repo: Path) -> None:
    made = wt.create(Git(repo), repo, "p", "T", "main")
    (made.path / "work.txt").write_text("work\n")
    head = wt.commit_all(made.path, "T: work")
    assert wt.remove(Git(repo), repo, "T") is True
    assert not made.path.exists() and worktree_paths(repo) == set()
    assert git(repo, "rev-parse", made.branch) == head
    assert wt.remove(Git(repo), repo, "T") is False


def test_a_worktree_deleted_by_hand_is_found_and_made_again(repo: Path) -> None:
    made = wt.create(Git(repo), repo, "p", "T", "main")
    shutil.rmtree(made.path)
    [info] = wt.listing(Git(repo), repo)
    assert info.registered and not info.exists and info.task_id == "T"
    again = wt.create(Git(repo), repo, "p", "T", "main")
    assert (again.path / "README.md").exists()
    assert worktree_paths(repo) == {again.path.resolve()}


def test_listing_agrees_with_git_and_finds_orphans(repo: Path) -> None:
    for task in ("A", "B", "C"):
        wt.create(Git(repo), repo, "p", task, "main")
    (wt.worktrees_dir(repo) / "stray").mkdir()
    infos = wt.listing(Git(repo), repo)
    assert [(i.task_id, i.registered, i.exists) for i in infos] == [
        ("A", True, True),
        ("B", True, True),
        ("C", True, True),
        ("stray", False, True),
    ]
    assert {i.path.resolve() for i in infos if i.registered} == worktree_paths(repo)
    assert infos[0].branch == "orchestra/p/tasks/A" and infos[0].head == _head(repo)
    assert infos[0].to_dict()["branch"] == "orchestra/p/tasks/A"


def test_gc_dry_run_says_and_gc_removes_but_keeps_branches(repo: Path) -> None:
    for task in ("keep", "merged", "gone"):
        wt.create(Git(repo), repo, "p", task, "main")
    shutil.rmtree(wt.worktree_path(repo, "gone"))
    (wt.worktrees_dir(repo) / "orphan").mkdir()
    (wt.worktrees_dir(repo) / "orphan" / "file").write_text("x")
    would = wt.gc(Git(repo), repo, keep={"keep", "gone"}, dry_run=True)
    assert sorted(i.task_id for i in would) == ["gone", "merged", "orphan"]
    assert len(wt.listing(Git(repo), repo)) == 4  # nothing removed by a dry run
    done = wt.gc(Git(repo), repo, keep={"keep", "gone"})
    assert [i.task_id for i in done] == [i.task_id for i in would]
    assert [i.task_id for i in wt.listing(Git(repo), repo)] == ["keep"]
    assert worktree_paths(repo) == {wt.worktree_path(repo, "keep").resolve()}
    for task in ("keep", "merged", "gone"):
        assert git(repo, "rev-parse", "--verify", f"orchestra/p/tasks/{task}")
    assert wt.gc(Git(repo), repo, keep={"keep"}) == []


def test_remove_never_follows_a_symlink_out(repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "data").write_text("keep me\n")
    wt.worktrees_dir(repo).mkdir()
    (wt.worktrees_dir(repo) / "T").symlink_to(outside)
    assert [i.task_id for i in wt.gc(Git(repo), repo, keep=set())] == ["T"]
    assert (outside / "data").read_text() == "keep me\n"
    assert not os.path.lexists(wt.worktrees_dir(repo) / "T")


# ------------------------------------------------------------------------------------------ diff


def test_diff_has_the_stat_and_the_patch(repo: Path) -> None:
    made = wt.create(Git(repo), repo, "p", "T", "main")
    (made.path / "src" / "app.py").write_text("print('hello')\nprint('again')\n")
    (made.path / "new file é.txt").write_text("new\n")
    (made.path / "blob.bin").write_bytes(b"\x00\x01\x02" * 100)
    git(made.path, "mv", "README.md", "READ_ME.md")
    head = wt.commit_all(made.path, "T: changes")
    change = wt.diff(Git(repo), made.base, head)
    by_path = {f.path: f for f in change.files}
    assert (by_path["src/app.py"].added, by_path["src/app.py"].deleted) == (2, 1)
    assert by_path["new file é.txt"].added == 1
    assert by_path["blob.bin"].binary
    assert by_path["READ_ME.md"].old_path == "README.md"
    assert "+print('again')" in change.patch and "new file é.txt" in change.patch
    assert change.to_dict()["added"] == change.added


def test_diff_of_a_worktree_includes_uncommitted_work_and_leaves_its_index(repo: Path) -> None:
    made = wt.create(Git(repo), repo, "p", "T", "main")
    (made.path / "untracked.txt").write_text("new\n")
    (made.path / "README.md").write_text("changed\n")
    change = wt.diff_worktree(made.path, made.base)
    assert {f.path for f in change.files} == {"untracked.txt", "README.md"}
    assert git(made.path, "status", "--porcelain") == " M README.md\n?? untracked.txt"
