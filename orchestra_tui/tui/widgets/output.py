"""Streaming output panes: one tab per task (its newest run, or the run asked for from the task's own
screen), fed in batches, holding only the last lines of each run.

A run's full output is in ``.orchestra/runs/<run_id>/output.txt`` (the engine writes every piece there as it
arrives); a pane keeps the last ``MAX_LINES`` lines in a Textual ``Log`` and says where the rest is, so memory
stays bounded however long a run talks. Very long lines are folded at ``FOLD_WIDTH`` characters, so a run
that never prints a newline does not grow one line without end.

A pane follows the end of its output only while the user is at the bottom: scrolling up holds the position
while text keeps arriving (also when old lines are dropped from the top), and scrolling back down resumes.

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
from textual.widgets import Input, Log, Static, TabbedContent, TabPane

from ...display import printable
from ...engine.runner import CANCELLED
from ...engine.runs import OUTPUT_FILE, RUNS_DIR, run_dir
from ...errors import OrchestraError
from ...projectfiles import STATE_DIR
from ...store import fsio
from ..status_text import status_content
from ..textual_compat import log_append

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


class OutputLog(Log):
    """A ``Log`` that knows whether the user is following its end (at the bottom) or reading further up.

    While hidden (another pane on show, or another view) it only holds the text that arrives, bounded to
    ``MAX_LINES`` lines, and writes it when shown: a ``Log`` changes its virtual size with every write, and
    in Textual that lays out the whole screen, on every frame of every run streaming. A full pane drops its
    oldest lines before its size is set again, so it keeps its size and costs no layout.

    A match of the search is the running theme's warning text colour reversed (the component class
    ``output-log--match``): ``$text-warning`` is legible on ``$background``, so the reverse is too. A theme change
    restyles the widget, which drops the lines drawn in the old theme.
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {"output-log--match"}
    DEFAULT_CSS = """
    OutputLog > .output-log--match { background: $text-warning; color: $background; }
    """

    def __init__(self) -> None:
        super().__init__(max_lines=MAX_LINES, auto_scroll=False)
        self.highlighter = self.marker = MatchMarker(lambda: self.get_component_rich_style("output-log--match"))
        self.following = True
        self.held: list[str] = []  # text that arrived while hidden
        self._held_lines = 0
        self._showing = False

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if self.size:  # a hidden pane has no size, and says nothing about the user
            self.following = self.is_vertical_scroll_end

    def on_show(self) -> None:
        self._showing = True
        self.release()

    def on_hide(self) -> None:
        self._showing = False

    def append(self, text: str) -> None:
        """Write text (or hold it while hidden); follow the end if the user was there, else keep their lines in view."""
        if not self._showing:
            self.held.append(text)
            self._held_lines += len(_BREAK.findall(text))
            if self._held_lines > 2 * MAX_LINES:
                self.held = [last_lines("".join(self.held), MAX_LINES)]
                self._held_lines = MAX_LINES
            return
        self._write(text)

    def mark(self, needle: str) -> list[int]:
        """Mark ``needle`` wherever it occurs (nothing: ``""``); the lines holding it, top to bottom."""
        if needle != self.marker.needle:
            self.marker.needle, self.highlight = needle, bool(needle)
            self.notify_style_update()  # drops the lines drawn with the old marks
        folded = needle.casefold()
        return [index for index, line in enumerate(self.lines) if folded and folded in line.casefold()]

    def release(self) -> None:
        """Write the text held while hidden."""
        if self.held:
            text = "".join(self.held)
            self.held, self._held_lines = [], 0
            self._write(text)

    def _write(self, text: str) -> None:
        """``Log.write`` for a batch of text: the lines appended at once with one refresh (``Log.write`` asks
        for one per line), the oldest dropped past ``MAX_LINES`` (the cached renders moved with them), then the
        virtual size set, which stays the same once the pane is full."""
        parts = _BREAK.split(text)  # line, break, line, ..., line
        if len(parts) > 2 * MAX_LINES:  # MAX_LINES breaks or more: only the last MAX_LINES - 1 can stay
            parts = parts[-(2 * MAX_LINES - 1) :]
        dropped = log_append(self, parts)
        if dropped and not self.following:
            self.scroll_to(y=max(0, self.scroll_y - dropped), animate=False, immediate=True)
        self.refresh()
        if self.following:
            self.scroll_end(animate=False, immediate=True, x_axis=False)


def last_lines(text: str, count: int) -> str:
    """The end of ``text`` after its last ``count`` line breaks (and the unfinished line after them)."""
    breaks = [match.end() for match in _BREAK.finditer(text)]
    return text if len(breaks) <= count else text[breaks[-count - 1] :]


SHORT_PANE = 10  # rows below which a pane's header keeps to its first line, leaving the rest to the output


class RunPane(TabPane):
    """One run: a header (task, agent, status; then, if the pane has room, where the full output is) and its
    last lines."""

    DEFAULT_CSS = """
    RunPane { height: 1fr; padding: 0; }
    RunPane > .run-header { height: 1; padding: 0 1; background: $panel; text-wrap: nowrap; text-overflow: ellipsis; }
    RunPane > .run-where { height: auto; padding: 0 1; background: $panel; color: $text-muted; }
    RunPane.-short > .run-where { display: none; }
    RunPane > OutputLog { height: 1fr; overflow-x: auto; padding: 0 1; }
    """

    def __init__(self, run_id: str, task_id: str, agent: str, status: str = "in_progress", live: bool = True) -> None:
        self.run_id, self.task_id, self.agent = run_id, task_id, agent
        self.status, self.live = status, live
        self.error: str | None = None
        self.column = 0
        self.log_widget = OutputLog()
        self.header = Static(classes="run-header")
        where = f"{STATE_DIR}/{RUNS_DIR}/{run_id}/{OUTPUT_FILE}"
        self.where = Static(
            f"run {run_id} · last {MAX_LINES:,} lines here; the full output is in {where}",
            classes="run-where",
            markup=False,
        )
        super().__init__(self._label(), self.header, self.where, self.log_widget, id=_pane_id(run_id))
        self._draw_header()

    def on_resize(self) -> None:
        self.set_class(self.size.height < SHORT_PANE, "-short")

    @property
    def finished(self) -> bool:
        return not self.live

    def write(self, text: str) -> None:
        text, self.column = fold(printable(text), self.column)
        self.log_widget.append(text)

    def finish(self, status: str, error: str | None) -> None:
        status, error = run_outcome(status, error)
        self.status, self.error, self.live = status, printable(error) if error else error, False
        self._draw_header()

    def _label(self) -> Content:
        mark = status_content(self.status)[:1]
        return Content.assemble(mark, " ", self.task_id)

    def _draw_header(self) -> None:
        state = Content.styled("▶ running", "bold $accent") if self.live else status_content(self.status)
        if self.error and not self.live:
            state = Content.assemble(state, ": ", (self.error, "$error"))
        self.header.update(
            Content.assemble(
                (self.task_id, "bold"),
                f" · {self.agent} · ",
                state,
                ("" if self.live else " · finished (delete closes)", "$text-muted"),
            )
        )
        self.relabel()

    def relabel(self) -> None:
        """Put the run's status mark on its tab (once the tab exists)."""
        if self.is_attached:
            self.query_ancestor(TabbedContent).get_tab(self).label = self._label()


class OutputPanes(Vertical):
    """The output of runs, one tab per run; switch with ``[`` / ``]``, maximise with ``z``.

    The app calls :meth:`run_started`, :meth:`append` (text already batched per frame), :meth:`run_ended` from
    the engine's events, :meth:`show` when a task is selected, and :meth:`show_project` with the open project
    (needed to load a past run's output from disk).
    """

    ALLOW_MAXIMIZE = True
    DEFAULT_CSS = """
    OutputPanes { height: 1fr; }
    OutputPanes > TabbedContent { height: 1fr; display: none; }
    OutputPanes > TabbedContent > ContentSwitcher { height: 1fr; }
    OutputPanes > #output-empty { color: $text-muted; padding: 0 1; }
    OutputPanes.-has-panes > TabbedContent { display: block; }
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
        self._shown: str | None = None  # run id of the pane on show (or about to be: panes mount a frame later)
        self._latest: dict[str, str] = {}  # task id -> run id of its pane
        self.needle = ""  # the search on show ("" none)
        self._match: int | None = None  # the line of the match last gone to

    def compose(self) -> ComposeResult:
        yield Static("no output yet: dispatched tasks stream here", id="output-empty")
        yield TabbedContent()
        with Horizontal(id="output-search"):
            yield Input(placeholder="search the output (enter: go; escape: end)", id="output-search-text")
            yield Static("", id="output-search-count")

    @property
    def current(self) -> RunPane | None:
        """The pane on show."""
        return None if self._shown is None else self.panes.get(self._shown)

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
        pane.write(text)

    def run_ended(self, run_id: str, task_id: str, status: str, error: str | None) -> None:
        """The pane shows the run's final status and stays until dismissed."""
        pane = self.panes.get(run_id) or self.run_started(run_id, task_id, "?")
        pane.finish(status, error)
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
        pane = self.current
        if pane is None:
            return
        log = pane.log_widget
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
        pane = self.current
        if pane is None:
            return
        pane.log_widget.focus()
        if self.needle:
            self.action_search_step(1)
        else:
            self.action_end_search()

    def action_search_step(self, step: int) -> None:
        """Go to the next match below the last one gone to (``step`` -1: above), wrapping around."""
        pane = self.current
        if pane is None:
            return
        log = pane.log_widget
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
        for pane in self.panes.values():
            pane.log_widget.mark("")
        if self.current is not None:
            self.current.log_widget.focus()

    def action_copy(self) -> None:
        """The pane's text to the clipboard (OSC 52) and to ``.orchestra/copied.txt``."""
        pane = self.current
        if pane is None or self.project is None:
            self.app.bell()
            return
        text = "\n".join(pane.log_widget.lines)
        self.app.copy_to_clipboard(text)
        state = self.project.root / STATE_DIR
        path = state / COPY_FILE
        try:
            fsio.private_dir(state)
            fsio.atomic_write(path, text.encode())
        except OSError as error:
            raise OrchestraError(fsio.describe_os_error(error, path)) from None
        lines = pane.log_widget.line_count
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
            self._shown = pane.run_id
        self.call_next(self._mount, pane)
        return pane

    async def _mount(self, pane: RunPane) -> None:
        """Mount the pane and its tab; not once the app quits (a run found just before: its tabs are torn down)."""
        if not self.is_attached:
            return
        try:
            await self.query_one(TabbedContent).add_pane(pane)
        except (NoMatches, MountError, ValueError) as error:  # torn down meanwhile: "No Tab with id ..."
            if self.is_attached and self.is_parent_active:  # not the app quitting: said, never a crash
                self.notify(f"the output pane of {pane.task_id} could not be shown: {error}", severity="error")
            return
        pane.relabel()
        if self._shown == pane.run_id:
            self._activate(pane)

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        """Follow a tab the user clicked (the event may be stale: a tab activated on its own as it was added)."""
        if event.pane.id == event.tabbed_content.active:
            self._shown = next((run_id for run_id, pane in self.panes.items() if pane is event.pane), self._shown)

    def _activate(self, pane: RunPane) -> None:
        self._shown = pane.run_id
        if self.needle:  # the search goes on in the pane now on show
            self._match = None
            pane.log_widget.mark(self.needle)
        if not pane.is_attached:  # still mounting: _mount brings it to the front
            return
        had_focus = self.screen.focused is not None and self in self.screen.focused.ancestors_with_self
        self.query_one(TabbedContent).active = pane.id or ""
        pane.log_widget.release()  # now, rather than when its Show comes
        if pane.log_widget.following:
            pane.log_widget.scroll_end(animate=False)
        if had_focus:
            pane.log_widget.focus()

    def _step(self, step: int) -> None:
        ids = list(self.panes)
        current = self.current
        if not ids or current is None:
            return
        self._activate(self.panes[ids[(ids.index(current.run_id) + step) % len(ids)]])

    def _remove(self, pane: RunPane) -> None:
        del self.panes[pane.run_id]
        if self._latest.get(pane.task_id) == pane.run_id:
            del self._latest[pane.task_id]
        self.set_class(bool(self.panes), "-has-panes")
        if pane.is_attached:
            self.query_one(TabbedContent).remove_pane(pane.id or "")
        else:
            self.call_next(self._remove_later, pane)

    async def _remove_later(self, pane: RunPane) -> None:
        await self.query_one(TabbedContent).remove_pane(pane.id or "")

    def _prune(self) -> None:
        """Dismiss the oldest finished panes beyond ``MAX_FINISHED`` (the one on show is kept)."""
        current = self.current
        finished = [pane for pane in self.panes.values() if pane.finished and pane is not current]
        for pane in finished[: max(0, len(finished) - MAX_FINISHED)]:
            self._remove(pane)
