"""``orchestra land``: the integration branch brought into the user's checked-out branch (issue 11).

This is the only code that touches the user's checkout, and only when they ask. Invariants: a fast-forward by
default, a merge commit only with ``merge=True``; refused (nothing changed) when HEAD is detached, when the
merge would conflict, or when the user's uncommitted or untracked files include one the merge changes; never a
reset, stash, clean or forced checkout. The merge itself is git's own (``git merge``), after ``merge-tree``
has shown it is clean, so the user's unrelated local changes stay as they are.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import GitError, WorkspaceError, quoted
from .git import Git, require_branch

SHOWN = 5  # file names a refusal lists


@dataclass(frozen=True)
class Landing:
    """What ``land`` did: ``kind`` is ``fast-forward``, ``merge`` or ``up-to-date``; ``old``, ``new``: commits."""

    kind: str
    branch: str
    integration: str
    old: str
    new: str

    def to_dict(self) -> dict[str, str]:
        return {
            "kind": self.kind,
            "branch": self.branch,
            "integration": self.integration,
            "old": self.old,
            "new": self.new,
        }


def _names(git: Git, *args: str) -> set[str]:
    return {name for name in git.run(*args).split("\0") if name}


def _listed(names: set[str]) -> str:
    shown = ", ".join(sorted(names)[:SHOWN])
    return shown + (f" and {len(names) - SHOWN} more" if len(names) > SHOWN else "")


def local_changes(git: Git) -> set[str]:
    """Files with uncommitted changes in the user's checkout (staged, unstaged, untracked; both names of a rename)."""
    out = git.run("-c", "core.quotePath=false", "status", "--porcelain=v1", "-z", "--untracked-files=all")
    names: set[str] = set()
    fields = out.split("\0")
    index = 0
    while index < len(fields):
        field = fields[index]
        index += 1
        if len(field) < 4:
            continue
        names.add(field[3:])
        if field[0] in "RC":  # a rename's source follows
            names.add(fields[index])
            index += 1
    return names


def land(git: Git, integration: str, *, merge: bool = False) -> Landing:
    """Bring ``integration`` into the branch checked out in ``git``'s work tree."""
    branch = require_branch(git)
    target = git.rev(integration)
    if target is None:
        raise WorkspaceError(f"nothing to land: there is no branch {quoted(integration)} yet (no task has been merged)")
    head = git.rev("HEAD")
    assert head is not None  # require_branch checked
    if git.ok("merge-base", "--is-ancestor", target, head):
        return Landing("up-to-date", branch, integration, head, head)
    fast_forward = git.ok("merge-base", "--is-ancestor", head, target)
    if not fast_forward and not merge:
        raise WorkspaceError(
            f"cannot fast-forward {branch}: it has commits {integration} lacks; `orchestra land --merge` merges them"
        )
    base = head if fast_forward else git.run("merge-base", head, target)
    touched = _names(git, "-c", "core.quotePath=false", "diff", "--name-only", "-z", "--no-renames", base, target)
    if not fast_forward:
        _refuse_conflict(git, head, target)
    clash = touched & local_changes(git)
    if clash:
        raise WorkspaceError(
            f"refusing to land: your uncommitted changes touch {len(clash)} file{'s' * (len(clash) != 1)} the "
            f"{'merge' if merge else 'fast-forward'} changes ({_listed(clash)}); commit or stash them first"
        )
    if fast_forward:
        git.run("merge", "--quiet", "--ff-only", target)
    else:
        git.run("merge", "--quiet", "--no-ff", "--no-edit", "-m", f"Merge {integration} into {branch}", target)
    new = git.rev("HEAD") or target
    return Landing("fast-forward" if fast_forward else "merge", branch, integration, head, new)


def _refuse_conflict(git: Git, head: str, target: str) -> None:
    code, out = git.run_status("merge-tree", "--write-tree", "--name-only", "--no-messages", "-z", head, target)
    if code == 0:
        return
    if code != 1:
        raise GitError(f"git merge-tree: exited {code}")
    conflicted = {name for name in out.split("\0")[1:] if name}
    raise WorkspaceError(
        f"refusing to land: merging would conflict in {_listed(conflicted)}; merge by hand (`git merge {target[:12]}`)"
    )
