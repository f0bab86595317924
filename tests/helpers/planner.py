"""A planning agent for ``orchestra plan`` tests: a real ``cli`` agent (a Python script) that answers each round
with the next of the answers it was given, and keeps every prompt it read."""

from __future__ import annotations

import json
import sys
from pathlib import Path

PLANNER = """
import json, pathlib, sys
prompt = sys.stdin.read()
pathlib.Path("prompts.txt").open("a").write(prompt + "\\n=====\\n")
rounds = pathlib.Path("rounds.txt")
n = int(rounds.read_text()) if rounds.exists() else 0
rounds.write_text(str(n + 1))
answers = json.loads(pathlib.Path("answers.json").read_text())
print(answers[min(n, len(answers) - 1)])
"""


GOOD = {
    "tasks": [
        {"id": "REQ-1", "title": "Write the parser", "estimated_hours": 3, "priority": "high", "phase": "development"},
        {"id": "REQ-2", "title": "Test the parser", "dependencies": ["REQ-1"], "success_criteria": ["all tests pass"]},
    ]
}


def project(root: Path, *answers: object) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "planner.py").write_text(PLANNER)
    (root / "answers.json").write_text(
        json.dumps([a if isinstance(a, str) else f"Plan:\n```json\n{json.dumps(a)}\n```" for a in answers])
    )
    (root / "req.md").write_text("# Requirements\n\nA parser for the config format, with tests.\n")
    (root / "orchestra.toml").write_text(
        '# the team\'s plan\n[project]\nid = "p"\ndefault_agent = "planner"\n\n'
        f'[agents.planner]\ntype = "cli"\ncommand = [{json.dumps(sys.executable)}, "planner.py"]\n\n'
        '[[tasks]]\nid = "DES-1"   # keep this comment\ntitle = "Design"\n'
    )
    return root
