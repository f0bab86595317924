"""What the CLI prints for people: the console, rich tables of tasks, a task, the history and the agents,
and a status with its mark and colour; ``emit_json`` for scripts.

rich is imported inside the functions that draw, so the JSON paths (``orchestra next --json``) never pay
for it. Colour is rich's call: none when the output is not a terminal or ``NO_COLOR`` is set. Statuses also
carry a mark (``✗ failed``), so they read without colour too. Words for figures, times and changes are
``formatting.py``'s (shared with the TUI); the progress report is ``progress.py``, graph exports ``graph_export.py``,
JSON shapes ``json_shapes.py``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..engine.next_step import next_line
from ..formatting import counts_line, hours, id_list, local_time, spent, tokens_line
from ..statuses import STATUS_MARKS, STATUS_ORDER, TERMINAL_STYLES

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

    from ..engine.project import Project
    from ..models import AgentTask
    from ..store import Entry

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
    return Text(f"{STATUS_MARKS.get(key, '?')} {status}", style=TERMINAL_STYLES.get(key, ""))


# ------------------------------------------------------------------------------------------ tables


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
    rows: list[list[str | Text]] = []
    for task in tasks:
        status = status_of(task.task_id)
        cells: list[str | Text] = [
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

    from ..agents.pricing import format_total

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
        elif row["executor"] == "ray" and row.get("check"):  # the cluster's answer: its nodes and resources
            usable = Text(f"✓ yes: {row['check']}", style="green")
        else:
            usable = Text(
                "✓ " + ("yes (endpoint not checked)" if row["endpoint_checked"] is False else "yes"), style="green"
            )
        table.add_row(name, row["type"], row["model"] or "-", str(row["tasks"]), key, usable)
    console().print(table)
