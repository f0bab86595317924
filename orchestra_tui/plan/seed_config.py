"""The seed's ``orchestration.config.json``.

Read when there is no ``orchestra.toml``; when both exist its ``llm_providers`` only add agents whose
names the TOML does not define (its other keys are then ignored). ``state_file`` and ``backups_dir``
are ignored (the state importer handles the seed's state). Each provider becomes an
:class:`AgentConfig`: type from the provider name when it is anthropic/openai/gemini/ollama, else from
its ``type`` key, else ``openai``; ``"api_key": "${X}"`` becomes ``api_key_env = "X"``. A literal key
in that file is dropped on the floor: it is never copied into the Plan, so it cannot reach any file
orchestra writes (the agent then has no key until ``api_key_env`` is configured in orchestra.toml).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..models import AgentConfig, ProjectSettings
from ..projectfiles import PLAN_READS
from .env import _ENV_RE, _expand_tree
from .files import slug
from .locate import _json_key_line
from .messages import _field_label, _lookup, _message, _type_name
from .problems import _display, _Problems

_SEED_NAMED_TYPES = frozenset({"anthropic", "openai", "gemini", "ollama"})
_SEED_PROVIDER_KEYS = ("model", "base_url", "max_tokens", "temperature", "capabilities", "system", "api_key_env")


def _read_seed(
    path: Path, environ: Mapping[str, str], problems: _Problems
) -> tuple[dict[str, Any] | None, dict[str, AgentConfig], set[str], bytes]:
    """Parse and validate the seed JSON: (top-level dict or None, agents, missing env names, bytes)."""
    file = _display(path)
    missing: set[str] = set()
    try:
        content = path.read_bytes()
    except OSError as error:
        problems.add(file, None, f"cannot read: {error.strerror or error}")
        return None, {}, missing, b""
    PLAN_READS[str(path)] = content
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line: int | None = content[: error.start].count(b"\n") + 1
        problems.add(file, line, f"invalid JSON: not UTF-8 (byte 0x{content[error.start]:02x})")
        return None, {}, missing, content
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        problems.add(file, error.lineno, f"invalid JSON: {error.msg}", error.colno)
        return None, {}, missing, content
    except (ValueError, RecursionError) as error:
        problems.add(file, None, f"invalid JSON: {error}")
        return None, {}, missing, content
    if not isinstance(data, dict):
        problems.add(file, 1, f"invalid config: expected a JSON object, got {_type_name(data)}")
        return None, {}, missing, content

    agents: dict[str, AgentConfig] = {}
    providers = data.get("llm_providers", {})
    if providers is None:
        providers = {}
    if not isinstance(providers, dict):
        problems.add(
            file,
            _json_key_line(text, "llm_providers"),
            f"field 'llm_providers': expected an object, got {_type_name(providers)}",
        )
        providers = {}
    for name, provider in providers.items():
        name = str(name)
        line = _json_key_line(text, name)
        if not isinstance(provider, dict):
            problems.add(file, line, f"agent {name}: expected an object, got {_type_name(provider)}")
            continue
        config: dict[str, Any] = {}
        if name in _SEED_NAMED_TYPES:
            config["type"] = name
        elif isinstance(provider.get("type"), str) and provider["type"]:
            config["type"] = provider["type"]
        else:
            config["type"] = "openai"
        for key in _SEED_PROVIDER_KEYS:
            if key in provider and provider[key] is not None:
                config[key] = provider[key]
        api_key = provider.get("api_key")
        if isinstance(api_key, str):
            reference = _ENV_RE.fullmatch(api_key.strip())
            if reference:
                config["api_key_env"] = reference.group(1)
            # A literal key is dropped: it must never be copied anywhere.
        config = _expand_tree(config, environ, missing)
        try:
            agents[name] = AgentConfig.model_validate(config)
        except ValidationError as error:
            for item in error.errors(include_url=False):
                rest = tuple(item["loc"])
                field_name = str(rest[0]) if rest else ""
                found, value = _lookup(provider, rest)
                if field_name == "type" and name in _SEED_NAMED_TYPES:
                    found, value = True, name
                text_line = _message(item, found, value, field_name)
                label = f"agent {name}: field {_field_label(rest)!r}: " if rest else f"agent {name}: "
                problems.add(file, line, label + text_line)
    return data, agents, missing, content


def _seed_project(
    data: dict[str, Any],
    root: Path,
    file: str,
    text_missing: set[str],
    environ: Mapping[str, str],
    problems: _Problems,
    path: Path,
) -> ProjectSettings | None:
    settings: dict[str, Any] = {"id": slug(root.name), "name": root.name}
    for source, target in (
        ("project_id", "id"),
        ("project_name", "name"),
        ("parallel_max", "parallel_max"),
        ("default_agent", "default_agent"),
    ):
        if source in data and data[source] is not None:
            settings[target] = data[source]
    settings = _expand_tree(settings, environ, text_missing)
    try:
        return ProjectSettings.model_validate(settings)
    except ValidationError as error:
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError):
            text = ""
        reverse = {"id": "project_id", "name": "project_name"}
        for item in error.errors(include_url=False):
            rest = tuple(item["loc"])
            key = reverse.get(str(rest[0]), str(rest[0])) if rest else ""
            found, value = _lookup(data, (key,)) if key else (False, None)
            problems.add(
                file, _json_key_line(text, key) if key else None, f"field {key!r}: {_message(item, found, value, key)}"
            )
        return None
