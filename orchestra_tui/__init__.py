"""orchestra: drive multi-week, AI-assisted software projects from the terminal.

The Python API keeps the seed framework's names::

    from orchestra_tui import (ProjectOrchestrator, AgentTask, TaskPriority, ProjectPhase, TaskStatus,
                               AgentRegistry, CustomAgent, ParallelExecutor, WebhookManager)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    "AgentRegistry",
    "AgentTask",
    "CustomAgent",
    "ExecutionResult",
    "ParallelExecutor",
    "ProjectOrchestrator",
    "ProjectPhase",
    "TaskPriority",
    "TaskStatus",
    "WebhookManager",
    "__version__",
]

# name -> module; imported on first use, so that `orchestra_tui.store` or the CLI's fast paths don't pay for
# what they don't use.
_EXPORTS = {
    "ProjectOrchestrator": ".api",
    "AgentRegistry": ".api",
    "AgentTask": ".models",
    "TaskPriority": ".models",
    "ProjectPhase": ".models",
    "TaskStatus": ".models",
    "CustomAgent": ".agents.python",
    "ParallelExecutor": ".api_executor",
    "ExecutionResult": ".api_executor",
    "WebhookManager": ".api_webhooks",
    "__version__": ".version",
}

if TYPE_CHECKING:
    from .agents.python import CustomAgent
    from .api import AgentRegistry, ProjectOrchestrator
    from .api_executor import ExecutionResult, ParallelExecutor
    from .api_webhooks import WebhookManager
    from .models import AgentTask, ProjectPhase, TaskPriority, TaskStatus
    from .version import __version__


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'orchestra_tui' has no attribute {name!r}")
    return getattr(importlib.import_module(module, __name__), name)
