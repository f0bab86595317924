"""A git worktree per task (issue 11): made, furnished, committed, listed, removed, collected.

Layout: ``<root>/.orchestra/worktrees/<task-id>`` on branch ``orchestra/<project-id>/tasks/<task-id>``.

Invariants:
- only paths inside ``.orchestra/worktrees`` are ever created or removed, and never through a symlink
  (a symlinked ``worktrees`` directory is refused; copies open every directory with ``O_NOFOLLOW``);
- a branch is never deleted: removing a worktree keeps its branch and commits;
- the user's checkout is never touched (no checkout, reset, stash or clean there): every command runs in a
  task's worktree, or only reads the main one;
- the listing is ``git worktree list``'s, restricted to the worktrees directory, plus any directory there git
  does not know (an orphan), so ``orchestra worktrees`` and git never disagree;
- a worktree whose directory was deleted by hand is pruned (``git worktree prune``) before being made again.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import stat
import subprocess
import tempfile
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ..errors import GitError, WorkspaceError, quoted
from ..projectfiles import STATE_DIR
from .git import Git, ref_component

WORKTREES = Path(STATE_DIR) / "worktrees"
_NOFOLLOW_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
_SHA = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?")


@dataclass(frozen=True)
class Worktree:
    """A task's worktree as made by :func:`create`; ``base`` is the commit it started from."""

    task_id: str
    path: Path
    branch: str
    base: str


@dataclass(frozen=True)
class WorktreeInfo:
    """One worktree in the listing. ``registered``: git knows it; ``exists``: its directory is there (a
    registered one that is not was deleted by hand; a present one git does not know is an orphan)."""

    task_id: str
    path: Path
    branch: str | None
    head: str | None
    registered: bool
    exists: bool

    def to_dict(self) -> dict[str, object]:
        return {
            "task_id": self.task_id,
            "path": str(self.path),
            "branch": self.branch,
            "head": self.head,
            "registered": self.registered,
            "exists": self.exists,
        }


@dataclass(frozen=True)
class FileChange:
    """One file in a diff: lines added and deleted (0 and 0 for a binary file), ``old_path`` when renamed."""

    path: str
    added: int
    deleted: int
    binary: bool = False
    old_path: str | None = None


@dataclass(frozen=True)
class Diff:
    """A task's changes against its base: the files (numstat) and the whole patch (text, undecodable bytes replaced)."""

    files: list[FileChange]
    patch: str

    @property
    def added(self) -> int:
        return sum(change.added for change in self.files)

    @property
    def deleted(self) -> int:
        return sum(change.deleted for change in self.files)

    def to_dict(self) -> dict[str, object]:
        return {
            "files": [vars(change) for change in self.files],
            "added": self.added,
            "deleted": self.deleted,
            "patch": self.patch,
        }


# ------------------------------------------------------------------------------------------ names


def worktrees_dir(root: Path) -> Path:
    return Path(root) / WORKTREES


def worktree_path(root: Path, task_id: str) -> Path:
    """Where the task's worktree lives. A task id is one path component (the plan's id pattern)."""
    if not task_id or "/" in task_id or task_id in (".", ".."):
        raise WorkspaceError(f"task id {quoted(task_id)} cannot name a worktree")
    return worktrees_dir(root) / task_id


def task_branch(project_id: str, task_id: str) -> str:
    """The task's branch: ``orchestra/<project-id>/tasks/<task-id>``, each part made a valid ref component."""
    return f"orchestra/{ref_component(project_id)}/tasks/{ref_component(task_id)}"


def _safe_dir(root: Path) -> Path:
    """The worktrees directory, made if missing; refused when it (or ``.orchestra``) is a symlink or not a directory."""
    state = Path(root) / STATE_DIR
    folder = worktrees_dir(root)
    for path in (state, folder):
        try:
            mode = path.lstat().st_mode
        except FileNotFoundError:
            path.mkdir(mode=0o700)
            continue
        if not stat.S_ISDIR(mode):
            raise WorkspaceError(
                f"{path} is not a directory{' (a symlink)' if stat.S_ISLNK(mode) else ''}: refusing to use it"
            )
    return folder


# ------------------------------------------------------------------------------------------ create


def create(
    git: Git,
    root: Path,
    project_id: str,
    task_id: str,
    base: str,
    *,
    include: Sequence[str] = (),
    setup: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    log: Path | None = None,
) -> Worktree:
    """A fresh worktree for the task on its branch, reset to ``base``, with ``include`` files copied and the
    ``setup`` commands run (output appended to ``log``). A previous worktree of the task is replaced; its
    branch's old commits stay reachable (reflog). A failed setup raises ``WorkspaceError`` and keeps the worktree."""
    worktree = add(git, root, project_id, task_id, base)
    copy_included(git, worktree.path, include)
    for command in setup:
        run_setup(worktree.path, command, env, log)
    return worktree


async def create_async(
    git: Git,
    root: Path,
    project_id: str,
    task_id: str,
    base: str,
    *,
    include: Sequence[str] = (),
    setup: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    log: Path | None = None,
) -> Worktree:
    """:func:`create` for an event loop: git's part in a worker thread, the setup commands as cancellable
    subprocesses (cancelling kills a command's whole process group)."""
    worktree = await asyncio.to_thread(add, git, root, project_id, task_id, base)
    await asyncio.to_thread(copy_included, git, worktree.path, include)
    for command in setup:
        await _run_setup_async(worktree.path, command, env, log)
    return worktree


def add(git: Git, root: Path, project_id: str, task_id: str, base: str) -> Worktree:
    """The worktree itself (``git worktree add -B``), replacing a previous one of the task."""
    _safe_dir(root)
    path = worktree_path(root, task_id)
    branch = task_branch(project_id, task_id)
    commit = base if _SHA.fullmatch(base) else git.rev(base)
    if commit is None:
        raise GitError(f"no commit {quoted(base)} to start task {task_id}'s worktree from")
    if os.path.lexists(path):
        remove(git, root, task_id)
    arguments = ("worktree", "add", "--quiet", "--no-track", "-B", branch, str(path), commit)
    code, _ = git.run_status(*arguments)
    if code != 0:  # registered but deleted by hand, or the branch still checked out there: prune, then once more
        git.run("worktree", "prune")
        git.run(*arguments)
    return Worktree(task_id=task_id, path=path, branch=branch, base=commit)


# ------------------------------------------------------------------------------------------ include


def included_files(git: Git, patterns: Sequence[str]) -> tuple[Path, list[str]]:
    """The work tree's top and its untracked files (paths from the top) matching the gitignore-syntax
    ``patterns`` (git's own matcher, ``.worktreeinclude`` semantics), none inside a ``.orchestra`` folder."""
    patterns = [pattern for pattern in patterns if pattern.strip() and not pattern.lstrip().startswith("#")]
    if not patterns:
        return Path(git.cwd), []
    top = Path(git.run("rev-parse", "--show-toplevel"))
    excludes = [f"--exclude={pattern}" for pattern in patterns]
    out = Git(top).run_bytes("ls-files", "-z", "--others", "--ignored", *excludes)
    names = [name.decode("utf-8", "surrogateescape") for name in out.split(b"\0") if name]
    return top, [name for name in names if STATE_DIR not in name.split("/")]


def copy_included(git: Git, destination: Path, patterns: Sequence[str]) -> list[str]:
    """Copy :func:`included_files` into ``destination`` (a worktree of the same repository, laid out like its
    top); symlinks are skipped and nothing is written through one, in the source or the destination. Returns
    the paths copied."""
    top, names = included_files(git, patterns)
    return [name for name in names if _copy_file(top, Path(destination), name)]


def _open_parents(top: Path, parts: Sequence[str], make: bool) -> int | None:
    """A descriptor of ``top/parts...`` reached without following a symlink (made when ``make``); None if not there."""
    fd = os.open(top, _NOFOLLOW_DIR)
    try:
        for part in parts:
            if make:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o755, dir_fd=fd)
            try:
                child = os.open(part, _NOFOLLOW_DIR, dir_fd=fd)
            except (FileNotFoundError, NotADirectoryError, OSError):
                os.close(fd)
                return None
            os.close(fd)
            fd = child
        return fd
    except BaseException:
        os.close(fd)
        raise


def _copy_file(root: Path, destination: Path, name: str) -> bool:
    *parents, leaf = name.split("/")
    if any(part in ("", ".", "..") for part in [*parents, leaf]):
        return False
    source_dir = _open_parents(root, parents, make=False)
    if source_dir is None:
        return False
    try:
        try:
            source = os.open(leaf, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=source_dir)
        except OSError:  # a symlink (ELOOP) or gone
            return False
        with os.fdopen(source, "rb") as reader:
            info = os.fstat(reader.fileno())
            if not stat.S_ISREG(info.st_mode):
                return False
            target_dir = _open_parents(destination, parents, make=True)
            if target_dir is None:
                return False
            try:
                flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
                target = os.open(leaf, flags, stat.S_IMODE(info.st_mode), dir_fd=target_dir)
            except OSError:
                return False
            finally:
                os.close(target_dir)
            with os.fdopen(target, "wb") as writer:
                shutil.copyfileobj(reader, writer, 1024 * 1024)
        return True
    finally:
        os.close(source_dir)


# ------------------------------------------------------------------------------------------ setup


def _setup_failed(command: str, code: int) -> WorkspaceError:
    how = f"was killed by signal {-code}" if code < 0 else f"exited {code}"
    return WorkspaceError(f"worktree setup failed: `{command}` {how} (its output is in the run's log)")


def _log_file(log: Path | None) -> BinaryIO:
    return open(log, "ab") if log is not None else open(os.devnull, "wb")


def run_setup(path: Path, command: str, env: Mapping[str, str] | None, log: Path | None) -> None:
    """Run one setup command in ``path`` (output appended to ``log``); ``WorkspaceError`` when it fails."""
    with _log_file(log) as out:
        out.write(f"$ {command}\n".encode())
        out.flush()
        result = subprocess.run(
            command,
            shell=True,
            cwd=path,
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if result.returncode != 0:
        raise _setup_failed(command, result.returncode)


async def _run_setup_async(path: Path, command: str, env: Mapping[str, str] | None, log: Path | None) -> None:
    with _log_file(log) as out:
        out.write(f"$ {command}\n".encode())
        out.flush()
        process = await asyncio.create_subprocess_shell(
            command,
            cwd=path,
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            code = await process.wait()
        except asyncio.CancelledError:
            _kill_group(process.pid)
            await asyncio.shield(process.wait())
            raise
    if code != 0:
        raise _setup_failed(command, code)


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


# ------------------------------------------------------------------------------------------ commit


def commit_all(path: Path, message: str) -> str:
    """Commit everything changed in the worktree at ``path`` (new, changed and deleted files, whatever their
    names or sizes) on its branch, unless nothing changed; hooks and signing are skipped (nobody is there to
    answer them). Returns the branch's head commit."""
    here = Git(path)
    here.run("add", "--all")
    if here.run_status("diff", "--cached", "--quiet")[0] != 0:
        here.run(
            "-c",
            "commit.gpgsign=false",
            "commit",
            "--quiet",
            "--no-verify",
            "--allow-empty-message",
            "-F",
            "-",
            input=message.encode(),
        )
    head = here.rev("HEAD")
    if head is None:
        raise GitError(f"git rev-parse: no commit in {path}")
    return head


# ------------------------------------------------------------------------------------------ remove, list, gc


def remove(git: Git, root: Path, task_id: str) -> bool:
    """Remove the task's worktree (its branch stays); True when there was one to remove."""
    path = worktree_path(root, task_id)
    registered = _registered(git, root)
    known = path.resolve() in registered or path in registered
    if known:
        code, _ = git.run_status("worktree", "remove", "--force", "--force", str(path))
        if code == 0:
            return True
    removed = _remove_dir(root, path)
    if known or removed:
        git.run("worktree", "prune")
    return known or removed


def _remove_dir(root: Path, path: Path) -> bool:
    """Delete a directory left in the worktrees folder (never through a symlink: a link is unlinked)."""
    if not os.path.lexists(path):
        return False
    if path.parent.resolve() != worktrees_dir(root).resolve():
        raise WorkspaceError(f"{path} is not in {worktrees_dir(root)}: refusing to remove it")
    if path.is_symlink() or not path.is_dir():
        path.unlink()
    else:
        shutil.rmtree(path)
    return True


def _parse_worktree_list(text: str) -> list[dict[str, str]]:
    records: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for field in text.split("\0"):
        if not field:
            if current:
                records.append(current)
            current = {}
            continue
        key, _, value = field.partition(" ")
        current[key] = value
    if current:
        records.append(current)
    return records


def _registered(git: Git, root: Path) -> dict[Path, dict[str, str]]:
    """git's worktrees inside the worktrees directory, by (resolved) path."""
    folder = worktrees_dir(root).resolve()
    out = git.run("worktree", "list", "--porcelain", "-z")
    found = {}
    for record in _parse_worktree_list(out):
        path = Path(record.get("worktree", ""))
        if path.parent == folder or path.parent.resolve() == folder:
            found[path] = record
    return found


def listing(git: Git, root: Path) -> list[WorktreeInfo]:
    """Every worktree in ``.orchestra/worktrees`` git knows, plus directories there it does not (orphans)."""
    folder = worktrees_dir(root)
    infos: dict[str, WorktreeInfo] = {}
    for path, record in _registered(git, root).items():
        branch = record.get("branch")
        infos[path.name] = WorktreeInfo(
            task_id=path.name,
            path=folder / path.name,
            branch=branch.removeprefix("refs/heads/") if branch else None,
            head=record.get("HEAD"),
            registered=True,
            exists=os.path.lexists(folder / path.name),
        )
    if folder.is_dir() and not folder.is_symlink():
        for entry in os.scandir(folder):
            if entry.name not in infos:
                infos[entry.name] = WorktreeInfo(entry.name, folder / entry.name, None, None, False, True)
    return sorted(infos.values(), key=lambda info: info.task_id)


def prune(git: Git) -> None:
    """Forget worktrees whose directories are gone (``git worktree prune``)."""
    git.run("worktree", "prune")


def collectable(infos: Iterable[WorktreeInfo], keep: Collection[str]) -> list[WorktreeInfo]:
    """What :func:`gc` removes: worktrees of tasks not in ``keep``, orphan directories, and registrations whose
    directory is gone."""
    return [info for info in infos if info.task_id not in keep or not info.registered or not info.exists]


def gc(git: Git, root: Path, keep: Collection[str], dry_run: bool = False) -> list[WorktreeInfo]:
    """Remove what :func:`collectable` names (only say it with ``dry_run``); branches always stay."""
    doomed = collectable(listing(git, root), keep)
    if not dry_run:
        for info in doomed:
            remove(git, root, info.task_id)
        prune(git)
    return doomed


# ------------------------------------------------------------------------------------------ diff


def _numstat(out: bytes) -> list[FileChange]:
    """``git diff --numstat -z`` (renames as ``A\\tD\\t\\0old\\0new\\0``)."""
    fields = out.split(b"\0")
    changes = []
    index = 0
    while index < len(fields) and fields[index]:
        added, deleted, name = fields[index].split(b"\t", 2)
        index += 1
        old = None
        if not name:
            old, name = fields[index], fields[index + 1]
            index += 2
        binary = added == b"-"
        changes.append(
            FileChange(
                path=name.decode("utf-8", "replace"),
                added=0 if binary else int(added),
                deleted=0 if binary else int(deleted),
                binary=binary,
                old_path=old.decode("utf-8", "replace") if old is not None else None,
            )
        )
    return changes


def diff(git: Git, base: str, head: str | None, *, env: Mapping[str, str] | None = None) -> Diff:
    """What changed from ``base`` to ``head``; ``head`` None: to the index (the one ``env`` names)."""
    span = [base, head] if head is not None else ["--cached", base]
    options = ("-c", "core.quotePath=false", "diff", "--no-color", "--no-ext-diff", "--find-renames")
    files = _numstat(git.run_bytes(*options, "--numstat", "-z", *span, env=env))
    patch = git.run_bytes(*options, *span, env=env).decode("utf-8", "replace")
    return Diff(files=files, patch=patch)


def diff_worktree(path: Path, base: str) -> Diff:
    """The worktree's changes against ``base``, committed or not (untracked files included), read through a
    temporary index so the worktree's own index is untouched."""
    here = Git(path)
    with tempfile.TemporaryDirectory(prefix="orchestra-index-") as scratch:
        env = {"GIT_INDEX_FILE": str(Path(scratch) / "index")}
        here.run("read-tree", "HEAD", env=env)
        here.run("add", "--all", env=env)
        return diff(here, base, None, env=env)
