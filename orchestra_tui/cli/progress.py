"""The progress report for people: a rich table on the terminal (``orchestra report``) and Markdown
(``--markdown``). rich is imported inside the function that draws."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..agents.pricing import format_total
from ..formatting import count, counts_line, hours, id_list, spent, tokens_line
from ..graph import natural_key
from .render import console


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


def blocking(report: Mapping[str, Any]) -> dict[str, list[str]]:
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
        f"| Completion | {report['completion_percentage']:g}% ({report['completed_tasks']} of "
        f"{report['total_tasks']} tasks) |",
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
