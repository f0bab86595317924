"""The merge queue: completed tasks' branches land on the integration branch one at a time, across processes.

Invariants:
- the user's checkout is never touched: a merge is computed in git's object store (``merge-tree --write-tree``),
  its commit made with ``commit-tree`` and the branch moved with ``update-ref NEW EXPECTED-OLD``, so no working
  tree, index or checked-out branch changes; an integration branch checked out anywhere is refused;
- the branch only ever moves from the value the caller expects: one that someone else moved is refused with a
  one-line reason (never forced);
- one commit per task: a ``--no-ff`` merge (first parent the old tip, second the task's head) or, with
  ``squash``, a single-parent commit of the merged tree; its message names the task;
- everything is serialised by an exclusive lock on ``.orchestra/merge.lock`` (held while a merge or a move is
  computed, landed and recorded by the caller); the kernel drops it when its holder dies.

Plain ``git`` subprocesses through :class:`.git.Git` (no GitPython: three plumbing commands say it all).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import filelock

from ..display import one_line
from ..errors import GitError, IntegrationMovedError, OrchestraError
from .git import Git

LOCK_FILE = "merge.lock"
LOCK_MODE = 0o600
TASK_TRAILER = "Orchestra-Task"


@dataclass(frozen=True)
class MergeTree:
    """What merging a task's head into the tip would give: the tree, and the files in conflict (empty: clean)."""

    tree: str
    conflicts: list[str]


class MergeQueue:
    """The integration branch ``branch`` of the repository ``git`` works in; ``state_dir`` holds the lock."""

    def __init__(self, git: Git, state_dir: Path, branch: str, *, squash: bool = False, lock_timeout: float = 120.0):
        self.git = git
        self.branch = branch
        self.ref = f"refs/heads/{branch}"
        self.squash = squash
        self._lock = filelock.FileLock(str(state_dir / LOCK_FILE), timeout=lock_timeout, mode=LOCK_MODE)

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the queue (reentrant within this process)."""
        try:
            self._lock.acquire()
        except filelock.Timeout:
            raise OrchestraError(
                f"the merge queue is busy: another process held {LOCK_FILE} for {self._lock.timeout:.0f} s"
            ) from None
        try:
            yield
        finally:
            self._lock.release()

    def tip(self) -> str | None:
        """The branch's commit, or None when it does not exist yet."""
        return self.git.rev(self.ref)

    def create(self, start: str) -> str:
        """Create the branch at ``start`` (refused if it appeared meanwhile); returns ``start``."""
        self._update(start, "", f"orchestra: integration branch created at {start[:12]}")
        return start

    def merge_tree(self, tip: str, head: str) -> MergeTree:
        """Merge ``head`` into ``tip`` in the object store only."""
        code, out = self.git.run_status("merge-tree", "--write-tree", "--name-only", "--no-messages", "-z", tip, head)
        if code not in (0, 1):
            raise GitError(f"git merge-tree failed (exit {code}) merging {head[:12]} into {self.branch}")
        tree, *files = out.split("\0")
        return MergeTree(tree, sorted({name for name in files if name}) if code == 1 else [])

    def commit(self, tree: str, tip: str, head: str, task_id: str, title: str) -> str:
        """The task's one commit on top of ``tip`` (not yet on the branch)."""
        parents = ["-p", tip] if self.squash else ["-p", tip, "-p", head]
        verb = "Squash" if self.squash else "Merge"
        message = f"{verb} task {task_id}: {one_line(title)}\n\n{TASK_TRAILER}: {task_id}\n"
        return self.git.run("commit-tree", tree, *parents, "-F", "-", input=message.encode())

    def move(self, new: str, expected: str, why: str) -> None:
        """Move the branch from ``expected`` to ``new`` (a merge landing, a rollback, an undo)."""
        self._refuse_checked_out()
        self._update(new, expected, f"orchestra: {one_line(why)}")

    def _update(self, new: str, expected: str, message: str) -> None:
        code, _ = self.git.run_status("update-ref", "-m", message, self.ref, new, expected)
        if code != 0:
            now = self.tip()
            raise IntegrationMovedError(
                f"integration branch {self.branch} is at {now[:12] if now else 'nothing'}, not at "
                f"{expected[:12] or 'nothing'} as orchestra left it: someone else moved it; nothing was changed "
                "(orchestra never forces it)"
            )

    def _refuse_checked_out(self) -> None:
        listing = self.git.run("worktree", "list", "--porcelain", "-z")
        for field in listing.split("\0"):
            if field == f"branch {self.ref}":
                raise OrchestraError(
                    f"integration branch {self.branch} is checked out in a working tree; orchestra never moves a "
                    "checked-out branch (check out another branch there)"
                )
