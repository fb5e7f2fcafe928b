"""What the API server checks in a body before it stores it: schemas, types, unknown fields.

A cluster refuses `stepWeight: "ten"` in a Canary with 422, drops fields that the CRD's
structural schema does not declare, and with `fieldValidation=Strict` (kubectl's default)
refuses them with 400. Built-in kinds lose fields their Go types lack. An emulator that stores
whatever it is sent lets a manifest pass its tests that `kubectl apply` refuses on a cluster.

CRD bodies are checked against the CRD's `openAPIV3Schema` as apiextensions-apiserver does
(type, nullable, required, enum, pattern, bounds, lengths, int-or-string, preserve-unknown-fields,
additionalProperties). Built-in kinds are pruned against Kubernetes' own schemas, as
`kubernetes-validate` ships them (the same OpenAPI definitions the API server publishes).
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Schema = Mapping[str, Any]
KUBERNETES_VERSION = "1.32.0"
_ALWAYS_KEPT = ("apiVersion", "kind", "metadata")


@dataclass
class Findings:
    """What a check found: invalid values (422) and unknown fields (400 when strict)."""

    causes: list[dict[str, str]] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)

    def invalid(self, path: str, message: str, reason: str = "FieldValueInvalid") -> None:
        self.causes.append({"reason": reason, "message": message, "field": path})


def check_custom(obj: Mapping[str, Any], schema: Schema) -> tuple[dict[str, Any], Findings]:
    """The object as the API server would store it under a CRD's structural schema."""
    findings = Findings()
    pruned = {key: copy.deepcopy(obj[key]) for key in _ALWAYS_KEPT if key in obj}
    properties = schema.get("properties") or {}
    for key, value in obj.items():
        if key in _ALWAYS_KEPT:
            continue
        if key not in properties and not schema.get("x-kubernetes-preserve-unknown-fields"):
            findings.unknown.append(key)
            continue
        kept = _check(value, properties.get(key) or {}, key, findings)
        if kept is not _PRUNED:
            pruned[key] = kept
    for key in schema.get("required") or ():
        if key not in obj:
            findings.invalid(key, "Required value", "FieldValueRequired")
    return pruned, findings


_PRUNED = object()


def _check(value: Any, schema: Schema, path: str, findings: Findings) -> Any:
    if value is None:
        if schema.get("nullable"):
            return None
        return _PRUNED  # nulls of fields that are not nullable are dropped, not refused
    if not schema:
        return copy.deepcopy(value)
    if not _type_matches(value, schema):
        expected = "integer or string" if _int_or_string(schema) else schema.get("type")
        findings.invalid(
            path,
            f"Invalid value: {json.dumps(_json_type(value))}: {path} in body must be of type"
            f" {expected}: {json.dumps(_json_type(value))}",
            "FieldValueTypeInvalid",
        )
        return copy.deepcopy(value)
    _check_value(value, schema, path, findings)
    if isinstance(value, dict):
        return _check_object(value, schema, path, findings)
    if isinstance(value, list):
        items = schema.get("items") or {}
        kept = [
            _check(item, items, f"{path}[{index}]", findings) for index, item in enumerate(value)
        ]
        return [item for item in kept if item is not _PRUNED]
    return value


def _check_object(value: dict[str, Any], schema: Schema, path: str, findings: Findings) -> Any:
    properties = schema.get("properties") or {}
    extra = schema.get("additionalProperties")
    preserve = schema.get("x-kubernetes-preserve-unknown-fields") or schema.get(
        "x-kubernetes-embedded-resource"
    )
    result: dict[str, Any] = {}
    for key, item in value.items():
        if key in properties:
            kept = _check(item, properties[key], f"{path}.{key}", findings)
        elif isinstance(extra, Mapping):
            kept = _check(item, extra, f"{path}.{key}", findings)
        elif extra is True or preserve:
            kept = copy.deepcopy(item)
        else:
            findings.unknown.append(f"{path}.{key}")
            continue
        if kept is not _PRUNED:
            result[key] = kept
    for key in schema.get("required") or ():
        if key not in value:
            findings.invalid(f"{path}.{key}", "Required value", "FieldValueRequired")
    return result


def _check_value(value: Any, schema: Schema, path: str, findings: Findings) -> None:
    shown = json.dumps(value) if not isinstance(value, dict | list) else _json_type(value)
    enum = schema.get("enum")
    if enum is not None and value not in enum:
        supported = ", ".join(json.dumps(item) for item in enum)
        findings.invalid(
            path,
            f"Unsupported value: {shown}: supported values: {supported}",
            "FieldValueNotSupported",
        )
    for problem in _bounds(value, schema, path):
        findings.invalid(path, f"Invalid value: {shown}: {problem}")


def _bounds(value: Any, schema: Schema, path: str) -> list[str]:
    problems = []
    if isinstance(value, str):
        pattern = schema.get("pattern")
        if pattern is not None and not re.search(pattern, value):
            problems.append(f"{path} in body should match '{pattern}'")
        if "minLength" in schema and len(value) < schema["minLength"]:
            problems.append(f"{path} in body should be at least {schema['minLength']} chars long")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            problems.append(f"{path} in body may not be longer than {schema['maxLength']}")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            problems.append(
                f"{path} in body should be greater than or equal to {schema['minimum']}"
            )
        if "maximum" in schema and value > schema["maximum"]:
            problems.append(f"{path} in body should be less than or equal to {schema['maximum']}")
    if isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            problems.append(f"{path} in body should have at least {schema['minItems']} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            problems.append(f"{path} in body should have at most {schema['maxItems']} items")
    return problems


def _int_or_string(schema: Schema) -> bool:
    return bool(schema.get("x-kubernetes-int-or-string"))


def _type_matches(value: Any, schema: Schema) -> bool:
    if _int_or_string(schema):
        return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))
    expected = schema.get("type")
    if expected is None:
        return True
    return _json_type(value) == expected or (
        expected == "number" and _json_type(value) == "integer"
    )


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "integer" if value.is_integer() else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


# -- built-in kinds ------------------------------------------------------------------------


@functools.cache
def builtin_definitions() -> dict[str, Any]:
    """Kubernetes' OpenAPI definitions by name (`io.k8s.api.apps.v1.Deployment`), 1.32."""
    import kubernetes_validate  # noqa: PLC0415  (a dev dependency; imported when first needed)

    folder = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    text = (folder / f"v{KUBERNETES_VERSION}-local-strict" / "_definitions.json").read_text()
    definitions: dict[str, Any] = json.loads(text)["$defs"]
    return definitions


@functools.cache
def builtin_definition_name(group: str, version: str, kind: str) -> str | None:
    """The definition of a built-in kind, found by its `x-kubernetes-group-version-kind`."""
    for name, definition in builtin_definitions().items():
        for gvk in definition.get("x-kubernetes-group-version-kind") or ():
            if (gvk.get("group"), gvk.get("version"), gvk.get("kind")) == (group, version, kind):
                return name
    return None


def prune_builtin(obj: Mapping[str, Any], definition: str) -> tuple[dict[str, Any], Findings]:
    """The object without the fields its kind's Go type lacks (which a cluster drops)."""
    findings = Findings()
    pruned = _prune(obj, builtin_definitions()[definition], "", findings)
    return pruned, findings


def _resolve(schema: Schema) -> Schema:
    while "$ref" in schema:
        schema = builtin_definitions()[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _prune(value: Any, schema: Schema, path: str, findings: Findings) -> Any:
    schema = _resolve(schema)
    if isinstance(value, dict) and "properties" in schema:
        result = {}
        for key, item in value.items():
            where = f"{path}.{key}" if path else key
            if key in schema["properties"]:
                result[key] = _prune(item, schema["properties"][key], where, findings)
            else:
                findings.unknown.append(where)
        return result
    if isinstance(value, dict) and isinstance(schema.get("additionalProperties"), Mapping):
        extra = schema["additionalProperties"]
        return {k: _prune(v, extra, f"{path}.{k}", findings) for k, v in value.items()}
    if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        return [
            _prune(item, schema["items"], f"{path}[{i}]", findings) for i, item in enumerate(value)
        ]
    return copy.deepcopy(value)
