"""``${VAR}`` and ``${VAR:-default}`` expansion (the policy on what is expanded when is in the package docstring)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..redaction import register

_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand_env(value: str, environ: Mapping[str, str]) -> tuple[str, set[str]]:
    """Expand ``${VAR}`` and ``${VAR:-default}`` in ``value``; return ``(expanded, names missing)``.

    ``${VAR:-default}`` uses the default when VAR is unset or empty (as in the shell). ``${VAR}`` with VAR
    unset is left as written and VAR is reported missing. Use this for task strings at run time; never
    store its result. Every value taken from ``environ`` is registered as a secret (:mod:`..redaction`).
    """
    missing: set[str] = set()
    if "${" not in value:
        return value, missing

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        current = environ.get(name)
        if default is not None and not current:
            return default
        if current is None:
            missing.add(name)
            return match.group(0)
        register(name, current)
        return current

    return _ENV_RE.sub(substitute, value), missing


def _expand_tree(value: Any, environ: Mapping[str, str], missing: set[str]) -> Any:
    if isinstance(value, str):
        expanded, names = expand_env(value, environ)
        missing |= names
        return expanded
    if isinstance(value, dict):
        return {key: _expand_tree(item, environ, missing) for key, item in value.items()}
    if isinstance(value, list):
        return [_expand_tree(item, environ, missing) for item in value]
    return value
