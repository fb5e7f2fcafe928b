"""Core Kubernetes kinds checked against the real Kubernetes schema, as the API server sees them.

kanaria's pydantic models read only the fields the engine and the platforms use; checking a
Deployment against them alone warned that `imagePullPolicy` and `securityContext` were unknown
and let a `resources.requests` list through to crash a controller. The JSON schemas generated
from Kubernetes' own OpenAPI document, shipped by the `kubernetes-validate` package, say instead
what every field of every core kind is: its type, whether it is required, which fields exist.
`schema_problems` checks a document against the newest schema the package has for its
apiVersion and kind (an apiVersion Kubernetes has since dropped, such as autoscaling/v2beta2,
against the last schema that had it), and reports:

- errors: a wrong type, a missing required field, a number outside its format (`int32`);
- warnings: fields the schema does not know (the API server drops them, or refuses them under
  `kubectl --validate=strict`).

Schemas are read once per process, on first use, and the validators kept.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import jsonschema
from kubernetes_validate import utils as kubernetes_schemas
from referencing import Registry, Resource

SCHEMA_ROOT = "kubernetes-json-schema"
_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)


@dataclass(frozen=True)
class SchemaProblem:
    severity: Literal["error", "warning"]
    path: tuple[str | int, ...]
    message: str


def has_schema(api_version: str, kind: str) -> bool:
    """Whether Kubernetes publishes a schema for this apiVersion and kind (core kinds do)."""
    return _schema_file(api_version, kind) is not None


def schema_problems(document: Mapping[str, Any]) -> list[SchemaProblem]:
    """Every way `document` departs from its kind's schema; [] when it has no schema."""
    validator = _validator(str(document.get("apiVersion")), str(document.get("kind")))
    if validator is None:
        return []
    return [problem for error in validator.iter_errors(dict(document)) for problem in _read(error)]


def _read(error: jsonschema.ValidationError) -> Iterator[SchemaProblem]:
    path = tuple(error.absolute_path)
    if error.validator == "additionalProperties":
        known = set(
            (error.schema.get("properties") or {}) if isinstance(error.schema, dict) else ()
        )
        present = error.instance if isinstance(error.instance, dict) else {}
        for name in sorted(set(present) - known):
            yield SchemaProblem("warning", (*path, name), "unknown field (Kubernetes drops it)")
        return
    yield SchemaProblem("error", path, _message(error))


def _message(error: jsonschema.ValidationError) -> str:
    found = _shown(error.instance)
    if error.validator == "type":
        wanted = [kind for kind in _as_list(error.validator_value) if kind != "null"]
        return f"found {found}, expected {' or '.join(_TYPE_WORDS.get(w, w) for w in wanted)}"
    if error.validator == "required":
        missing = re.match(r"'([^']*)' is a required property", error.message)
        return f"{missing.group(1) if missing else 'a field'} is required"
    if error.validator == "format":
        return f"found {found}, expected an {error.validator_value} number"
    if error.validator == "enum":
        values = error.validator_value if isinstance(error.validator_value, list) else []
        allowed = ", ".join(str(value) for value in values if value is not None)
        return f"found {found}, expected one of {allowed}"
    if error.validator == "oneOf" and isinstance(error.instance, dict | list):
        return f"found {found}, expected a string or a number"
    return str(error.message)


_TYPE_WORDS = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
}


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _as_list(value: Any) -> list[str]:
    return [str(item) for item in value] if isinstance(value, list) else [str(value)]


# ---- the schemas ---------------------------------------------------------------------------


@functools.cache
def _schema_file(api_version: str, kind: str) -> tuple[str, str] | None:
    """(schema version, file name) of the newest schema for this apiVersion and kind."""
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    name = f"{kind.lower()}-{group_version}.json"
    for version in reversed(_versions()):
        try:
            kubernetes_schemas.schema_contents(_path(version, name), version)
        except (FileNotFoundError, kubernetes_schemas.VersionNotSupportedError):
            continue
        return version, name
    return None


@functools.cache
def _versions() -> list[str]:
    return list(dict.fromkeys(kubernetes_schemas.all_versions()))


def _path(version: str, name: str) -> str:
    return f"{SCHEMA_ROOT}/v{version}-local-strict/{name}"


@functools.cache
def _validator(api_version: str, kind: str) -> jsonschema.protocols.Validator | None:
    found = _schema_file(api_version, kind)
    if found is None:
        return None
    version, name = found
    schema = kubernetes_schemas.schema_contents(_path(version, name), version)
    definitions = kubernetes_schemas.schema_contents(_path(version, "_definitions.json"), version)
    registry: Registry[Any] = Resource.from_contents(definitions) @ (
        Resource.from_contents(schema) @ Registry()
    )
    validator_class = jsonschema.validators.Draft202012Validator
    return validator_class(schema, registry=registry, format_checker=_formats())


def _formats() -> jsonschema.FormatChecker:
    checker = jsonschema.FormatChecker(formats=())
    for name, (low, high) in (("int32", _INT32), ("int64", _INT64)):
        checker.checks(name)(_within(low, high))
    return checker


def _within(low: int, high: int) -> Any:
    def check(value: object) -> bool:
        return not isinstance(value, int) or isinstance(value, bool) or low <= value <= high

    return check
