"""The JSON Schema of ``orchestra.toml``."""

from __future__ import annotations

from typing import Any

from ..models import PlanFile


def plan_schema() -> dict[str, Any]:
    """The JSON Schema of ``orchestra.toml`` (for editors and ``orchestra schema``); tasks are keyed by ``id``."""
    schema = PlanFile.model_json_schema(by_alias=True)
    task = schema.get("$defs", {}).get("TaskSpec", {})
    properties = task.get("properties", {})
    if "task_id" in properties and "id" not in properties:
        rebuilt = {}
        for key, value in properties.items():
            rebuilt["id" if key == "task_id" else key] = value
        task["properties"] = rebuilt
    if "required" in task:
        task["required"] = ["id" if key == "task_id" else key for key in task["required"]]
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
