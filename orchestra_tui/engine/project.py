"""One open project: the plan, the durable state, the dependency graph, and every action the faces offer.

The CLI, the TUI and the Python API all go through ``Project``; none of them changes state any other way.
Each action is computed inside ``Store.commit`` from the freshest state (other processes may have changed
it), so a change computed from a stale state is never written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..bulk import paused_gc
from ..errors import PlanError, SupersededError, TransitionError, UnknownTaskError, closest, quoted
from ..graph import TaskGraph, dependency_problems, family_dependencies
from ..models import (
    DEFINITION_FIELDS,
    RUNTIME_FIELDS,
    AgentTask,
    ProjectPhase,
    TaskPriority,
    TaskSpec,
    TaskStatus,
    WorktreeRecord,
)
from ..plan import Plan, load_plan
from ..projectfiles import STATE_DIR
from ..redaction import redact, redact_tree
from ..statuses import BOARD_ORDER
from ..store import Entry, Mutation, Store
from ..store.changes import Change, MetaChange, Record, diff_meta, diff_record, diff_tasks, diff_update
from ..version import __version__
from . import transitions
from .webhooks import WebhookDispatcher, attach_webhooks, detach_webhooks

if TYPE_CHECKING:
    import asyncio

    from .integration import Integration
    from .report import Report

_GRAPH_FIELDS = frozenset(
    {"dependencies", "parent", "priority", "phase", "estimated_hours"}
)  # what TaskGraph reads but status
_NEW_RUNTIME: Record = {
    name: value for name, value in AgentTask(task_id="new", title="new").record().items() if name in RUNTIME_FIELDS
}
Actor = str  # tui | cli | api | scheduler
OUTBOX_WRITE_WAIT = 10.0  # seconds closing waits for this process's deliveries to be written (disk only)
CODE_WEBHOOKS_WAIT = 10.0  # ... and, with webhooks registered from code, for their first attempts (ends when done)
# Statuses as the board shows them, in its column order (pending is shown as ready or blocked).
BOARD_STATUSES = BOARD_ORDER  # the statuses a board shows, in its order (statuses.py)


def _redacted(compute: Callable[[], Mutation | None]) -> Callable[[], Mutation | None]:
    """``compute`` with every registered secret redacted from what it returns (the history is permanent)."""

    def redacted() -> Mutation | None:
        mutation = compute()
        if mutation is None:
            return None
        return Mutation(
            redact_tree(mutation.changes), mutation.action, redact(mutation.summary), redact_tree(mutation.extra)
        )

    return redacted


def _integration(project: Project) -> Integration:
    """The project's worktree integration (git, the merge queue): imported when first used, since most commands
    (``next``, ``list``, ``show``...) merge nothing."""
    from .integration import integration

    return integration(project)


class Project:
    def __init__(self, root: Path, plan: Plan, store: Store, actor: Actor) -> None:
        self.root = root
        self.plan = plan
        self.store = store
        self.actor = actor
        self.tasks: dict[str, AgentTask] = {}
        self._graph: TaskGraph | None = None
        self.listeners: list[Callable[[Entry, list[Change]], None]] = []
        self.webhooks: WebhookDispatcher | None = None
        self._quiet = 0
        self._rebuild()
        store.listeners.append(self._on_entry)

    @classmethod
    def open(
        cls,
        root: Path | str,
        *,
        actor: Actor = "api",
        lock_timeout: float = 30.0,
        environ: Mapping[str, str] | None = None,
        repair: bool = True,
        on_lock_wait: Callable[[str], None] | None = None,
    ) -> Project:
        """Load the plan and the state, repair damage, and bring the state in line with the plan file.

        ``repair=False`` (read-only commands, the app until a change): damage is reported in ``store.warnings``
        and repaired by the first change instead. ``on_lock_wait`` is told at once, in one line, who holds the
        state lock when a change has to wait for it (``store.on_wait`` afterwards)."""
        root = Path(root).resolve()
        state_dir = root / STATE_DIR
        with paused_gc():
            plan = load_plan(root, cache_dir=state_dir, environ=environ)
            store = Store.open(
                state_dir,
                project_id=plan.project.id,
                version=__version__,
                lock_timeout=lock_timeout,
                repair=repair,
                on_wait=on_lock_wait,
            )
            project = cls(root, plan, store, actor)
            try:
                project.sync_plan()
                project.webhooks = attach_webhooks(project, environ=environ, held=True)
            except BaseException:
                store.close()
                raise
        return project

    # -- keeping the in-memory view in step with the store --------------------------------------------

    @property
    def graph(self) -> TaskGraph:
        """The tasks' dependency graph. After a bulk change it is built again when next asked for: an import adds
        thousands of tasks and sets their statuses in two entries, and reads no graph in between (nor after)."""
        if self._graph is None:
            self._graph = TaskGraph.build(self.tasks.values())
        return self._graph

    def _rebuild(self) -> None:
        self.tasks = {task_id: AgentTask.model_validate(record) for task_id, record in self.store.tasks.items()}
        self._graph = TaskGraph.build(self.tasks.values())

    def _on_entry(self, entry: Entry, changes: list[Change]) -> None:
        """Follow a committed entry: one task's change is applied to the graph incrementally; bulk changes leave
        it to be rebuilt when next read (changes to a graph not rebuilt yet are in ``tasks``, which it is built
        from)."""
        if entry.action == "reload":
            self._rebuild()
        elif (
            len(changes) == 1
            and changes[0]["op"] == "update"
            and not {"dependencies", "parent"} & changes[0]["after"].keys()
        ):
            task_id = changes[0]["task"]
            task = AgentTask.model_validate(self.store.tasks[task_id])
            self.tasks[task_id] = task
            if self._graph is not None:
                self._graph.upsert(task)
        elif (
            (updates := [c for c in changes if c["op"] == "update"])
            and len(updates) == len(changes)
            and not any(_GRAPH_FIELDS & change["after"].keys() for change in updates)
        ):
            for update in updates:  # progress only (an import, a rollback of statuses): the graph follows incrementally
                task = AgentTask.model_validate(self.store.tasks[update["task"]])
                self.tasks[task.task_id] = task
                if self._graph is not None:
                    self._graph.set_status(task.task_id, task.status)
        else:
            for change in changes:
                if change["task"] is None:
                    continue
                task_id = change["task"]
                if change["op"] == "remove":
                    self.tasks.pop(task_id, None)
                else:
                    self.tasks[task_id] = AgentTask.model_validate(self.store.tasks[task_id])
            self._graph = None
        for listener in self.listeners:
            listener(entry, changes)

    def refresh(self) -> bool:
        """Pick up changes other processes made. True when something changed."""
        return self.store.refresh() > 0

    def close(self) -> None:
        """Refresh the snapshot; this process's webhook deliveries are written to the outbox (local files only:
        a sender process sends them, so no receiver is ever on a command's path). Webhooks registered from code
        are sent by this process, which gives them a moment (the next process sends the rest)."""
        detach_webhooks(self)
        if self.webhooks is not None:
            self.webhooks.close(timeout=CODE_WEBHOOKS_WAIT if self.webhooks.deliver_here else OUTBOX_WRITE_WAIT)
        self.store.close()

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading --------------------------------------------------------------------------------------

    def task(self, task_id: str) -> AgentTask:
        try:
            return self.tasks[task_id]
        except KeyError:
            raise UnknownTaskError(task_id, self.tasks) from None

    def status_of(self, task_id: str) -> TaskStatus:
        self.task(task_id)
        return self.graph.status_of(task_id)

    def list_tasks(
        self,
        status: TaskStatus | str | None = None,
        priority: TaskPriority | str | None = None,
        phase: ProjectPhase | str | None = None,
    ) -> list[AgentTask]:
        """Tasks in dependency order; ``status`` may be a derived one (ready, blocked)."""
        result = []
        for task_id in self.graph.topological_order():
            task = self.tasks[task_id]
            if status is not None:
                derived = self.graph.status_of(task_id)
                if status not in (derived, task.status):
                    continue
            if priority is not None and task.priority != priority:
                continue
            if phase is not None and task.phase != phase:
                continue
            result.append(task)
        return result

    def next_task(
        self, priority: TaskPriority | str | None = None, phase: ProjectPhase | str | None = None
    ) -> AgentTask | None:
        task_id = self.graph.next_task(priority=priority, phase=phase)
        return None if task_id is None else self.tasks[task_id]

    def ready_tasks(self, max_count: int | None = None) -> list[AgentTask]:
        return [self.tasks[task_id] for task_id in self.graph.ready(max_count=max_count)]

    def agent_of(self, task: AgentTask) -> str:
        return task.agent or self.plan.project.default_agent

    def history(self) -> list[Entry]:
        return self.store.history()

    def entry(self, ref: str | int) -> Entry:
        return self.store.resolve(ref)

    def diff(self, ref_a: str | int, ref_b: str | int | None = None) -> list[Change]:
        a = self.entry(ref_a).seq
        b = None if ref_b is None else self.entry(ref_b).seq
        return self.store.diff(a, b)

    def report(self) -> Report:
        from .report import build_report

        return build_report(self)

    # -- changing -------------------------------------------------------------------------------------

    def _commit(self, compute: Callable[[], Mutation | None], expect_seq: int | None = None) -> Entry | None:
        """Commit what ``compute`` returns with every registered secret redacted (the history is permanent)."""
        entry = self.store.commit(_redacted(compute), actor=self.actor, expect_seq=expect_seq)
        self._committed(entry)
        return entry

    async def _commit_async(self, compute: Callable[[], Mutation | None], task_id: str) -> Entry | None:
        """``_commit`` of a change to one task, grouped with the changes to other tasks that end together (one
        fdatasync for them all, the event loop free meanwhile); returns once it is durable."""
        entry = await self.store.commit_async(_redacted(compute), actor=self.actor, reads=lambda: self._reads(task_id))
        self._committed(entry)
        return entry

    def _reads(self, task_id: str) -> frozenset[str]:
        """What a transition of the task reads: its record and its dependencies' statuses (a parent's dependencies
        include its subtasks)."""
        if task_id not in self.graph:
            return frozenset((task_id,))
        return frozenset((task_id, *self.graph.dependencies(task_id)))

    def _committed(self, entry: Entry | None) -> None:
        if entry is not None and self.webhooks is not None and not self._quiet:
            self.webhooks.release()

    @contextmanager
    def quietly(self) -> Iterator[None]:
        """Changes made inside are not a person's (recovery when the app opens): they release no webhook
        deliveries; the next change a person makes sends their events too."""
        self._quiet += 1
        try:
            yield
        finally:
            self._quiet -= 1

    def _record(self, task_id: str) -> Record:
        record = self.store.tasks.get(task_id)
        if record is None:
            self.task(task_id)  # raises with a suggestion
        assert record is not None
        return record

    def _transition(
        self, task_id: str, action: str, summary: str, change: Callable[[Record], Record], **extra: Any
    ) -> Entry:
        orphans = self._ray_orphans((task_id,))
        entry = self._commit(self._transition_change(task_id, action, summary, change, **extra))
        assert entry is not None
        self._stop_strays(orphans)
        return entry

    def _ray_orphans(self, task_ids: Iterable[str]) -> dict[str, str]:
        """Of ``task_ids``, those in a run on Ray that lost its process (nobody follows it; it may run on): task ->
        run. Only a task in progress costs a look at its run."""
        from .runs import orphaned

        tasks = (self.tasks.get(task_id) for task_id in task_ids)
        return {task.task_id: str(task.last_run_id) for task in tasks if task is not None and orphaned(self.root, task)}

    def _stop_strays(self, orphans: Mapping[str, str]) -> None:
        """Stop the runs of ``orphans`` whose task the change just committed took out of them (a person failed,
        completed or rolled back a task whose run on Ray nobody followed): nobody would read them again, and the
        project's run host would never go idle."""
        from .runs import stop_stray

        for task_id, run_id in orphans.items():
            record = self.store.tasks.get(task_id) or {}
            if record.get("status") == TaskStatus.IN_PROGRESS.value and record.get("last_run_id") == run_id:
                continue
            stop_stray(self, task_id, run_id)

    def _transition_change(
        self, task_id: str, action: str, summary: str, change: Callable[[Record], Record], **extra: Any
    ) -> Callable[[], Mutation]:
        def compute() -> Mutation:
            old = self._record(task_id)
            new = change(old)
            return Mutation([diff_update(task_id, old, new)], action, summary, {"tasks": [task_id], **extra})

        return compute

    def start(self, task_id: str, run_id: str | None = None, worktree: WorktreeRecord | None = None) -> Entry:
        """Start a task; ``worktree``: where its run works (a worktree task's record, see ``integration``)."""
        if worktree is None:
            return self._transition(
                task_id, "start", f"{task_id} started", lambda r: transitions.start(r, self.graph, run_id)
            )

        def started(record: Record) -> Record:
            _integration(self).check_cap(task_id)  # under the store's lock: two starts cannot both take the last
            return {**transitions.start(record, self.graph, run_id), "worktree": worktree.model_dump(mode="json")}

        return self._transition(task_id, "start", f"{task_id} started", started)

    def start_soon(self, task_id: str, run_id: str | None = None) -> asyncio.Future[Entry | None]:
        """``start`` (of a task without a worktree), grouped with the changes that arrive together: queued now, its
        entry told through the future (``Store.commit_soon``)."""
        change = self._transition_change(
            task_id, "start", f"{task_id} started", lambda r: transitions.start(r, self.graph, run_id)
        )
        told = self.store.commit_soon(_redacted(change), actor=self.actor, reads=lambda: self._reads(task_id))
        told.add_done_callback(self._told)
        return told

    def _told(self, told: asyncio.Future[Entry | None]) -> None:
        if not told.cancelled() and told.exception() is None:
            self._committed(told.result())

    def complete(self, task_id: str, output_files: list[str] | None = None, notes: str | None = None) -> Entry:
        """Complete a task; ``output_files`` and ``notes`` are the seed's record of what it produced. A worktree
        task's branch is merged into the integration branch first (a conflict raises and completes nothing)."""
        worktree = self._record(task_id).get("worktree")
        if worktree and not worktree.get("merged"):
            return _integration(self).complete(task_id, output_files, notes)
        return self._transition(
            task_id,
            "complete",
            f"{task_id} completed",
            lambda r: transitions.complete(r, self.graph, output_files, notes),
        )

    def review(self, task_id: str) -> Entry:
        return self._transition(task_id, "review", f"{task_id} ready for review", transitions.review)

    def fail(self, task_id: str, reason: str) -> Entry:
        return self._transition(task_id, "fail", f"{task_id} failed: {reason}", lambda r: transitions.fail(r, reason))

    def cancel(self, task_id: str) -> Entry:
        """Cancel a task; a worktree task's worktree goes (its branch stays) unless a run was still in it (then
        ``orchestra gc`` removes it once the run has ended)."""
        was = self._record(task_id)
        entry = self._transition(task_id, "cancel", f"{task_id} cancelled", transitions.cancel)
        if was.get("worktree") and was["status"] != TaskStatus.IN_PROGRESS:
            _integration(self).drop_worktree(task_id)
        return entry

    def cancel_run(self, task_id: str, run_id: str) -> Entry:
        """Cancel the task only while it is in run ``run_id`` (in progress, with that ``last_run_id``), checked in
        the same commit; :class:`SupersededError` otherwise (the task moved on, nothing is written)."""

        def change(record: Record) -> Record:
            if (record.get("status"), record.get("last_run_id")) != (TaskStatus.IN_PROGRESS.value, run_id):
                raise SupersededError(f"{task_id} is no longer in run {run_id} (it is {record.get('status')})")
            return transitions.cancel(record)

        return self._transition(task_id, "cancel", f"{task_id} cancelled (run {run_id})", change, run=run_id)

    def retry(self, task_id: str, downstream: bool = False) -> Entry:
        """Reopen a failed, cancelled or review task; with ``downstream``, every later task not completed too."""

        def compute() -> Mutation:
            old = self._record(task_id)
            changes: list[Change] = [diff_update(task_id, old, transitions.retry(old))]
            reset = [task_id]
            if downstream:
                for other in sorted(self.graph.descendants(task_id)):
                    record = self.store.tasks[other]
                    if record["status"] in ("failed", "cancelled", "review"):
                        changes.append(diff_update(other, record, transitions.reopen(record)))
                        reset.append(other)
            summary = f"{task_id} reopened" + (f" with {len(reset) - 1} downstream" if len(reset) > 1 else "")
            return Mutation(changes, "retry", summary, {"tasks": reset})

        entry = self._commit(compute)
        assert entry is not None
        return entry

    def end_run(
        self,
        task_id: str,
        run_id: str,
        attempt: int,
        action: str | None,
        reason: str | None = None,
        fields: Mapping[str, Any] | None = None,
        detail: str = "",
    ) -> Entry | None:
        """Commit a run's outcome (``action``: ``complete``, ``review`` or ``fail`` with ``reason``) and its
        runtime ``fields`` (token totals) in one entry, only if the task is still in that run: in progress, with
        that ``last_run_id`` and ``attempts``, checked under the store's lock in the same commit. Otherwise it
        raises :class:`SupersededError` and writes nothing (the task moved on: failed, retried, undone...).
        ``action`` None: only the fields (a run handed off to a person); None is returned when they change nothing.
        ``detail`` is added to the entry's summary (the run's tokens and cost)."""
        return self._commit(self._end_run_change(task_id, run_id, attempt, action, reason, fields, detail))

    async def end_run_async(
        self,
        task_id: str,
        run_id: str,
        attempt: int,
        action: str | None,
        reason: str | None = None,
        fields: Mapping[str, Any] | None = None,
        detail: str = "",
    ) -> Entry | None:
        """``end_run``, grouped with the changes that arrive together (runs that end together)."""
        change = self._end_run_change(task_id, run_id, attempt, action, reason, fields, detail)
        return await self._commit_async(change, task_id)

    def _end_run_change(
        self,
        task_id: str,
        run_id: str,
        attempt: int,
        action: str | None,
        reason: str | None,
        fields: Mapping[str, Any] | None,
        detail: str,
    ) -> Callable[[], Mutation | None]:
        change: Callable[[Record], Record] = {
            "complete": lambda r: transitions.complete(r, self.graph),
            "review": transitions.review,
            "fail": lambda r: transitions.fail(r, reason or "failed"),
            None: lambda r: r,
        }[action]

        def compute() -> Mutation | None:
            old = self._record(task_id)
            if (old.get("status"), old.get("last_run_id"), old.get("attempts")) != (
                TaskStatus.IN_PROGRESS.value,
                run_id,
                attempt,
            ):
                now = f"{old.get('status')}" + (
                    f", in run {old.get('last_run_id')}" if old.get("status") == TaskStatus.IN_PROGRESS else ""
                )
                raise SupersededError(
                    f"{task_id} moved on while run {run_id} went (it is {now}); the run's outcome was not recorded"
                )
            new = change({**old, **(fields or {})})
            diff = diff_record(task_id, old, new)
            if diff is None:
                return None
            summary = {
                "complete": f"{task_id} completed",
                "review": f"{task_id} ready for review",
                "fail": f"{task_id} failed: {reason}",
                None: f"{task_id} run {run_id}",
            }[action] + (f" ({detail})" if detail else "")
            return Mutation([diff], action or "run", summary, {"tasks": [task_id], "run": run_id})

        return compute

    def record_run(self, task_id: str, fields: Mapping[str, Any], summary: str) -> Entry | None:
        """Runtime fields an agent run produced (tokens, cost, run id), without a status change."""
        allowed = {
            "last_run_id",
            "input_tokens",
            "output_tokens",
            "cache_read_tokens",
            "cache_write_tokens",
            "cost_usd",
            "unpriced_runs",
            "last_error",
            "actual_hours",
        }
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"record_run cannot set {sorted(unknown)}")

        def compute() -> Mutation | None:
            old = self._record(task_id)
            change = diff_record(task_id, old, {**old, **fields})
            return None if change is None else Mutation([change], "run", summary, {"tasks": [task_id]})

        return self._commit(compute)

    def record_planning(self, summary: str, figures: Mapping[str, Any]) -> Entry | None:
        """Add what a planning request cost (``planning.Spend.figures()``) to the project's planning totals (the
        ``planning`` meta value, which rollback leaves alone: tokens spent stay spent), in one history entry."""

        def compute() -> Mutation | None:
            old = dict(self.store.meta.get("planning") or {})
            new = dict(old)
            for name, value in figures.items():
                if value is not None:
                    total = (old.get(name) or 0) + value
                    new[name] = round(total, 6) if name == "cost_usd" else total
            change = diff_meta({"planning": old or None}, {"planning": new})
            return None if change is None else Mutation([change], "planning", summary, {})

        return self._commit(compute)

    def planning_totals(self) -> dict[str, Any] | None:
        """What planning (``orchestra plan`` / ``expand``) has cost so far, or None when nothing was planned."""
        totals = self.store.meta.get("planning")
        return dict(totals) if totals else None

    # -- the plan -------------------------------------------------------------------------------------

    def _check_graph(self, records: Mapping[str, Record]) -> None:
        parents = {task_id: record["parent"] for task_id, record in records.items() if record.get("parent")}
        problems = dependency_problems(
            ((task_id, record.get("dependencies") or []) for task_id, record in records.items()), parents
        )
        if problems:
            raise PlanError([self._describe(problem) for problem in problems])

    def _describe(self, problem: Any) -> str:
        where = ""
        if self.plan.path is not None:
            line = self.plan.line_of_task(problem.task_id)
            where = f"{self.plan.path.name}:{line}: " if line else f"{self.plan.path.name}: "
        if problem.kind == "cycle":
            return f"{where}task {problem.task_id}: field 'dependencies': dependency cycle {problem.detail}"
        if problem.kind == "unknown":
            return f"{where}task {problem.task_id}: field 'dependencies': unknown task {quoted(problem.detail)}"
        if problem.kind == "self":
            return f"{where}task {problem.task_id}: field 'dependencies': a task cannot depend on itself"
        if problem.kind == "parent":
            return f"{where}task {problem.task_id}: field 'parent': {_parent_problem(problem.task_id, problem.detail)}"
        return f"{where}task {problem.task_id}: duplicate task id"

    def _plan_records(self, records: Mapping[str, Record]) -> dict[str, Record]:
        """``records`` with every task of the plan file given its current definition (the file is the truth)."""
        result: dict[str, Record] = {}
        plan_ids = set()
        for spec in self.plan.tasks:
            plan_ids.add(spec.task_id)
            definition = spec.model_dump(mode="json")
            old = records.get(spec.task_id)
            result[spec.task_id] = {**(old or _NEW_RUNTIME), **definition, "origin": "plan"}
        for task_id, record in records.items():
            if task_id not in plan_ids and record.get("origin") != "plan":
                result[task_id] = record
        return result

    def sync_plan(self) -> Entry | None:
        """Bring the state's task definitions in line with the plan file: one history entry when anything differs.

        The file's hash is kept with the entry, so an unchanged plan costs nothing on the next open.
        """
        if self.plan.path is None or self.store.meta.get("plan_sha256") == self.plan.sha256:
            return None
        name = self.plan.path.name

        def compute() -> Mutation | None:
            current = self.store.tasks
            wanted = self._plan_records(current)
            changes = diff_tasks(current, wanted)
            if not changes:
                return None
            sha = diff_meta({"plan_sha256": self.store.meta.get("plan_sha256")}, {"plan_sha256": self.plan.sha256})
            if sha is not None:
                changes.append(sha)
            if len(wanted) > len(self.plan.tasks):  # tasks added through the API stay beside the plan's: check all
                self._check_graph(wanted)  # (the plan's own were checked, the same way, when it was loaded)
            added, changed, removed = (sum(c["op"] == op for c in changes) for op in ("add", "update", "remove"))
            summary = f"plan {name}: {added} added, {changed} changed, {removed} removed"
            return Mutation(changes, "plan", summary, {"tasks": [c["task"] for c in changes[:20] if c["task"]]})

        return self._commit(compute)

    def add_tasks(self, tasks: Iterable[TaskSpec | Mapping[str, Any]]) -> Entry | None:
        """Add tasks (the Python API's ``add_task``): kept in the state, not written into the plan file."""
        specs = [t if isinstance(t, TaskSpec) else TaskSpec.model_validate(t) for t in tasks]

        def compute() -> Mutation | None:
            for spec in specs:
                if spec.task_id in self.store.tasks:
                    raise TransitionError(f"task {spec.task_id} already exists; update_task changes it")
            wanted = dict(self.store.tasks)
            for spec in specs:
                wanted[spec.task_id] = AgentTask.model_validate(
                    {**spec.model_dump(mode="json", include=set(DEFINITION_FIELDS)), "origin": "api"}
                ).record()
            self._check_graph(wanted)
            changes = diff_tasks(self.store.tasks, wanted)
            if not changes:
                return None
            ids = [spec.task_id for spec in specs]
            summary = f"{ids[0]} added" if len(ids) == 1 else f"{len(ids)} tasks added"
            return Mutation(changes, "add", summary, {"tasks": ids[:20]})

        return self._commit(compute)

    def update_task(self, task_id: str, fields: Mapping[str, Any]) -> Entry | None:
        """Change definition fields of a task. A plan-file task's definition comes back from the file when it
        changes."""
        unknown = set(fields) - set(DEFINITION_FIELDS) - {"id"}
        if unknown:
            suggestion = closest(sorted(unknown)[0], DEFINITION_FIELDS)
            hint = f" (did you mean {suggestion!r}?)" if suggestion else ""
            raise TransitionError(
                f"cannot update {task_id}: unknown field {sorted(unknown)[0]!r}{hint}; status changes have "
                "their own actions"
            )

        def compute() -> Mutation | None:
            old = self._record(task_id)
            merged = {**{k: old.get(k) for k in DEFINITION_FIELDS}, **fields, "task_id": task_id}
            spec = TaskSpec.model_validate(merged)
            new = {**old, **spec.model_dump(mode="json")}
            wanted = {**self.store.tasks, task_id: new}
            self._check_graph(wanted)
            change = diff_record(task_id, old, new)
            return (
                None
                if change is None
                else Mutation(
                    [change], "update", f"{task_id} updated ({', '.join(change['after'])})", {"tasks": [task_id]}
                )
            )

        return self._commit(compute)

    def remove_task(self, task_id: str) -> Entry:
        def compute() -> Mutation:
            old = self._record(task_id)
            dependants = self.graph.dependents(task_id)
            if dependants:
                raise TransitionError(
                    f"cannot remove {task_id}: {', '.join(dependants)} "
                    f"depend{'s' if len(dependants) == 1 else ''} on it"
                )
            return Mutation([diff_record(task_id, old, None)], "remove", f"{task_id} removed", {"tasks": [task_id]})

        entry = self._commit(compute)
        assert entry is not None
        return entry

    # -- history --------------------------------------------------------------------------------------

    def status_counts_at(self, ref: str | int) -> dict[str, int]:
        """Tasks per status right after entry ``ref``, as the board showed them (in ``BOARD_STATUSES`` order,
        zeros left out): a pending task is ready when all its dependencies were completed, else blocked, as the
        graph derives it, without building one."""
        records, _meta = self.store.state_at(self.entry(ref).seq)
        counts = dict.fromkeys(BOARD_STATUSES, 0)
        deps_of: Mapping[str, Sequence[str]] = {
            task_id: record.get("dependencies") or () for task_id, record in records.items()
        }
        if any(record.get("parent") for record in records.values()):
            deps_of = family_dependencies(
                (task_id, deps_of[task_id], record.get("parent")) for task_id, record in records.items()
            )
        for task_id, record in records.items():
            status = record.get("status", "pending")
            if status == "pending":
                done = all(records.get(dep, {}).get("status") == "completed" for dep in deps_of[task_id])
                status = "ready" if done else "blocked"
            counts[status] = counts.get(status, 0) + 1
        return {status: count for status, count in counts.items() if count}

    def rollback_changes(self, ref: str | int) -> list[Change]:
        """The changes rolling back to entry ``ref`` would make now (what ``rollback`` commits)."""
        records, _meta = self.store.state_at(self.entry(ref).seq)
        wanted = self._plan_records(records) if self.plan.path is not None else records
        self._check_graph(wanted)
        return diff_tasks(self.store.tasks, self._without_phantoms(wanted))

    def _without_phantoms(self, records: dict[str, Record]) -> dict[str, Record]:
        """``records`` with every task that would be in progress in a run that is not live failed ``interrupted``
        (in the same entry): going back to a moment a task was running never shows it running with nothing
        running. A task started by hand (no run) or still in its live run stays in progress."""
        from .runs import INTERRUPTED, is_interrupted

        result = dict(records)
        for task_id, record in records.items():
            if record.get("status") == TaskStatus.IN_PROGRESS.value and is_interrupted(
                self.root, task_id, record.get("last_run_id"), int(record.get("attempts") or 0)
            ):
                result[task_id] = transitions.fail(record, INTERRUPTED)
        return result

    def rollback(
        self, ref: str | int, *, action: str = "rollback", extra: Mapping[str, Any] | None = None
    ) -> Entry | None:
        """Make the tasks' progress what it was right after entry ``ref``, as a new entry (so it can be undone).

        Tasks defined in the plan file keep the file's current definition; only their progress goes back.
        Returns None when the state already equals that entry's.
        """
        target = self.entry(ref)
        if _integration(self).recorded_head() is None:
            return self._rollback(target, action, extra, None)
        return _integration(self).rolled_back(target.seq, lambda moved: self._rollback(target, action, extra, moved))

    def _rollback(
        self, target: Entry, action: str, extra: Mapping[str, Any] | None, moved: MetaChange | None
    ) -> Entry | None:
        """The rollback entry; ``moved``: the integration branch's move it records (see ``integration``)."""

        def compute() -> Mutation | None:
            changes = self.rollback_changes(target.seq)
            if not changes and moved is None:
                return None
            verb = "undo" if action == "undo" else f"rollback to {target.id}"
            summary = f"{verb}: {len(changes)} task{'s' if len(changes) != 1 else ''} changed"
            if moved is not None:
                summary += f"; {_integration(self).branch()} moved to {moved['after']['integration_head'][:12]}"
            return Mutation(
                changes + ([moved] if moved is not None else []),
                action,
                summary,
                {"target": target.id, "tasks": [c["task"] for c in changes[:20]], **(extra or {})},
            )

        orphans = self._ray_orphans(self.tasks)
        entry = self._commit(compute)
        self._stop_strays(orphans)
        return entry

    def undo(self) -> Entry | None:
        """Undo the last change that is not itself undone; repeated undos walk further back."""
        entries = self.history()
        if not entries:
            return None
        by_seq = {entry.seq: entry for entry in entries}
        cursor: Entry | None = entries[-1]
        while cursor is not None and cursor.action in ("undo", "planning"):  # planning spent tokens: nothing to undo
            back = int(cursor.extra.get("undoes", 1)) - 1 if cursor.action == "undo" else cursor.seq - 1
            cursor = by_seq.get(back)
        if cursor is None:
            return None
        if cursor.seq <= 1:
            return None
        return self.rollback(cursor.seq - 1, action="undo", extra={"undoes": cursor.seq})


def _parent_problem(task_id: str, parent: str) -> str:
    return "a task cannot be its own subtask" if parent == task_id else f"unknown task {quoted(parent)}"
