"""The dialog that asks before a rollback, listing what it would change (people's change lines)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from ...display import printable
from ...engine.integration import integration
from ...errors import OrchestraError
from ...formatting import local_time
from ..widgets.changes import people_lines
from ..widgets.timeline import diff_line

if TYPE_CHECKING:
    from ...engine.project import Project
    from ...store import Entry

CONFIRM_LINES = 12  # change lines the rollback dialog lists


class ConfirmRollback(ModalScreen[bool]):
    """Asks before a rollback, showing what it would change; dismisses with True to go ahead.

    The app pushes it on ``ActionRequested("rollback", entry_id)`` and calls the engine when it returns True.
    """

    DEFAULT_CSS = """
    ConfirmRollback { align: center middle; }
    ConfirmRollback > Vertical {
        width: 80%; max-width: 100; height: auto; max-height: 90%;
        border: thick $warning; background: $surface; padding: 0 2;
    }
    ConfirmRollback #confirm-title { text-style: bold; }
    ConfirmRollback #confirm-scroll { height: auto; max-height: 45vh; margin: 1 0 0 0; }
    ConfirmRollback Horizontal { height: auto; align-horizontal: right; }
    ConfirmRollback Button { margin-left: 2; }
    ConfirmRollback .dialog-hint { color: $text-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "confirm", "Roll back", id="confirm.yes"),
        Binding("n,escape", "cancel", "Cancel", id="confirm.no"),
    ]

    def __init__(self, project: Project, entry_id: str) -> None:
        super().__init__()
        self.project = project
        self.entry_id = entry_id
        self.changes: list[str] | None = None  # the change lines, once computed

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f"Roll back to entry {self.entry_id}?", id="confirm-title")
            with VerticalScroll(id="confirm-scroll", can_focus=False):
                yield Static(Content.styled("working out what would change…", "$text-muted"), id="confirm-changes")
            yield Static("y: roll back · n / escape: cancel · tab: the buttons", classes="dialog-hint")
            with Horizontal():
                yield Button("Roll back", variant="warning", id="confirm-yes", disabled=True)
                yield Button("Cancel", id="confirm-no")

    def on_mount(self) -> None:
        self.query_one("#confirm-no", Button).focus()
        self._compute(self.project, self.entry_id)

    @work(thread=True, exit_on_error=False)
    def _compute(self, project: Project, entry_id: str) -> None:
        try:
            entry = project.entry(entry_id)
            result: tuple[Entry | None, list[str] | str] = (
                entry,
                [printable(line) for line in rollback_lines(project, entry.seq)],
            )
        except (OrchestraError, OSError) as error:
            result = (None, str(error))
        self.app.call_from_thread(self._show, *result)

    def _show(self, entry: Entry | None, result: list[str] | str) -> None:
        if not self.is_attached:
            return  # dismissed before the answer came
        body = self.query_one("#confirm-changes", Static)
        if isinstance(result, str):
            body.update(Content.styled(f"cannot roll back: {result}", "$error"))
            return
        assert entry is not None
        self.query_one("#confirm-title", Static).update(
            Content.assemble(
                f"Roll back to entry {entry.id} ",
                (f"({local_time(entry.time)}, {printable(entry.summary)})", "$text-muted"),
                "?",
            )
        )
        if not result:
            body.update(Content.styled("nothing to roll back: the tasks are already as they were then", "$text-muted"))
            return
        self.changes = result
        count = f"{len(result)} change{'s' if len(result) != 1 else ''}, recorded as a new entry (undo with u):"
        lines = [Content(count)] + [diff_line(line) for line in result[:CONFIRM_LINES]]
        if len(result) > CONFIRM_LINES:
            lines.append(Content.styled(f"… and {len(result) - CONFIRM_LINES} more", "$text-muted"))
        body.update(Content("\n").join(lines))
        self.query_one("#confirm-yes", Button).disabled = False  # Cancel keeps the focus: the safe default

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "confirm-yes":
            self.action_confirm()
        else:
            self.action_cancel()

    def action_confirm(self) -> None:
        if self.changes:
            self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)


def rollback_lines(project: Project, seq: int) -> list[str]:
    """What rolling back to entry ``seq`` changes: the tasks, then the merges it takes off the integration branch."""
    changes = project.rollback_changes(seq)
    return people_lines(changes) + integration(project).preview(changes)
