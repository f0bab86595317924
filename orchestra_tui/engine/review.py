"""A worktree task's code changes, for review (issue 11): what ``orchestra diff --task`` and the TUI's diff show.

The worktree is found from the task id (``workspace.worktrees.worktree_path``), never from a path in the state
(which may be someone else's). While it exists, the diff is of the worktree as it is now (uncommitted work and
new files included, read through a temporary index); once it is gone, of the task branch's recorded head.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import OrchestraError
from ..workspace import worktrees
from ..workspace.worktrees import Diff
from .integration import integration
from .project import Project


@dataclass(frozen=True)
class TaskDiff:
    """``head`` None: the worktree as it is now."""

    task_id: str
    branch: str
    base: str
    head: str | None
    diff: Diff

    @property
    def head_label(self) -> str:
        return self.head[:12] if self.head else "worktree"

    def to_dict(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "branch": self.branch,
            "base": self.base,
            "head": self.head,
            **self.diff.to_dict(),
        }


def task_diff(project: Project, task_id: str) -> TaskDiff:
    """The task's changes against the commit its last run started from."""
    record = project.task(task_id).worktree
    if record is None:
        raise OrchestraError(f"{task_id} has no worktree: it has not run, or it ran in the project root")
    git = integration(project).git()
    if git.rev(record.base) is None:
        raise OrchestraError(f"{task_id}'s base commit {record.base[:12]} is not in the repository")
    path = worktrees.worktree_path(project.root, task_id)
    if path.is_dir() and not path.is_symlink():
        return TaskDiff(task_id, record.branch, record.base, None, worktrees.diff_worktree(path, record.base))
    head = record.head or git.rev(f"refs/heads/{record.branch}")
    if head is None:
        raise OrchestraError(f"{task_id}'s branch {record.branch} is gone and its head was not recorded")
    return TaskDiff(task_id, record.branch, record.base, head, worktrees.diff(git, record.base, head))
