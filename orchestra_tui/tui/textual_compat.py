"""Every use of Textual's private API, in one place, each shim saying which upstream behaviour it works around.

Written against textual 8.2.8 (pinned in pyproject.toml). ``PRIVATE_API`` lists every private name used here;
``tests/tui/test_textual_compat.py`` checks each one exists and fails naming it, so a Textual upgrade that
removes or renames one says exactly which shim to revisit rather than failing somewhere far away.

1. Frame pacing (``FrameTimer``, ``PacedScreen``). Textual draws a screen from a timer that is paused
   while nothing changed and resumed when something does. Its ticks sit on a fixed grid, and after a pause the
   first tick comes at once but the next one only at the grid point after the next: one to two periods later.
   A key press asks for two frames in quick succession (the cursor row at once, then the detail pane a few
   milliseconds later), so the second waited up to 33 ms, which was most of the key-to-screen time while runs
   stream (``bench/bench_tui.py``). ``FrameTimer`` keeps textual's limit of one frame per period and drops the
   grid. A frame also lets the event loop turn a few times first, so that what a key press changes in several
   widgets (each telling the screen through its own message queue) is drawn in one frame rather than two: also
   a frame that was already due (runs streaming), which otherwise drew the new detail pane and tab in their old
   places, the layout they asked for a frame later. ``ORCHESTRA_FRAME_PACING=0`` (or ``off``) leaves Textual's
   own timer in place.
2. Damage after a scroll (``DamageKeepingCompositor``, given to ``PacedScreen``). Textual's compositor marks for
   repainting the places of the widgets whose geometry differs between the map of the previous layout and the new
   one. After a scroll it only marks the previous map stale, and whatever asks for a widget's place before the
   next layout (``find_widget`` for a widget off the visible map, ``update_widgets``, the mouse-over check)
   rebuilds it from the current DOM. A widget removed in between (a toast that timed out) is then in neither map,
   so its cells are never repainted: the toast stays on the terminal. Here the rebuild marks the places of what it
   finds changed, as a layout would. And a scroll after a layout (or after such a rebuild) compared the new
   visible map with none at all, since both drop it: every widget on screen counted as moved and the whole
   screen was redrawn, on about every frame while runs stream into a pane and keys are pressed. Here the
   scroll compares with the visible part of the map the screen was last drawn from.
3. Lines handed to a ``Log`` (``log_show``, ``line_cells``). The output panes keep each run's last lines
   themselves and show one run at a time in one ``Log``: ``Log`` has no public way to take lines other than
   writing them, one refresh and measure per line (a streaming pane appends thousands a second), nor to swap
   them for another run's. Here it is handed the run's list (which the pane goes on appending to) and its width,
   measured as ``Log`` measures a line. And its virtual size, a reactive that lays out the whole screen, although
   only the Log's scrollbars depend on it (its own region is set by its styles), is set without the layout and
   the scrollbars updated, as Textual does after a layout (a scrollbar that appears or goes still asks for one).
   ``set_virtual_size`` is that, for any widget that draws its own lines: also the task's detail pane, whose
   height changes with every task selected.
4. A ``DataTable``'s render caches (``bound_render_caches``, ``columns_resized``). It keeps up to 1,000
   rendered rows and lines (10,000 cells) per table: on a 2,000-task board that is some 100,000 objects alive,
   which every full garbage collection walks while runs stream. And it re-measures and drops its caches only
   after its own changes, not after a column width set from outside.
5. ``FooterKey``: the footer's key widget, not exported by ``textual.widgets``; the narrow footer measures it.
6. Writing to the terminal (``terminal_writer``): Textual has no public way to send an escape sequence of
   our own (an OSC 9 desktop notification); ``App.bell`` writes through the app's driver, as this does.
7. A row of tabs that keeps the active tab in view without an animation (``QuietTabs``). ``Tabs`` centres the
   active tab with an animated scroll of its row, on every change of the active tab. Each frame of that scroll
   asks Textual to reflow what is visible on the whole screen (6-7 ms with a 2,000-task board), some 10-20
   frames per change: the output panes change tab on every key press in the Running column. Here the row
   scrolls only when the active tab is not all in view, and at once. And a scroll of a container, even one whose
   size stays, makes Textual reflow what is visible on the whole screen (5-20 ms, on about a third of the
   Running column's presses): the row (``ShiftingRow``) moves what it holds in the compositor's map instead
   (``shift_children``), as that reflow would, and repaints itself.
8. A row cursor's table keeps its rendered rows while the cursor moves (``RowCursorTable``). A ``DataTable`` keys
   each rendered row by the cursor's place, so every move of the cursor misses the cache for every row, and each
   line on show is assembled again from its cells (their own cache does hit): on a key press that scrolls a board
   column, all its rows. With a row cursor, a row's look depends only on whether the cursor (or the mouse's hover)
   is on that row: here the other rows are looked up as if it were nowhere, so they stay cached.
"""

from __future__ import annotations

import asyncio
import math
import os
from collections.abc import Callable
from typing import Any

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style as RichStyle
from textual import _time
from textual._compositor import Compositor, CompositorMap
from textual.app import App, ComposeResult
from textual.cache import LRUCache
from textual.containers import Container, Horizontal, Vertical
from textual.coordinate import Coordinate
from textual.geometry import Offset, Size
from textual.screen import UPDATE_PERIOD, Screen
from textual.timer import EventTargetGone, Timer
from textual.widget import Widget
from textual.widgets import DataTable, Log, Tabs
from textual.widgets import _tabs as tabs_module
from textual.widgets._footer import FooterKey
from textual.widgets.data_table import RowKey

__all__ = [
    "GATHER_TURNS",
    "PRIVATE_API",
    "DamageKeepingCompositor",
    "FooterKey",
    "FrameTimer",
    "PacedScreen",
    "QuietTabs",
    "RowCursorTable",
    "ShiftingRow",
    "bound_render_caches",
    "columns_resized",
    "frame_pacing",
    "line_cells",
    "log_show",
    "set_virtual_size",
    "shift_children",
    "terminal_writer",
]

GATHER_TURNS = 4  # turns of the event loop a frame waits for the rest of what asked for it
PACING_ENV = "ORCHESTRA_FRAME_PACING"


def _timer() -> Timer:
    return Timer(Screen(), 1.0, pause=True)


# What each shim relies on: (what has it, made on demand; the private attribute). Checked by a test.
PRIVATE_API: tuple[tuple[str, Callable[[], object], str], ...] = (
    ("textual._time", lambda: _time, "get_time"),
    ("textual._time", lambda: _time, "sleep"),
    ("Timer", _timer, "_run"),
    ("Timer", _timer, "_active"),
    ("Timer", _timer, "_interval"),
    ("Timer", _timer, "_tick"),
    ("Timer", _timer, "_start"),
    ("Screen", lambda: Screen, "_update_timer"),
    ("Screen", Screen, "_on_timer_update"),
    ("Screen", Screen, "_timers"),
    ("Screen", Screen, "_compositor"),
    ("Compositor", Compositor, "_full_map"),
    ("Compositor", Compositor, "_full_map_invalidated"),
    ("Compositor", Compositor, "_dirty_regions"),
    ("Compositor", Compositor, "_visible_map"),
    ("Compositor.full_map", lambda: Compositor.full_map, "fget"),
    ("Log", Log, "_lines"),
    ("Log", Log, "_width"),
    ("Log", Log, "_process_line"),
    ("Log", Log, "_render_line_cache"),
    ("Widget", Log, "_scroll_update"),
    ("DataTable", DataTable, "_row_render_cache"),
    ("DataTable", DataTable, "_line_cache"),
    ("DataTable", DataTable, "_cell_render_cache"),
    ("DataTable", DataTable, "_clear_caches"),
    ("DataTable", DataTable, "_require_update_dimensions"),
    ("App", App, "_driver"),
    ("Tabs", Tabs, "_scroll_active_tab"),
    ("DataTable", DataTable, "_render_line_in_row"),
    ("DataTable", DataTable, "_row_locations"),
    ("Tabs", Tabs, "_tabs"),
    ("textual.widgets._tabs", lambda: tabs_module, "Underline"),
    ("Compositor", Compositor, "_layers"),
    ("Compositor", Compositor, "_layers_visible"),
    ("Compositor", Compositor, "_visible_widgets"),
    ("Compositor", Compositor, "_cuts"),
)


# ------------------------------------------------------------------------------------- 1: frame pacing


def frame_pacing() -> bool:
    """Whether screens are drawn by a ``FrameTimer`` (``ORCHESTRA_FRAME_PACING=0`` or ``off`` says no)."""
    return os.environ.get(PACING_ENV, "").strip().lower() not in ("0", "off", "false", "no")


class FrameTimer(Timer):
    """Ticks when active, at least ``interval`` seconds after its previous tick (the screen pauses it on
    every tick and resumes it when a widget needs drawing). ``last_tick`` is the time (textual's clock) of
    the latest tick."""

    last_tick = -math.inf

    async def _run(self) -> None:
        active: asyncio.Event = getattr(self, "_active")  # noqa: B009 (textual's cached_property reads as Never to mypy)
        while True:
            await active.wait()
            wait = self.last_tick + self._interval - _time.get_time()
            if wait > 0:
                await self.sleep(wait)
            for _ in range(GATHER_TURNS):
                await asyncio.sleep(0)
            self.last_tick = _time.get_time()
            try:
                await self._tick(next_timer=self.last_tick, count=0)
            except EventTargetGone:
                return

    async def sleep(self, seconds: float) -> None:
        """Wait until the next frame is due (textual's clock)."""
        await _time.sleep(seconds)


# ---------------------------------------------------------------------------- 2: damage after a scroll


class DamageKeepingCompositor(Compositor):
    """A ``Compositor`` that keeps the damage of what changed between two layouts (see 2 above)."""

    @property
    def full_map(self) -> CompositorMap:
        if not self._full_map_invalidated or self.root is None:
            return self._full_map
        before = self._full_map
        after: CompositorMap = Compositor.full_map.fget(self)  # type: ignore[attr-defined]
        if self.size.region not in self._dirty_regions:
            changed = {geometry.clip.intersection(geometry.region) for _, geometry in after.items() ^ before.items()}
            self._dirty_regions.update(region for region in changed if region)
        return after

    def reflow_visible(self, parent: Widget, size: Size) -> set[Widget]:
        if self._visible_map is None and not self._full_map_invalidated:  # the screen was drawn from the full map
            screen = size.region
            self._visible_map = {
                widget: geometry
                for widget, geometry in self._full_map.items()
                if screen.overlaps(geometry.region) and geometry.clip.overlaps(geometry.region)
            }
        return super().reflow_visible(parent, size)


class PacedScreen(Screen[None]):
    """A screen drawn by a ``FrameTimer`` (unless ``ORCHESTRA_FRAME_PACING`` is off, 1 above) and composed by a
    ``DamageKeepingCompositor`` (2 above)."""

    _frame_timer: FrameTimer | None = None

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._compositor = DamageKeepingCompositor()
        self.paced = frame_pacing()

    @property
    def _update_timer(self) -> Timer:  # replaces Screen's own
        if not self.paced:
            return Screen._update_timer.fget(self)  # type: ignore[attr-defined,no-any-return]
        if self._frame_timer is None:
            timer = FrameTimer(self, UPDATE_PERIOD, name="screen_update", callback=self._on_timer_update, pause=True)
            timer._start()
            self._timers.add(timer)
            self._frame_timer = timer
        return self._frame_timer


# ------------------------------------------------------------------------------- 3: lines handed to a Log


def line_cells(line: str) -> int:
    """The cells a ``Log`` draws ``line`` in (control characters replaced, tabs expanded)."""
    return cell_len(Log._process_line(line))


def log_show(log: Log, lines: list[str], width: int) -> None:
    """Make ``log`` draw ``lines`` (``Log``'s convention: the last is the unfinished line), a list its owner goes on
    appending to and dropping from, whose widest line is ``width`` cells; and set its virtual size without a
    layout. Call again after each change of the list (it drops the lines rendered before)."""
    log._lines = lines
    log._width = width
    log._render_line_cache.clear()
    set_virtual_size(log, Size(width, log.line_count))


def set_virtual_size(widget: Widget, size: Size) -> None:
    """Set the scrollable size of ``widget`` (one that draws its own lines) without the layout of the whole screen
    that Textual's ``virtual_size`` reactive asks for, and update its scrollbars, as Textual does after a layout."""
    if size != widget.virtual_size:
        widget.set_reactive(Widget.virtual_size, size)
        widget._scroll_update(size)


# ------------------------------------------------------------------------ 4: a DataTable's render caches


def bound_render_caches(table: DataTable[object], rows: int) -> None:
    """Keep ``rows`` rendered rows and lines (and twice as many cells) in ``table``'s caches (call from its
    ``__init__``)."""
    table._row_render_cache = LRUCache(rows)
    table._line_cache = LRUCache(rows)
    table._cell_render_cache = LRUCache(2 * rows)


def columns_resized(table: DataTable[object]) -> None:
    """Tell ``table`` its column widths were set from outside, as its own watchers do: drop the rendered rows
    and re-measure its virtual size on idle."""
    table._clear_caches()
    table._require_update_dimensions = True


# ------------------------------------------------------------------------------- 6: writing to the terminal


def terminal_writer(app: App[Any]) -> Callable[[str], None] | None:
    """The app's driver's ``write`` (what ``App.bell`` uses), None when headless (tests, snapshots)."""
    driver = app._driver
    return None if app.is_headless or driver is None else driver.write


# ------------------------------------------------------------------------------ 7: tabs kept in view quietly


def shift_children(compositor: Compositor, container: Widget, offset: Offset) -> bool:
    """Move everything inside ``container`` by ``offset`` in ``compositor``'s map, as the reflow after a scroll of
    it by ``-offset`` would (their places in it and their clips stay). False, and nothing done, when the screen is
    drawn from a map of only what was visible (a scroll reflowed since the last layout): what comes into view is
    not in it."""
    if compositor._visible_map is not None or container not in compositor._full_map:
        return False
    full_map = compositor._full_map
    for widget, geometry in full_map.items():
        if container in widget.ancestors:
            full_map[widget] = geometry._replace(region=geometry.region.translate(offset))
    compositor._layers = compositor._layers_visible = compositor._visible_widgets = compositor._cuts = None
    return True


class ShiftingRow(Container):
    """A container with its overflow hidden whose scroll moves what it holds without the reflow of the whole screen
    (7 above)."""

    def watch_scroll_x(self, old_value: float, new_value: float) -> None:
        step = round(old_value) - round(new_value)
        scrollbars = self.show_horizontal_scrollbar or self.show_vertical_scrollbar
        if step and not scrollbars and shift_children(self.screen._compositor, self, Offset(step, 0)):
            self.refresh()
            return
        super().watch_scroll_x(old_value, new_value)


class QuietTabs(Tabs):
    """``Tabs`` whose row scrolls only as far as the active tab needs to be in view, without an animation, and
    without a reflow of the screen."""

    def compose(self) -> ComposeResult:  # Tabs' own, with a ShiftingRow as the row
        with ShiftingRow(id="tabs-scroll"), Vertical(id="tabs-list-bar"):
            with Horizontal(id="tabs-list"):
                yield from self._tabs
            yield tabs_module.Underline()

    def _scroll_active_tab(self) -> None:
        tab = self.active_tab
        if tab is not None:
            for row in self.query("#tabs-scroll"):  # none before it is composed
                row.scroll_to_widget(tab, animate=False, force=True)  # the row hides its overflow


# --------------------------------------------------------------------- 8: a row cursor's rendered rows


NOWHERE = Coordinate(-2, 0)  # a cursor on no row (-1 is the header's)


class RowCursorTable(DataTable[object]):
    """A ``DataTable`` whose rendered rows stay cached while its row cursor moves (see 8 above)."""

    def _render_line_in_row(
        self,
        row_key: RowKey,
        line_no: int,
        base_style: RichStyle,
        cursor_location: Coordinate,
        hover_location: Coordinate,
    ) -> tuple[list[list[Segment]], list[list[Segment]]]:
        if self.cursor_type == "row":
            row = self._row_locations.get(row_key)  # None: the header
            cursor_location = cursor_location if cursor_location.row == row else NOWHERE
            hover_location = hover_location if hover_location.row == row else NOWHERE
        return super()._render_line_in_row(row_key, line_no, base_style, cursor_location, hover_location)
