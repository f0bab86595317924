"""The brief an agent gets: the task, its input files, and what its dependencies produced.

Everything the prompt quotes is bounded (``limit_per_part`` characters per part, with a visible marker
when cut), and input paths are confined to the project root: a path that leaves it is refused with a line
in the prompt, never read. Task strings are expanded from the environment only at run time
(:func:`expand_task`), and the expanded copy is never stored.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Mapping
from pathlib import Path

from ..models import AgentTask, TaskSpec
from ..plan import expand_env

#: The task's string fields that may hold ``${VAR}`` references.
EXPANDED_FIELDS: tuple[str, ...] = (
    "title",
    "description",
    "notes",
    "output",
    "commands",
    "verify",
    "inputs",
    "deliverables",
    "success_criteria",
)


def expand_task(task: TaskSpec, env: Mapping[str, str]) -> AgentTask:
    """A copy of ``task`` with ``${VAR}`` expanded in every string field; unset variables stay as written."""
    runtime = task if isinstance(task, AgentTask) else AgentTask.model_validate(task.model_dump())
    update: dict[str, object] = {}
    for name in EXPANDED_FIELDS:
        value = getattr(runtime, name)
        if isinstance(value, str):
            update[name] = expand_env(value, env)[0]
        elif isinstance(value, list):
            update[name] = [expand_env(item, env)[0] for item in value]
    return runtime.model_copy(update=update)  # the expanded fields are new; a deep copy cost a run ~1 ms


def render_prompt(
    task: TaskSpec, *, root: Path, dependency_outputs: Mapping[str, str], limit_per_part: int = 20_000
) -> str:
    """The Markdown brief for ``task`` (pass the :func:`expand_task` copy).

    ``dependency_outputs`` maps a completed dependency's id to its final text, in the order to show them.
    """
    root = Path(root).resolve()
    parts = [f"# Task {task.task_id}: {task.title}"]
    facts = [f"Priority: {task.priority.value}", f"Phase: {task.phase.value}"]
    if task.tags:
        facts.append("Tags: " + ", ".join(task.tags))
    parts.append(" · ".join(facts))
    if task.description.strip():  # cleandoc: triple-quoted descriptions are indented in the file or script
        parts.append("## Description\n\n" + _bounded(inspect.cleandoc(task.description), limit_per_part))
    requirements = _requirements(task)
    if requirements:
        parts.append("## Requirements\n\n" + "\n".join(f"- {line}" for line in requirements))
    if task.notes.strip():
        parts.append("## Notes\n\n" + _bounded(inspect.cleandoc(task.notes), limit_per_part))
    if task.success_criteria:
        parts.append("## Success criteria\n\n" + "\n".join(f"- {item}" for item in task.success_criteria))
    if task.deliverables:
        parts.append("## Deliverables\n\n" + "\n".join(f"- `{item}`" for item in task.deliverables))
    if task.inputs:
        parts.append("## Inputs\n\n" + "\n\n".join(_input_section(path, root, limit_per_part) for path in task.inputs))
    if dependency_outputs:
        sections = [
            f"### {dep_id}\n\n" + (_quoted(text, limit_per_part) if text.strip() else "(no output recorded)")
            for dep_id, text in dependency_outputs.items()
        ]
        parts.append("## Outputs of completed dependencies\n\n" + "\n\n".join(sections))
    return "\n\n".join(parts) + "\n"


def _requirements(task: TaskSpec) -> list[str]:
    lines: list[str] = []
    requirements = task.metadata.get("requirements")  # seed plans keep them in metadata
    if isinstance(requirements, str) and requirements.strip():
        lines.append(requirements.strip())
    elif isinstance(requirements, list):
        lines.extend(str(item) for item in requirements if str(item).strip())
    if task.output:
        lines.append(f"Your final answer is saved to `{task.output}`: make it the complete content of that file.")
    if task.verify:
        lines.append(
            "Your work is checked afterwards by these commands, which must all exit 0: "
            + ", ".join(f"`{command}`" for command in task.verify)
        )
    return lines


def _input_section(name: str, root: Path, limit: int) -> str:
    title = f"### `{name}`"
    path = (root / name).resolve()
    if not path.is_relative_to(root):
        return f"{title}\n\n(refused: the path is outside the project root)"
    if not path.exists():
        return f"{title}\n\n(missing: no such file in the project)"
    if not path.is_file():
        return f"{title}\n\n(not a file)"
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            text = handle.read(limit + 1)  # never more than the part can show
        size = path.stat().st_size
    except OSError as error:
        return f"{title}\n\n(unreadable: {error.strerror or error})"
    cut = f"[... truncated: the first {limit:,} characters of a {size:,}-byte file shown ...]"
    return f"{title}\n\n" + _quoted(text, limit, cut)


def _cut(text: str, limit: int) -> str:
    return f"[... truncated: {len(text) - limit:,} more characters not shown ...]"


def _bounded(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters with a marker saying how much was left out."""
    return text if len(text) <= limit else text[:limit] + "\n" + _cut(text, limit)


def _quoted(text: str, limit: int, cut: str | None = None) -> str:
    """``text`` (at most ``limit`` characters) in a code fence it cannot close, the cut marked after it."""
    shown = text[:limit].rstrip("\n")
    longest = max((len(run) for run in re.findall(r"`+", shown)), default=0)
    fence = "`" * max(3, longest + 1)
    block = f"{fence}\n{shown}\n{fence}"
    return block if len(text) <= limit else block + "\n" + (cut or _cut(text, limit))
