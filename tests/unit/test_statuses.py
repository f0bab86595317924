"""The one table of statuses (statuses.py) that every face reads: complete, and each face's view of it agrees."""

from __future__ import annotations

from orchestra_tui.models import TaskStatus
from orchestra_tui.statuses import BOARD_ORDER, LOOKS, STATUS_MARKS, STATUS_ORDER, TERMINAL_STYLES, URGENCY


def test_every_status_has_one_look_and_a_mark_of_its_own() -> None:
    assert set(LOOKS) == {status.value for status in TaskStatus}
    assert len(set(STATUS_MARKS.values())) == len(STATUS_MARKS)


def test_the_orders_list_statuses_of_the_table() -> None:
    for order in (STATUS_ORDER, BOARD_ORDER, URGENCY):
        assert len(set(order)) == len(order) and set(order) <= set(LOOKS)
    assert set(URGENCY) == set(LOOKS)


def test_a_face_without_a_theme_keeps_its_colours() -> None:
    """The CLI's styles as they were before the table (README's screenshots, users' eyes)."""
    assert TERMINAL_STYLES == {
        "ready": "bold green",
        "blocked": "yellow",
        "pending": "",
        "in_progress": "bold cyan",
        "review": "magenta",
        "completed": "green",
        "failed": "bold red",
        "cancelled": "red",
    }
