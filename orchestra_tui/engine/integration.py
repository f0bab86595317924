"""Worktree tasks in the engine (issue 11): which tasks get a worktree, the integration branch, and landing a
completed task's branch on it through the merge queue (:mod:`..workspace.merge`), or taking merges back.

Invariants:
- the integration branch's tip as orchestra left it is in the project's meta (``integration_head``), changed only
  in the history entry that moved it: a completion records its merge (``extra["merge"]``), a rollback or undo the
  move; so rolling back past a merge moves the branch back, and undoing that moves it forward again (the task
  branches and merge commits stay; nothing is deleted);
- every move happens under the queue's lock, from the recorded tip (a branch someone else moved is refused),
  with an intent file (``.orchestra/merge.intent``) written first and removed once the entry is committed: after
  a crash in between, the next holder of the queue finds the entry (landed and recorded) or moves the branch back
  (not landed; the task is still in review);
- a conflict completes nothing: the task stays in review with ``worktree.conflict_files`` recorded;
- lock order: the merge queue, then the store.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import (
    IntegrationMovedError,
    MergeConflictError,
    OrchestraError,
    RunBusyError,
    TransitionError,
    quoted,
)
from ..models import AgentTask, AgentType, WorktreeRecord
from ..store import Entry, Mutation, fsio
from ..store.changes import Change, MetaChange, Record, diff_meta, diff_record
from ..workspace import worktrees
from ..workspace.git import Git, open_repo, ref_component, require_branch, toplevel
from ..workspace.merge import MergeQueue
from . import transitions

if TYPE_CHECKING:
    from ..graph import TaskGraph
    from ..plan import Plan
    from ..store import Store


class Project(Protocol):
    """What this module uses of ``project.Project`` (which uses this module: no import back)."""

    root: Path
    plan: Plan
    store: Store

    @property
    def graph(self) -> TaskGraph: ...
    def refresh(self) -> bool: ...
    def agent_of(self, task: AgentTask) -> str: ...
    def _record(self, task_id: str) -> Record: ...
    def _commit(self, compute: Callable[[], Mutation | None], expect_seq: int | None = None) -> Entry | None: ...


INTENT_FILE = "merge.intent"
WORKTREES_DIR = "worktrees"
_HOLDING = frozenset({"in_progress", "review", "failed"})  # statuses whose worktree is kept
HEAD_KEY, BRANCH_KEY, ROOT_KEY = "integration_head", "integration_branch", "integration_root"


def workspace_kind(project: Project, task: AgentTask) -> str:
    """``worktree`` or ``root``: the task's own setting, else its agent's, else the project's, else ``worktree``
    for ``cli`` agents when the project is inside a git work tree (``root`` otherwise: the offline demo)."""
    if task.workspace:
        return task.workspace
    config = project.plan.agents.get(project.agent_of(task))  # (a built-in one not configured says nothing here)
    if config is not None and config.workspace:
        return config.workspace
    if project.plan.project.workspace:
        return project.plan.project.workspace
    if config is not None and config.type == AgentType.CLI and integration(project).in_git():
        return "worktree"
    return "root"


def integration(project: Project) -> Integration:
    """The project's one :class:`Integration` (made on first use)."""
    found = project.__dict__.get("_integration")
    if found is None:
        found = project.__dict__["_integration"] = Integration(project)
    return found


class Integration:
    def __init__(self, project: Project) -> None:
        self.project = project
        self._top: Path | bool | None = False
        self._git: Git | None = None
        self._queue: MergeQueue | None = None

    # -- the repository -------------------------------------------------------------------------------

    def in_git(self) -> bool:
        if self._top is False:
            self._top = toplevel(self.project.root)
        return self._top is not None

    def git(self) -> Git:
        if self._git is None:
            self._git = open_repo(self.project.root)
        return self._git

    def branch(self) -> str:
        return branch_name(self.project.plan)

    def queue(self) -> MergeQueue:
        if self._queue is None:
            squash = self.project.plan.project.merge == "squash"
            self._queue = MergeQueue(self.git(), self.project.store.dir, self.branch(), squash=squash)
        return self._queue

    def recorded_head(self, meta: dict[str, Any] | None = None) -> str | None:
        """The tip orchestra left the branch at, per the history (None: not created or adopted yet)."""
        meta = self.project.store.meta if meta is None else meta
        return meta.get(HEAD_KEY) if meta.get(BRANCH_KEY) == self.branch() else None

    def workdir(self, worktree_path: Path) -> Path:
        """Where a run works inside its worktree: the project's own folder in it (the root may be a subfolder)."""
        top = Path(self._top) if isinstance(self._top, Path) else Path(self.git().cwd)
        return worktree_path / self.project.root.relative_to(top.resolve())

    # -- dispatch -------------------------------------------------------------------------------------

    def dispatch(self, task: AgentTask) -> WorktreeRecord:
        """The worktree record a new run of ``task`` starts with: based on the integration tip (so on its merged
        dependencies). Creates the branch from the checked-out branch the first time; enforces ``max_worktrees``."""
        self.check_cap(task.task_id)
        base = self._tip_for_dispatch()
        root = self.project.root
        path = worktrees.worktree_path(root, task.task_id)
        previous = task.worktree.conflict_files if task.worktree else None
        return WorktreeRecord(
            path=path.relative_to(root).as_posix(),
            branch=worktrees.task_branch(self.project.plan.project.id, task.task_id),
            base=base,
            conflict_files=previous,
        )

    def check_cap(self, task_id: str) -> None:
        """Refuse a new worktree beyond ``max_worktrees``: those of tasks running, in review or failed (per the
        state, checked under the store's lock by ``Project.start``) and those on disk, but the task's own."""
        settings = self.project.plan.project
        cap = settings.max_worktrees or 2 * settings.parallel_max
        held = {
            other
            for other, record in self.project.store.tasks.items()
            if record.get("worktree") and record.get("status") in _HOLDING
        }
        with contextlib.suppress(FileNotFoundError):
            held.update(os.listdir(self.project.store.dir / WORKTREES_DIR))
        held.discard(task_id)
        if len(held) >= cap:
            raise WorktreeCapError(
                f"cannot start {task_id}: {len(held)} worktrees exist, the cap is {cap} ([project] max_worktrees); "
                "complete or cancel tasks in review, or `orchestra gc` removes those no task needs"
            )

    def _tip_for_dispatch(self) -> str:
        queue = self.queue()
        tip = queue.tip()
        if tip is not None and self.recorded_head() is not None:
            return tip
        with queue.locked():
            self.project.refresh()
            tip = queue.tip()
            recorded = self.recorded_head()
            if tip is not None and recorded is not None:
                return tip
            if tip is None:
                require_branch(self.git())  # a detached HEAD: refused, naming it
                start = self.git().rev("HEAD")
                if start is None:
                    raise OrchestraError("the repository has no commit yet: commit something first")
                tip = queue.create(start)
            self._commit_meta(
                {BRANCH_KEY: self.branch(), ROOT_KEY: tip, HEAD_KEY: tip},
                f"integration branch {self.branch()} at {tip[:12]}",
            )
            return tip

    def _commit_meta(self, fields: dict[str, Any], summary: str) -> None:
        store = self.project.store

        def compute() -> Mutation | None:
            change = diff_meta({key: store.meta.get(key) for key in fields}, fields)
            return None if change is None else Mutation([change], "integration", summary, {"tasks": []})

        self.project._commit(compute)

    # -- completing: the merge queue ------------------------------------------------------------------

    def complete(self, task_id: str, output_files: list[str] | None, notes: str | None) -> Entry:
        """Merge the task's branch into the integration branch and complete it, in one history entry."""
        project = self.project
        queue = self.queue()
        with queue.locked():
            project.refresh()
            self.recover()
            record = project._record(task_id)
            transitions.complete(record, project.graph, output_files, notes)  # refused before anything is merged
            wt = WorktreeRecord.model_validate(record["worktree"])
            head = self._task_head(task_id, record["title"], wt)
            tip = self._expected_tip()
            merged = queue.merge_tree(tip, head)
            if merged.conflicts:
                self._record_conflict(task_id, wt, head, merged.conflicts)
                raise MergeConflictError(
                    _conflict_message(task_id, queue.branch, wt, merged.conflicts), merged.conflicts
                )
            commit = queue.commit(merged.tree, tip, head, task_id, record["title"])

            def compute() -> Mutation:
                old = project._record(task_id)
                if old.get("worktree") != record["worktree"] or old["status"] != record["status"]:
                    raise TransitionError(f"{task_id} changed while it was being merged; nothing was merged")
                new = transitions.complete(old, project.graph, output_files, notes)
                new["worktree"] = wt.model_copy(
                    update={"head": head, "merged": commit, "conflict_files": None}
                ).model_dump()
                changes = [diff_record(task_id, old, new), diff_meta({HEAD_KEY: tip}, {HEAD_KEY: commit})]
                merge = {"branch": queue.branch, "commit": commit, "before": tip, "task_head": head}
                summary = f"{task_id} completed, merged into {queue.branch} as {commit[:12]}"
                return Mutation([c for c in changes if c], "complete", summary, {"tasks": [task_id], "merge": merge})

            entry = self._move_and_record(tip, commit, f"merge task {task_id}", lambda: project._commit(compute))
            assert entry is not None  # compute always returns a change
        self.drop_worktree(task_id)
        return entry

    def _task_head(self, task_id: str, title: str, wt: WorktreeRecord) -> str:
        """The task branch's head, with what a person changed in the worktree since committed first. The worktree
        is the task's own (``.orchestra/worktrees/<id>``), never a path the state names: a ``.orchestra/`` may be
        someone else's, and committing is a write."""
        path = worktrees.worktree_path(self.project.root, task_id)
        if path.is_dir():
            return worktrees.commit_all(path, f"orchestra: {task_id} {title} (changes made in review)")
        head = self.git().rev(f"refs/heads/{wt.branch}") or wt.head
        if head is None:
            raise OrchestraError(f"cannot merge {task_id}: its branch {wt.branch} is gone")
        return head

    def _expected_tip(self) -> str:
        recorded, tip = self.recorded_head(), self.queue().tip()
        if recorded is None:
            raise OrchestraError(f"integration branch {self.branch()} was never created; a worktree run creates it")
        if tip != recorded:
            raise IntegrationMovedError(
                f"integration branch {self.branch()} is at {tip[:12] if tip else 'nothing'}, not at {recorded[:12]} "
                "where orchestra left it: someone else moved it; nothing was merged (orchestra never forces it)"
            )
        return recorded

    def _record_conflict(self, task_id: str, wt: WorktreeRecord, head: str, files: list[str]) -> None:
        project = self.project

        def compute() -> Mutation | None:
            old = project._record(task_id)
            new = {**old, "worktree": wt.model_copy(update={"head": head, "conflict_files": files}).model_dump()}
            change = diff_record(task_id, old, new)
            summary = f"{task_id} conflicts with {self.branch()} in {_files(files)}"
            return None if change is None else Mutation([change], "conflict", summary, {"tasks": [task_id]})

        project._commit(compute)

    def _move_and_record(self, old: str, new: str, why: str, record: Callable[[], Entry | None]) -> Entry | None:
        """Move the branch ``old`` -> ``new`` and commit the entry ``record`` makes; the intent file covers a
        crash in between, and a refused entry moves the branch back."""
        queue = self.queue()
        intent = self.project.store.dir / INTENT_FILE
        fsio.atomic_write(intent, json.dumps({"from": old, "to": new, "why": why}).encode())
        queue.move(new, old, why)
        try:
            entry = record()
        except BaseException:
            queue.move(old, new, f"{why}: not recorded, undone")
            intent.unlink(missing_ok=True)
            raise
        intent.unlink(missing_ok=True)
        return entry

    def recover(self) -> None:
        """Under the queue's lock: finish what a process killed mid-move left (see the module's invariants)."""
        intent = self.project.store.dir / INTENT_FILE
        try:
            fd = fsio.open_file(intent, os.O_RDONLY)
        except FileNotFoundError:
            return
        with os.fdopen(fd, "rb") as file:
            try:
                moved = json.loads(file.read())
                old, new = str(moved["from"]), str(moved["to"])
            except (ValueError, KeyError, TypeError):
                old = new = ""
        tip = self.queue().tip()
        if old and tip == new and self.recorded_head() != new:
            self.queue().move(old, new, "a move that was never recorded, undone")
        intent.unlink(missing_ok=True)

    # -- rollback and undo ----------------------------------------------------------------------------

    def rolled_back(self, target_seq: int, commit: Callable[[MetaChange | None], Entry | None]) -> Entry | None:
        """Commit a rollback to entry ``target_seq`` (``commit`` makes the entry with the extra meta change),
        moving the integration branch to where it was then."""
        queue = self.queue()
        with queue.locked():
            self.project.refresh()
            self.recover()
            current = self.recorded_head()
            _tasks, meta = self.project.store.state_at(target_seq)
            wanted = self.recorded_head(meta) or self.project.store.meta.get(ROOT_KEY)
            if current is None or wanted is None or wanted == current:
                return commit(None)
            self._expected_tip()
            change = diff_meta({HEAD_KEY: current}, {HEAD_KEY: wanted})
            return self._move_and_record(current, wanted, f"rollback to entry {target_seq}", lambda: commit(change))

    def removed_merges(self, changes: list[Change]) -> list[str]:
        """The tasks whose merges rolling back with ``changes`` takes off the integration branch."""
        return [
            change["task"]
            for change in changes
            if change["op"] == "update"
            and (change["before"].get("worktree") or {}).get("merged")
            and not (change["after"].get("worktree") or {}).get("merged")
        ]

    def preview(self, changes: list[Change]) -> list[str]:
        """The line a rollback's preview adds for the merges it takes off the integration branch (or none)."""
        removed = self.removed_merges(changes)
        if not removed:
            return []
        return [f"{self.branch()}: the merges of {_names(removed)} come off it (their task branches stay)"]

    def drop_worktree(self, task_id: str) -> None:
        """Remove a merged or cancelled task's worktree (its branch stays); a failure is left for ``gc``."""
        with contextlib.suppress(OrchestraError):
            worktrees.remove(self.git(), self.project.root, task_id)


def workspace_view(project: Project, task: AgentTask) -> dict[str, Any]:
    """What ``show --json`` says of where the task works: kind, path, branch, base, head (the branch now, when it
    is still there), merged (the integration commit) and conflict files; null where it does not apply."""
    record = task.worktree
    if record is None:
        kind = workspace_kind(project, task)
        return {
            "kind": kind,
            "path": str(project.root) if kind == "root" else None,
            "branch": None,
            "base": None,
            "head": None,
            "merged": None,
            "conflict_files": None,
        }
    head = record.head
    with contextlib.suppress(OrchestraError):
        head = integration(project).git().rev(f"refs/heads/{record.branch}") or head
    return {
        "kind": "worktree",
        "path": str(project.root / record.path),
        "branch": record.branch,
        "base": record.base,
        "head": head,
        "merged": record.merged,
        "conflict_files": record.conflict_files,
    }


def integration_branch(plan: Plan, meta: Mapping[str, Any]) -> str | None:
    """The integration branch's name once worktree tasks are in use (``report --json``), else None."""
    settings = plan.project
    if meta.get(BRANCH_KEY) or settings.workspace == "worktree" or settings.integration_branch:
        return branch_name(plan)
    return None


def branch_name(plan: Plan) -> str:
    """``[project] integration_branch``, or ``orchestra/<project-id>/integration``."""
    settings = plan.project
    return settings.integration_branch or f"orchestra/{ref_component(settings.id)}/integration"


class WorktreeCapError(RunBusyError):
    """``max_worktrees`` reached: the task waits (the scheduler tries it again when a run ends)."""


def _names(task_ids: list[str]) -> str:
    return ", ".join(task_ids[:10]) + (f" and {len(task_ids) - 10} more" if len(task_ids) > 10 else "")


def _files(files: list[str]) -> str:
    shown = ", ".join(quoted(name) for name in files[:5])
    return shown + (f" and {len(files) - 5} more" if len(files) > 5 else "")


def _conflict_message(task_id: str, branch: str, wt: WorktreeRecord, files: list[str]) -> str:
    return (
        f"{task_id} conflicts with {branch} in {_files(files)}; it stays in review: `orchestra retry {task_id}` "
        f"re-runs it on the new base, or resolve it in {wt.path} and complete it again"
    )
