"""Agents by name: built from the plan's ``[agents.*]`` tables, plus the seed framework's ``AgentRegistry``.

:func:`build_agent` makes the agent object for one configuration (agent modules are imported only when
their type is used). :func:`agents_for` gives every agent a plan can name, the built-in ``shell`` and
``interactive`` included.

:class:`AgentRegistry` keeps the seed's API (``register(agent)``, ``register_agent(name, type=..., interface,
capabilities, **kwargs)``, ``get_agent``, ``list_agents``, ``find_agents_by_capability``,
``get_recommended_agent``...).
It accepts the seed's agent types (``"anthropic-claude"``, ``"openai-gpt"``, ``"google-gemini"``,
``"meta-llama"``, ``"custom"``) as well as orchestra's (``"anthropic"``, ``"cli"``...), and every entry
carries an orchestra :class:`~orchestra_tui.models.AgentConfig` it can be run with. An ``api_key`` given
to ``register_agent`` stays in memory only (never in ``to_dict``, ``repr`` or any file); agents read keys
from the run's environment, so the agent :meth:`RegisteredAgent.build` makes adds it to each run's.

What is registered from code belongs to the process too: every project opened in it (``ProjectOrchestrator``,
``ParallelExecutor``, a ``Scheduler`` or the TUI started from the same script) runs it by name, and it wins
over a plan's agent of the same name (:func:`process_agent`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncGenerator, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from ..models import AgentConfig, AgentType
from ..plan import BUILTIN_AGENTS
from .base import Agent, AgentRequest, Usability
from .events import AgentEvent
from .factory import RegistryError as RegistryError
from .factory import build_agent as build_agent

if TYPE_CHECKING:
    from ..plan import Plan


def agent_configs(plan: Plan) -> dict[str, AgentConfig]:
    """The plan's ``[agents.*]`` configurations plus the built-in ``shell`` and ``interactive`` it does not
    configure."""
    configs = dict(plan.agents)
    for name in sorted(BUILTIN_AGENTS):
        configs.setdefault(name, AgentConfig(type=AgentType(name)))
    return configs


def placed_agent(name: str, config: AgentConfig, plan: Plan) -> Agent:
    """The agent for ``config`` where it runs: here, or on Ray when the agent's ``executor`` (else the project's)
    is ``ray`` (:mod:`.ray_remote`, imported only then)."""
    if (config.executor or plan.project.executor) == "ray":
        from .ray_remote import RayAgent

        return RayAgent(name, config, address=plan.project.ray_address)
    return build_agent(name, config)


def agents_for(plan: Plan) -> dict[str, Agent]:
    """Every agent ``plan`` can name: its ``[agents.*]`` plus the built-in ``shell`` and ``interactive``."""
    return {name: placed_agent(name, config, plan) for name, config in agent_configs(plan).items()}


class SeedAgentType(StrEnum):
    """The seed framework's ``AgentType`` values (orchestra's own types are accepted as well)."""

    ANTHROPIC_CLAUDE = "anthropic-claude"
    OPENAI_GPT = "openai-gpt"
    GOOGLE_GEMINI = "google-gemini"
    META_LLAMA = "meta-llama"
    CUSTOM = "custom"


class AgentInterface(StrEnum):
    """How the seed talks to an agent: ``task-tool`` is a person with Claude Code, i.e. ``interactive``."""

    TASK_TOOL = "task-tool"
    API = "api"
    CLI = "cli"
    HYBRID = "hybrid"


class AgentCapability(StrEnum):
    """The seed's capability names; any other string is a capability too."""

    CODE = "code"
    RESEARCH = "research"
    DESIGN = "design"
    TESTING = "testing"
    DEPLOYMENT = "deployment"
    DOCUMENTATION = "documentation"
    ANALYSIS = "analysis"
    PLANNING = "planning"


_API_TYPES: dict[str, AgentType] = {
    SeedAgentType.ANTHROPIC_CLAUDE: AgentType.ANTHROPIC,
    SeedAgentType.OPENAI_GPT: AgentType.OPENAI,
    SeedAgentType.GOOGLE_GEMINI: AgentType.GEMINI,
    SeedAgentType.META_LLAMA: AgentType.OLLAMA,
    SeedAgentType.CUSTOM: AgentType.HTTP,
}
# The seed read these variables when no api_key was given.
_KEY_ENV: dict[AgentType, str] = {
    AgentType.ANTHROPIC: "ANTHROPIC_API_KEY",
    AgentType.OPENAI: "OPENAI_API_KEY",
    AgentType.GEMINI: "GOOGLE_API_KEY",
}
# The seed's "cli" interface for its two coding-agent vendors.
_CLI_DEFAULTS: dict[str, dict[str, Any]] = {
    SeedAgentType.ANTHROPIC_CLAUDE: {
        "command": ["claude", "-p", "--output-format", "stream-json", "--verbose"],
        "output_format": "stream-json",
    },
    SeedAgentType.OPENAI_GPT: {"command": ["codex", "exec", "--json"], "output_format": "jsonl"},
}
# The seed's api_endpoint may be the full URL; orchestra's base_url stops before the path the agent adds.
_ENDPOINT_PATHS: dict[AgentType, str] = {AgentType.OPENAI: "/chat/completions", AgentType.ANTHROPIC: "/v1/messages"}
# Types that need a model: a seed registration without one names it by the agent's name.
_NAMED_MODELS = frozenset({AgentType.OPENAI, AgentType.ANTHROPIC, AgentType.GEMINI, AgentType.OLLAMA})
_INTERFACE_OF: dict[AgentType, AgentInterface] = {
    AgentType.INTERACTIVE: AgentInterface.TASK_TOOL,
    AgentType.CLI: AgentInterface.CLI,
    AgentType.SHELL: AgentInterface.CLI,
}
_SEED_OPTIONS = frozenset({"model", "api_key", "api_endpoint", "max_tokens", "temperature", "metadata", "enabled"})


@dataclass
class RegisteredAgent:
    """One registry entry: the seed's ``AgentConfig`` attributes, and the orchestra ``config`` to run it with."""

    name: str
    agent_type: str
    interface: AgentInterface
    config: AgentConfig
    capabilities: list[str] = field(default_factory=list)
    model: str = ""
    api_endpoint: str | None = None
    max_tokens: int = 4000
    temperature: float | None = 0.7
    metadata: dict[str, Any] = field(default_factory=dict)
    enabled: bool = True
    api_key: str | None = field(default=None, repr=False)
    instance: Agent | None = field(default=None, repr=False)  # registered with ``register(agent)``

    def supports_capability(self, capability: object) -> bool:
        return _value(capability) in self.capabilities

    def to_dict(self) -> dict[str, Any]:
        """The seed's serialisation (never the key)."""
        return {
            "name": self.name,
            "agent_type": self.agent_type,
            "interface": self.interface.value,
            "capabilities": [_value(item) for item in self.capabilities],
            "model": self.model,
            "api_endpoint": self.api_endpoint,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "metadata": self.metadata,
            "enabled": self.enabled,
        }

    def build(self) -> Agent:
        """The runnable agent for this entry; it adds the ``api_key`` given at registration to each run's
        environment."""
        agent = self.instance if self.instance is not None else build_agent(self.name, self.config)
        return _Keyed(agent, self) if self.api_key and self.config.api_key_env else agent

    def environment(self, env: Mapping[str, str]) -> dict[str, str]:
        """``env`` plus the ``api_key`` given at registration, under the variable the agent reads it from."""
        merged = dict(env)
        if self.api_key and self.config.api_key_env:
            merged[self.config.api_key_env] = self.api_key
        return merged


class _Keyed:
    """An agent whose runs see a key given in code (never in ``os.environ``, never in a file)."""

    def __init__(self, agent: Agent, entry: RegisteredAgent) -> None:
        self.agent, self.name, self.config = agent, agent.name, agent.config
        self._entry = entry

    def __repr__(self) -> str:
        return f"<{self.name} with a key given in code>"

    def run(self, request: AgentRequest) -> AsyncGenerator[AgentEvent, None]:
        return self.agent.run(dataclasses.replace(request, env=self._entry.environment(request.env)))

    async def check(self, env: Mapping[str, str]) -> Usability:
        return await self.agent.check(self._entry.environment(env))


# Registered from code in this process, by any registry: name -> entry (the latest registration wins).
_PROCESS_AGENTS: dict[str, RegisteredAgent] = {}


def process_agent(name: str) -> RegisteredAgent | None:
    """The agent registered from code in this process under ``name`` (None when none is)."""
    return _PROCESS_AGENTS.get(name)


def process_agents() -> list[str]:
    """The names of the agents registered from code in this process."""
    return sorted(_PROCESS_AGENTS)


def resolve_agent(name: str, registry: AgentRegistry) -> RegisteredAgent | None:
    """The entry that runs agent ``name``: registered from code in ``registry`` or anywhere in this process,
    else ``registry``'s own (a plan's, or a built-in)."""
    if name in registry.registered:
        return registry.agents.get(name)
    return process_agent(name) or registry.get_agent(name)


class AgentRegistry:
    """The seed's agent registry; ``AgentRegistry(plan)`` starts with the plan's agents and the built-ins.

    ``register`` and ``register_agent`` also make the agent this process's (see the module's docstring).
    """

    def __init__(self, plan: Plan | None = None) -> None:
        self.agents: dict[str, RegisteredAgent] = {}
        self.registered: set[str] = set()  # names registered from code (they win over the plan's)
        for name, config in (agent_configs(plan) if plan is not None else {}).items():
            self.add(name, config)

    def add(self, name: str, config: AgentConfig) -> RegisteredAgent:
        """Add an orchestra configuration as it is (for this registry only)."""
        self._check_new(name)
        entry = self.agents[name] = self._entry(name, config)
        return entry

    @staticmethod
    def _entry(name: str, config: AgentConfig) -> RegisteredAgent:
        return RegisteredAgent(
            name=name,
            agent_type=config.type.value,
            interface=_INTERFACE_OF.get(config.type, AgentInterface.API),
            config=config,
            capabilities=_capabilities(config.capabilities),
            model=config.model or "",
            api_endpoint=config.base_url,
            max_tokens=config.max_tokens,
            temperature=config.temperature,
        )

    def register(self, agent: object) -> RegisteredAgent:
        """Register an agent object: a :class:`~orchestra_tui.agents.python.CustomAgent` (the seed's way), or any
        object with ``name``, ``config``, ``run`` and ``check`` (an orchestra agent)."""
        from .python import CustomAgent

        name = getattr(agent, "name", None)
        if not isinstance(name, str) or not name:
            raise RegistryError(
                f"register: {type(agent).__name__} has no name; give it one: {type(agent).__name__}(name=...)"
            )
        if not isinstance(agent, CustomAgent) and not (
            isinstance(getattr(agent, "config", None), AgentConfig) and callable(getattr(agent, "run", None))
        ):
            raise RegistryError(
                f"register {name!r}: expected a CustomAgent (or an orchestra agent), got {type(agent).__name__}"
            )
        self._check_new(name)
        config: AgentConfig = agent.config  # type: ignore[attr-defined]
        entry = self._entry(name, config)
        entry.agent_type = "custom" if isinstance(agent, CustomAgent) else config.type.value
        entry.capabilities = _capabilities(getattr(agent, "capabilities", None) or config.capabilities)
        entry.instance = agent  # type: ignore[assignment]
        return self._publish(entry)

    def register_agent(
        self,
        name: str,
        agent_type: object = None,
        interface: object = AgentInterface.API,
        capabilities: Iterable[object] | None = None,
        *,
        type: object = None,
        **kwargs: Any,
    ) -> RegisteredAgent:
        """Register an agent the seed's way: ``register_agent(name="gpt-4", type="openai-gpt", interface="api",
        api_key=...)``; ``agent_type=`` is the same as ``type=``. ``kwargs``: the seed's ``model``, ``api_key``,
        ``api_endpoint``, ``max_tokens``, ``temperature``, ``metadata``, ``enabled``, and any orchestra
        ``AgentConfig`` field.

        Raises :class:`RegistryError` (a ``ValueError``) for a duplicate name or an unusable configuration.
        """
        if not name:
            raise RegistryError("Agent name is required")
        if agent_type is not None and type is not None and _value(agent_type) != _value(type):
            raise RegistryError(f"register_agent {name!r}: give type= or agent_type=, not both")
        agent_type = agent_type if agent_type is not None else type
        if agent_type is None:
            raise RegistryError(f'register_agent {name!r}: type= is required (e.g. type="openai-gpt")')
        self._check_new(name)
        seed = {key: kwargs.pop(key) for key in list(kwargs) if key in _SEED_OPTIONS}
        unknown = sorted(set(kwargs) - set(AgentConfig.model_fields))
        if unknown:
            raise RegistryError(f"register_agent {name!r}: unknown option {unknown[0]!r}")
        kind_name = _value(agent_type)
        interface = _interface(name, interface)
        kind, defaults = _resolve_type(name, kind_name, interface)
        caps = _capabilities(capabilities or [])
        fields: dict[str, Any] = {**defaults, **kwargs, "type": kind, "capabilities": caps}
        if seed.get("model"):
            fields.setdefault("model", seed["model"])
        elif kind_name in _API_TYPES and kind in _NAMED_MODELS:
            fields.setdefault("model", name)  # the seed's convention: register_agent(name="gpt-4", ...) is model gpt-4
        if seed.get("api_endpoint"):
            fields.setdefault("base_url", _base_url(kind, seed["api_endpoint"]))
        fields.setdefault("max_tokens", seed.get("max_tokens", 4000))
        fields.setdefault("temperature", seed.get("temperature", 0.7))
        if kind in _KEY_ENV:
            fields.setdefault("api_key_env", _KEY_ENV[kind])
        try:
            config = AgentConfig.model_validate(fields)
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "value"
            raise RegistryError(f"register_agent {name!r}: {where}: {first['msg']}") from None
        entry = RegisteredAgent(
            name=name,
            agent_type=kind_name,
            interface=interface,
            config=config,
            capabilities=caps,
            model=seed.get("model") or "",
            api_endpoint=seed.get("api_endpoint"),
            max_tokens=config.max_tokens,
            temperature=config.temperature,
            metadata=dict(seed.get("metadata") or {}),
            enabled=bool(seed.get("enabled", True)),
            api_key=seed.get("api_key"),
        )
        return self._publish(entry)

    def _publish(self, entry: RegisteredAgent) -> RegisteredAgent:
        self.agents[entry.name] = entry
        self.registered.add(entry.name)
        _PROCESS_AGENTS[entry.name] = entry
        return entry

    def get_agent(self, name: str) -> RegisteredAgent | None:
        return self.agents.get(name)

    def list_agents(self, enabled_only: bool = True) -> list[RegisteredAgent]:
        return [entry for entry in self.agents.values() if entry.enabled or not enabled_only]

    def find_agents_by_capability(self, capability: object, enabled_only: bool = True) -> list[RegisteredAgent]:
        return [entry for entry in self.list_agents(enabled_only) if entry.supports_capability(capability)]

    def find_agents_by_type(self, agent_type: object, enabled_only: bool = True) -> list[RegisteredAgent]:
        return [entry for entry in self.list_agents(enabled_only) if _is_type(entry, agent_type)]

    def get_recommended_agent(
        self,
        required_capabilities: Iterable[object],
        preferred_types: Iterable[object] | None = None,
        fallback: str = "claude-code",
    ) -> RegisteredAgent | None:
        """The enabled agent with every required capability, of a preferred type if any is, most versatile
        first (registration order breaks ties); else the ``fallback`` agent (None when not registered)."""
        required = list(required_capabilities)
        candidates = [entry for entry in self.list_agents() if all(entry.supports_capability(cap) for cap in required)]
        if not candidates:
            return self.get_agent(fallback)
        preferred = list(preferred_types or [])
        if preferred:
            candidates = [
                entry for entry in candidates if any(_is_type(entry, kind) for kind in preferred)
            ] or candidates
        return max(candidates, key=lambda entry: len(entry.capabilities))

    def enable_agent(self, name: str) -> bool:
        return self._set_enabled(name, True)

    def disable_agent(self, name: str) -> bool:
        return self._set_enabled(name, False)

    def unregister_agent(self, name: str) -> bool:
        entry = self.agents.pop(name, None)
        self.registered.discard(name)
        if entry is not None and _PROCESS_AGENTS.get(name) is entry:
            del _PROCESS_AGENTS[name]
        return entry is not None

    def build(self, name: str) -> Agent:
        """The runnable agent registered as ``name``."""
        entry = self.agents.get(name)
        if entry is None:
            known = ", ".join(sorted(self.agents)) or "none"
            raise RegistryError(f"unknown agent {name!r}; registered: {known}")
        return entry.build()

    def _set_enabled(self, name: str, enabled: bool) -> bool:
        entry = self.agents.get(name)
        if entry is None:
            return False
        entry.enabled = enabled
        return True

    def _check_new(self, name: str) -> None:
        if name in self.agents:
            raise RegistryError(f"Agent '{name}' already registered")


def _resolve_type(name: str, agent_type: str, interface: AgentInterface) -> tuple[AgentType, dict[str, Any]]:
    """Orchestra's type for a seed registration, and the defaults that come with it."""
    if agent_type in {member.value for member in AgentType}:
        return AgentType(agent_type), {}
    if agent_type not in _API_TYPES:
        known = ", ".join([*SeedAgentType, *AgentType])
        raise RegistryError(f"register_agent {name!r}: unknown agent_type {agent_type!r}; known: {known}")
    if interface is AgentInterface.TASK_TOOL:
        return AgentType.INTERACTIVE, {}
    if interface is AgentInterface.CLI:
        return AgentType.CLI, dict(_CLI_DEFAULTS.get(agent_type, {}))
    return _API_TYPES[agent_type], {}


def _is_type(entry: RegisteredAgent, agent_type: object) -> bool:
    """Matches the type as registered (seed or orchestra name) or the orchestra type it runs as."""
    return _value(agent_type) in (entry.agent_type, entry.config.type.value)


def _value(item: object) -> str:
    """An enum's value (orchestra's, or the seed's own ``str, Enum`` classes) or the string itself."""
    return str(getattr(item, "value", item))


def _capabilities(values: Iterable[object]) -> list[str]:
    known = {item.value: item for item in AgentCapability}
    return [known.get(_value(value), _value(value)) for value in values]


def _interface(name: str, value: object) -> AgentInterface:
    try:
        return AgentInterface(_value(value))
    except ValueError:
        known = ", ".join(AgentInterface)
        raise RegistryError(f"register_agent {name!r}: unknown interface {_value(value)!r}; known: {known}") from None


def _base_url(kind: AgentType, endpoint: str) -> str:
    url = endpoint.rstrip("/")
    path = _ENDPOINT_PATHS.get(kind)
    return url[: -len(path)] if path and url.endswith(path) else url
