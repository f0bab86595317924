"""The top lines: the project, its progress figures, and which view is on show."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from textual.content import Content
from textual.widgets import Static

from ...cli.render import hours


def figures_line(figures: Mapping[str, Any]) -> Content:
    done, total = figures["hours_done"], figures["hours_total"]
    parts = [
        Content.styled(f"{figures['completion_percentage']:g}%", "bold $success"),
        Content(f"{figures['completed_tasks']}/{figures['total_tasks']} tasks"),
        Content(f"{hours(round(done, 2))} h done"),
        Content(f"{hours(round(total - done, 2))} h left"),
        Content.styled(f"{figures['running']} running", "bold $accent" if figures["running"] else ""),
        Content(f"{figures['tokens']:,} tokens"),
        Content(f"${figures['cost_usd']:.4f}"),
    ]
    return Content(" · ").join(parts)


class ProjectHeader(Static):
    DEFAULT_CSS = """
    ProjectHeader { height: 2; padding: 0 1; background: $panel; }
    """

    def show(self, name: str, figures: Mapping[str, Any], views: Sequence[tuple[str, str, str]], current: str) -> None:
        """``views``: (id, key, title) of each view mounted; ``current`` the id on show."""
        tabs = [Content.styled(f" {key} {title} ", "reverse bold" if view == current else "$text-muted") for view, key, title in views]
        top = Content.assemble((name, "bold"), "  ", *tabs)
        self.update(Content("\n").join([top, figures_line(figures)]))
