"""Reading the plan: ``orchestra.toml`` (or the seed's ``orchestration.config.json``) -> a validated :class:`Plan`.

docs/ARCHITECTURE.md C2, C3, C5. Pure apart from reading the plan files and the optional parse cache:
no textual, typer or rich here.

Every problem the user can cause is reported as one line in a :class:`~orchestra_tui.errors.PlanError`,
all problems at once, in the form ``FILE:LINE: task TASK-ID: field 'FIELD': message`` (parts that do not
apply are left out). Nothing here ever lets a traceback escape for bad input.

Environment references
    ``${VAR}`` and ``${VAR:-default}`` are expanded at load time in every string of ``[project]``,
    ``[agents.*]`` and ``[[webhooks]]`` (and of the seed JSON). An unset variable without a default stays
    literally ``${VAR}`` and its name is listed in :attr:`Plan.missing_env`.

    Task strings are deliberately **not** expanded here. Task definitions are copied into orchestra's
    permanent state and history; an expanded secret would be written there forever. The engine expands a
    task's strings with :func:`expand_env` at the moment it uses them (prompt, commands, verify), and
    never stores the result.

Modules: ``files`` (file names, find_plan, slug), ``env`` (expansion), ``locate`` (lines in the raw text),
``messages`` (one pydantic error -> text), ``problems`` (collecting and placing problems), ``validate``
(the PlanFile and cross-task checks), ``seed_config`` (the seed JSON), ``cache`` (the parse cache),
``loader`` (Plan, load_plan), ``starter`` (starter_plan), ``schema`` (plan_schema), ``toml_text`` (a new plan's
text as tomli-w writes it, faster).
"""

from __future__ import annotations

from .cache import CACHE_FILE
from .env import expand_env
from .files import PLAN_FILE, SEED_CONFIG_FILE, find_plan, slug
from .loader import Plan, load_plan
from .schema import plan_schema
from .starter import starter_plan
from .validate import BUILTIN_AGENTS

__all__ = [
    "BUILTIN_AGENTS",
    "CACHE_FILE",
    "PLAN_FILE",
    "SEED_CONFIG_FILE",
    "Plan",
    "expand_env",
    "find_plan",
    "load_plan",
    "plan_schema",
    "slug",
    "starter_plan",
]
