"""The app's main screen: drawn by a ``FrameTimer`` (a frame as soon as one is asked for, at most one per frame
period) and composed by a ``DamageKeepingCompositor``, both Textual shims explained in ``tui/textual_compat.py``.
``ORCHESTRA_FRAME_PACING=0`` leaves Textual's own frame timer in place."""

from __future__ import annotations

from ..textual_compat import PacedScreen


class MainScreen(PacedScreen):
    """The app's default screen (the views, the header and the footer are mounted on it by the app)."""
