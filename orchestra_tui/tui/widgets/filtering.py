"""The filter line of the views that list tasks (the board, the table): ``/`` opens it, typing filters,
enter keeps the filter and goes back to the rows, escape clears it."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual import events
from textual.widgets import Input

if TYPE_CHECKING:
    from ...engine.project import Project


class FilterLine:
    """Mixed into a view (a ``Widget``) that composes an ``Input`` with the id ``FILTER_ID`` and has ``filter``,
    ``project``, ``show_project`` and ``focus_rows``; its class ``-filtering`` shows the line."""

    FILTER_ID: ClassVar[str]
    filter: str
    project: Project | None

    def open_filter(self) -> None:
        self.add_class("-filtering")  # type: ignore[attr-defined]
        self._filter_input.focus()

    def clear_filter(self) -> None:
        """Show every task again (the Input's Changed message redraws the view)."""
        self._filter_input.value = ""
        self.remove_class("-filtering")  # type: ignore[attr-defined]

    @property
    def _filter_input(self) -> Input:
        return self.query_one(f"#{self.FILTER_ID}", Input)  # type: ignore[attr-defined,no-any-return]

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.filter = event.value.strip()
        if self.project is not None:
            self.show_project(self.project, None)  # type: ignore[attr-defined]

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if not self.filter:
            self.remove_class("-filtering")  # type: ignore[attr-defined]
        self.focus_rows()  # type: ignore[attr-defined]

    def on_key(self, event: events.Key) -> None:
        if event.key == "escape" and self.has_class("-filtering"):  # type: ignore[attr-defined]
            event.stop()
            self.clear_filter()
            self.focus_rows()  # type: ignore[attr-defined]
