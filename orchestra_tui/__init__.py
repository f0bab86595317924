"""orchestra: drive multi-week, AI-assisted software projects from the terminal.

The Python API keeps the seed framework's names::

    from orchestra_tui import ProjectOrchestrator, AgentTask, TaskPriority, ProjectPhase, TaskStatus
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["AgentRegistry", "AgentTask", "ProjectOrchestrator", "ProjectPhase", "TaskPriority", "TaskStatus", "__version__"]

if TYPE_CHECKING:
    from .api import AgentRegistry, ProjectOrchestrator
    from .models import AgentTask, ProjectPhase, TaskPriority, TaskStatus


def __getattr__(name: str) -> Any:
    # Lazy, so that `orchestra_tui.store` or the CLI's fast paths don't pay for what they don't use.
    if name == "ProjectOrchestrator":
        from .api import ProjectOrchestrator

        return ProjectOrchestrator
    if name == "AgentRegistry":
        from .api import AgentRegistry

        return AgentRegistry
    if name in ("AgentTask", "TaskPriority", "ProjectPhase", "TaskStatus"):
        from . import models

        return getattr(models, name)
    raise AttributeError(f"module 'orchestra_tui' has no attribute {name!r}")
