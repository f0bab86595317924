"""A task's code changes against its base, on a screen of its own (``v`` on a worktree task); ``escape`` comes back.

The files changed with their lines added and deleted, then the patch, coloured by line (headers, hunks, additions,
deletions: ``formatting.patch_tone``, in the running theme's ``$text-<tone>``) and scrollable. The patch is an
agent's text: it is shown through ``display.printable`` and without markup, and only its first ``PATCH_LINES``
lines are drawn (the rest is named, with the command that prints it all).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import Static

from ...display import one_line, printable
from ...formatting import patch_tone
from .reading import ReadingScreen, reading_bindings

if TYPE_CHECKING:
    from ...engine.review import TaskDiff

PATCH_LINES = 3000
STYLES = {  # a tone as drawn here: the running theme's variable, resolved when drawn
    "heading": "bold",
    "primary": "$text-primary",
    "secondary": "$text-secondary",
    "success": "$text-success",
    "error": "$text-error",
}


def files_text(change: TaskDiff) -> Content:
    """The summary line and one line per file: +added -deleted (or binary), then its name."""
    diff = change.diff
    count = len(diff.files)
    parts: list[str | tuple[str, str]] = [
        (change.task_id, "bold"),
        f": {count} file{'s' * (count != 1)} changed, ",
        (f"+{diff.added}", STYLES["success"]),
        " ",
        (f"-{diff.deleted}", STYLES["error"]),
        (f"  ({change.base[:12]}..{change.head_label}, {one_line(change.branch)})\n", "dim"),
    ]
    for file in diff.files:
        if file.binary:
            parts.append((f"{'binary':>13}", STYLES["secondary"]))
        else:
            parts += [
                (f"{'+' + str(file.added):>6}", STYLES["success"]),
                (f" {'-' + str(file.deleted):>6}", STYLES["error"]),
            ]
        name = file.path if file.old_path is None else f"{file.old_path} → {file.path}"
        parts.append(f"  {one_line(name)}\n")
    return Content.assemble(*parts)


def patch_text(change: TaskDiff, limit: int = PATCH_LINES) -> Content:
    """The patch's first ``limit`` lines, each styled by its first characters."""
    lines = printable(change.diff.patch).splitlines()
    parts: list[str | tuple[str, str]] = [
        (line + "\n", STYLES.get(patch_tone(line) or "", "")) for line in lines[:limit]
    ]
    if len(lines) > limit:
        more = len(lines) - limit
        parts.append((f"… {more} more lines: `orchestra diff --task {change.task_id}` prints them all\n", "italic dim"))
    if not lines:
        parts.append(("no changes against the base\n", "dim"))
    return Content.assemble(*parts)


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
