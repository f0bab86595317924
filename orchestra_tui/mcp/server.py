"""The tools a coding agent gets: few, named for what they do, with short descriptions and small schemas.

Every change goes through :class:`~orchestra_tui.engine.project.Project`, opened with actor ``mcp``: it is a
history entry (undoable, seen by an open TUI within a second, firing webhooks), and what the CLI refuses is
refused with the same one-line reason (the tool result's text, exactly; ``isError``), never a crash. The project is
opened once; before each call it picks up what other processes committed, and it is opened again when
``orchestra.toml`` changed. Calls are serialised (the SDK runs synchronous tools in worker threads).
Answers are compact JSON text (no output schemas: ``tools/list`` stays small; README gives its size).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..engine.project import Project
from ..errors import OrchestraError
from ..models import AgentTask, ProjectPhase, TaskPriority, TaskSpec, TaskStatus
from ..plan import BUILTIN_AGENTS, PLAN_FILE
from ..version import __version__

ACTOR = "mcp"
INSTRUCTIONS = (
    "orchestra: a plan of tasks with dependencies. Call next_task, start_task it, do the work, then "
    "complete_task (or fail_task with the reason). Every change is in the project's undoable history."
)

TaskId = Annotated[str, Field(description="Task id, e.g. DES-001")]


class NewTask(BaseModel):
    """A task for add_tasks: the plan file's field names."""

    model_config = ConfigDict(extra="forbid")

    id: str
    title: str
    description: str = ""
    dependencies: list[str] = []
    parent: str | None = None
    priority: TaskPriority = TaskPriority.MEDIUM
    phase: ProjectPhase = ProjectPhase.DEVELOPMENT
    estimated_hours: float = 1.0
    agent: str | None = None
    success_criteria: list[str] = []
    deliverables: list[str] = []


class Session:
    """The open project, shared by the tools, one call at a time."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self._lock = threading.Lock()
        self._project: Project | None = None
        self._plan_stamp: tuple[int, int] | None = None

    def _stamp(self) -> tuple[int, int] | None:
        try:
            stat = (self.root / PLAN_FILE).stat()
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_size

    def project(self) -> Project:
        stamp = self._stamp()
        if self._project is not None and stamp != self._plan_stamp:
            self.close()
        if self._project is None:
            self._project = Project.open(self.root, actor=ACTOR)
            self._plan_stamp = stamp
        else:
            self._project.refresh()
        return self._project

    def run(self, action: Callable[[Project], Any]) -> CallToolResult:
        """``action``'s answer as compact JSON; a user error is the tool error, its text the CLI's one line."""
        with self._lock:
            try:
                text, error = _json(action(self.project())), False
            except OrchestraError as problem:
                text, error = str(problem), True
        return CallToolResult(content=[TextContent(type="text", text=text)], is_error=error)

    def close(self) -> None:
        if self._project is not None:
            self._project.close()
            self._project = None


def _brief(project: Project, task: AgentTask) -> dict[str, Any]:
    """A task in a line of a list."""
    item: dict[str, Any] = {
        "id": task.task_id,
        "title": task.title,
        "status": project.graph.status_of(task.task_id).value,
        "priority": task.priority.value,
    }
    if task.dependencies:
        item["dependencies"] = task.dependencies
    if task.parent:
        item["parent"] = task.parent
    return item


def _detail(project: Project, task: AgentTask) -> dict[str, Any]:
    """A task in full: definition, status, what it waits on, its subtasks and what finishing it unblocks."""
    graph, task_id = project.graph, task.task_id
    fields = task.model_dump(mode="json", exclude_defaults=True, exclude={"origin", "task_id"})
    return {
        "id": task_id,
        **fields,
        "status": graph.status_of(task_id).value,
        "agent": project.agent_of(task),
        "waiting_on": graph.waiting_on(task_id),
        "subtasks": graph.children(task_id),
        "unblocks": graph.unblocks(task_id),
    }


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _changed(project: Project, task_id: str, entry_id: str) -> dict[str, Any]:
    task = project.task(task_id)
    newly = [other for other in project.graph.dependents(task_id) if project.graph.status_of(other) == TaskStatus.READY]
    return {"id": task_id, "status": task.status.value, "entry": entry_id, "now_ready": newly}


def _validated(tasks: list[NewTask], project: Project) -> list[TaskSpec]:
    """The tasks as plan entries, checked as the plan validator checks them (ids, hours, agents)."""
    known = set(project.plan.agents) | BUILTIN_AGENTS
    specs = []
    for task in tasks:
        if task.agent is not None and task.agent not in known:
            raise OrchestraError(
                f"task {task.id}: field 'agent': unknown agent {task.agent!r}; configured agents: "
                f"{', '.join(sorted(known))}"
            )
        try:
            specs.append(TaskSpec.model_validate(task.model_dump(mode="json", exclude_defaults=True) | {"id": task.id}))
        except ValidationError as error:
            item = error.errors(include_url=False)[0]
            field = ".".join(str(part) for part in item["loc"]) or "?"
            raise OrchestraError(f"task {task.id}: field {field!r}: {item['msg']}") from None
    return specs


def build_server(root: Path) -> tuple[MCPServer, Session]:
    """The server and its session (``session.close()`` when done)."""
    session = Session(root)
    server = MCPServer("orchestra", version=__version__, instructions=INSTRUCTIONS, log_level="WARNING")

    @server.tool(
        description="The ready task to do next (highest priority, then longest critical path), in full; "
        "null when none is ready."
    )
    def next_task() -> CallToolResult:
        return session.run(lambda p: None if (task := p.next_task()) is None else _detail(p, task))

    @server.tool()
    def get_task(id: TaskId) -> CallToolResult:
        """One task in full: description, notes, success criteria, status, what it waits on, subtasks."""
        return session.run(lambda p: _detail(p, p.task(id)))

    @server.tool()
    def list_tasks(
        status: Annotated[
            str | None,
            Field(description="ready, blocked, pending, in_progress, review, completed, failed or cancelled"),
        ] = None,
        limit: Annotated[int, Field(ge=1, le=1000)] = 100,
    ) -> CallToolResult:
        """Tasks in dependency order: id, title, status, priority, dependencies, parent."""

        def action(p: Project) -> dict[str, Any]:
            if status is not None and status not in {s.value for s in TaskStatus}:
                raise OrchestraError(f"unknown status {status!r}; one of: {', '.join(s.value for s in TaskStatus)}")
            tasks = p.list_tasks(status=status)
            return {"total": len(tasks), "tasks": [_brief(p, task) for task in tasks[:limit]]}

        return session.run(action)

    @server.tool()
    def start_task(id: TaskId) -> CallToolResult:
        """Mark a ready task in progress: you are working on it."""
        return session.run(lambda p: _changed(p, id, p.start(id).id))

    @server.tool()
    def complete_task(id: TaskId, notes: Annotated[str, Field(description="What was done")] = "") -> CallToolResult:
        """Mark a task completed (a parent only after its subtasks); returns the tasks it made ready."""
        return session.run(lambda p: _changed(p, id, p.complete(id, notes=notes or None).id))

    @server.tool()
    def fail_task(id: TaskId, reason: str) -> CallToolResult:
        """Mark a task failed with the reason; its dependants stay blocked until it is retried."""
        return session.run(lambda p: _changed(p, id, p.fail(id, reason).id))

    @server.tool()
    def retry_task(id: TaskId) -> CallToolResult:
        """Reopen a failed, cancelled or review task."""
        return session.run(lambda p: _changed(p, id, p.retry(id).id))

    @server.tool()
    def add_tasks(tasks: list[NewTask]) -> CallToolResult:
        """Add tasks (validated like a plan edit: ids, dependencies, cycles, enums); kept in the project's state."""

        def action(p: Project) -> dict[str, Any]:
            entry = p.add_tasks(_validated(tasks, p))
            return {"added": [task.id for task in tasks], "entry": entry.id if entry is not None else None}

        return session.run(action)

    @server.tool()
    def report() -> CallToolResult:
        """Progress: counts per status, hours done and left, the critical path, what blocks what, cost."""
        keep = (
            "total_tasks",
            "completed_tasks",
            "in_progress_tasks",
            "ready_tasks",
            "blocked_tasks",
            "review_tasks",
            "failed_tasks",
            "cancelled_tasks",
            "completion_percentage",
            "estimated_remaining_hours",
            "next_task",
            "critical_path",
            "critical_path_hours",
            "blocked_by",
            "cost_usd",
        )
        return session.run(lambda p: {key: value for key, value in p.report().items() if key in keep})

    return server, session


def serve(root: Path) -> None:
    """Serve the project in ``root`` over stdio until the client closes the connection."""
    server, session = build_server(root)
    session.project()  # open now: a project that cannot be opened is a one-line error before serving
    try:
        server.run("stdio")
    finally:
        session.close()
