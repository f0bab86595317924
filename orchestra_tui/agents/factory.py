"""The agent object for one ``[agents.*]`` configuration, by its ``type`` (agent modules are imported only when
their type is used). Below :mod:`.registry` (names, the seed's API) and :mod:`.ray_remote` (a worker builds the
agent it runs with this), so neither imports the other."""

from __future__ import annotations

import importlib

from ..errors import OrchestraError
from ..models import AgentConfig, AgentType
from .base import Agent

# type -> (module in this package, class); imported on first use.
_AGENT_CLASSES: dict[AgentType, tuple[str, str]] = {
    AgentType.SHELL: ("shell", "ShellAgent"),
    AgentType.CLI: ("cli", "CliAgent"),
    AgentType.INTERACTIVE: ("interactive", "InteractiveAgent"),
    AgentType.OPENAI: ("openai", "OpenAIAgent"),
    AgentType.ANTHROPIC: ("anthropic", "AnthropicAgent"),
    AgentType.GEMINI: ("gemini", "GeminiAgent"),
    AgentType.OLLAMA: ("ollama", "OllamaAgent"),
    AgentType.HTTP: ("http_generic", "HttpAgent"),
    AgentType.PYTHON: ("python", "PythonAgent"),
}


class RegistryError(OrchestraError, ValueError):
    """An agent that cannot be registered or built (one line, like every user error)."""


def build_agent(name: str, config: AgentConfig) -> Agent:
    """The agent object for ``config`` (by ``config.type``), named ``name``."""
    module_name, class_name = _AGENT_CLASSES[config.type]
    qualified = f"{__package__}.{module_name}"
    try:
        module = importlib.import_module(qualified)
    except ModuleNotFoundError as error:
        if error.name != qualified:
            raise
        module = None
    cls = getattr(module, class_name, None)
    if cls is None:
        raise RegistryError(
            f"agent {name!r}: type {config.type.value!r} is not available in this installation "
            f"({qualified}.{class_name} is missing)"
        )
    agent: Agent = cls(name, config)
    return agent
