"""plan.toml_text.dumps writes what tomli_w.dumps writes, byte for byte, and takes its own path on plans."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestra_tui.plan import toml_text

# Strings with what tomli-w escapes (quotes, backslashes, control characters, CR LF), and plain ones.
TEXT = st.one_of(
    st.text(alphabet=st.sampled_from('ab \t\n\r"\\\x00\x1f\x7fé€'), max_size=12),
    st.text(max_size=60),
)
KEY = st.one_of(st.sampled_from(["id", "title", "description", "tags", "x-y_z", "a b", "", 'q"']), st.text(max_size=5))
SCALAR = st.one_of(
    TEXT, st.booleans(), st.integers(), st.floats(allow_nan=False), st.floats(allow_nan=True, allow_infinity=True)
)
VALUE = st.recursive(
    SCALAR,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(KEY, inner, max_size=3), st.lists(st.dictionaries(KEY, inner))
    ),
    max_leaves=4,
)
# A task as a plan has them: strings, lists of strings, numbers, a nested table; sometimes anything at all.
TASK_VALUE = st.one_of(
    TEXT, st.lists(TEXT, max_size=3), st.floats(allow_nan=False), st.dictionaries(KEY, SCALAR, max_size=2), VALUE
)
TABLE = st.dictionaries(KEY, TASK_VALUE, max_size=5)
PLAN = st.fixed_dictionaries(
    {"project": st.dictionaries(KEY, SCALAR, max_size=3), "tasks": st.lists(TABLE, min_size=1, max_size=4)}
)


def same(data: dict[str, Any], multiline: bool) -> str:
    try:
        expected = tomli_w.dumps(data, multiline_strings=multiline)
    except (TypeError, ValueError) as error:
        with pytest.raises(type(error)):
            toml_text.dumps(data, multiline_strings=multiline)
        return ""
    written = toml_text.dumps(data, multiline_strings=multiline)
    assert written == expected
    return written


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(PLAN, st.booleans())
def test_random_plans_are_written_as_tomli_w_writes_them(data: dict[str, Any], multiline: bool) -> None:
    same(data, multiline)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(KEY, VALUE, max_size=4), st.booleans())
def test_random_documents_are_written_as_tomli_w_writes_them(data: dict[str, Any], multiline: bool) -> None:
    same(data, multiline)


def imported_plan(n: int) -> dict[str, Any]:
    """What an import writes: a [project] table and task tables with strings, lists, numbers and metadata."""
    tasks = [
        {
            "id": f"{i}",
            "title": f"Task {i}: build part {i}",
            "parent": f"{i - 1}" if i % 3 else None,
            "description": f"Build part {i}.\nIn two lines, with a tab\tand ünïcode.",
            "priority": "high",
            "dependencies": [f"{j}" for j in range(max(0, i - 2), i)],
            "estimated_hours": 1.5 + i,
            "metadata": {"taskmaster": {"id": i, "tag": "master", "complexity": {"score": 3}}},
        }
        for i in range(1, n + 1)
    ]
    for task in tasks:
        if task["parent"] is None:
            del task["parent"]
    return {"project": {"id": "imported", "name": "Imported", "parallel_max": 4}, "tasks": tasks}


@pytest.mark.parametrize("multiline", [True, False])
def test_an_imported_plan_takes_the_fast_path(multiline: bool) -> None:
    data = imported_plan(40)
    chunks: list[str] = []
    assert toml_text._table(data, "", False, multiline, chunks), "an import's plan went to tomli-w"
    assert "".join(chunks) == same(data, multiline)


def test_what_it_is_not_sure_of_goes_to_tomli_w() -> None:
    short = {"project": {"id": "p"}, "tasks": [{"id": "A", "title": "a"}, {"id": "B", "title": "b"}]}
    assert not toml_text._table(short, "", False, True, [])  # tomli-w writes these inline: `tasks = [ ... ]`
    assert same(short, True).startswith("tasks = [\n    {")
    dated = imported_plan(2)
    dated["tasks"][1]["due"] = datetime.date(2026, 12, 3)
    assert not toml_text._table(dated, "", False, True, [])
    assert "due = 2026-12-03\n" in same(dated, True)


def test_strings_are_escaped_as_tomli_w_escapes_them() -> None:
    data = imported_plan(2)
    data["tasks"][1]["title"] = 'say "hi"\\ \x00\x1f\x7f\b\f\r'
    data["tasks"][1]["description"] = "two\r\nlines\rand a CR"
    for multiline in (True, False):
        assert toml_text._table(data, "", False, multiline, [])
        same(data, multiline)
    assert '"say \\"hi\\"\\\\ \\u0000\\u001f\\u007f\\b\\f\\r"' in same(data, True)
