"""orchestra's HTTP agents against a real third-party server: the LiteLLM proxy, started here on 127.0.0.1.

LiteLLM translates between providers' wire formats; it forwards every route to a scripted OpenAI-compatible
upstream (``helpers/llm_upstream.py``), so what orchestra reads is what LiteLLM itself writes on its
OpenAI (``/v1/chat/completions``), Anthropic (``/v1/messages``), Gemini (``/v1beta/...:streamGenerateContent``)
and Responses (``/v1/responses``) routes. Offline: ``LITELLM_LOCAL_MODEL_COST_MAP=True``, no telemetry.

The proxy is a separate installation (``litellm[proxy]`` pins versions orchestra's own dependencies do not
share): ``.ci/run`` installs it in its own venv and sets ``ORCHESTRA_LITELLM`` to its ``litellm`` command
and ``ORCHESTRA_REQUIRE_LITELLM=1``, so CI fails rather than skips when it is missing. It starts in about
15 s on an idle machine (60 s on a loaded one): the tests are marked ``slow``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from orchestra_tui.agents import AgentRequest, Failed, Finished, TextDelta, UsageUpdate, close_http_client
from orchestra_tui.agents.registry import build_agent
from orchestra_tui.engine.project import Project
from orchestra_tui.engine.runner import Runner
from orchestra_tui.models import AgentConfig, AgentTask

from ..helpers.llm_upstream import ANSWER, Upstream
from ..helpers.plans import task_block, write_plan

pytestmark = pytest.mark.slow

KEY_ENV = "LITELLM_TEST_KEY"
MASTER_KEY = "sk-orchestra-litellm-test-0123456789abcdef"
START_SECONDS = 240.0
# LiteLLM's own price for the upstream's models: it reports usage.cost = 12 * 1e-6 + 5 * 2e-6.
SERVER_COST = 12 * 1e-6 + 5 * 2e-6


def litellm_command() -> str | None:
    return os.environ.get("ORCHESTRA_LITELLM") or shutil.which("litellm")


@dataclass
class Proxy:
    url: str
    upstream: Upstream


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _config(upstream: str) -> str:
    models = ["gpt-4o", "claude-sonnet-4-5", "gemini-2.5-flash"]
    entries = "".join(
        f"  - model_name: {name}\n    litellm_params:\n      model: hosted_vllm/{name}\n      api_base: {upstream}/v1\n"
        "      api_key: none\n    model_info:\n      input_cost_per_token: 0.000001\n      "
        "output_cost_per_token: 0.000002\n"
        for name in models
    )
    return "model_list:\n" + entries + "litellm_settings:\n  telemetry: false\n"


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    command = litellm_command()
    if command is None:
        if os.environ.get("ORCHESTRA_REQUIRE_LITELLM") == "1":
            pytest.fail("ORCHESTRA_LITELLM is not a litellm command (.ci/run installs it)")
        pytest.skip("the LiteLLM proxy is not installed here (.ci/run installs it for CI)")
    work = tmp_path_factory.mktemp("litellm")
    with Upstream() as upstream:
        (work / "config.yaml").write_text(_config(upstream.url))
        port = _free_port()
        env = {
            **os.environ,
            "LITELLM_MASTER_KEY": MASTER_KEY,
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "HOME": str(work),
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }
        with open(work / "litellm.log", "wb") as log:
            process = subprocess.Popen(
                [command, "--config", str(work / "config.yaml"), "--host", "127.0.0.1", "--port", str(port)],
                cwd=work,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_until_live(url, process, work / "litellm.log")
            yield Proxy(url, upstream)
        finally:
            _stop(process)


def _wait_until_live(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"litellm exited with {process.returncode}: {log.read_text(errors='replace')[-2000:]}")
        try:
            if httpx.get(url + "/health/liveliness", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    pytest.fail(f"litellm did not start within {START_SECONDS:g} s: {log.read_text(errors='replace')[-2000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        if process.poll() is not None:
            return
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(autouse=True)
async def _close_client() -> object:
    yield
    await close_http_client()


AGENTS = {
    "openai": {"type": "openai", "model": "gpt-4o", "path": "/v1"},
    "anthropic": {"type": "anthropic", "model": "claude-sonnet-4-5", "path": ""},
    "gemini": {"type": "gemini", "model": "gemini-2.5-flash", "path": ""},
    "responses": {"type": "openai", "model": "gpt-4o", "path": "/v1", "api": "responses"},
}


def config(proxy: Proxy, route: str, **extra: object) -> AgentConfig:
    fields = dict(AGENTS[route])
    path = fields.pop("path")
    return AgentConfig.model_validate(
        {**fields, "base_url": proxy.url + str(path), "api_key_env": KEY_ENV, "max_attempts": 1, **extra}
    )


async def run(proxy: Proxy, route: str, prompt: str = "Say hello") -> list[object]:
    agent = build_agent(route, config(proxy, route))
    request = AgentRequest("run-1", AgentTask("T1", "Greet"), prompt, Path("."), {KEY_ENV: MASTER_KEY})
    events: list[object] = []
    async with asyncio_timeout(60):
        async for event in agent.run(request):  # type: ignore[attr-defined]
            events.append(event)
    return events


def asyncio_timeout(seconds: float):  # type: ignore[no-untyped-def]
    import asyncio

    return asyncio.timeout(seconds)


@pytest.mark.parametrize("route", list(AGENTS))
async def test_a_plain_answer_through_each_route(proxy: Proxy, route: str) -> None:
    events = await run(proxy, route)
    assert events[-1] == Finished("".join(ANSWER), events[-1].stop_reason), events  # type: ignore[union-attr]
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "".join(ANSWER)
    usage = [e for e in events if isinstance(e, UsageUpdate)][-1]
    assert (usage.input_tokens, usage.output_tokens) == (12, 5), usage  # the Anthropic route sends input_tokens 0 first


@pytest.mark.parametrize("route", list(AGENTS))
async def test_an_answer_cut_at_the_token_limit_fails_through_each_route(proxy: Proxy, route: str) -> None:
    events = await run(proxy, route, "CUT this short")
    final = events[-1]
    assert isinstance(final, Failed) and final.kind == "truncated" and "truncated at max_tokens" in final.message, (
        events
    )


async def test_litellm_reported_cost_is_used_unless_the_agent_sets_a_price(proxy: Proxy, tmp_path: Path) -> None:
    events = await run(proxy, "openai")
    assert [e for e in events if isinstance(e, UsageUpdate)][-1].cost_usd == pytest.approx(SERVER_COST)
    plan = (
        f'[agents.proxied]\ntype = "openai"\nmodel = "gpt-4o"\nbase_url = "{proxy.url}/v1"\napi_key_env = '
        f'"{KEY_ENV}"\n\n'
        f'[agents.priced]\ntype = "openai"\nmodel = "gpt-4o"\nbase_url = "{proxy.url}/v1"\napi_key_env = "{KEY_ENV}"\n'
        "price_input = 100.0\nprice_output = 100.0\n\n"
        + task_block("A", agent="proxied")
        + task_block("B", agent="priced")
    )
    write_plan(tmp_path, plan)
    with Project.open(tmp_path, actor="api") as project:
        runner = Runner(project, env={KEY_ENV: MASTER_KEY})
        assert (await runner.execute("A")).cost_usd == pytest.approx(
            SERVER_COST
        )  # LiteLLM's figure over the built-in table
        assert (await runner.execute("B")).cost_usd == pytest.approx(
            17 * 100.0 / 1e6
        )  # the agent's own price over LiteLLM's


@pytest.mark.parametrize("route", list(AGENTS))
async def test_the_agents_check_calls_every_working_route_usable(proxy: Proxy, route: str) -> None:
    agent = build_agent(route, config(proxy, route))
    usability = await agent.check({KEY_ENV: MASTER_KEY})
    assert usability.usable, usability.reason
