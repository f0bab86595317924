"""Small modal questions: a yes/no confirmation, a one-line reason (``f`` asks why a task failed), and a choice
from a list (a task's run whose output to show)."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

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
    BINDINGS: ClassVar[list[BindingType]] = [
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
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel", id="dialog.cancel")]

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


class ChoiceDialog(ModalScreen[str | None]):
    """One of ``choices`` (id, label): enter picks the highlighted one, escape answers None."""

    DEFAULT_CSS = (
        _CSS.format(name="ChoiceDialog") + "ChoiceDialog OptionList { height: auto; max-height: 16; margin-top: 1; }"
    )
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel", id="dialog.cancel")]

    def __init__(self, question: str, choices: list[tuple[str, str]]) -> None:
        super().__init__()
        self.question, self.choices = question, choices

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.question, classes="dialog-question", markup=False)
            yield OptionList(*[Option(label, id=choice) for choice, label in self.choices], id="dialog-choices")
            yield Static("enter: choose · escape: cancel", classes="dialog-hint")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
