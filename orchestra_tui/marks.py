"""One mark per task status, plain characters, so a status reads the same without colour in every face: the
CLI prints ``✗ failed``, the TUI's board and DAG show ``✗`` before the id. The faces add their own colours."""

from __future__ import annotations

STATUS_MARKS: dict[str, str] = {
    "ready": "●",
    "blocked": "◌",
    "pending": "○",
    "in_progress": "▶",
    "review": "◆",
    "completed": "✓",
    "failed": "✗",
    "cancelled": "⊘",
}
