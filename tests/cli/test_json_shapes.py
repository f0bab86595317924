"""The ``--json`` outputs other programs read keep their exact shape: keys, order, types, layout.

The outputs of ``report``, ``backups`` and ``agents`` on a fixed project are compared, byte for byte, with
``data/json_shapes.txt`` once times and the project's path are masked. Regenerate the file only for an intended change
of the output: ``ORCHESTRA_WRITE_SHAPES=1 pytest tests/cli/test_json_shapes.py``.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from ..helpers.cli import ok
from ..helpers.plans import SAMPLES, task_block, write_plan

GOLDEN = Path(__file__).parent / "data" / "json_shapes.txt"
TIME = re.compile(r'"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(\+00:00|Z)?"')


def masked(text: str, root: Path) -> str:
    return TIME.sub('"<time>"', text).replace(str(root), "<root>")


def outputs(demo: Path, agents: Path) -> str:
    env = {"ORCH_SHAPES_KEY": "sk-shapes-secret-123", "ORCH_SHAPES_URL": None}
    ok(demo, "complete", "DES-001")
    ok(demo, "start", "DES-002")
    ok(demo, "fail", "DES-003", "--reason", "no")
    parts = [
        ("report --json", ok(demo, "report", "--json").stdout, demo),
        ("backups --json", ok(demo, "backups", "--json").stdout, demo),
        ("agents --offline --json (demo)", ok(demo, "agents", "--offline", "--json").stdout, demo),
        ("agents --offline --json", ok(agents, "agents", "--offline", "--json", env=env).stdout, agents),
    ]
    return "".join(f"### {name}\n{masked(text, root)}" for name, text, root in parts)


def test_report_backups_and_agents_json_keep_their_shape(tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    shutil.copytree(SAMPLES / "demo", demo, ignore=shutil.ignore_patterns(".orchestra", "build"))
    agents = tmp_path / "agents"
    write_plan(
        agents,
        '[agents.claude]\ntype = "anthropic"\nmodel = "claude-sonnet-4-5"\napi_key_env = "ORCH_SHAPES_KEY"\n\n'
        '[agents.local]\ntype = "openai"\nmodel = "qwen"\nbase_url = "${ORCH_SHAPES_URL}"\n\n'
        + task_block("A", agent="claude")
        + task_block("B"),
    )
    text = outputs(demo, agents)
    if os.environ.get("ORCHESTRA_WRITE_SHAPES"):
        GOLDEN.write_text(text, encoding="utf-8")
    assert text == GOLDEN.read_text(encoding="utf-8")
