"""Small modal questions: a yes/no confirmation, and a one-line reason (``f`` asks why a task failed)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

_CSS = """
{name} {{ align: center middle; }}
{name} > Vertical {{
    width: 70%; max-width: 90; height: auto; border: thick $primary; background: $surface; padding: 1 2;
}}
{name} .dialog-question {{ text-style: bold; }}
{name} .dialog-hint {{ color: $text-muted; margin-top: 1; }}
"""


class ConfirmDialog(ModalScreen[bool]):
    """``y`` (or enter) answers yes; ``n`` or escape no."""

    DEFAULT_CSS = _CSS.format(name="ConfirmDialog")
    BINDINGS = [
        Binding("y,enter", "answer(True)", "Yes", id="dialog.yes"),
        Binding("n,escape", "answer(False)", "No", id="dialog.no"),
    ]

    def __init__(self, question: str, detail: str = "") -> None:
        super().__init__()
        self.question, self.detail = question, detail

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.question, classes="dialog-question", markup=False)
            if self.detail:
                yield Static(self.detail, markup=False)
            yield Static("y: yes · n / escape: no", classes="dialog-hint")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class ReasonDialog(ModalScreen[str | None]):
    """Asks for one line; enter answers it (blank answers are refused), escape answers None."""

    DEFAULT_CSS = _CSS.format(name="ReasonDialog")
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="dialog.cancel")]

    def __init__(self, question: str, placeholder: str = "") -> None:
        super().__init__()
        self.question, self.placeholder = question, placeholder

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.question, classes="dialog-question", markup=False)
            yield Input(placeholder=self.placeholder, id="dialog-input")
            yield Static("enter: confirm · escape: cancel", classes="dialog-hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.value.strip():
            self.dismiss(event.value.strip())
        else:
            self.app.bell()

    def action_cancel(self) -> None:
        self.dismiss(None)
