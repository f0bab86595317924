"""The timeline view: the history as a scrubber and as a list, with a preview of the entry under the cursor.

The scrubber and the list draw only the entries that fit, so 10,000 entries cost what ten do; changes are written
for people (``changes.people_lines``). The entry's tasks per status as the board showed them then (ready and
blocked derive from that state's dependencies; the state stores pending) and its diff against now are computed in
a thread worker (latest wins; small caches keyed by the entry, and for the diff by the current state too), so
holding an arrow key never waits for them. Rolling back is the app's business: the view posts
``ActionRequested("rollback", entry_id)``, and ``screens/rollback.py``'s ``ConfirmRollback`` is the dialog the app
can push before calling the engine.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.content import Content
from textual.widget import Widget
from textual.widgets import Static
from textual.worker import get_current_worker

from ...display import printable
from ...errors import OrchestraError
from ...formatting import hours, local_time
from ..messages import ActionRequested
from .changes import people_lines

if TYPE_CHECKING:
    from ...engine.project import Project
    from ...store import Entry

# One cell per entry: a mark and a theme colour per action (unknown actions get a plain dot).
ACTION_MARKS: dict[str, tuple[str, str]] = {
    "plan": ("≡", "$primary"),
    "import": ("≡", "$primary"),
    "add": ("+", "$primary"),
    "update": ("~", "$primary"),
    "remove": ("-", "$primary"),
    "start": ("▶", "$accent"),
    "run": ("·", "$text-muted"),
    "review": ("◆", "$secondary"),
    "complete": ("✓", "$success"),
    "fail": ("✗", "$error"),
    "cancel": ("⊘", "$error"),
    "retry": ("↻", "$warning"),
    "rollback": ("⟲", "bold $warning"),
    "undo": ("↶", "bold $warning"),
}
PREVIEW_LINES = 400  # diff lines drawn in the preview; the rest are counted
DIFF_CACHE = 64  # diffs against now kept for entries visited since the state last changed
COUNTS_CACHE = 256  # status counts kept for entries visited (an entry's never change)


def _mark(action: str) -> tuple[str, str]:
    return ACTION_MARKS.get(action, ("•", "$foreground"))


def diff_line(line: str) -> Content:
    if line.startswith("+ "):
        return Content.styled(line, "$success")
    if line.startswith("- "):
        return Content.styled(line, "$error")
    label, sep, rest = line.partition(": ")
    return Content.assemble((label, "bold"), sep, rest)


def _progress_line(
    progress: Mapping[str, Any], now: Mapping[str, Any] | None, counts: dict[str, int] | None
) -> Content:
    """Completion, tasks and hours after an entry, its tasks per status (None: still counting), with the
    current figures alongside when they differ."""

    def figures(p: Mapping[str, Any]) -> str:
        done, total = p.get("hours_done", 0.0), p.get("hours_total", 0.0)
        return (
            f"{p.get('completion_percentage', 0.0):g}% complete · "
            f"{p.get('completed_tasks', 0)}/{p.get('total_tasks', 0)} tasks"
            f" · {hours(round(done, 2))} of {hours(round(total, 2))} h done ({hours(round(total - done, 2))} h "
            "remaining)"
        )

    shown = (
        "counting…"
        if counts is None
        else " · ".join(f"{status.replace('_', ' ')} {count}" for status, count in counts.items())
    )
    line = Content.assemble(("then  ", "bold"), figures(progress), (f"\n      {shown}" if shown else "", "$text-muted"))
    if now is not None and now != progress:
        line = Content("\n").join([line, Content.assemble(("now   ", "bold"), figures(now))])
    return line


def window(first: int, cursor: int, span: int, count: int) -> tuple[int, int]:
    """The stretch [start, end) of ``count`` entries, ``span`` long, to draw: it keeps ``cursor`` in view and
    moves from ``first`` (the previous start) only as far as it must."""
    if cursor < first:
        first = cursor
    elif cursor >= first + span:
        first = cursor - span + 1
    first = max(0, min(first, count - span))
    return first, min(count, first + span)


class Scrubber(Widget):
    """A strip of one mark per entry, the cursor reversed, the entries touching the selected task underlined."""

    DEFAULT_CSS = """
    Scrubber { height: auto; padding: 0 1; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.entries: list[Entry] = []
        self.cursor = 0
        self.first = 0  # index of the leftmost entry drawn
        self.selected_task: str | None = None

    @property
    def span(self) -> int:
        """How many entries fit across (a screenful for the page keys)."""
        return max(1, self.content_size.width)

    def show(self, entries: list[Entry], cursor: int, task: str | None) -> None:
        self.entries, self.cursor, self.selected_task = entries, cursor, task
        self.refresh()

    def _window(self) -> tuple[int, int]:
        self.first, end = window(self.first, self.cursor, self.span, len(self.entries))
        return self.first, end

    def render(self) -> Content:
        if not self.entries:
            return Content.styled("no history yet", "$text-muted")
        start, end = self._window()
        marks = []
        for index in range(start, end):
            entry = self.entries[index]
            mark, style = _mark(entry.action)
            if self.selected_task is not None and self.selected_task in entry.extra.get("tasks", ()):
                style += " underline"
            if index == self.cursor:
                style += " reverse"
            marks.append((mark, style))
        caret = Content(" " * (self.cursor - start)) + Content.styled("▲", "bold")
        entry = self.entries[self.cursor]
        earlier, later = start, len(self.entries) - end
        position = Content.assemble(
            (f"◀ {earlier:,} earlier  " if earlier else "", "$text-muted"),
            (entry.id, "bold"),
            f"  {self.cursor + 1:,} of {len(self.entries):,}",
            (f"  {later:,} later ▶" if later else "", "$text-muted"),
        )
        return Content("\n").join([Content.assemble(*marks), caret, position])


class EntryList(Widget):
    """The history as a list (lazygit's reflog): one row per entry (time, actor, what happened), the cursor's
    reversed, the entries touching the selected task marked. Only the rows that fit are drawn."""

    DEFAULT_CSS = """
    EntryList { height: 1fr; padding: 0 1; text-wrap: nowrap; text-overflow: ellipsis; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.entries: list[Entry] = []
        self.cursor = 0
        self.first = 0
        self.selected_task: str | None = None

    def show(self, entries: list[Entry], cursor: int, task: str | None) -> None:
        self.entries, self.cursor, self.selected_task = entries, cursor, task
        self.refresh()

    def _window(self) -> tuple[int, int]:
        self.first, end = window(self.first, self.cursor, max(1, self.content_size.height), len(self.entries))
        return self.first, end

    def render(self) -> Content:
        if not self.entries:
            return Content("")
        start, end = self._window()
        rows = []
        for index in range(end - 1, start - 1, -1):  # newest at the top, as a log reads
            entry = self.entries[index]
            mark, style = _mark(entry.action)
            touched = self.selected_task is not None and self.selected_task in entry.extra.get("tasks", ())
            row = Content.assemble(
                (local_time(entry.time)[5:], "$text-muted"),
                "  ",
                (f"{entry.actor[:9]:<9}", "$text-muted"),
                " ",
                (mark, style),
                " ",
                (entry.summary, "underline" if touched else ""),
            )
            rows.append(row.stylize("reverse") if index == self.cursor else row)
        return Content("\n").join(rows)


class TimelineView(Widget, can_focus=True):
    """The history scrubber and the preview of the entry under the cursor (the view contract of DESIGN §8)."""

    DEFAULT_CSS = """
    TimelineView { height: 1fr; layout: vertical; }
    TimelineView > Scrubber { border-bottom: solid $foreground-muted; }
    TimelineView:focus > Scrubber { border-bottom: solid $accent; }
    TimelineView > EntryList { height: 1fr; border-bottom: solid $foreground-muted; }
    TimelineView #timeline-preview { height: 1fr; padding: 0 1; }
    TimelineView #timeline-diff-title { margin-top: 1; text-style: bold; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left,h", "move(-1)", "Earlier", id="timeline.earlier"),
        Binding("right,l", "move(1)", "Later", id="timeline.later"),
        Binding("home,g", "first", "First", id="timeline.first", show=False),
        Binding("end,G", "last", "Last", id="timeline.last", show=False),
        Binding("pageup,ctrl+u", "page(-1)", "Page earlier", id="timeline.page_earlier", show=False),
        Binding("pagedown,ctrl+d", "page(1)", "Page later", id="timeline.page_later", show=False),
        Binding("up,k", "scroll_preview(-1)", "Scroll preview", id="timeline.preview_up", show=False),
        Binding("down,j", "scroll_preview(1)", "Scroll preview", id="timeline.preview_down", show=False),
        Binding("enter", "rollback", "Roll back here", id="timeline.rollback"),
    ]

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.project: Project | None = None
        self.entries: list[Entry] = []
        self.cursor = 0
        self.selected_task: str | None = None
        self.diff_lines: list[str] | None = None  # the diff against now of the entry under the cursor, once known
        self.counts: dict[str, int] | None = None  # the tasks per status of the entry under the cursor, once known
        self._diffs: dict[int, list[str] | str] = {}  # entry seq -> lines (or an error), for the current state
        self._diffs_now = -1  # the seq of the state ``_diffs`` was computed against
        self._counts: dict[tuple[int, str], dict[str, int]] = {}  # (entry seq, time) -> its status counts

    def compose(self) -> ComposeResult:
        yield Scrubber(id="timeline-scrubber")
        yield EntryList(id="timeline-list")
        with VerticalScroll(id="timeline-preview", can_focus=False):
            yield Static(id="timeline-entry")
            yield Static("Changes since this entry (then -> now)", id="timeline-diff-title")
            yield Static(id="timeline-diff")

    # -- the view contract ----------------------------------------------------------------------------

    @property
    def entry(self) -> Entry | None:
        """The entry under the cursor."""
        return self.entries[self.cursor] if self.entries else None

    def show_project(self, project: Project, changed: frozenset[str] | None) -> None:
        """Take the project's history; the cursor stays on its entry unless it was on the last one."""
        entry = self.entry
        at_end = entry is None or self.cursor == len(self.entries) - 1
        kept = None if entry is None else entry.seq
        self.project = project
        self.entries = project.history()
        if at_end or kept is None:
            self.cursor = max(0, len(self.entries) - 1)
        else:
            self.cursor = min(
                bisect_left(self.entries, kept, key=lambda entry: entry.seq), max(0, len(self.entries) - 1)
            )
        self._redraw()

    def select_task(self, task_id: str) -> None:
        """Underline the entries that touched the task (only the visible ones are looked at)."""
        self.selected_task = task_id
        self.query_one(Scrubber).show(self.entries, self.cursor, self.selected_task)
        self.query_one(EntryList).show(self.entries, self.cursor, self.selected_task)

    # -- keys -----------------------------------------------------------------------------------------

    def move_to(self, index: int) -> None:
        if not self.entries:
            return
        index = max(0, min(index, len(self.entries) - 1))
        if index != self.cursor:
            self.cursor = index
            self._redraw()

    def action_move(self, step: int) -> None:
        self.move_to(self.cursor + step)

    def action_first(self) -> None:
        self.move_to(0)

    def action_last(self) -> None:
        self.move_to(len(self.entries) - 1)

    def action_page(self, direction: int) -> None:
        self.move_to(self.cursor + direction * max(10, self.query_one(Scrubber).span))

    def action_scroll_preview(self, direction: int) -> None:
        preview = self.query_one("#timeline-preview", VerticalScroll)
        preview.scroll_relative(y=direction, animate=False)

    def action_rollback(self) -> None:
        if self.entry is not None:
            self.post_message(ActionRequested("rollback", self.entry.id))

    # -- drawing --------------------------------------------------------------------------------------

    def _redraw(self) -> None:
        self.query_one(Scrubber).show(self.entries, self.cursor, self.selected_task)
        self.query_one(EntryList).show(self.entries, self.cursor, self.selected_task)
        entry = self.entry
        if entry is None or self.project is None:
            self.counts = None
            self.query_one("#timeline-entry", Static).update("")
            self._show_diff("")
            return
        self._show_entry(entry)
        self._request_preview(self.project, entry)

    def _show_entry(self, entry: Entry) -> None:
        self.counts = self._counts.get((entry.seq, entry.time))
        now = self.entries[-1].progress if self.entries else None
        head = Content.assemble(
            (f"Entry {entry.id}", "bold"),
            f"  {local_time(entry.time)}  by {entry.actor}  ",
            (f"{_mark(entry.action)[0]} {entry.action}", _mark(entry.action)[1]),
        )
        self.query_one("#timeline-entry", Static).update(
            Content("\n").join(
                [head, Content(printable(entry.summary)), _progress_line(entry.progress, now, self.counts)]
            )
        )

    def _request_preview(self, project: Project, entry: Entry) -> None:
        now_seq = project.store.seq
        if now_seq != self._diffs_now:
            self._diffs, self._diffs_now = {}, now_seq
        cached = self._diffs.get(entry.seq)
        if cached is not None:
            self._show_diff(cached)
        else:
            self.diff_lines = None
            self.query_one("#timeline-diff", Static).update(Content.styled("computing…", "$text-muted"))
        if cached is None or self.counts is None:
            self._compute_preview(project, entry, now_seq, self.counts is None, cached is None)

    @work(thread=True, exclusive=True, group="timeline-diff", exit_on_error=False)
    def _compute_preview(self, project: Project, entry: Entry, now_seq: int, count: bool, diff: bool) -> None:
        """The entry's status counts and its diff against now, whichever is asked for."""
        worker = get_current_worker()
        counts: dict[str, int] | None = None
        lines: list[str] | str | None = None
        try:
            if count:
                counts = project.status_counts_at(entry.seq)
            if diff and not worker.is_cancelled:
                lines = [printable(line) for line in people_lines(project.diff(entry.seq))]
        except (OrchestraError, OSError) as error:
            if count and counts is None:
                counts = {}  # nothing to count: the diff says why
            if diff:
                lines = f"cannot compute the diff: {error}"
        if not worker.is_cancelled:
            self.app.call_from_thread(self._preview_ready, entry, now_seq, counts, lines)

    def _preview_ready(
        self, entry: Entry, now_seq: int, counts: dict[str, int] | None, lines: list[str] | str | None
    ) -> None:
        if not self.is_attached:
            return  # the view is no longer there
        current = self.entry is not None and self.entry.seq == entry.seq
        if counts is not None:
            self._counts[(entry.seq, entry.time)] = counts
            if len(self._counts) > COUNTS_CACHE:
                del self._counts[next(iter(self._counts))]
            if current:
                self._show_entry(entry)
        if lines is not None and now_seq == self._diffs_now:  # else computed against a state that has moved on
            self._diffs[entry.seq] = lines
            if len(self._diffs) > DIFF_CACHE:
                del self._diffs[next(iter(self._diffs))]
            if current:
                self._show_diff(lines)

    def _show_diff(self, result: list[str] | str) -> None:
        target = self.query_one("#timeline-diff", Static)
        if isinstance(result, str):
            self.diff_lines = None
            target.update(Content.styled(result, "$error") if result else "")
            return
        self.diff_lines = result
        if not result:
            target.update(Content.styled("no difference: this is the current state", "$text-muted"))
            return
        lines = [diff_line(line) for line in result[:PREVIEW_LINES]]
        if len(result) > PREVIEW_LINES:
            lines.append(Content.styled(f"… and {len(result) - PREVIEW_LINES:,} more", "$text-muted"))
        target.update(Content("\n").join(lines))
