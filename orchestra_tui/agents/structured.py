"""Structured output: the JSON Schema an answer must follow, in the form each provider's API accepts.

A request with ``response_schema`` set (``orchestra plan`` / ``expand``) asks the provider to constrain the
answer to that schema where its API can: OpenAI Chat ``response_format`` (``json_schema``), the Responses API
``text.format``, Anthropic a forced tool whose ``input_schema`` is the schema (the tool's input streams as
the answer), Gemini ``responseSchema`` (an OpenAPI subset: no ``$ref``, ``nullable`` instead of a null type),
Ollama ``format``. ``strict`` stays off: the schema keeps optional fields, which strict mode forbids. Agents
without it (``cli``, ``http``, ``shell``) get the same schema in the prompt and answer in a fenced block.
"""

from __future__ import annotations

from typing import Any

SCHEMA_NAME = "orchestra_tasks"
_GEMINI_KEYS = frozenset(
    {"type", "format", "description", "nullable", "enum", "items", "properties", "required", "anyOf", "minItems"}
)
_GEMINI_KEYS |= {"maxItems", "minimum", "maximum", "propertyOrdering"}


def inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with every local ``#/$defs/NAME`` reference replaced by its definition and ``$defs`` dropped
    (some servers resolve no references; the task schema has no recursive ones)."""
    definitions = schema.get("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                target = resolve(definitions[ref.removeprefix("#/$defs/")])
                return {**target, **{k: resolve(v) for k, v in node.items() if k != "$ref"}}
            return {k: resolve(v) for k, v in node.items() if k != "$defs"}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


def gemini_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Gemini's ``responseSchema`` form of a JSON Schema: references inlined, ``anyOf [X, null]`` as a nullable X,
    and only the keys Gemini's OpenAPI subset accepts (``title``, ``default``, ``pattern``... dropped)."""

    def convert(node: Any) -> Any:
        if not isinstance(node, dict):
            return node
        options = node.get("anyOf")
        if isinstance(options, list):
            kept = [option for option in options if option.get("type") != "null"]
            if len(kept) == 1:
                merged = {**{k: v for k, v in node.items() if k != "anyOf"}, **kept[0]}
                return {**convert(merged), "nullable": True} if len(kept) < len(options) else convert(merged)
        result: dict[str, Any] = {}
        for key, value in node.items():
            if key not in _GEMINI_KEYS or (key == "required" and "properties" in node):
                continue
            if key == "properties":
                children = {name: convert(child) for name, child in value.items()}
                result[key] = {name: child for name, child in children.items() if "type" in child or "anyOf" in child}
                if "required" in node:
                    result["required"] = [name for name in node["required"] if name in result[key]]
            elif key == "items":
                result[key] = convert(value)
            elif key == "anyOf":
                result[key] = [convert(option) for option in value]
            else:
                result[key] = value
        if result.get("type") == "object" and not result.get("properties"):
            result.pop("type")  # a free-form object (``metadata``) has no Gemini form: its property is left out
        return result

    converted: dict[str, Any] = convert(inline_refs(schema))
    return converted
