"""Agents by name (build_agent, agents_for), the seed's AgentRegistry API, and the price table."""

from __future__ import annotations

import importlib.util
from enum import Enum
from pathlib import Path

import pytest

from orchestra_tui.agents.cli import CliAgent
from orchestra_tui.agents.interactive import InteractiveAgent
from orchestra_tui.agents.pricing import DEFAULT_PRICES, cost_usd, find_price, format_cost, price_for
from orchestra_tui.agents.registry import (
    AgentCapability,
    AgentInterface,
    AgentRegistry,
    RegistryError,
    SeedAgentType,
    agents_for,
    build_agent,
)
from orchestra_tui.agents.shell import ShellAgent
from orchestra_tui.errors import OrchestraError
from orchestra_tui.models import AgentConfig, AgentType, Price
from orchestra_tui.plan import load_plan

from ..helpers.plans import task_block, write_plan

PLAN_AGENTS = """
[agents.claude]
type = "cli"
command = ["claude", "-p", "--output-format", "stream-json", "--verbose"]
output_format = "stream-json"
capabilities = ["code", "testing", "review"]

[agents.writer]
type = "openai"
model = "gpt-4o-mini"
base_url = "http://127.0.0.1:9/v1"
api_key_env = "OPENAI_API_KEY"
capabilities = ["documentation"]

[agents.shell]
type = "shell"
capabilities = ["build"]

"""


def plan_in(root: Path):
    write_plan(root, PLAN_AGENTS + task_block("T-1", agent="claude"))
    return load_plan(root, environ={})


# ---------------------------------------------------------------- build_agent, agents_for


@pytest.mark.parametrize(("kind", "cls"), [("shell", ShellAgent), ("cli", CliAgent), ("interactive", InteractiveAgent)])
def test_build_agent_makes_the_local_agents(kind: str, cls: type) -> None:
    config = AgentConfig(type=kind)
    agent = build_agent("mine", config)
    assert type(agent) is cls
    assert agent.name == "mine" and agent.config is config


@pytest.mark.parametrize(
    ("kind", "module", "class_name"),
    [
        ("openai", "openai", "OpenAIAgent"),
        ("anthropic", "anthropic", "AnthropicAgent"),
        ("gemini", "gemini", "GeminiAgent"),
        ("ollama", "ollama", "OllamaAgent"),
        ("http", "http_generic", "HttpAgent"),
    ],
)
def test_build_agent_makes_the_http_agents_or_says_they_are_missing(kind: str, module: str, class_name: str) -> None:
    config = AgentConfig(type=kind, model="m", base_url="http://127.0.0.1:9", text_path="text")
    if importlib.util.find_spec(f"orchestra_tui.agents.{module}") is None:
        with pytest.raises(RegistryError) as caught:
            build_agent("remote", config)
        assert str(caught.value) == (
            f"agent 'remote': type '{kind}' is not available in this installation "
            f"(orchestra_tui.agents.{module}.{class_name} is missing)"
        )
    else:
        agent = build_agent("remote", config)
        assert type(agent).__name__ == class_name
        assert agent.name == "remote" and agent.config is config


def test_agents_for_a_plan_adds_the_builtins_it_does_not_configure(tmp_path: Path) -> None:
    plan = plan_in(tmp_path)
    agents = agents_for(plan)
    assert sorted(agents) == ["claude", "interactive", "shell", "writer"]
    assert isinstance(agents["claude"], CliAgent) and agents["claude"].config.output_format == "stream-json"
    assert isinstance(agents["interactive"], InteractiveAgent) and agents["interactive"].config == AgentConfig(
        type="interactive"
    )
    assert agents["shell"].config.capabilities == ["build"]  # the plan's own shell table wins over the built-in
    assert type(agents["writer"]).__name__ == "OpenAIAgent"


# ---------------------------------------------------------------- the seed's AgentRegistry


def test_register_agent_the_seed_way_maps_types_and_interfaces() -> None:
    registry = AgentRegistry()
    claude = registry.register_agent(
        name="claude-code",
        agent_type=SeedAgentType.ANTHROPIC_CLAUDE,
        interface=AgentInterface.TASK_TOOL,
        capabilities=[AgentCapability.CODE, "research"],
    )
    assert claude.config.type is AgentType.INTERACTIVE
    assert (claude.agent_type, claude.interface, claude.capabilities) == (
        "anthropic-claude",
        AgentInterface.TASK_TOOL,
        ["code", "research"],
    )
    assert (claude.model, claude.max_tokens, claude.temperature, claude.enabled) == (
        "",
        4000,
        0.7,
        True,
    )  # the seed's defaults

    cli = registry.register_agent("claude-cli", "anthropic-claude", "cli", ["code"])
    assert cli.config.type is AgentType.CLI
    assert cli.config.command == ["claude", "-p", "--output-format", "stream-json", "--verbose"]
    assert cli.config.output_format == "stream-json"
    codex = registry.register_agent("codex", "openai-gpt", "cli")
    assert (codex.config.command, codex.config.output_format) == (["codex", "exec", "--json"], "jsonl")

    gemini = registry.register_agent("gemini-pro", "google-gemini", "api", model="gemini-2.5-pro")
    assert (gemini.config.type, gemini.config.model, gemini.config.api_key_env) == (
        AgentType.GEMINI,
        "gemini-2.5-pro",
        "GOOGLE_API_KEY",
    )
    llama = registry.register_agent(
        "llama", "meta-llama", "api", model="llama3.1:8b", api_endpoint="http://127.0.0.1:11434"
    )
    assert (llama.config.type, llama.config.base_url) == (AgentType.OLLAMA, "http://127.0.0.1:11434")

    native = registry.register_agent("local-shell", "shell", "cli", ["build"], command=["unused"])
    assert native.config.type is AgentType.SHELL and native.config.capabilities == ["build"]
    assert [type(entry.build()).__name__ for entry in (claude, cli, native)] == [
        "InteractiveAgent",
        "CliAgent",
        "ShellAgent",
    ]


def test_an_api_key_stays_in_memory_and_out_of_every_serialisation() -> None:
    registry = AgentRegistry()
    gpt = registry.register_agent(
        name="gpt-4",
        agent_type="openai-gpt",
        interface="api",
        api_key="sk-planted-secret-123",
        model="gpt-4",
        api_endpoint="https://api.openai.com/v1/chat/completions",
    )
    assert gpt.config.type is AgentType.OPENAI
    assert gpt.config.base_url == "https://api.openai.com/v1"  # the seed's full URL, minus the path the agent adds
    assert gpt.config.api_key_env == "OPENAI_API_KEY"
    assert (
        "sk-planted" not in repr(gpt)
        and "sk-planted" not in str(gpt.to_dict())
        and "sk-planted" not in gpt.config.model_dump_json()
    )
    assert gpt.to_dict() == {
        "name": "gpt-4",
        "agent_type": "openai-gpt",
        "interface": "api",
        "capabilities": [],
        "model": "gpt-4",
        "api_endpoint": "https://api.openai.com/v1/chat/completions",
        "max_tokens": 4000,
        "temperature": 0.7,
        "metadata": {},
        "enabled": True,
    }
    assert gpt.environment({"PATH": "/bin"}) == {"PATH": "/bin", "OPENAI_API_KEY": "sk-planted-secret-123"}


def test_the_seeds_own_enum_classes_are_accepted() -> None:
    class AgentType(str, Enum):  # noqa: UP042 (as the seed defined it)
        OPENAI_GPT = "openai-gpt"

    class AgentInterface(str, Enum):  # noqa: UP042
        API = "api"

    class AgentCapability(str, Enum):  # noqa: UP042
        CODE = "code"

    registry = AgentRegistry()
    entry = registry.register_agent("gpt", AgentType.OPENAI_GPT, AgentInterface.API, [AgentCapability.CODE])
    assert (entry.agent_type, entry.capabilities, entry.config.type.value) == ("openai-gpt", ["code"], "openai")
    assert registry.find_agents_by_capability(AgentCapability.CODE) == [entry]
    assert registry.find_agents_by_type(AgentType.OPENAI_GPT) == [entry]


def test_registration_errors_are_one_line_value_errors() -> None:
    registry = AgentRegistry()
    registry.register_agent("a", "custom", "api", base_url="http://127.0.0.1:9", text_path="t")
    cases = [
        (lambda: registry.register_agent("a", "custom", "api"), "Agent 'a' already registered"),
        (lambda: registry.register_agent("", "custom", "api"), "Agent name is required"),
        (
            lambda: registry.register_agent("b", "mistral-magic", "api"),
            "register_agent 'b': unknown agent_type 'mistral-magic'; known: ",
        ),
        (
            lambda: registry.register_agent("b", "custom", "carrier-pigeon"),
            "register_agent 'b': unknown interface 'carrier-pigeon'; known: task-tool, api, cli, hybrid",
        ),
        (
            lambda: registry.register_agent("b", "custom", "api", colour="red"),
            "register_agent 'b': unknown option 'colour'",
        ),
        (
            lambda: registry.register_agent("b", "custom", "api", max_tokens=0),
            "register_agent 'b': max_tokens: Input should be greater than 0",
        ),
    ]
    for call, message in cases:
        with pytest.raises(RegistryError) as caught:
            call()
        assert isinstance(caught.value, OrchestraError) and isinstance(caught.value, ValueError)
        assert str(caught.value).startswith(message) and "\n" not in str(caught.value)
    assert list(registry.agents) == ["a"]


def test_lookup_listing_and_enabling() -> None:
    registry = AgentRegistry()
    one = registry.register_agent("one", "anthropic-claude", "task-tool", ["code"])
    two = registry.register_agent("two", "openai-gpt", "api", ["code", "documentation"], enabled=False)
    assert registry.get_agent("one") is one and registry.get_agent("nobody") is None
    assert registry.list_agents() == [one]
    assert registry.list_agents(enabled_only=False) == [one, two]
    assert registry.find_agents_by_capability("code") == [one]
    assert registry.find_agents_by_capability("code", enabled_only=False) == [one, two]
    assert registry.enable_agent("two") and registry.list_agents() == [one, two]
    assert registry.disable_agent("one") and registry.list_agents() == [two]
    assert not registry.enable_agent("nobody")
    assert registry.find_agents_by_type("openai") == [two]  # orchestra's name for the seed's openai-gpt
    assert registry.unregister_agent("two") and not registry.unregister_agent("two")
    assert registry.list_agents(enabled_only=False) == [one]


def test_recommended_agent_follows_the_seeds_rules() -> None:
    registry = AgentRegistry()
    claude = registry.register_agent(
        "claude-code", "anthropic-claude", "task-tool", ["code", "research", "design", "testing"]
    )
    gpt = registry.register_agent("gpt-4", "openai-gpt", "api", ["code", "testing"])
    gemini = registry.register_agent("gemini", "google-gemini", "api", ["code", "testing"])
    assert registry.get_recommended_agent(["code", "testing"]) is claude  # most versatile
    assert registry.get_recommended_agent(["code", "testing"], preferred_types=["openai-gpt"]) is gpt
    assert (
        registry.get_recommended_agent(["code"], preferred_types=["google-gemini", "openai-gpt"]) is gpt
    )  # tie: first registered
    assert (
        registry.get_recommended_agent(["code"], preferred_types=["meta-llama"]) is claude
    )  # no preferred match: all candidates
    assert registry.get_recommended_agent(["deployment"]) is claude  # the fallback, "claude-code"
    assert registry.get_recommended_agent(["deployment"], fallback="gemini") is gemini
    assert registry.get_recommended_agent(["deployment"], fallback="nobody") is None
    registry.disable_agent("claude-code")
    assert registry.get_recommended_agent(["code"]) is gpt


def test_a_registry_built_from_a_plan(tmp_path: Path) -> None:
    registry = AgentRegistry(plan_in(tmp_path))
    assert [entry.name for entry in registry.list_agents()] == ["claude", "writer", "shell", "interactive"]
    claude = registry.get_agent("claude")
    assert claude is not None
    assert (claude.agent_type, claude.interface, claude.capabilities) == (
        "cli",
        AgentInterface.CLI,
        ["code", "testing", "review"],
    )
    writer = registry.get_agent("writer")
    assert writer is not None and (writer.interface, writer.model, writer.api_endpoint) == (
        AgentInterface.API,
        "gpt-4o-mini",
        "http://127.0.0.1:9/v1",
    )
    assert registry.get_recommended_agent(["documentation"]) is writer
    assert [entry.name for entry in registry.find_agents_by_capability("code")] == ["claude"]
    assert isinstance(registry.build("claude"), CliAgent)
    with pytest.raises(
        RegistryError, match=r"^unknown agent 'nobody'; registered: claude, interactive, shell, writer$"
    ):
        registry.build("nobody")
    registry.register_agent("extra", "openai-gpt", "api")  # still usable on its own
    assert len(registry.list_agents()) == 5


# ---------------------------------------------------------------- pricing


def test_builtin_prices_cover_the_common_models() -> None:
    for model in (
        "claude-sonnet-4-5",
        "claude-opus-4-1",
        "claude-haiku-4-5",
        "gpt-4o",
        "gpt-4o-mini",
        "gpt-4.1",
        "gpt-4.1-mini",
        "o3",
        "o4-mini",
        "gemini-2.5-pro",
        "gemini-2.5-flash",
    ):
        assert model in DEFAULT_PRICES
    assert DEFAULT_PRICES["claude-sonnet-4-5"] == Price(input=3.0, output=15.0, cache_read=0.3, cache_write=3.75)


def test_dated_and_routed_model_names_find_their_base_price() -> None:
    assert io(find_price("claude-sonnet-4-5-20250929", DEFAULT_PRICES)) == (3.0, 15.0)
    assert io(find_price("claude-sonnet-4-5@20250929", DEFAULT_PRICES)) == (3.0, 15.0)
    assert io(find_price("gpt-4o-mini-2024-07-18", DEFAULT_PRICES)) == (0.15, 0.6)  # not gpt-4o's
    assert io(find_price("gpt-4o-2024-08-06", DEFAULT_PRICES)) == (2.5, 10.0)
    assert io(find_price("o3-mini", DEFAULT_PRICES)) == (1.1, 4.4)  # not o3's
    assert io(find_price("openai/GPT-4.1", DEFAULT_PRICES)) == (2.0, 8.0)
    assert find_price("o3-pro", DEFAULT_PRICES) is None  # a different model, not a dated o3
    assert find_price("gpt-4.1-mini-turbo", DEFAULT_PRICES) is None
    assert find_price(None, DEFAULT_PRICES) is None


def io(price: Price | None) -> tuple[float, float] | None:
    return None if price is None else (price.input, price.output)


def test_lookup_order_agent_then_plan_then_defaults() -> None:
    plan_pricing = {"claude-sonnet-4-5": Price(input=2.0, output=10.0), "my-finetune": Price(input=5.0, output=6.0)}
    agent = AgentConfig(type="anthropic", model="claude-sonnet-4-5-20250929")
    assert io(price_for(agent.model, agent, {})) == (3.0, 15.0)
    assert price_for(agent.model, agent, plan_pricing) == Price(
        input=2.0, output=10.0
    )  # dated name matches the plan's entry
    own = AgentConfig(type="anthropic", model="claude-sonnet-4-5", price_input=1.0, price_output=2.0)
    assert price_for(own.model, own, plan_pricing) == Price(input=1.0, output=2.0)
    half = AgentConfig(type="openai", model="my-finetune", price_output=9.0)
    assert price_for(half.model, half, plan_pricing) == Price(input=5.0, output=9.0)
    assert price_for("mystery-model", AgentConfig(type="openai", model="mystery-model"), plan_pricing) is None


def test_cost_is_computed_per_million_tokens_or_unknown() -> None:
    config = AgentConfig(type="anthropic", model="claude-sonnet-4-5")
    assert cost_usd("claude-sonnet-4-5", 1_000_000, 100_000, config, {}) == pytest.approx(3.0 + 1.5)
    assert cost_usd("claude-sonnet-4-5", 0, 0, config, {}) == 0.0
    assert cost_usd("mystery-model", 1000, 1000, AgentConfig(type="openai"), {}) is None
    assert cost_usd("claude-sonnet-4-5", None, 10, config, {}) is None
    assert cost_usd("llama3.1:8b", 50_000, 50_000, AgentConfig(type="ollama", model="llama3.1:8b"), {}) == 0.0
    assert cost_usd(None, 10, 10, AgentConfig(type="shell"), None) == 0.0
    assert cost_usd("gpt-4o", 1_000_000, 0) == pytest.approx(2.5)  # no config: the tables alone


def test_format_cost_never_shows_an_unknown_cost_as_zero() -> None:
    assert format_cost(None) == "unknown"
    assert format_cost(0.0) == "$0.0000"
    assert format_cost(0.01234) == "$0.0123"
    assert format_cost(1234.5) == "$1,234.50"
