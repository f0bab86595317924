"""Streaming output panes: one tab per task (its newest run, or the run asked for from the task's own
screen), fed in batches, holding only the last lines of each run.

A run's full output is in ``.orchestra/runs/<run_id>/output.txt`` (the engine writes every piece there as it
arrives); a pane keeps the last ``MAX_LINES`` lines and says where the rest is, so memory stays bounded however
long a run talks. The pane on show is drawn by one Textual ``Log``, which takes another run's lines when another
tab comes to the front. Very long lines are folded at ``FOLD_WIDTH`` characters, so a run
that never prints a newline does not grow one line without end.

A pane follows the end of its output only while the user is at the bottom: scrolling up holds the position
while text keeps arriving (also when old lines are dropped from the top), and scrolling back down resumes. Each
run keeps its place while another is on show.

In a pane, ``/`` searches its lines (case-insensitive; every match marked, ``n``/``N`` go to the next and
previous, escape ends the search) and ``y`` copies its text: to the clipboard through the terminal (OSC 52,
which some terminals ignore) and to ``.orchestra/copied.txt``, which always works.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from rich.highlighter import Highlighter
from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.css.query import NoMatches
from textual.widget import MountError
from textual.widgets import Input, Log, Static, Tab, Tabs

from ...display import printable
from ...engine.runner import CANCELLED
from ...engine.runs import OUTPUT_FILE, RUNS_DIR, run_dir
from ...errors import OrchestraError
from ...projectfiles import STATE_DIR
from ...store import fsio
from ..status_text import status_content
from ..textual_compat import QuietTabs, line_cells, log_show

if TYPE_CHECKING:
    from ...engine.project import Project

MAX_LINES = 2000  # lines kept per pane
FOLD_WIDTH = 1000  # characters per line before it is folded
MAX_FINISHED = 12  # finished panes kept; the oldest beyond this are dismissed
TAIL_BYTES = 128 * 1024  # how much of a past run's output.txt is loaded
COPY_FILE = "copied.txt"  # in .orchestra/: the text of the pane copied last
_BREAK = re.compile(r"(\r\n|\r|\n)")


def fold(text: str, column: int, width: int = FOLD_WIDTH) -> tuple[str, int]:
    """``text`` with a newline inserted wherever a line would pass ``width``; ``column`` is where the last line
    ended so far. Returns the text and the new column."""
    parts = _BREAK.split(text)
    if len(parts) == 1 and column + len(text) <= width:
        return text, column + len(text)
    out = []
    for index, part in enumerate(parts):
        if index % 2:  # a line break
            out.append(part)
            column = 0
            continue
        while column + len(part) > width:
            cut = width - column
            out += [part[:cut], "\n"]
            part, column = part[cut:], 0
        out.append(part)
        column += len(part)
    return "".join(out), column


def tail_output(root: Path, run_id: str, limit: int = TAIL_BYTES) -> str | None:
    """The last ``limit`` bytes of a run's output (from the start of a line), or None when there is none."""
    try:
        with open(run_dir(root, run_id) / OUTPUT_FILE, "rb") as handle:
            size = handle.seek(0, 2)
            handle.seek(max(0, size - limit))
            data = handle.read()
    except OSError:
        return None
    if size > limit:
        data = data[data.find(b"\n") + 1 :]
    return data.decode("utf-8", errors="replace")


def run_outcome(status: str, error: str | None) -> tuple[str, str | None]:
    """How a run's end reads: a run stopped by the user (the engine ends it failed, "cancelled by user") is
    cancelled, as its task is, and that says it all."""
    return ("cancelled", None) if error == CANCELLED else (status, error)


def _pane_id(run_id: str) -> str:
    return "run-" + re.sub(r"[^A-Za-z0-9_-]", "_", run_id)


class MatchMarker(Highlighter):
    """Marks every case-insensitive occurrence of ``needle`` (nothing while it is empty) in ``style()``."""

    def __init__(self, style: Callable[[], Style]) -> None:
        self.needle = ""
        self.style = style

    def highlight(self, text: Text) -> None:
        if self.needle:
            text.highlight_words([self.needle], self.style(), case_sensitive=False)


class RunPane:
    """One run's pane: its task, agent and status, and its last lines, kept whether it is on show or not.

    Only the pane on show is drawn, by the one ``RunView`` below the tabs, which takes its lines: bringing
    another run to the front swaps what that view draws and repaints it, where a widget per run (shown by
    its ``display``) laid out the whole screen on every change of the selected task. ``lines`` follows
    ``Log``'s convention (the last is the unfinished line, ``""`` after a break), bounded to ``MAX_LINES``.
    """

    def __init__(self, run_id: str, task_id: str, agent: str, status: str = "in_progress", live: bool = True) -> None:
        self.run_id, self.task_id, self.agent = run_id, task_id, agent
        self.status, self.live = status, live
        self.error: str | None = None
        self.column = 0  # where the unfinished line ends, for folding
        self.lines: list[str] = []
        self.width = 0  # cells of the widest line kept
        self.dropped = 0  # lines dropped from the top so far
        self.following = True  # the user is at the end of its output (or has not looked)
        self.top = 0  # while not following: the line (counted from the run's first) at the top when last shown
        self.left = 0.0  # the horizontal scroll when last shown

    @property
    def tab_id(self) -> str:
        return _pane_id(self.run_id)

    @property
    def finished(self) -> bool:
        return not self.live

    @property
    def line_count(self) -> int:
        """Lines of text (an empty unfinished line not counted), as ``Log.line_count``."""
        return len(self.lines) - (self.lines[-1] == "") if self.lines else 0

    def write(self, text: str) -> int:
        """Fold and append ``text``, dropping the oldest lines past ``MAX_LINES``; how many were dropped."""
        text, self.column = fold(printable(text), self.column)
        parts = _BREAK.split(text)  # line, break, line, ..., line
        if len(parts) > 2 * MAX_LINES:  # MAX_LINES breaks or more: only the last MAX_LINES - 1 can stay
            parts = parts[-(2 * MAX_LINES - 1) :]
        lines = self.lines
        if not lines:
            lines.append("")
        last = len(lines) - 1
        lines[-1] += parts[0]
        lines.extend(parts[2::2])
        self.width = max(self.width, *(line_cells(line) for line in lines[last:]))
        dropped = max(0, len(lines) - MAX_LINES)
        del lines[:dropped]
        self.dropped += dropped
        return dropped

    def finish(self, status: str, error: str | None) -> None:
        status, error = run_outcome(status, error)
        self.status, self.error, self.live = status, printable(error) if error else error, False

    def label(self) -> Content:
        """Its tab's label: the status mark and the task."""
        mark = status_content(self.status)[:1]
        return Content.assemble(mark, " ", self.task_id)

    def header(self) -> Content:
        state = Content.styled("▶ running", "bold $accent") if self.live else status_content(self.status)
        if self.error and not self.live:
            state = Content.assemble(state, ": ", (self.error, "$error"))
        return Content.assemble(
            (self.task_id, "bold"),
            f" · {self.agent} · ",
            state,
            ("" if self.live else " · finished (delete closes)", "$text-muted"),
        )

    def where(self) -> str:
        where = f"{STATE_DIR}/{RUNS_DIR}/{self.run_id}/{OUTPUT_FILE}"
        return f"run {self.run_id} · last {MAX_LINES:,} lines here; the full output is in {where}"


class OutputLog(Log):
    """The lines of the run on show (a ``RunPane``'s, taken with :meth:`show`), and whether the user follows its
    end (at the bottom) or reads further up: each run keeps its own place while another is on show.

    A match of the search is the running theme's warning text colour reversed (the component class
    ``output-log--match``): ``$text-warning`` is legible on ``$background``, so the reverse is too. A theme change
    restyles the widget, which drops the lines drawn in the old theme.
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {"output-log--match"}
    DEFAULT_CSS = """
    OutputLog > .output-log--match { background: $text-warning; color: $background; }
    """

    def __init__(self) -> None:
        super().__init__(auto_scroll=False)
        self.highlighter = self.marker = MatchMarker(lambda: self.get_component_rich_style("output-log--match"))
        self.run: RunPane | None = None

    @property
    def following(self) -> bool:
        return self.run is None or self.run.following

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if self.size and self.run is not None:  # a hidden log has no size, and says nothing about the user
            self.run.following = self.is_vertical_scroll_end

    def show(self, run: RunPane) -> None:
        """Draw ``run``'s lines, at the place it was left (its end, if the user was following it)."""
        old, self.run = self.run, None  # its place is not the user's while the lines are swapped
        if old is not None:
            old.top, old.left = old.dropped + round(self.scroll_y), self.scroll_x
        log_show(self, run.lines, run.width)
        self.refresh()
        if run.following:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        else:
            self.scroll_to(x=run.left, y=max(0, run.top - run.dropped), animate=False, immediate=True)
        self.run = run

    def grown(self, dropped: int) -> None:
        """The run on show got more text (``dropped``: lines dropped from its top): follow the end if the user was
        there, else keep their lines in view."""
        run = self.run
        if run is None:
            return
        log_show(self, run.lines, run.width)
        if dropped and not run.following:
            self.scroll_to(y=max(0, self.scroll_y - dropped), animate=False, immediate=True)
        self.refresh()
        if run.following:
            self.scroll_end(animate=False, immediate=True, x_axis=False)

    def mark(self, needle: str) -> list[int]:
        """Mark ``needle`` wherever it occurs (nothing: ``""``); the lines holding it, top to bottom."""
        if needle != self.marker.needle:
            self.marker.needle, self.highlight = needle, bool(needle)
            self.notify_style_update()  # drops the lines drawn with the old marks
            self.refresh()
        folded = needle.casefold()
        return [index for index, line in enumerate(self.lines) if folded and folded in line.casefold()]


SHORT_PANE = 10  # rows below which a pane's header keeps to its first line, leaving the rest to the output


class RunView(Vertical):
    """The run on show: a header (task, agent, status; then, if the pane has room, where the full output is) and
    its last lines. :meth:`show` swaps in another run without a layout (the header is one row, and where the
    output is takes as many rows for every run of the same id length)."""

    DEFAULT_CSS = """
    RunView { height: 1fr; padding: 0; }
    RunView > .run-header { height: 1; padding: 0 1; background: $panel; text-wrap: nowrap; text-overflow: ellipsis; }
    RunView > .run-where { height: auto; padding: 0 1; background: $panel; color: $text-muted; }
    RunView.-short > .run-where { display: none; }
    RunView > OutputLog { height: 1fr; overflow-x: auto; padding: 0 1; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.header = Static(classes="run-header")
        self.where = Static(classes="run-where", markup=False)
        self.log_widget = OutputLog()
        self.where_text = ""

    def compose(self) -> ComposeResult:
        yield self.header
        yield self.where
        yield self.log_widget

    def on_resize(self) -> None:
        self.set_class(self.size.height < SHORT_PANE, "-short")

    def show(self, run: RunPane) -> None:
        self.draw_header(run)
        where = run.where()
        self.where.update(where, layout=len(where) != len(self.where_text))
        self.where_text = where
        self.log_widget.show(run)

    def draw_header(self, run: RunPane) -> None:
        self.header.update(run.header(), layout=False)


class RunTab(Tab):
    """A run's tab, which tells the panes when it is mounted (``Tabs.add_tab`` may return before)."""

    def on_mount(self) -> None:
        self.query_ancestor(OutputPanes).tab_mounted(self)


class OutputPanes(Vertical):
    """The output of runs, one tab per run; switch with ``[`` / ``]``, maximise with ``z``.

    The app calls :meth:`run_started`, :meth:`append` (text already batched per frame), :meth:`run_ended` from
    the engine's events, :meth:`show` when a task is selected, and :meth:`show_project` with the open project
    (needed to load a past run's output from disk). The tabs are a row of ``Tabs``; below them one ``RunView``
    draws the pane on show (see ``RunPane``).
    """

    ALLOW_MAXIMIZE = True
    DEFAULT_CSS = """
    OutputPanes { height: 1fr; }
    OutputPanes > #output-tabs, OutputPanes > RunView { display: none; }
    OutputPanes > #output-empty { color: $text-muted; padding: 0 1; }
    OutputPanes.-has-panes > #output-tabs, OutputPanes.-has-panes > RunView { display: block; }
    OutputPanes.-has-panes > #output-empty { display: none; }
    OutputPanes > #output-search { display: none; height: 1; background: $panel; }
    OutputPanes.-searching > #output-search { display: block; }
    OutputPanes #output-search > Input { border: none; height: 1; padding: 0 1; width: 1fr; background: $panel; }
    OutputPanes #output-search > Static { width: auto; padding: 0 1; color: $text-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("]", "next_pane", "Next output", id="output.next"),
        Binding("[", "previous_pane", "Previous output", id="output.previous"),
        Binding("z", "toggle_maximise", "Maximise output", id="output.maximise"),
        Binding("delete", "dismiss_pane", "Close finished output", id="output.dismiss"),
        Binding("j", "scroll_log(1)", "Down", show=False, id="output.down"),
        Binding("k", "scroll_log(-1)", "Up", show=False, id="output.up"),
        Binding("g", "scroll_log(-1, True)", "Top", show=False, id="output.top"),
        Binding("G", "scroll_log(1, True)", "Bottom (follows the output again)", show=False, id="output.bottom"),
        Binding("ctrl+d", "scroll_log(0.5)", "Half a page down", show=False, id="output.half_down"),
        Binding("ctrl+u", "scroll_log(-0.5)", "Half a page up", show=False, id="output.half_up"),
        Binding("slash", "search", "Search the output", id="output.search"),
        Binding("n", "search_step(1)", "Next match", show=False, id="output.search_next"),
        Binding("N", "search_step(-1)", "Previous match", show=False, id="output.search_previous"),
        Binding("escape", "end_search", "End the search", show=False, id="output.search_end"),
        Binding("y", "copy", "Copy the output", id="output.copy"),
    ]

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.project: Project | None = None
        self.panes: dict[str, RunPane] = {}  # run id -> pane, oldest first
        self._shown: str | None = None  # run id of the pane on show
        self._latest: dict[str, str] = {}  # task id -> run id of its pane
        self.needle = ""  # the search on show ("" none)
        self._match: int | None = None  # the line of the match last gone to
        self.tabs = QuietTabs(id="output-tabs")
        self.view = RunView(id="output-run")

    def compose(self) -> ComposeResult:
        yield Static("no output yet: dispatched tasks stream here", id="output-empty")
        yield self.tabs
        yield self.view
        with Horizontal(id="output-search"):
            yield Input(placeholder="search the output (enter: go; escape: end)", id="output-search-text")
            yield Static("", id="output-search-count")

    def on_mount(self) -> None:
        if self.current is not None:  # panes added before this was mounted
            self.view.show(self.current)

    @property
    def current(self) -> RunPane | None:
        """The pane on show."""
        return None if self._shown is None else self.panes.get(self._shown)

    @property
    def log_widget(self) -> OutputLog:
        """The widget drawing the lines of the pane on show."""
        return self.view.log_widget

    # -- what the app calls ---------------------------------------------------------------------------

    def show_project(self, project: Project, changed: frozenset[str] | None) -> None:
        self.project = project

    def run_started(self, run_id: str, task_id: str, agent: str, selected: str | None = None) -> RunPane:
        """A pane for a new run. It comes to the front when its task is the selected one, or when the pane in
        front is neither the selected task's nor live; never over the selected task's own output."""
        pane = self.panes.get(run_id)
        if pane is None:
            current = self.current
            front = current is None or task_id == selected or (current.finished and current.task_id != selected)
            front = front or (current is not None and current.task_id == task_id)  # its own tab, newer run
            pane = self._add(RunPane(run_id, task_id, agent), front=front)
        return pane

    def append(self, run_id: str, task_id: str, text: str) -> None:
        pane = self.panes.get(run_id) or self.run_started(run_id, task_id, "?")
        dropped = pane.write(text)
        if pane is self.current and self.log_widget.run is pane:
            self.log_widget.grown(dropped)

    def run_ended(self, run_id: str, task_id: str, status: str, error: str | None) -> None:
        """The pane shows the run's final status and stays until dismissed."""
        pane = self.panes.get(run_id) or self.run_started(run_id, task_id, "?")
        pane.finish(status, error)
        if pane is self.current and self.is_mounted:
            self.view.draw_header(pane)
        self._relabel(pane)
        self._prune()

    def show_run(self, task_id: str, run_id: str, agent: str, status: str) -> None:
        """Put an older run of the task in the task's tab (from disk) and bring it to the front; a live run
        keeps the tab."""
        run = self._latest.get(task_id)
        if run is not None and run != run_id and not self.panes[run].finished:
            raise OrchestraError(f"{task_id} is running: its tab shows the live run")
        if run_id not in self.panes:
            text = "" if self.project is None else tail_output(self.project.root, run_id)
            pane = RunPane(run_id, task_id, agent, status, live=False)
            pane.write(text or "")
            self._add(pane, front=True)
        self._activate(self.panes[run_id])

    def show(self, task_id: str) -> bool:
        """Bring the task's live pane to the front, else its last run's (loaded from disk if need be). False if none."""
        run_id = self._latest.get(task_id)
        if run_id is None or self.panes[run_id].finished:
            run_id = self._load_past(task_id) or run_id
        if run_id is None:
            return False
        self._activate(self.panes[run_id])
        return True

    # -- keys -----------------------------------------------------------------------------------------

    def action_next_pane(self) -> None:
        self._step(1)

    def action_previous_pane(self) -> None:
        self._step(-1)

    def action_scroll_log(self, amount: float, to_end: bool = False) -> None:
        """Scroll the pane on show: lines (a whole number), a share of its height, or to an end."""
        if self.current is None:
            return
        log = self.log_widget
        if to_end:
            (log.scroll_end if amount > 0 else log.scroll_home)(animate=False)
        else:
            lines = amount if abs(amount) >= 1 else amount * log.size.height
            log.scroll_relative(y=round(lines) or (1 if amount > 0 else -1), animate=False)

    # -- search and copy -----------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """``n``/``N`` and escape belong to a search under way; else they are the app's (next task, back)."""
        if action in ("search_step", "end_search"):
            return bool(self.needle) or self.has_class("-searching")
        return True

    def action_search(self) -> None:
        if self.current is None:
            self.app.bell()
            return
        self.add_class("-searching")
        self.query_one("#output-search-text", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "output-search-text":
            return
        event.stop()
        self.needle, self._match = event.value, None
        if self.current is None:
            return
        self.log_widget.focus()
        if self.needle:
            self.action_search_step(1)
        else:
            self.action_end_search()

    def action_search_step(self, step: int) -> None:
        """Go to the next match below the last one gone to (``step`` -1: above), wrapping around."""
        if self.current is None:
            return
        log = self.log_widget
        lines = log.mark(self.needle)
        count = self.query_one("#output-search-count", Static)
        if not lines:
            count.update("no match")
            return
        start = self._match if self._match is not None else round(log.scroll_y) - step
        after = [line for line in lines if (line - start) * step > 0]
        self._match = (after[0] if step > 0 else after[-1]) if after else lines[0 if step > 0 else -1]
        log.scroll_to(y=max(0, self._match - log.size.height // 2), animate=False, immediate=True)
        count.update(f"{lines.index(self._match) + 1}/{len(lines)} · n/N")

    def action_end_search(self) -> None:
        self.needle, self._match = "", None
        self.remove_class("-searching")
        self.query_one("#output-search-text", Input).value = ""
        self.query_one("#output-search-count", Static).update("")
        self.log_widget.mark("")
        if self.current is not None:
            self.log_widget.focus()

    def action_copy(self) -> None:
        """The pane's text to the clipboard (OSC 52) and to ``.orchestra/copied.txt``."""
        pane = self.current
        if pane is None or self.project is None:
            self.app.bell()
            return
        text = "\n".join(pane.lines)
        self.app.copy_to_clipboard(text)
        state = self.project.root / STATE_DIR
        path = state / COPY_FILE
        try:
            fsio.private_dir(state)
            fsio.atomic_write(path, text.encode())
        except OSError as error:
            raise OrchestraError(fsio.describe_os_error(error, path)) from None
        lines = pane.line_count
        self.app.notify(
            f"copied {lines} line{'s' * (lines != 1)} of {pane.task_id}'s output to the clipboard "
            f"(if the terminal allows it) and to {STATE_DIR}/{COPY_FILE}"
        )

    def action_toggle_maximise(self) -> None:
        screen = self.screen
        if screen.maximized is self:
            screen.minimize()
        else:
            screen.maximize(self, container=False)

    def action_dismiss_pane(self) -> None:
        """Close the pane on show if its run has finished."""
        pane = self.current
        if pane is None or not pane.finished:
            self.app.bell()
            return
        self._step(1 if list(self.panes)[-1] != pane.run_id else -1)
        self._remove(pane)

    # -- inside ---------------------------------------------------------------------------------------

    def _load_past(self, task_id: str) -> str | None:
        """A pane with the tail of the task's last run's output, from disk; its run id, or None."""
        project = self.project
        task = None if project is None else project.tasks.get(task_id)
        if project is None or task is None or not task.last_run_id:
            return None
        if task.last_run_id not in self.panes:
            text = tail_output(project.root, task.last_run_id)
            if text is None:
                return None
            pane = RunPane(task.last_run_id, task_id, project.agent_of(task), task.status.value, live=False)
            pane.write(text)
            self._add(pane, front=False)
            self._prune()
        return task.last_run_id

    def _add(self, pane: RunPane, front: bool) -> RunPane:
        """Add a pane; the task's finished pane before it, if any, goes (one tab per task)."""
        older = self.panes.get(self._latest.get(pane.task_id, ""))
        if older is not None and older.finished:
            front = front or older is self.current
            self._remove(older)
        self.panes[pane.run_id] = pane
        self._latest[pane.task_id] = pane.run_id
        self.add_class("-has-panes")
        if front or self.current is None:
            self._activate(pane)
        self.call_next(self._add_tab, pane)
        return pane

    async def _add_tab(self, pane: RunPane) -> None:
        """Add the pane's tab; not once the app quits (a run found just before: the tabs are torn down), nor
        once the pane is gone. The tab comes to the front when mounted if its pane is on show."""
        if not self.is_attached or self.panes.get(pane.run_id) is not pane:
            return
        try:
            await self.tabs.add_tab(RunTab(pane.label(), id=pane.tab_id))
        except (NoMatches, MountError, ValueError) as error:  # torn down meanwhile
            if self.is_attached and self.is_parent_active:  # not the app quitting: said, never a crash
                self.notify(f"the output pane of {pane.task_id} could not be shown: {error}", severity="error")

    def tab_mounted(self, tab: Tab) -> None:
        """A run's tab is there: in front if its pane is on show, removed if its pane went meanwhile."""
        pane = self.current
        if pane is not None and pane.tab_id == tab.id:
            self.tabs.active = pane.tab_id
        elif not any(pane.tab_id == tab.id for pane in self.panes.values()):
            self.tabs.remove_tab(tab)

    def _relabel(self, pane: RunPane) -> None:
        """Put the run's status mark on its tab (once the tab exists)."""
        tab = self.tabs.get_tab(pane.tab_id) if self.tabs.is_attached else None
        if tab is not None:
            tab.label = pane.label()

    def on_tabs_tab_activated(self, event: Tabs.TabActivated) -> None:
        """Follow a tab the user clicked (the event may be stale: a tab activated on its own as it was added)."""
        event.stop()
        if event.tab.id != event.tabs.active:
            return
        pane = next((pane for pane in self.panes.values() if pane.tab_id == event.tab.id), None)
        if pane is not None and pane.run_id != self._shown:
            self._activate(pane)

    def _activate(self, pane: RunPane) -> None:
        """Bring ``pane`` to the front: its lines drawn in the view, its tab active."""
        self._shown = pane.run_id
        if self.needle:  # the search goes on in the pane now on show
            self._match = None
        if not self.is_mounted:  # drawn when mounted
            return
        if self.log_widget.run is not pane:
            self.view.show(pane)
        if self.tabs.get_tab(pane.tab_id) is not None:  # else its tab is active once added
            self.tabs.active = pane.tab_id

    def _step(self, step: int) -> None:
        ids = list(self.panes)
        current = self.current
        if not ids or current is None:
            return
        self._activate(self.panes[ids[(ids.index(current.run_id) + step) % len(ids)]])

    def _remove(self, pane: RunPane) -> None:
        """Forget the pane and remove its tab (one still mounting is removed once mounted: ``tab_mounted``)."""
        del self.panes[pane.run_id]
        if self._latest.get(pane.task_id) == pane.run_id:
            del self._latest[pane.task_id]
        self.set_class(bool(self.panes), "-has-panes")
        if not self.tabs.is_attached:
            return
        if self.tabs.active == pane.tab_id:  # else Tabs activates a neighbour of its own, over the pane on show
            current = self.current
            mounted = current is not None and self.tabs.get_tab(current.tab_id) is not None
            self.tabs.active = current.tab_id if current is not None and mounted else ""
        self.tabs.remove_tab(pane.tab_id)

    def _prune(self) -> None:
        """Dismiss the oldest finished panes beyond ``MAX_FINISHED`` (the one on show is kept)."""
        current = self.current
        finished = [pane for pane in self.panes.values() if pane.finished and pane is not current]
        for pane in finished[: max(0, len(finished) - MAX_FINISHED)]:
            self._remove(pane)
