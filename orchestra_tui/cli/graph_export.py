"""The dependency graph exported for documents: Mermaid and Graphviz dot (``orchestra graph``), coloured by
status, the critical path thick and red."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from ..formatting import hours
from ..statuses import LOOKS

if TYPE_CHECKING:
    from ..engine.project import Project

_FILL = {status: look.fill for status, look in LOOKS.items()}
_CRITICAL = "#d9534f"


def _mermaid_ids(task_ids: Iterable[str]) -> dict[str, str]:
    """Safe, unique Mermaid node ids: ``t_`` + the id with every character outside [A-Za-z0-9_] made ``_``."""
    result: dict[str, str] = {}
    used: set[str] = set()
    for task_id in task_ids:
        base = "t_" + re.sub(r"[^A-Za-z0-9_]", "_", task_id)
        node, n = base, 1
        while node in used:
            n += 1
            node = f"{base}_{n}"
        used.add(node)
        result[task_id] = node
    return result


def _critical_edges(path: Sequence[str]) -> set[tuple[str, str]]:
    return set(itertools.pairwise(path))


def mermaid(project: Project) -> str:
    """A Mermaid flowchart: one class per status, the critical path with thick edges and a red border."""
    graph = project.graph
    order = graph.topological_order()
    path, path_hours = graph.critical_path()
    critical = _critical_edges(path)
    node = _mermaid_ids(order)
    title = (project.plan.project.name or project.plan.project.id).replace("\n", " ")
    lines = [f"%% {title}: critical path {hours(path_hours)} h, thick edges", "flowchart TD"]
    by_status: dict[str, list[str]] = {}
    for task_id in order:
        task = project.tasks[task_id]
        label = f"{task_id}: {task.title}".replace('"', "#quot;")
        lines.append(f'    {node[task_id]}["{label}"]')
        by_status.setdefault(graph.status_of(task_id).value, []).append(node[task_id])
    for task_id in order:
        for child in graph.dependents(task_id):
            arrow = "==>" if (task_id, child) in critical else "-->"
            lines.append(f"    {node[task_id]} {arrow} {node[child]}")
    for status, nodes in by_status.items():
        lines.append(f"    classDef {status} fill:{_FILL[status]},stroke:#555,color:#000")
        lines.append(f"    class {','.join(nodes)} {status}")
    if path:
        lines.append(f"    classDef critical stroke:{_CRITICAL},stroke-width:3px")
        lines.append(f"    class {','.join(node[task_id] for task_id in path)} critical")
    return "\n".join(lines)


def _dot_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def dot(project: Project) -> str:
    """A Graphviz digraph: fill colour per status, the critical path in red and thick."""
    graph = project.graph
    order = graph.topological_order()
    path, path_hours = graph.critical_path()
    on_path, critical = set(path), _critical_edges(path)
    name = project.plan.project.name or project.plan.project.id
    lines = [
        f"digraph {_dot_string(project.plan.project.id)} {{",
        f"    label={_dot_string(f'{name} (critical path {hours(path_hours)} h in red)')};",
        "    labelloc=t;",
        "    rankdir=LR;",
        '    node [shape=box, style="rounded,filled", fontname="Helvetica"];',
    ]
    for task_id in order:
        status = graph.status_of(task_id).value
        label = f"{task_id}\n{project.tasks[task_id].title}\n[{status}]"
        extra = f', color="{_CRITICAL}", penwidth=3' if task_id in on_path else ""
        lines.append(f'    {_dot_string(task_id)} [label={_dot_string(label)}, fillcolor="{_FILL[status]}"{extra}];')
    for task_id in order:
        for child in graph.dependents(task_id):
            extra = f' [color="{_CRITICAL}", penwidth=3]' if (task_id, child) in critical else ""
            lines.append(f"    {_dot_string(task_id)} -> {_dot_string(child)}{extra};")
    lines.append("}")
    return "\n".join(lines)
