"""The app: views over one project, kept live from the engine's event stream (docs/ARCHITECTURE.md C8).

``create_app`` is the one factory: the CLI, the tests and the snapshot apps all build the app through it.
The app holds no business logic. Keys call the session's actions in workers; the session's bus events
arrive as messages (``ProjectChanged``, ``RunOutputArrived``, ``EngineEvent``) and are handed to the view on
show, the header, the detail pane and the output panes. Every failure goes to one handler, :meth:`report`,
which shows it as a notification: a user error's own line, or the type and text of anything else.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, cast

from textual import events, work
from textual.app import App, ComposeResult, SuspendNotSupported, SystemCommand
from textual.binding import Binding, BindingType
from textual.command import CommandPalette
from textual.containers import Horizontal
from textual.screen import Screen
from textual.theme import BUILTIN_THEMES, Theme
from textual.widget import Widget
from textual.widgets import ContentSwitcher
from textual.worker import Worker, WorkerState

from .. import formatting
from ..agents.pricing import format_cost
from ..display import one_line, printable
from ..engine import next_step
from ..engine.attention import needs_person
from ..engine.bus import EngineError, PlanRejected, RunEnded, RunRetry, RunStarted, RunUsage
from ..engine.launcher import Ended
from ..engine.liveruns import POLL
from ..engine.planning import as_subtasks
from ..engine.scheduler import Summary
from ..errors import OrchestraError
from . import bindings, collector, screenshots
from .alerts import Alerts, NotifyConfig
from .commands import TaskCommands
from .config import TuiConfig, config_home, load_config, save_config
from .messages import ActionRequested, EngineEvent, ProjectChanged, RunOutputArrived, TaskSelected
from .screens.dialogs import ChoiceDialog, ConfirmDialog, ReasonDialog
from .screens.diff import DiffScreen
from .screens.help import HelpScreen, Section
from .screens.main import MainScreen
from .screens.rollback import ConfirmRollback
from .screens.task import TaskScreen
from .session import EXPAND_INTO, MAX_PLANNED, Session
from .themes import DEFAULT_THEME, load_themes
from .widgets.board import BoardView
from .widgets.dag import DagView
from .widgets.detail import TaskDetail
from .widgets.detail import run_line as detail_run_line
from .widgets.header import KeyFooter, ProjectHeader
from .widgets.output import OutputPanes, run_outcome
from .widgets.table import TableView
from .widgets.timeline import TimelineView

if TYPE_CHECKING:
    from ..engine.project import Project

REFRESH = 0.25  # seconds between two looks at the journal for other processes' changes
RUN_WATCH = POLL  # seconds between two looks at the runs other processes own (their output)
PROPOSAL_LINES = 12  # proposed tasks listed in the question before "and N more"
VIEW_TITLES = {"board": "Board", "dag": "DAG", "timeline": "Timeline", "table": "Table"}
_REQUESTABLE = frozenset({"dispatch", "complete", "fail", "cancel", "retry", "undo", "diff"})  # -> action_*


class View(Protocol):
    """The view contract (docs/ARCHITECTURE.md C8): what the app calls on a main view."""

    def show_project(self, project: Project, changed: frozenset[str] | None) -> None: ...

    def select_task(self, task_id: str) -> None: ...


class OrchestraApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "orchestra"
    COMMANDS = App.COMMANDS | {TaskCommands}
    BINDINGS: ClassVar[list[BindingType]] = [*bindings.BINDINGS]

    def __init__(
        self,
        session: Session,
        settings: TuiConfig,
        settings_dir: Path,
        themes: dict[str, Theme],
        theme: str,
        *,
        notes: list[str] | None = None,
        remember: bool = True,
        size: tuple[int, int] | None = None,
    ) -> None:
        super().__init__()
        self.session = session
        self.settings = settings
        self.settings_dir = settings_dir
        self.notes = list(notes or [])
        self.remember = remember  # False when config.toml could not be read: never overwrite it
        self.size_default = size
        for item in themes.values():
            self.register_theme(item)
        self.theme = theme
        self.remembered_theme = theme
        self.selected: str | None = None
        self.view = "board"
        self._stale: set[str] = set()  # views to redraw in full when next shown
        self.alerts = Alerts(settings.notify or NotifyConfig())
        self._header_due = False
        self._detail_due = False  # the selected task's run reported usage: its detail is drawn with the header
        self.collector = collector.IdleCollector()  # full garbage collections between key presses

    # -- building -------------------------------------------------------------------------------------

    def notify(self, message: str, **options: Any) -> None:
        """Every notification is shown safely: it may quote a title, a summary or an agent's error."""
        options.setdefault("markup", False)
        super().notify(printable(message), **options)

    def get_default_screen(self) -> Screen[None]:
        return MainScreen(id="_default")

    def compose(self) -> ComposeResult:
        yield ProjectHeader(id="header")
        with ContentSwitcher(initial="board", id="views"):
            yield BoardView(id="board")
            yield DagView(id="dag")
            yield TimelineView(id="timeline")
            yield TableView(
                id="table", sort=self.settings.table_sort or "id", reverse=bool(self.settings.table_reverse)
            )
        with Horizontal(id="lower"):
            yield TaskDetail(id="detail")
            yield OutputPanes(id="output")
        yield KeyFooter()

    def on_mount(self) -> None:
        unknown = sorted(set(self.settings.keymap) - self.binding_ids())
        if unknown:
            self.notes.append(f"config.toml: [keymap] has no binding {unknown[0]!r}; ? lists the ids in brackets")
        self.set_keymap(self.settings.keymap)
        project = self.session.project
        for task_id in self.session.recovered:
            self.notes.append(
                f"{task_id} was interrupted (its run ended with the process running it): marked failed; r retries it"
            )
        for task_id in self.session.taken_over:
            self.notes.append(f"{task_id} ran on, on Ray, after the process running it ended: followed again")
        for note in [*self.notes, *self.session.new_notes()]:
            self.notify(note, severity="warning", timeout=10, markup=False)
        self.theme_changed_signal.subscribe(self, self._remember_theme)
        self.run_worker(self.session.forward(self.post_message), name="engine events", exit_on_error=False)
        self.set_interval(REFRESH, self._poll)
        self.set_interval(RUN_WATCH, self._watch_runs)
        self._watch_runs()  # the runs going elsewhere, with their text so far, from the first frame
        self.call_after_refresh(self.collector.start)
        self.set_interval(collector.CHECK, self.collector.tick)
        order = project.graph.topological_order()
        self.selected = self.session.next_task() or (order[0] if order else None)
        self._stale = set(self.views) - {"board"}
        with self._guard():
            self._redraw(None)
            if self.selected is not None:
                self._tell_selection(self.selected)
            self.board.focus_selection()

    @property
    def main(self) -> Screen[Any]:
        """The main screen (the views, the detail, the output panes), also while a dialog or a task's own screen
        is in front: the app's own ``query_one`` looks only at the screen in front."""
        return self.screen_stack[0]

    @property
    def views(self) -> dict[str, View]:
        """The main views mounted, by id, in key order."""
        switcher = self.main.query_one("#views", ContentSwitcher)
        return {child.id: cast(View, child) for child in switcher.children if child.id}

    @property
    def board(self) -> BoardView:
        return self.main.query_one(BoardView)

    def run_test(self, *args: Any, size: tuple[int, int] | None = None, **kwargs: Any) -> Any:
        return super().run_test(*args, size=size or self.size_default or (80, 24), **kwargs)

    def run(self, *args: Any, size: tuple[int, int] | None = None, **kwargs: Any) -> Any:
        return super().run(*args, size=size or self.size_default, **kwargs)

    async def on_unmount(self) -> None:
        self.collector.stop()
        await self.session.close()

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.InputEvent):  # a key or the mouse: no full garbage collection for a moment
            self.collector.input()
            self.call_after_refresh(self.call_after_refresh, self.collector.shown)  # two frames: what it changed
        await super().on_event(event)

    # -- the one error handler ------------------------------------------------------------------------

    def show_error(self, error: BaseException) -> None:
        message = (
            str(error) if isinstance(error, OrchestraError) else f"internal error: {type(error).__name__}: {error}"
        )
        self.notify(message, severity="error", timeout=10, markup=False)

    @contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except Exception as error:
            self.show_error(error)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            self.show_error(event.worker.error)

    def _watch_runs(self) -> None:
        with self._guard():
            self.session.watch_runs()

    def _poll(self) -> None:
        ended: list[Ended] = []
        with self._guard():
            self.session.refresh()
            for note in self.session.new_notes():
                self.notify(note, severity="warning", timeout=10, markup=False)
            on = self.autopilot
            ended = self.session.look_drivers()
            if ended or on != self.autopilot:
                self._draw_header()
        for one in ended:
            with self._guard():
                self._ended(one)

    # -- what the engine says -------------------------------------------------------------------------

    def on_project_changed(self, message: ProjectChanged) -> None:
        with self._guard():
            self._redraw(message.tasks)

    def _redraw(self, changed: frozenset[str] | None) -> None:
        project = self.session.project
        with self.batch_update():
            view = self.views[self.view]
            view.show_project(project, changed)
            self._stale |= set(self.views) - {self.view}
            self.main.query_one(OutputPanes).show_project(project, changed)
            self._draw_header()
            self._draw_detail()

    def _draw_header(self) -> None:
        project = self.session.project
        name = one_line(project.plan.project.name or project.plan.project.id)
        keys = {binding.action: self.keys_of(binding) for binding in bindings.BINDINGS}
        tabs = [(view, keys[f"view('{view}')"], VIEW_TITLES[view]) for view in self.views]
        header = self.main.query_one(ProjectHeader)
        header.show(name, self.session.figures(), tabs, self.view, autopilot=self.autopilot)

    @property
    def autopilot(self) -> bool:
        """Whether the autopilot is on (a driver process on the whole plan, whichever face started it)."""
        return self.session.autopilot

    def _draw_detail(self) -> None:
        runs = self.session.runs_of(self.selected) if self.selected in self.session.project.tasks else []
        self.main.query_one(TaskDetail).show(self.session.project, self.selected, runs)
        for screen in self.screen_stack:
            if isinstance(screen, TaskScreen) and screen.is_mounted:
                screen.show(self.session.project, self.session.runs_of(screen.task_id))

    def on_run_output_arrived(self, message: RunOutputArrived) -> None:
        with self._guard():
            self.main.query_one(OutputPanes).append(message.run_id, message.task_id, message.text)
            self.board.note_output(message.task_id, message.text)

    def on_engine_event(self, message: EngineEvent) -> None:
        event = message.event
        with self._guard():
            output = self.main.query_one(OutputPanes)
            if isinstance(event, RunStarted):
                output.run_started(event.run_id, event.task_id, event.agent, self.selected)
                if event.task_id == self.selected:  # the selected task's output, whichever run started first
                    output.show(event.task_id)
            elif isinstance(event, RunEnded):
                output.run_ended(event.run_id, event.task_id, event.status, event.error)
                call = needs_person(event)
                if call is not None:
                    self.alerts.call(self, call, "error" if event.error else "information")
            elif isinstance(event, RunUsage):
                self._usage(event)
            elif isinstance(event, RunRetry):
                self.notify(f"{event.task_id}: {event.retrying}: {event.reason}", severity="warning", markup=False)
            elif isinstance(event, EngineError):
                self.notify(event.message, severity="error", timeout=10, markup=False)
            elif isinstance(event, PlanRejected):
                self.notify(plan_rejected_text(event.problems), severity="error", timeout=15, markup=False)
        if not self._header_due:  # usage comes often while runs stream: one redraw per frame
            self._header_due = True
            self.call_after_refresh(self._draw_header_due)

    def _usage(self, event: RunUsage) -> None:
        """A run's usage so far (whichever process runs it): its card's cost, and its task's detail if on show."""
        if event.cost_usd is not None:
            self.board.note_spent(event.task_id, format_cost(event.cost_usd))
        shown = {screen.task_id for screen in self.screen_stack if isinstance(screen, TaskScreen)}
        self._detail_due |= event.task_id == self.selected or event.task_id in shown

    def _draw_header_due(self) -> None:
        self._header_due = False
        with self._guard():
            self._draw_header()
            if self._detail_due:
                self._detail_due = False
                self._draw_detail()

    # -- selection ------------------------------------------------------------------------------------

    def on_task_selected(self, message: TaskSelected) -> None:
        if message.task_id != self.selected:
            with self._guard():
                self._tell_selection(message.task_id)

    def _tell_selection(self, task_id: str) -> None:
        """Tell the views, the output panes and the detail. A view due to be redrawn in full when next shown is
        told then: repainting a hidden view's widgets now also makes Textual rebuild its map of the whole screen
        (where a view's widgets are) on the next frame, as if widgets had been added, on every key press."""
        self.selected = task_id
        for name, view in self.views.items():
            if name not in self._stale:
                view.select_task(task_id)
        self.main.query_one(OutputPanes).show(task_id)
        self._draw_detail()

    def _target(self) -> str:
        if self.selected is None or self.selected not in self.session.project.tasks:
            raise OrchestraError("no task selected")
        return self.selected

    # -- views ----------------------------------------------------------------------------------------

    def offered(self, action: str) -> bool:
        """Whether an action applies in the view on show (the task keys and the output panes do not on the
        timeline, which takes the whole height)."""
        return not ((action in bindings.TASK_ACTIONS or action == "focus_output") and self.view == "timeline")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if self.screen.is_modal and action in ("cycle_view", "view"):
            return False  # tab belongs to the dialog
        return self.offered(action)

    def action_view(self, name: str) -> None:
        if name not in self.views:
            self.notify(f"the {VIEW_TITLES.get(name, name)} view is not available", severity="warning")
            return
        with self._guard():
            if self.screen.maximized is not None:
                self.screen.minimize()  # a maximised output pane would hide the view asked for
            self.view = name
            self.main.query_one("#views", ContentSwitcher).current = name
            self.set_class(name == "timeline", "-timeline")
            self.set_class(name == "dag", "-dag")
            view = self.views[name]
            if name in self._stale:
                self._stale.discard(name)
                view.show_project(self.session.project, None)
                if self.selected is not None:
                    view.select_task(self.selected)
            if isinstance(view, BoardView):
                view.focus_selection()
            else:
                cast(Widget, view).focus()
            self._draw_header()

    def action_cycle_view(self) -> None:
        names = list(self.views)
        self.action_view(names[(names.index(self.view) + 1) % len(names)])

    # -- actions on tasks -----------------------------------------------------------------------------

    @work(group="actions", exit_on_error=False)
    async def action_dispatch(self, task_id: str | None = None) -> None:
        self.session.dispatch(task_id or self._target())

    @work(group="actions", exit_on_error=False)
    async def action_dispatch_all(self) -> None:
        started = self.session.dispatch_ready()
        unusable = self.session.scheduler.unusable
        for task_id, reason in list(unusable.items())[:3]:
            self.notify(f"not started: {task_id}: {reason}", severity="warning", timeout=10, markup=False)
        if started:
            self.notify(f"dispatched {formatting.id_list(started, 8)}", markup=False)
        elif running := self.session.running():
            self.notify(f"{running} tasks are running, the plan's parallel_max", markup=False)
        elif not unusable:
            self.notify(next_step.next_line(self.session.project), markup=False)

    def action_autopilot(self) -> None:
        """``A``: switch the autopilot on (a driver process on the whole plan, as ``orchestra run --detach``: it
        outlives the app) or off (the runs going carry on; only the dispatching stops)."""
        with self._guard():
            if self.autopilot:
                self.session.autopilot_off()
                self.notify("autopilot off: the runs going carry on")
            else:
                self.session.autopilot_on()
                self.notify("autopilot on: ready tasks are dispatched until none is left (A stops it, q leaves it on)")
            self._draw_header()

    def _ended(self, ended: Ended) -> None:
        """A driver ended: one that failed says so; an autopilot that ran out of ready tasks says what it did and
        what is left (a person is needed now). Any other has said it all through its runs."""
        if ended.error is not None:
            raise OrchestraError(ended.error)
        summary = ended.summary
        if not ended.autopilot or summary is None:
            return
        for task_id, reason in list(summary.unusable.items())[:3]:
            self.notify(f"not started: {task_id}: {reason}", severity="warning", timeout=10, markup=False)
        self.session.project.refresh()
        line = f"autopilot done: {autopilot_line(summary)}; {next_step.next_line(self.session.project)}"
        self.alerts.call(self, line, "information")

    @work(group="actions", exit_on_error=False)
    async def action_complete(self, task_id: str | None = None) -> None:
        self.session.complete(task_id or self._target())

    @work(group="actions", exit_on_error=False)
    async def action_fail(self, task_id: str | None = None) -> None:
        target = task_id or self._target()
        self.session.check_fail(target)  # refused before the question, not after it
        reason = await self.push_screen_wait(
            ReasonDialog(f"Why did {target} fail?", "the reason is kept with the task")
        )
        if reason:
            self.session.fail(target, reason)

    @work(group="actions", exit_on_error=False)
    async def action_cancel(self, task_id: str | None = None) -> None:
        target = task_id or self._target()
        elsewhere = self.session.running_elsewhere(target)
        if self.session.running_here(target) or elsewhere is not None:
            owner = "" if elsewhere is None else f" (run by another process, pid {elsewhere.owner_pid or '?'})"
            question = ConfirmDialog(
                f"Stop the run of {target}{owner} and cancel the task?", "Its output so far is kept."
            )
            if not await self.push_screen_wait(question):
                return
        await self.session.cancel(target)

    @work(group="actions", exit_on_error=False)
    async def action_retry(self, task_id: str | None = None) -> None:
        self.session.retry(task_id or self._target())

    @work(group="actions", exit_on_error=False)
    async def action_diff(self, task_id: str | None = None) -> None:
        """``v``: a worktree task's changes against its base (files, +/-, the patch) on a screen of its own."""
        change = await self.session.task_diff(task_id or self._target())
        self.push_screen(DiffScreen(change))

    def action_next(self) -> None:
        task_id = self.session.next_task()
        if task_id is None:
            self.notify(next_step.next_line(self.session.project), markup=False)
            return
        with self._guard():
            self._tell_selection(task_id)
            if self.view == "board":
                self.board.focus_selection()
            reason = self.session.scheduler.cannot_run(task_id)
            if reason is not None:
                self.notify(
                    f"{task_id} is next but cannot run as it is: {reason}", severity="warning", timeout=10, markup=False
                )

    @work(group="actions", exit_on_error=False)
    async def action_undo(self) -> None:
        entry = self.session.undo()
        if entry is None:
            self.notify("nothing to undo")
            return
        undone = self.session.project.entry(entry.extra["undoes"])
        self.notify(f"undid {undone.id} ({undone.summary}) as entry {entry.id}", markup=False)

    @work(group="actions", exit_on_error=False)
    async def action_rollback(self, entry_id: str) -> None:
        if not await self.push_screen_wait(ConfirmRollback(self.session.project, entry_id)):
            return
        entry = self.session.rollback(entry_id)
        self.notify(
            "nothing to roll back" if entry is None else f"{entry.summary} (entry {entry.id}); u undoes it",
            markup=False,
        )

    def action_edit(self, task_id: str | None = None) -> None:
        """``e``: the task's ``[[tasks]]`` in ``$VISUAL``/``$EDITOR`` (else vi) at its line, the app suspended; the
        saved file is taken up at once (a bad edit is reported, the last valid plan stays)."""
        with self._guard():
            path, line = self.session.plan_location(task_id or self._target())
            editor = shlex.split(os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi")
            command = [*editor, f"+{line}", str(path)]
            try:
                try:
                    with self.suspend():
                        done = subprocess.run(command, check=False)
                except SuspendNotSupported:  # no terminal to give away (a headless run): the editor runs as is
                    done = subprocess.run(command, check=False, stdin=subprocess.DEVNULL, capture_output=True)
            except OSError as error:
                raise OrchestraError(f"cannot start the editor {editor[0]!r}: {error.strerror}; set $EDITOR") from None
            if done.returncode:
                self.notify(f"the editor exited with status {done.returncode}", severity="warning")
            self._poll()

    # -- planning (the palette's "Plan from document…" and "Expand task") -------------------------------

    @work(group="actions", exit_on_error=False)
    async def action_plan_document(self) -> None:
        answer = await self.push_screen_wait(
            ReasonDialog("Plan from which document?", "its path, from the project's folder (e.g. docs/requirements.md)")
        )
        if answer:
            prompt = self.session.plan_prompt(Path(answer))
            await self._propose(f"plan from {Path(answer).name}", prompt, MAX_PLANNED)

    @work(group="actions", exit_on_error=False)
    async def action_expand_task(self, task_id: str | None = None) -> None:
        target = task_id or self._target()
        prompt = self.session.expand_prompt(target)
        await self._propose(f"expand {target}", prompt, EXPAND_INTO, lambda tasks: as_subtasks(target, tasks))

    async def _propose(self, what: str, prompt: str, max_tasks: int, shape: Any = None) -> None:
        """Ask the agent, show what it proposes, write it on confirmation (``Session.propose``)."""
        agent = self.session.project.plan.project.default_agent
        self.notify(f"{what}: asking {agent}; nothing is written before you confirm", timeout=10)
        proposal = await self.session.propose(what, prompt, max_tasks=max_tasks, shape=shape)
        lines = [
            f"{task.get('id')}  {one_line(str(task.get('title', '')))}"
            + (f"  (after {', '.join(map(str, task['dependencies']))})" if task.get("dependencies") else "")
            for task in proposal.tasks
        ]
        shown = "\n".join(lines[:PROPOSAL_LINES]) + (
            f"\n… and {len(lines) - PROPOSAL_LINES} more" if len(lines) > PROPOSAL_LINES else ""
        )
        edit = proposal.edit
        question = ConfirmDialog(
            f"Write {len(lines)} task{'s' * (len(lines) != 1)} into orchestra.toml? "
            f"({len(edit.added)} new, {len(edit.changed)} changed; comments kept)",
            shown,
        )
        if await self.push_screen_wait(question):
            self.session.write_proposal(proposal)
            self.notify(f"{what}: {len(edit.added)} added, {len(edit.changed)} changed in orchestra.toml", timeout=10)

    def action_jump(self) -> None:
        """``:``: the palette with only the tasks, found by id and title."""
        self.push_screen(CommandPalette(providers=[TaskCommands], placeholder="Jump to a task: its id or title…"))

    def jump_to(self, task_id: str) -> None:
        """Select ``task_id`` on the view on show (a task hidden by the board's filter clears the filter)."""
        with self._guard():
            self.session.project.task(task_id)
            if self.view == "board" and self.board.column_of(task_id) is None and self.board.filter:
                self.board.clear_filter()
            self._tell_selection(task_id)
            if self.view == "board":
                self.board.focus_selection()

    def action_open_task(self, task_id: str | None = None) -> None:
        """The task (default: the selected one) in full, on a screen of its own; escape comes back."""
        with self._guard():
            target = task_id or self._target()
            self.push_screen(TaskScreen(target, self.session.project, self.session.runs_of(target)))

    @work(group="actions", exit_on_error=False)
    async def choose_run(self, task_id: str) -> None:
        """One of the task's runs, newest first; its output goes in the task's tab, in front, focused."""
        runs = self.session.runs_of(task_id)
        if not runs:
            raise OrchestraError(f"{task_id} has not run yet")
        choices = [(run.run_id, detail_run_line(run, {}).plain) for run in reversed(runs)]
        run_id = await self.push_screen_wait(ChoiceDialog(f"Which run of {task_id}?", choices))
        run = next((run for run in runs if run.run_id == run_id), None)
        if run is None:
            return
        while isinstance(self.screen, TaskScreen):
            self.pop_screen()
        panes = self.main.query_one(OutputPanes)
        panes.show_run(task_id, run.run_id, run.agent, run_outcome(run.status, run.error)[0])
        if self.view == "timeline":
            self.action_view("board")
        self.call_after_refresh(panes.log_widget.focus)  # after the view on show has changed

    def action_back(self) -> None:  # type: ignore[override]  # Textual awaits an action only if it is awaitable
        """Escape: a maximised output pane back to its place, the output panes' focus back to the view."""
        panes = self.main.query_one(OutputPanes)
        if self.screen.maximized is not None:
            self.screen.minimize()
        elif self.focused is not None and panes in self.focused.ancestors_with_self:
            self.action_view(self.view)

    def on_action_requested(self, message: ActionRequested) -> None:
        if message.action == "rollback" and message.target is not None:
            self.action_rollback(message.target)
        elif message.action == "open":
            self.action_open_task(message.target)
        elif message.action == "runs" and message.target is not None:
            self.choose_run(message.target)
        elif message.action in _REQUESTABLE:
            getattr(self, f"action_{message.action}")(*([message.target] if message.target else []))
        else:
            self.show_error(OrchestraError(f"unknown action {message.action!r}"))

    def action_filter(self) -> None:
        """The filter of the view on show: the table's own there, else the board's."""
        if self.view != "table":
            self.action_view("board")
        cast(BoardView | TableView, self.views[self.view]).open_filter()

    def on_table_view_sort_changed(self, message: TableView.SortChanged) -> None:
        if self.remember:
            with self._guard():
                self.settings = self.settings.model_copy(
                    update={"table_sort": message.column, "table_reverse": message.reverse}
                )
                save_config(self.settings_dir, self.settings)

    def action_focus_output(self) -> None:
        panes = self.main.query_one(OutputPanes)
        pane = panes.current
        if pane is None:
            self.notify("no output to show yet: dispatched tasks stream into panes below the board and the DAG")
        elif self.focused is not None and panes in self.focused.ancestors_with_self:
            self.action_view(self.view)
        else:
            panes.log_widget.focus()

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.help_sections()))

    async def action_quit(self) -> None:
        self._quit()  # also ctrl+q's action

    @work(group="actions", exit_on_error=False)
    async def _quit(self) -> None:
        """Quit: the runs in drivers carry on. Runs in this process (agents registered from code) cannot: asked."""
        running = len(self.session.scheduler.jobs)
        if running:
            question = ConfirmDialog(
                f"{running} task{'s' * (running != 1)} running in this process: quit anyway?",
                "Their runs are cancelled: each task fails and keeps its output.",
            )
            if not await self.push_screen_wait(question):
                return
        self.exit()

    # -- keys, the palette, themes --------------------------------------------------------------------

    def keys_of(self, binding: Binding) -> str:
        """The binding's keys as shown, after the config's ``[keymap]``."""
        keys = self.settings.keymap.get(binding.id, binding.key) if binding.id else binding.key
        return ", ".join(self.get_key_display(Binding(key.strip(), "")) for key in keys.split(","))

    def binding_ids(self) -> set[str]:
        """Every id ``[keymap]`` can remap: the app's, the views' and the dialogs'."""
        widgets = [*(cast(Widget, view) for view in self.views.values()), self.main.query_one(OutputPanes)]
        found = [b for widget in widgets for b in _declared_bindings(widget)]
        found += [
            b
            for screen in (ConfirmDialog, ReasonDialog, ChoiceDialog, HelpScreen, ConfirmRollback, TaskScreen)
            for b in screen.BINDINGS
            if isinstance(b, Binding)
        ]
        return set(bindings.BINDING_IDS) | {b.id for b in found if b.id}

    def help_sections(self) -> list[Section]:
        sections: list[Section] = [
            (
                "The app (task keys on the board and the DAG)",
                [(self.keys_of(b), f"{b.description} [{b.id}]", bindings.HELP[b.id or ""]) for b in bindings.BINDINGS],
            ),
            ("Board", BoardView.NAVIGATION),
        ]
        for widget in [*(cast(Widget, view) for view in self.views.values()), self.main.query_one(OutputPanes)]:
            rows = [
                (self.keys_of(b), f"{b.description} [{b.id}]" if b.id else b.description, "")
                for b in _declared_bindings(widget)
            ]
            if rows:
                sections.append((VIEW_TITLES.get(widget.id or "", "Output panes"), rows))
        task_keys = [b for b in TaskScreen.BINDINGS if isinstance(b, Binding)]
        sections.append(
            ("A task's own screen (enter)", [(self.keys_of(b), f"{b.description} [{b.id}]", "") for b in task_keys])
        )
        sections.append(
            ("Anywhere", [("^p", "Command palette", "every action above, the theme, tasks by id or title")])
        )
        return sections

    def get_system_commands(self, screen: Screen[Any]) -> Iterator[SystemCommand]:
        for command in super().get_system_commands(screen):
            if command.title == "Screenshot":  # Textual's saves to ~/Downloads, or fails when there is none
                command = SystemCommand(
                    "Screenshot", "Save an SVG of the screen (.orchestra/screenshots/)", self.action_screenshot
                )
            yield command
        for binding in bindings.BINDINGS:
            if self.offered(binding.action.split("(")[0]):
                yield SystemCommand(
                    f"{binding.description} ({self.keys_of(binding)})",
                    bindings.HELP[binding.id or ""],
                    lambda action=binding.action: self.call_later(self.run_action, action),
                )
        yield SystemCommand(
            "Plan from document…",
            "Ask the default agent to turn a requirements document into tasks (orchestra plan); shown before written",
            self.action_plan_document,
        )
        if self.selected is not None and self.offered("edit"):
            yield SystemCommand(
                "Expand task",
                f"Ask the default agent to split {self.selected} into subtasks (orchestra expand), shown first",
                self.action_expand_task,
            )

    def action_screenshot(self, filename: str | None = None, path: str | None = None) -> None:
        """Save an SVG of the screen into the screenshots folder and say where (``screenshots.py``)."""
        with self._guard():
            folder = path or self.settings.screenshots
            saved = screenshots.save(self.export_screenshot(), self.session.project.root, folder, filename)
            self.notify(f"screenshot saved to {saved}", timeout=10)

    def _remember_theme(self, theme: Theme) -> None:
        if theme.name == self.remembered_theme or not self.remember:
            return
        self.remembered_theme = theme.name
        with self._guard():
            self.settings = self.settings.model_copy(update={"theme": theme.name})
            save_config(self.settings_dir, self.settings)


PLAN_PROBLEMS_SHOWN = 5  # lines of a rejected plan's problems in its notification (`orchestra validate` lists all)


def plan_rejected_text(problems: tuple[str, ...]) -> str:
    """The notification for a plan edit that cannot be used: the last valid plan stays on show."""
    more = len(problems) - PLAN_PROBLEMS_SHOWN
    lines = [
        *problems[:PLAN_PROBLEMS_SHOWN],
        *([f"… and {more} more (orchestra validate lists them)"] if more > 0 else []),
    ]
    return "the plan was not taken up, the last valid one stays on show:\n" + "\n".join(lines)


def autopilot_line(summary: Summary) -> str:
    """What one autopilot drive did: ``7 runs: 6 completed, 1 failed``."""
    counts: dict[str, int] = {}
    for result in summary.results:
        counts[result.status] = counts.get(result.status, 0) + 1
    runs = len(summary.results)
    detail = ", ".join(f"{number} {status}" for status, number in sorted(counts.items()))
    return f"{runs} run{'s' * (runs != 1)}" + (f": {detail}" if detail else "")


def _declared_bindings(widget: Widget) -> list[Binding]:
    """The keys orchestra's own widgets declare in and under ``widget`` (not the ones Textual's widgets bring)."""
    found: list[Binding] = []
    for node in widget.walk_children(with_self=True):
        if type(node).__module__.startswith("orchestra_tui."):
            found += [b for b in type(node).__dict__.get("BINDINGS", []) if isinstance(b, Binding)]
    return found


def create_app(
    project_dir: Path | str,
    *,
    theme: str | None = None,
    config_dir: Path | str | None = None,
    size: tuple[int, int] | None = None,
    **session_options: Any,
) -> OrchestraApp:
    """The app on the project in ``project_dir``. ``theme`` (``--theme``) wins over the remembered one and is
    remembered; ``config_dir`` holds config.toml (default: ``$ORCHESTRA_CONFIG_DIR``, else the user's config
    directory); ``size`` is the default for ``run`` and ``run_test``; ``session_options`` go to the Session
    (``agents``, ``env``). Raises a one-line OrchestraError for an unknown theme or a broken theme file."""
    directory = config_home(config_dir)
    notes: list[str] = []
    remember = True
    try:
        settings = load_config(directory)
    except OrchestraError as error:
        settings, remember = TuiConfig(), False
        notes.append(f"{error}; the defaults are used and the file is left alone")
    themes = load_themes()
    known = {**BUILTIN_THEMES, **themes}
    if theme is not None and theme not in known:
        others = sorted(set(BUILTIN_THEMES) - set(themes))
        raise OrchestraError(
            f"unknown theme {theme!r}; orchestra's: {', '.join(themes)}; Textual's: {', '.join(others)}"
        )
    chosen = theme or settings.theme or DEFAULT_THEME
    if chosen not in known:
        notes.append(f"config.toml: unknown theme {chosen!r}; using {DEFAULT_THEME}")
        chosen = DEFAULT_THEME
    if theme is not None and theme != settings.theme and remember:
        settings = settings.model_copy(update={"theme": theme})
        save_config(directory, settings)
    session = Session.open(project_dir, **session_options)
    return OrchestraApp(session, settings, directory, themes, chosen, notes=notes, remember=remember, size=size)
