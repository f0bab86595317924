"""A task's code changes against its base, on a screen of its own (``v`` on a worktree task); ``escape`` comes back.

The files changed with their lines added and deleted, then the patch, coloured by line (headers, hunks,
additions, deletions) and scrollable. The patch is an agent's text: it is shown through ``display.printable``
and without markup, and only its first ``PATCH_LINES`` lines are drawn (the rest is named, with the command
that prints it all).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Static

from ...display import one_line, printable
from .reading import ReadingScreen, reading_bindings

if TYPE_CHECKING:
    from ...engine.review import TaskDiff

PATCH_LINES = 3000
LINE_STYLES = (
    ("+++", "bold"),
    ("---", "bold"),
    ("diff --git", "bold"),
    ("@@", "cyan"),
    ("+", "green"),
    ("-", "red"),
)


def files_text(change: TaskDiff) -> Text:
    """The summary line and one line per file: +added -deleted (or binary), then its name."""
    diff = change.diff
    count = len(diff.files)
    text = Text()
    text.append(f"{change.task_id}", "bold")
    text.append(f": {count} file{'s' * (count != 1)} changed, ")
    text.append(f"+{diff.added}", "green")
    text.append(" ")
    text.append(f"-{diff.deleted}", "red")
    text.append(f"  ({change.base[:12]}..{change.head_label}, {one_line(change.branch)})\n", "dim")
    for file in diff.files:
        if file.binary:
            text.append(f"{'binary':>13}", "magenta")
        else:
            text.append(f"{'+' + str(file.added):>6}", "green")
            text.append(f" {'-' + str(file.deleted):>6}", "red")
        name = file.path if file.old_path is None else f"{file.old_path} → {file.path}"
        text.append(f"  {one_line(name)}\n")
    return text


def patch_text(change: TaskDiff, limit: int = PATCH_LINES) -> Text:
    """The patch's first ``limit`` lines, each styled by its first characters."""
    lines = printable(change.diff.patch).splitlines()
    text = Text(no_wrap=True)
    for line in lines[:limit]:
        style = next((style for prefix, style in LINE_STYLES if line.startswith(prefix)), "")
        text.append(line + "\n", style or None)
    if len(lines) > limit:
        more = len(lines) - limit
        text.append(f"… {more} more lines: `orchestra diff --task {change.task_id}` prints them all\n", "italic dim")
    if not lines:
        text.append("no changes against the base\n", "dim")
    return text


class DiffScreen(ReadingScreen):
    DEFAULT_CSS = """
    DiffScreen { layout: vertical; }
    DiffScreen > VerticalScroll { height: 1fr; padding: 0 1; }
    DiffScreen #diff-files { padding-bottom: 1; }
    DiffScreen > .diff-hint { height: 1; padding: 0 1; background: $panel; color: $text-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "back", "Back", id="diff.back"),
        *reading_bindings("diff"),
    ]

    def __init__(self, change: TaskDiff) -> None:
        super().__init__()
        self.change = change

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="diff-body"):
            yield Static(files_text(self.change), id="diff-files", markup=False)
            yield Static(patch_text(self.change), id="diff-patch", markup=False)
        yield Static("escape: back · j/k, ctrl+d/u, g/G, arrows, page up/down: scroll", classes="diff-hint")

    def on_mount(self) -> None:
        self.body.focus()

    @property
    def body(self) -> VerticalScroll:
        return self.query_one("#diff-body", VerticalScroll)

    def action_back(self) -> None:
        self.dismiss(None)
