"""How ``--help`` names options and arguments: as click and most CLIs do, not typer's own labels (issue 14 item 11).

Typer (0.29) labels every flag ``<bool>``, every other option by its Python type (``<str>``, ``<int>``) and a
required argument ``{task_id}`` in the usage line. Here a flag has no label, a choice lists its values in
brackets, another option shows its type in capitals (or its own metavar), and an argument is ``TASK_ID``
(``[TASK_ID]`` when optional). :func:`plain` applies this to a command and every command under it.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperArgument, TyperOption

HELP_NAMES = ["-h", "--help"]


class PlainArgument(TyperArgument):
    @property
    def display_name_raw(self) -> str:
        return self.metavar if self.metavar is not None else (self.name or "").upper()

    def display_type_rich(self, ctx: Any) -> str | None:
        return None  # the name says it: TASK_ID, ENTRY, DIR

    def _usage_display_name(self) -> str:
        name = self.display_name_raw
        if not self.required and not name.startswith("["):
            name = f"[{name}]"
        return name + ("..." if self.nargs != 1 else "")


class PlainOption(TyperOption):
    def display_type_rich(self, ctx: Any) -> str | None:
        if self.metavar is not None:
            return self.metavar
        if self.is_flag:
            return None
        label = super().display_type_rich(ctx) or ""
        inner = label.strip("<>").removesuffix(">...")
        if "|" in inner:  # a choice
            return f"[{inner}]"
        return {"str": "TEXT", "int": "INTEGER", "float": "NUMBER", "Path": "PATH"}.get(inner, inner.upper())


def plain(command: Any) -> None:
    """Label the parameters of ``command`` (a click command as typer builds it, anew each run) and of the commands
    under it the plain way, its help option included."""
    help_option = command.get_help_option(command.context_class(command, help_option_names=HELP_NAMES))
    for param in [*command.params, help_option]:
        if type(param) is TyperOption:
            param.__class__ = PlainOption
        elif type(param) is TyperArgument:
            param.__class__ = PlainArgument
    for sub in getattr(command, "commands", {}).values():
        plain(sub)
