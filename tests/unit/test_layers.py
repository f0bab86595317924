"""The core never imports a face's toolkit: harlequin's rule, enforced in a clean interpreter and in the source."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "orchestra_tui"
FACES = ("cli", "tui", "mcp")
ABOVE_FACES = ("entry.py", "__main__.py")  # the console-script entry, which hands over from the CLI to the others
FACE_TOOLKITS = ("textual", "typer", "rich", "click")
# Modules that load no third-party code that itself drags in a toolkit (httpx imports its own command-line
# module, which imports rich and click; the static check below covers the HTTP agents).
RUNTIME_CHECKED = [
    "orchestra_tui",
    "orchestra_tui.models",
    "orchestra_tui.statuses",
    "orchestra_tui.formatting",
    "orchestra_tui.dag_layout",
    "orchestra_tui.graph",
    "orchestra_tui.plan",
    "orchestra_tui.errors",
    "orchestra_tui.store",
    "orchestra_tui.engine",
    "orchestra_tui.engine.report",
    "orchestra_tui.engine.seed_import",
    "orchestra_tui.api",
    "orchestra_tui.agents",
    "orchestra_tui.agents.prompt",
    "orchestra_tui.agents.pricing",
    "orchestra_tui.agents.registry",
    "orchestra_tui.agents.shell",
    "orchestra_tui.agents.cli",
    "orchestra_tui.agents.interactive",
]


def core_modules() -> list[Path]:
    return [path for path in PACKAGE.rglob("*.py") if path.relative_to(PACKAGE).parts[0] not in FACES + ABOVE_FACES]


def test_core_source_imports_no_face_toolkit() -> None:
    offenders = []
    for path in core_modules():
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            offenders += [
                f"{path.relative_to(PACKAGE)}:{node.lineno}: {name}"
                for name in names
                if name.split(".")[0] in FACE_TOOLKITS
            ]
    assert offenders == []


def test_core_imports_no_face_toolkit_at_runtime() -> None:
    code = (
        "import sys\n"
        f"for name in {RUNTIME_CHECKED!r}:\n"
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
        "print(','.join(sorted(m for m in sys.modules if m.startswith('orchestra_tui.') and not "
        "m.startswith('orchestra_tui.store') and m not in ('orchestra_tui.errors', 'orchestra_tui.projectfiles'))))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
