"""The core never imports a face's toolkit: harlequin's rule, enforced in a clean interpreter."""

from __future__ import annotations

import subprocess
import sys

CORE = [
    "orchestra_tui",
    "orchestra_tui.models",
    "orchestra_tui.graph",
    "orchestra_tui.plan",
    "orchestra_tui.errors",
    "orchestra_tui.store",
    "orchestra_tui.engine",
    "orchestra_tui.engine.report",
    "orchestra_tui.engine.seed_import",
    "orchestra_tui.api",
]
FACE_TOOLKITS = ("textual", "typer", "rich", "click")


def test_core_imports_no_face_toolkit() -> None:
    code = (
        "import sys\n"
        f"for name in {CORE!r}:\n"
        "    __import__(name)\n"
        "from orchestra_tui import ProjectOrchestrator, AgentTask, TaskPriority, ProjectPhase, TaskStatus\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FACE_TOOLKITS!r})\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"core modules pulled in: {result.stdout.strip()}"


def test_store_does_not_import_the_engine_or_models() -> None:
    """The store knows records, not tasks: it sits below the engine."""
    code = (
        "import sys, orchestra_tui.store\n"
        "print(','.join(sorted(m for m in sys.modules if m.startswith('orchestra_tui.') and not m.startswith('orchestra_tui.store') and m != 'orchestra_tui.errors')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
