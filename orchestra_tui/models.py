"""The task model and the plan file's schema (docs/ARCHITECTURE.md C2, C3). Pure: no I/O.

Enum values and field names are the seed framework's, so seed code and seed state files keep working.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from .enums import ProjectPhase, TaskPriority, TaskStatus

__all__ = ["ProjectPhase", "TaskPriority", "TaskStatus"]  # defined in enums (free of pydantic); the rest is below


PRIORITY_RANK: dict[str, int] = {"critical": 3, "high": 2, "medium": 1, "low": 0}


STORED_STATUSES = frozenset(
    {
        TaskStatus.PENDING,
        TaskStatus.IN_PROGRESS,
        TaskStatus.REVIEW,
        TaskStatus.COMPLETED,
        TaskStatus.FAILED,
        TaskStatus.CANCELLED,
    }
)


WorkspaceKind = Literal["worktree", "root"]
# A git branch name as orchestra accepts it in a plan: git check-ref-format's rules, simplified to refuse more.
BRANCH_PATTERN = r"^[A-Za-z0-9_+][A-Za-z0-9._/+-]*$"
_BAD_BRANCH_PARTS = ("..", "//", "/.", ".lock/", "@{")


def utcnow() -> datetime:
    return datetime.now(UTC)


class TaskSpec(BaseModel):
    """What a person writes for a task in ``[[tasks]]`` (``id`` or ``task_id``)."""

    model_config = ConfigDict(defer_build=True, extra="forbid", populate_by_name=True, validate_assignment=True)

    task_id: str = Field(
        validation_alias=AliasChoices("id", "task_id"),
        min_length=1,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$",
        description="Unique id, e.g. TASK-001.",
    )
    title: str = Field(min_length=1)
    description: str = ""
    agent: str | None = Field(None, description="Agent name from [agents]; the project's default_agent when absent.")
    priority: TaskPriority = TaskPriority.MEDIUM
    phase: ProjectPhase = ProjectPhase.DEVELOPMENT
    dependencies: list[str] = Field(default_factory=list, description="Ids of tasks that must be completed first.")
    parent: str | None = Field(
        None,
        description="Id of the task this one is a subtask of: the parent waits for all its subtasks, "
        "and a subtask for what its parent waits for.",
    )
    estimated_hours: float = Field(1.0, gt=0)
    deliverables: list[str] = Field(default_factory=list)
    success_criteria: list[str] = Field(default_factory=list)
    commands: list[str] = Field(default_factory=list, description="Shell commands (the shell agent runs them).")
    tags: list[str] = Field(default_factory=list)
    notes: str = ""
    metadata: dict[str, Any] = Field(default_factory=dict)
    inputs: list[str] = Field(default_factory=list, description="Files whose contents go into the agent's prompt.")
    output: str | None = Field(None, description="Path the agent's final text is written to on success.")
    verify: list[str] = Field(
        default_factory=list, description="Shell commands run after a successful run; all must exit 0."
    )
    timeout: float | None = Field(
        None, ge=0, description="shell/cli: seconds the run may take (0: no limit); over the agent's."
    )
    idle_timeout: float | None = Field(
        None, ge=0, description="shell/cli: seconds the run may go without output (0: no limit)."
    )
    workspace: WorkspaceKind | None = Field(
        None, description="Where the run works: its own git worktree, or the project root (over the agent's)."
    )


class WorktreeRecord(BaseModel):
    """Where a worktree task's last run worked and what became of its branch. ``path`` is relative to the project
    root; ``base`` is the integration tip it started from; ``head`` the task branch after the run (None while it
    runs); ``merged`` the integration commit that holds it (None until completed); ``conflict_files`` the files
    of the last merge attempt that conflicted (the task stays in review)."""

    model_config = ConfigDict(defer_build=True, extra="ignore")

    path: str
    branch: str
    base: str
    head: str | None = None
    merged: str | None = None
    conflict_files: list[str] | None = None


class AgentTask(TaskSpec):
    """A task with its runtime record. The seed's class of the same name."""

    model_config = ConfigDict(defer_build=True, extra="ignore", populate_by_name=True, validate_assignment=True)

    status: TaskStatus = TaskStatus.PENDING
    started_at: datetime | None = None
    completed_at: datetime | None = None
    actual_hours: float | None = None
    attempts: int = 0
    last_run_id: str | None = None
    last_error: str | None = None
    output_files: list[str] = Field(default_factory=list)
    # Totals over the task's runs; None until a run reports them (never a made-up 0). ``cost_usd`` sums the
    # runs whose cost is known; ``unpriced_runs`` counts the runs whose cost is not.
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    cost_usd: float | None = None
    unpriced_runs: int = 0
    worktree: WorktreeRecord | None = None
    origin: Literal["plan", "api"] = "api"

    def __init__(
        self,
        task_id: str | None = None,
        title: str | None = None,
        description: str | None = None,
        agent: str | None = None,
        /,
        **data: Any,
    ) -> None:
        """Accepts the seed dataclass's positional order: ``AgentTask("T-1", "Title", "What to do", "claude")``."""
        for name, value in (("task_id", task_id), ("title", title), ("description", description), ("agent", agent)):
            if value is not None:
                data[name] = value
        super().__init__(**data)

    # pydantic runs a model's own ``__init__`` from ``model_validate`` too, validating every record twice (the
    # state's 10,000 tasks on each open). This one only maps positional arguments, which validation never has:
    # the marker pydantic puts on ``BaseModel.__init__`` makes it validate once.
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    @field_validator("started_at", "completed_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value

    @field_validator("status")
    @classmethod
    def _stored(cls, value: TaskStatus) -> TaskStatus:
        if value not in STORED_STATUSES:
            raise ValueError(f"{value.value!r} is derived from dependencies and cannot be stored; use 'pending'")
        return value

    def record(self) -> dict[str, Any]:
        """The JSON-ready dict kept in state and history."""
        return self.model_dump(mode="json")

    # The seed's helpers.
    def to_dict(self) -> dict[str, Any]:
        return self.record()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AgentTask:
        return cls.model_validate(data)

    def is_ready(self, completed_tasks: set[str]) -> bool:
        return all(dep in completed_tasks for dep in self.dependencies)

    def is_blocked(self, completed_tasks: set[str]) -> bool:
        return not self.is_ready(completed_tasks)


DEFINITION_FIELDS: tuple[str, ...] = tuple(TaskSpec.model_fields)
RUNTIME_FIELDS: tuple[str, ...] = tuple(name for name in AgentTask.model_fields if name not in TaskSpec.model_fields)


class ProjectSettings(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid")

    id: str = Field(min_length=1)
    name: str = ""
    description: str = ""
    parallel_max: int = Field(4, ge=1, le=256, description="Tasks running at once.")
    default_agent: str = "shell"
    auto_complete: bool = Field(
        False, description="Complete tasks whose run and verify succeeded instead of leaving them in review."
    )
    workspace: WorkspaceKind | None = Field(
        None,
        description="Default for every task: 'worktree' (a git worktree and branch per task, merged on completion) "
        "or 'root'; unset: worktree for cli agents when the project is in a git work tree, root otherwise.",
    )
    worktree_include: list[str] = Field(
        default_factory=list, description="Patterns of files not in git copied into each new worktree (.env...)."
    )
    worktree_setup: list[str] = Field(
        default_factory=list, description="Shell commands run in each new worktree before the agent starts."
    )
    integration_branch: str | None = Field(
        None,
        pattern=BRANCH_PATTERN,
        description="Branch completed tasks are merged into (default orchestra/<id>/integration, created from the "
        "branch checked out when the first worktree task is dispatched).",
    )
    max_worktrees: int | None = Field(None, ge=1, le=4096, description="Worktrees at once (default 2 x parallel_max).")
    merge: Literal["no-ff", "squash"] = Field(
        "no-ff", description="How a completed task lands: one --no-ff merge commit, or one squashed commit."
    )

    @field_validator("integration_branch")
    @classmethod
    def _branch_name(cls, name: str | None) -> str | None:
        if name is not None and (any(part in name + "/" for part in _BAD_BRANCH_PARTS) or name.endswith((".", "/"))):
            raise PydanticCustomError("branch_name", "not a valid git branch name")
        return name

    executor: Literal["local", "ray"] = Field(
        "local", description="Where agents run: here, or on a Ray cluster (an agent's own executor wins)."
    )
    ray_address: str | None = Field(
        None, description="The Ray cluster (e.g. ray://head:10001); default: $RAY_ADDRESS, a running one, or local."
    )


class AgentType(StrEnum):
    ANTHROPIC = "anthropic"
    OPENAI = "openai"
    GEMINI = "gemini"
    OLLAMA = "ollama"
    HTTP = "http"
    SHELL = "shell"
    CLI = "cli"
    INTERACTIVE = "interactive"
    PYTHON = "python"


# ``package.module:Name`` (``Name`` may be dotted: ``Outer.Inner``); checked without importing anything.
ENTRY_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$"


class AgentConfig(BaseModel):
    """One ``[agents.NAME]`` table. Keys are read from the environment variable named by ``api_key_env``."""

    model_config = ConfigDict(defer_build=True, extra="forbid")

    type: AgentType
    model: str | None = None
    base_url: str | None = None
    api_key_env: str | None = Field(
        None, description="Name of the environment variable holding the key; the key itself never goes into a file."
    )
    capabilities: list[str] = Field(default_factory=list)
    max_tokens: int = Field(4096, gt=0)
    temperature: float | None = None
    system: str | None = None
    read_timeout: float = Field(300.0, gt=0, description="Seconds allowed between two streamed chunks.")
    max_attempts: int = Field(3, ge=1, le=10)
    stream_usage: bool = Field(
        True, description="openai: send stream_options.include_usage (some strict servers reject it)."
    )
    api: Literal["chat", "responses"] = Field(
        "chat", validate_default=True, description="openai: Chat Completions (chat) or the Responses API (responses)."
    )
    headers: dict[str, str] = Field(default_factory=dict)
    command: list[str] = Field(
        default_factory=list,
        description="cli: the command line, e.g. ['claude', '-p', '--output-format', 'stream-json'].",
    )
    prompt_via: Literal["stdin", "arg"] = "stdin"
    output_format: Literal["text", "stream-json", "jsonl"] = "text"
    request: dict[str, Any] = Field(
        default_factory=dict, description="http: the JSON body template; {prompt} and {model} are filled in."
    )
    text_path: str | None = Field(None, description="http: dotted path to the text in each streamed JSON line.")
    entry: str | None = Field(
        None,
        pattern=ENTRY_PATTERN,
        validate_default=True,
        description=(
            "python: the agent's class or function as 'package.module:Name', imported only when one of its tasks runs."
        ),
    )
    price_input: float | None = Field(
        None, ge=0, description="USD per million input tokens (overrides the built-in table)."
    )
    price_output: float | None = Field(None, ge=0, description="USD per million output tokens.")
    price_cache_read: float | None = Field(
        None, ge=0, description="USD per million prompt tokens read from a prompt cache."
    )
    price_cache_write: float | None = Field(
        None, ge=0, description="USD per million prompt tokens written to a prompt cache."
    )
    timeout: float | None = Field(
        None, ge=0, description="shell/cli: seconds a run may take (default 1800 shell, 3600 cli; 0: no limit)."
    )
    idle_timeout: float | None = Field(
        None, ge=0, description="shell/cli: seconds a run may go without output (default 600; 0: no limit)."
    )
    workspace: WorkspaceKind | None = Field(
        None, description="Where this agent's tasks work: 'worktree' or 'root' (over the project's)."
    )
    executor: Literal["local", "ray"] | None = Field(
        None, description="Where this agent runs: here or on Ray (default: the project's executor)."
    )
    resources: dict[str, float] = Field(
        default_factory=dict,
        description="On Ray: what a run needs, e.g. { CPU = 2, memory = 4e9, gpu_box = 1 } (custom resources too).",
    )

    @field_validator("api")
    @classmethod
    def _api_is_openais(cls, api: str, info: ValidationInfo) -> str:
        if api != "chat" and info.data.get("type") != AgentType.OPENAI:
            raise PydanticCustomError("openai_api", 'api = "responses" is for type "openai" agents only')
        return api

    @field_validator("entry")
    @classmethod
    def _python_needs_entry(cls, entry: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("type") == AgentType.PYTHON and not entry:
            raise PydanticCustomError("python_entry", 'type "python" needs entry = "package.module:ClassName"')
        return entry


class WebhookEvent(StrEnum):
    TASK_STARTED = "task_started"
    TASK_COMPLETED = "task_completed"
    TASK_FAILED = "task_failed"
    TASK_REVIEW = "task_review"
    ROLLBACK = "rollback"
    RUN_FINISHED = "run_finished"


class WebhookConfig(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid")

    url: str = Field(min_length=1)
    events: list[WebhookEvent] = Field(default_factory=lambda: list(WebhookEvent))
    secret_env: str | None = Field(None, description="Environment variable holding the HMAC secret.")


class Price(BaseModel):
    """USD per million tokens. Cached prompt tokens are priced at ``cache_read`` / ``cache_write`` (the input
    price when not given)."""

    model_config = ConfigDict(defer_build=True, extra="forbid")

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cache_read: float | None = Field(None, ge=0, description="USD per million prompt tokens read from a prompt cache.")
    cache_write: float | None = Field(
        None, ge=0, description="USD per million prompt tokens written to a prompt cache."
    )


class PlanSections(BaseModel):
    """``orchestra.toml`` but its tasks: what an open validates when the signed parse cache says these very tasks
    were validated before (``plan/cache.py``). Validating it builds no schema for ``TaskSpec``, ``PlanFile`` or
    the empty task list (about 6 ms of a first ``orchestra next``)."""

    model_config = ConfigDict(defer_build=True, extra="forbid")

    project: ProjectSettings
    agents: dict[str, AgentConfig] = Field(default_factory=dict)
    webhooks: list[WebhookConfig] = Field(default_factory=list)
    pricing: dict[str, Price] = Field(
        default_factory=dict, description="Prices by model name, over the built-in table."
    )


class PlanFile(PlanSections):
    """The whole ``orchestra.toml``; ``orchestra schema`` prints its JSON Schema."""

    model_config = ConfigDict(defer_build=True, extra="forbid", title="orchestra.toml")

    tasks: list[TaskSpec] = Field(default_factory=list)
