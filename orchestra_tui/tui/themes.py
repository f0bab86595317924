"""The theme files of ``themes/``: one TOML file per theme, named by its file (``nord.toml`` is ``nord``).

Keys are the fields of Textual's ``Theme`` (colours, ``dark``, ``luminosity_spread``, ``text_alpha``, and a
``[variables]`` table of design variables). The folder ships inside the wheel as ``orchestra_tui/themes``
(hatch ``force-include``); a source checkout reads the repository's ``themes/``.
"""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

from textual.color import ColorParseError
from textual.theme import Theme

from ..errors import OrchestraError

DEFAULT_THEME = "dark"
_PACKAGE = Path(__file__).resolve().parent.parent
_FIELDS = {field.name for field in dataclasses.fields(Theme)} - {"name"}


def themes_dir() -> Path:
    packaged = _PACKAGE / "themes"
    return packaged if packaged.is_dir() else _PACKAGE.parent / "themes"


def load_theme(path: Path) -> Theme:
    """One theme file; a bad one is a one-line OrchestraError naming the file and the field."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise OrchestraError(f"{path}: {error}") from None
    unknown = sorted(set(data) - _FIELDS)
    if unknown:
        raise OrchestraError(f"{path}: unknown field {unknown[0]!r}; theme fields: {', '.join(sorted(_FIELDS))}")
    try:
        theme = Theme(name=path.stem, **data)
        theme.to_color_system().generate()  # parses every colour now, not on first use
    except (ColorParseError, TypeError, ValueError) as error:
        raise OrchestraError(f"{path}: {error}") from None
    return theme


def load_themes(directory: Path | None = None) -> dict[str, Theme]:
    """Every ``*.toml`` theme of ``directory`` (default: the shipped folder), by name."""
    folder = directory if directory is not None else themes_dir()
    return {path.stem: load_theme(path) for path in sorted(folder.glob("*.toml"))}
