"""The app's keys (docs/ARCHITECTURE.md C8), each with an id so ``[keymap]`` in config.toml can remap it.

Every binding here is also a command of the palette (``ctrl+p``), titled by its description and explained
by its entry in ``HELP``.
"""

from __future__ import annotations

from textual.binding import Binding

TASK_ACTIONS = frozenset(
    {"dispatch", "dispatch_all", "complete", "fail", "cancel", "retry", "next", "filter", "open_task", "edit"}
)
"""Actions on the task selection: offered on the board and the DAG, not on the timeline."""

BINDINGS: list[Binding] = [
    Binding("d", "dispatch", "Dispatch", id="dispatch"),
    Binding("a", "dispatch_all", "Dispatch ready", id="dispatch_all"),
    Binding("A", "autopilot", "Run until done", id="autopilot", show=False),
    Binding("c", "complete", "Complete", id="complete"),
    Binding("f", "fail", "Fail", id="fail"),
    Binding("x", "cancel", "Cancel", id="cancel"),
    Binding("r", "retry", "Retry", id="retry"),
    Binding("n", "next", "Next", id="next"),
    Binding("u", "undo", "Undo", id="undo"),
    Binding("v", "diff", "Diff", id="diff", show=False),
    Binding("slash", "filter", "Filter", id="filter"),
    Binding("o", "focus_output", "Output", id="focus_output"),
    Binding("e", "edit", "Edit in $EDITOR", id="edit", show=False),
    Binding("enter", "open_task", "Open", id="open_task", show=False),
    Binding("colon", "jump", "Jump to a task", id="jump", show=False),
    Binding("escape", "back", "Back", id="back", show=False),
    Binding("question_mark", "help", "Help", id="help"),
    Binding("q", "quit", "Quit", id="quit"),
    Binding("1", "view('board')", "Board", id="view_board", show=False),
    Binding("2", "view('dag')", "DAG", id="view_dag", show=False),
    Binding("3", "view('timeline')", "Timeline", id="view_timeline", show=False),
    Binding("4", "view('table')", "Table", id="view_table", show=False),
    # A priority binding: the screen's own tab (focus next) would otherwise take it.
    Binding("tab", "cycle_view", "Next view", id="cycle_view", show=False, priority=True),
]

HELP: dict[str, str] = {
    "dispatch": "Run the selected ready task with its agent; its output streams into a pane",
    "dispatch_all": "Run ready tasks in recommended order, up to the plan's parallel_max at once",
    "autopilot": "Autopilot: keep dispatching ready tasks up to parallel_max until none is ready (A again stops it)",
    "complete": "Mark the selected task completed (accepts a task in review)",
    "fail": "Mark the selected task failed, with a reason",
    "cancel": "Cancel the selected task (and stop its run)",
    "retry": "Reopen the selected failed, cancelled or review task",
    "next": "Select the recommended next task",
    "undo": "Undo the last change (again to go further back)",
    "diff": "The selected worktree task's changes against its base: files, +/-, the patch (scrollable)",
    "filter": "Show only the tasks matching a text (id, title, tag, status) on the board or the table",
    "focus_output": "Move to the output panes and back (there the bracket keys switch panes, z maximises)",
    "edit": "Open the selected task's definition in $EDITOR at its line; the board follows the saved file",
    "jump": "Find a task by id or title (fuzzy) and select it; the palette (ctrl+p) finds tasks too",
    "open_task": "Open the selected task in full, on a screen of its own (escape comes back)",
    "back": "Back: a maximised output pane to its place, the output panes to the view",
    "help": "Show the keys",
    "quit": "Quit (the runs going and the autopilot carry on: orchestra ps lists them)",
    "view_board": "Show the board",
    "view_dag": "Show the dependency graph",
    "view_timeline": "Show the history timeline",
    "view_table": "Show every task in one sortable table",
    "cycle_view": "Show the next view",
}

FOOTER_LABELS = {
    "dispatch_all": "All ready",
    "output.next": "Next pane",
    "output.previous": "Previous pane",
    "output.maximise": "Maximise",
    "output.dismiss": "Close",
    "output.search": "Search",
    "output.copy": "Copy",
    "table.sort": "Sort",
    "table.reverse": "Reverse",
    "table.failures": "Failures",
}
"""Shorter labels for the footer, by binding id (the palette and the help use the descriptions)."""
FOOTER_DROP = (
    "focus_output",
    "retry",
    "filter",
    "undo",
    "next",
    "fail",
    "complete",
    "cancel",
    "dispatch",
    "dispatch_all",
)
"""The keys leaving a footer too narrow for all, first to last (``?`` lists them all; it and ``q`` stay)."""

BINDING_IDS = frozenset(binding.id for binding in BINDINGS if binding.id)
