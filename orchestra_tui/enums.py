"""The task enums, free of pydantic: the CLI's option types need them to print ``--help``, which imports
nothing else of the model (``orchestra --help`` and ``--version`` stay fast). ``models`` re-exports them."""

from __future__ import annotations

from enum import StrEnum


class TaskPriority(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class ProjectPhase(StrEnum):
    PLANNING = "planning"
    DESIGN = "design"
    DEVELOPMENT = "development"
    TESTING = "testing"
    DEPLOYMENT = "deployment"
    MAINTENANCE = "maintenance"


class TaskStatus(StrEnum):
    """Stored statuses, plus ``READY`` and ``BLOCKED`` which are derived from dependencies, never stored."""

    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    REVIEW = "review"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    READY = "ready"
    BLOCKED = "blocked"
