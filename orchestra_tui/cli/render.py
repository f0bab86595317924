"""What the CLI prints: rich tables for people, plain JSON shapes for scripts, graph exports for documents.

rich is imported inside the functions that draw, so the JSON paths (``orchestra next --json``) never pay
for it. Colour is rich's call: none when the output is not a terminal or ``NO_COLOR`` is set. Statuses also
carry a mark (``✗ failed``), so they read without colour too.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..agents.pricing import format_total
from ..engine.integration import workspace_view
from ..engine.usable import why_not_in_plan
from ..graph import natural_key
from ..marks import STATUS_MARKS
from ..models import AgentConfig, AgentType
from ..plan import BUILTIN_AGENTS

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

    from ..engine.project import Project
    from ..models import AgentTask
    from ..plan import Plan
    from ..store import Entry
    from ..store.changes import Change

STATUS_ORDER = ("ready", "blocked", "in_progress", "review", "completed", "failed", "cancelled")
_STATUS_STYLES = {  # rich styles; the marks are shared with the TUI
    "ready": "bold green",
    "blocked": "yellow",
    "pending": "",
    "in_progress": "bold cyan",
    "review": "magenta",
    "completed": "green",
    "failed": "bold red",
    "cancelled": "red",
}
_PIPED_WIDTH = 160  # not a terminal: wide rows (one line per task for grep) rather than rich's 80 columns


# ------------------------------------------------------------------------------------------ basics


def emit_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


def console(stderr: bool = False) -> Console:
    from .safe_console import SafeConsole

    out = SafeConsole(stderr=stderr, highlight=False)
    if not out.is_terminal and "COLUMNS" not in os.environ:
        out.width = _PIPED_WIDTH
    return out


def status_text(status: str) -> Text:
    from rich.text import Text

    key = str(status)
    return Text(f"{STATUS_MARKS.get(key, '?')} {status}", style=_STATUS_STYLES.get(key, ""))


def status_phrase(status: str) -> str:
    """A status as words in a sentence: ``DES-001 is in review``, ``is in progress``, ``is completed``."""
    return {"review": "in review", "in_progress": "in progress"}.get(str(status), str(status))


def hours(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def spent(value: float | None) -> str:
    """Time actually spent, given in hours, in the unit that reads best: ``4 s``, ``12 min``, ``1.5 h``."""
    if value is None:
        return "-"
    seconds = value * 3600
    if seconds < 59.5:
        return f"{seconds:.0f} s"
    if seconds < 3570:
        return f"{seconds / 60:.0f} min"
    return f"{value:.3g} h"


def local_time(value: str | datetime | None) -> str:
    """An ISO time (or datetime) in the local zone, to the second; '-' for none."""
    if value is None:
        return "-"
    try:
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    except ValueError:
        return str(value)
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def id_list(ids: Sequence[str], limit: int = 4) -> str:
    shown = ", ".join(ids[:limit])
    return shown + (f" +{len(ids) - limit}" if len(ids) > limit else "")


def counts_line(counts: Mapping[str, int]) -> str:
    return " · ".join(f"{status.replace('_', ' ')} {counts.get(status, 0)}" for status in STATUS_ORDER)


# -------------------------------------------------------------------------------------- JSON shapes


def task_json(project: Project, task: AgentTask) -> dict[str, Any]:
    """Every field of the task, plus ``derived_status`` (ready/blocked for pending tasks)."""
    return {**task.model_dump(mode="json"), "derived_status": project.graph.status_of(task.task_id).value}


def task_detail_json(project: Project, task: AgentTask) -> dict[str, Any]:
    graph, task_id = project.graph, task.task_id
    return {
        **task_json(project, task),
        "effective_agent": project.agent_of(task),
        "waiting_on": graph.waiting_on(task_id),
        "blockers": graph.blockers(task_id),
        "unblocks": graph.unblocks(task_id),
        "dependants": graph.dependents(task_id),
        "subtasks": graph.children(task_id),
        "workspace": workspace_view(project, task),
    }


# ------------------------------------------------------------------------------------------ tasks


def print_tasks(project: Project, tasks: Iterable[AgentTask]) -> None:
    from rich import box
    from rich.table import Table

    from .rows import print_table

    out = console()
    narrow = out.width < 110  # phase and agent give way to the title on a narrow terminal
    tasks = list(tasks)
    id_width = max((len(task.task_id) for task in tasks), default=2)
    agent_width = max((len(project.agent_of(task)) for task in tasks), default=5)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    # Every column but the title keeps its width; the title gives way (with an ellipsis) on a narrow terminal.
    table.add_column("ID", no_wrap=True, style="bold", min_width=id_width)
    table.add_column("Status", no_wrap=True, min_width=13)
    table.add_column("Priority", no_wrap=True, min_width=8)
    if not narrow:
        table.add_column("Phase", no_wrap=True, min_width=11)
    table.add_column("Hours", justify="right", no_wrap=True, min_width=5)
    if not narrow:
        table.add_column("Agent", no_wrap=True, min_width=min(agent_width, 14))
    # One line per task, so the list stays scannable (and greppable): long cells end in an ellipsis.
    table.add_column("Title", min_width=20, no_wrap=True, overflow="ellipsis")
    table.add_column("Deps", max_width=24, no_wrap=True, overflow="ellipsis")
    status_of = project.graph.status_of
    statuses = {status: status_text(status) for status in STATUS_ORDER}
    rows = []
    for task in tasks:
        status = status_of(task.task_id)
        cells = [
            task.task_id,
            statuses.get(status) or status_text(status),
            task.priority.value,
            task.phase.value,
            hours(task.estimated_hours),
            project.agent_of(task),
            task.title,
            id_list(task.dependencies),
        ]
        if narrow:
            del cells[5], cells[3]
        rows.append(cells)
    print_table(out, table, rows)


def print_task(project: Project, task: AgentTask) -> None:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    graph, task_id = project.graph, task.task_id
    table = Table(box=box.SIMPLE, show_header=False, pad_edge=False, show_edge=False)
    table.add_column(style="bold", no_wrap=True)
    table.add_column()

    def row(label: str, value: Any) -> None:
        if value in (None, "", [], {}):
            return
        if isinstance(value, list):
            value = "\n".join(f"- {item}" for item in value)
        elif isinstance(value, dict):
            value = json.dumps(value, default=str)
        table.add_row(label, value if isinstance(value, Text) else Text(str(value)))

    status = graph.status_of(task_id)
    row("status", status_text(status))
    row("priority", task.priority.value)
    row("phase", task.phase.value)
    row("agent", project.agent_of(task) + ("" if task.agent else " (project default)"))
    row(
        "hours",
        f"{hours(task.estimated_hours)} estimated"
        + (f", {spent(task.actual_hours)} actual" if task.actual_hours is not None else ""),
    )
    row("subtask of", task.parent)
    row("subtasks", ", ".join(f"{child} ({graph.status_of(child).value})" for child in graph.children(task_id)))
    row("depends on", ", ".join(task.dependencies))
    row("waiting on", ", ".join(graph.waiting_on(task_id)))
    row("blocked by", ", ".join(f"{b} ({graph.status_of(b).value})" for b in graph.blockers(task_id)))
    row("dependants", ", ".join(graph.dependents(task_id)))
    row("unblocks", ", ".join(graph.unblocks(task_id)))
    row("description", task.description.strip())
    for name in ("deliverables", "success_criteria", "inputs", "commands", "verify", "tags"):
        row(name.replace("_", " "), getattr(task, name))
    row("output", task.output)
    row("notes", task.notes.strip())
    row("metadata", task.metadata)
    if task.started_at:
        row("started", local_time(task.started_at))
    if task.completed_at:
        row("finished", local_time(task.completed_at))
    if task.attempts:
        row("attempts", task.attempts)
    row("last run", task.last_run_id)
    if task.last_error:
        row("last error", Text(task.last_error, style="red"))
    if task.input_tokens is not None or task.output_tokens is not None:
        row(
            "tokens",
            tokens_line(task.input_tokens, task.output_tokens, task.cache_read_tokens, task.cache_write_tokens),
        )
    if task.cost_usd is not None or task.unpriced_runs:
        row("cost", format_total(task.cost_usd, task.unpriced_runs))
    out = console()
    out.print(Text.assemble((task_id, "bold"), "  ", task.title))
    out.print(table)


def print_overview(project: Project) -> None:
    """What ``orchestra DIR`` shows until the TUI exists: a header and the task list."""
    from rich.text import Text

    report = project.report()
    out = console()
    out.print(
        Text.assemble((report["project_name"], "bold"), f"  ({report['project_id']})  ", (str(project.root), "dim"))
    )
    done_hours = report["estimated_total_hours"] - report["estimated_remaining_hours"]
    out.print(
        f"{report['completion_percentage']:g}% complete · {report['completed_tasks']}/{report['total_tasks']} tasks · "
        f"{hours(round(done_hours, 2))} h done, {hours(report['estimated_remaining_hours'])} h remaining"
    )
    out.print(counts_line(project.graph.counts()))
    out.print(next_line(project))
    if project.tasks:
        print_tasks(project, project.list_tasks())
    out.print(
        Text("on a terminal `orchestra DIR` opens the live board; `orchestra --help` lists every command", style="dim")
    )


def next_line(project: Project) -> str:
    task = project.next_task()
    if task is not None:
        line = (
            f"next: {task.task_id}  {task.title} ({task.priority.value}, {task.phase.value}, "
            f"{hours(task.estimated_hours)} h, agent {project.agent_of(task)})"
        )
        reason = why_not_in_plan(project, task.task_id, os.environ)
        return line if reason is None else f"{line}; it cannot run as it is: {reason}"
    counts = project.graph.counts()
    total = len(project.tasks)
    if total == 0:
        return "no tasks in the plan yet"
    if counts.get("completed", 0) == total:
        return f"nothing to do: all {total} tasks are completed"
    waiting = [
        f"{counts[s]} {s.replace('_', ' ')}"
        for s in ("in_progress", "review", "blocked", "failed", "cancelled")
        if counts.get(s)
    ]
    return "no task is ready: " + ", ".join(waiting)


# ----------------------------------------------------------------------------------------- report


def print_report(report: Mapping[str, Any]) -> None:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    out = console()
    name, project_id = report["project_name"], report["project_id"]
    out.print(Text.assemble((name, "bold"), f"  ({project_id})" if project_id != name else ""))
    table = Table(box=box.SIMPLE, show_header=False, pad_edge=False, show_edge=False)
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    table.add_row(
        "progress",
        f"{report['completed_tasks']}/{report['total_tasks']} tasks completed ({report['completion_percentage']:g}%)",
    )
    table.add_row(
        "status",
        counts_line(
            {
                "ready": report["ready_tasks"],
                "blocked": report["blocked_tasks"],
                "in_progress": report["in_progress_tasks"],
                "review": report["review_tasks"],
                "completed": report["completed_tasks"],
                "failed": report["failed_tasks"],
                "cancelled": report["cancelled_tasks"],
            }
        ),
    )
    table.add_row(
        "hours",
        f"{hours(report['estimated_total_hours'])} estimated, "
        f"{hours(report['estimated_remaining_hours'])} remaining, {spent(report['actual_hours'])} actual",
    )
    path = report["critical_path"]
    table.add_row("critical path", f"{' -> '.join(path)} ({hours(report['critical_path_hours'])} h)" if path else "-")
    table.add_row("next", report["next_task"] or "-")
    table.add_row("cost", cost_line(report))
    for blocker, held in blocking(report).items():
        table.add_row(
            Text("held up", style="red"), f"{blocker} holds up {id_list(held, 8)}: `orchestra retry {blocker}`"
        )
    out.print(table)
    phases = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for name, justify in (("Phase", "left"), ("Completed", "right"), ("Total", "right")):
        phases.add_column(name, justify=justify)  # type: ignore[arg-type]
    for phase, figures in report["by_phase"].items():
        phases.add_row(phase, str(figures["completed"]), str(figures["total"]))
    if report["by_phase"]:
        out.print(phases)
    agents = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for name, justify in (
        ("Agent", "left"),
        ("Tasks", "right"),
        ("Input tokens", "right"),
        ("Output tokens", "right"),
        ("Cost", "right"),
    ):
        agents.add_column(name, justify=justify)  # type: ignore[arg-type]
    for agent, figures in report["by_agent"].items():
        agents.add_row(
            agent,
            str(figures["tasks"]),
            count(figures["input_tokens"]),
            count(figures["output_tokens"]),
            format_total(figures["cost_usd"], figures["unpriced_runs"]),
        )
    if report["by_agent"]:
        out.print(agents)


def count(value: int | None) -> str:
    """A token count, or ``unknown`` (never a made-up 0)."""
    return "unknown" if value is None else f"{value:,}"


def tokens_line(
    input_tokens: int | None, output_tokens: int | None, cache_read: int | None = None, cache_write: int | None = None
) -> str:
    cached = [
        f"{count(value)} {what}" for value, what in ((cache_read, "cache read"), (cache_write, "cache write")) if value
    ]
    return f"{count(input_tokens)} in / {count(output_tokens)} out" + (f" ({', '.join(cached)})" if cached else "")


def cost_line(report: Mapping[str, Any]) -> str:
    """The report's cost: what is known, how many runs are unpriced, and the tokens."""
    if (
        report["cost_usd"] is None
        and not report["unpriced_runs"]
        and report["input_tokens"] is None
        and report["output_tokens"] is None
    ):
        return "none recorded (no run reported tokens or cost)"
    tokens = tokens_line(
        report["input_tokens"],
        report["output_tokens"],
        report.get("cache_read_tokens"),
        report.get("cache_write_tokens"),
    )
    return f"{format_total(report['cost_usd'], report['unpriced_runs'])} ({tokens} tokens)"


def _md(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def blocking(report: dict[str, Any]) -> dict[str, list[str]]:
    """``blocked_by`` turned around: each failed or cancelled task and the tasks it holds up."""
    held: dict[str, list[str]] = {}
    for task_id, blockers in report["blocked_by"].items():
        for blocker in blockers:
            held.setdefault(blocker, []).append(task_id)
    return dict(sorted(held.items(), key=lambda item: natural_key(item[0])))


def report_markdown(report: Mapping[str, Any]) -> str:
    path = report["critical_path"]
    lines = [
        f"# Progress: {_md(report['project_name'])}",
        "",
        "| | |",
        "|---|---|",
        f"| Completion | {report['completion_percentage']:g}% ({report['completed_tasks']} of {report['total_tasks']} tasks) |",
        f"| Ready / blocked | {report['ready_tasks']} / {report['blocked_tasks']} |",
        f"| In progress / review | {report['in_progress_tasks']} / {report['review_tasks']} |",
        f"| Failed / cancelled | {report['failed_tasks']} / {report['cancelled_tasks']} |",
        f"| Hours estimated / remaining; time spent | {hours(report['estimated_total_hours'])} / "
        f"{hours(report['estimated_remaining_hours'])}; {spent(report['actual_hours'])} |",
        f"| Next task | {_md(report['next_task'] or '-')} |",
        f"| Cost | {cost_line(report)} |",
        "",
        "## Critical path",
        "",
        (" → ".join(f"`{task_id}`" for task_id in path) + f" ({hours(report['critical_path_hours'])} h)")
        if path
        else "Nothing left.",
    ]
    if report["by_phase"]:
        lines += ["", "## By phase", "", "| Phase | Completed | Total |", "|---|---:|---:|"]
        lines += [f"| {phase} | {f['completed']} | {f['total']} |" for phase, f in report["by_phase"].items()]
    if report["by_agent"]:
        lines += [
            "",
            "## By agent",
            "",
            "| Agent | Tasks | Input tokens | Output tokens | Cost |",
            "|---|---:|---:|---:|---:|",
        ]
        lines += [
            f"| {_md(agent)} | {f['tasks']} | {count(f['input_tokens'])} | {count(f['output_tokens'])} | "
            f"{format_total(f['cost_usd'], f['unpriced_runs'])} |"
            for agent, f in report["by_agent"].items()
        ]
    if report["blocked_by"]:
        lines += ["", "## Held up by failed or cancelled tasks", ""]
        lines += [
            f"- `{blocker}` holds up {', '.join(f'`{t}`' for t in held)}" for blocker, held in blocking(report).items()
        ]
    lines += ["", f"_Report of {report['timestamp']}, history entry {report['history_entries']}._"]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------- history


def print_history(entries: Sequence[Entry]) -> None:
    from rich import box
    from rich.table import Table

    from .rows import print_table

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    table.add_column("Entry", no_wrap=True, style="bold")
    table.add_column("Time", no_wrap=True)
    table.add_column("Actor", no_wrap=True)
    table.add_column("Action", no_wrap=True)
    table.add_column("Summary")
    table.add_column("Tasks", justify="right", no_wrap=True)
    table.add_column("Done", justify="right", no_wrap=True)
    rows = []
    for entry in entries:
        progress = entry.progress
        rows.append(
            [
                entry.id,
                local_time(entry.time),
                entry.actor,
                entry.action,
                entry.summary,
                f"{progress.get('completed_tasks', 0)}/{progress.get('total_tasks', 0)}",
                f"{progress.get('completion_percentage', 0.0):g}%",
            ]
        )
    print_table(console(), table, rows)


_ISO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def _value(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, list):
        text = ", ".join(str(item) for item in value) if value else "[]"
    elif isinstance(value, dict):
        text = json.dumps(value, default=str)
    elif isinstance(value, float):
        text = f"{value:g}"
    elif isinstance(value, str) and _ISO_TIME.match(value):
        text = local_time(value)
    elif isinstance(value, str) and _SHA256.match(value):
        text = value[:12] + "…"
    else:
        text = str(value)
    text = text.replace("\n", "\\n")
    return text if len(text) <= 48 else text[:47] + "…"


def change_lines(changes: Iterable[Change]) -> list[str]:
    """One readable line per changed task: ``T-3: status pending -> completed``, ``+ T-9 added``, ``- T-2 removed``."""
    lines = []
    for change in changes:
        op, task_id = change["op"], change["task"]
        if op == "add":
            lines.append(f"+ {task_id} added")
        elif op == "remove":
            lines.append(f"- {task_id} removed")
        else:
            before, after = change["before"] or {}, change["after"] or {}
            fields = sorted(after.keys() | before.keys(), key=lambda name: (name != "status", name))
            label = task_id if op == "update" else "project"
            lines.append(
                f"{label}: "
                + "; ".join(f"{name} {_value(before.get(name))} -> {_value(after.get(name))}" for name in fields)
            )
    return lines


# ----------------------------------------------------------------------------------------- graphs

_FILL = {
    "ready": "#d4edda",
    "blocked": "#fff3cd",
    "in_progress": "#cce5ff",
    "review": "#e2d9f3",
    "completed": "#c3e6cb",
    "failed": "#f5c6cb",
    "cancelled": "#e2e3e5",
    "pending": "#ffffff",
}
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
    return set(zip(path, path[1:]))


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


# ----------------------------------------------------------------------------------------- agents

_KEYED = frozenset({AgentType.ANTHROPIC, AgentType.GEMINI})  # cloud APIs that always need a key
_REMOTE = frozenset({AgentType.ANTHROPIC, AgentType.OPENAI, AgentType.GEMINI, AgentType.OLLAMA, AgentType.HTTP})


def agent_rows(plan: Plan, environ: Mapping[str, str]) -> list[dict[str, Any]]:
    """Each configured agent (and the built-ins) with what can be told offline about whether it can run.

    A key is reported ``set`` or ``missing``, never shown. Endpoints are not contacted (``endpoint_checked``).
    """
    configs = dict(plan.agents)
    for name in sorted(BUILTIN_AGENTS):
        configs.setdefault(name, AgentConfig(type=AgentType(name)))
    used: dict[str, int] = {}
    for spec in plan.tasks:
        agent = spec.agent or plan.project.default_agent
        used[agent] = used.get(agent, 0) + 1
    rows = []
    for name in sorted(configs, key=natural_key):
        config = configs[name]
        problems: list[str] = []
        key = None
        if config.api_key_env:
            key = "set" if environ.get(config.api_key_env) else "missing"
            if key == "missing":
                problems.append(f"${config.api_key_env} is not set")
        elif config.type in _KEYED or (config.type == AgentType.OPENAI and config.base_url is None):
            problems.append("no api_key_env configured")
        dumped = config.model_dump_json()
        missing_env = sorted(var for var in plan.missing_env if "${" + var in dumped)
        problems += [f"${var} is not set (used in its settings)" for var in missing_env]
        if config.type == AgentType.CLI:
            if not config.command:
                problems.append("no command configured")
            elif shutil.which(config.command[0]) is None:
                problems.append(f"command {config.command[0]!r} not found on PATH")
        rows.append(
            {
                "name": name,
                "type": config.type.value,
                "model": config.model,
                "base_url": config.base_url,
                "api_key_env": config.api_key_env,
                "key": key,
                "missing_env": missing_env,
                "builtin": name not in plan.agents,
                "default": name == plan.project.default_agent,
                "tasks": used.get(name, 0),
                "usable": not problems,
                "problems": problems,
                "endpoint_checked": False if config.type in _REMOTE else None,
            }
        )
    return rows


def print_agents(rows: Sequence[Mapping[str, Any]]) -> None:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for name in ("Agent", "Type", "Model", "Tasks", "Key", "Usable"):
        table.add_column(name, no_wrap=name != "Usable")
    for row in rows:
        name = row["name"] + (" (default)" if row["default"] else "") + (" (built in)" if row["builtin"] else "")
        key = "-" if row["key"] is None else f"{row['api_key_env']} {row['key']}"
        if row["problems"]:
            usable = Text("✗ " + "; ".join(row["problems"]), style="red")
        else:
            usable = Text(
                "✓ " + ("yes (endpoint not checked)" if row["endpoint_checked"] is False else "yes"), style="green"
            )
        table.add_row(name, row["type"], row["model"] or "-", str(row["tasks"]), key, usable)
    console().print(table)
