"""Reading manifests: multi-document YAML in, typed resources and a list of every problem out.

`validate` and `apply` both go through `read_documents`, so a manifest is judged the same way
whether it is checked or applied, and *all* its problems are reported at once, each with the
file, the document's index, kind/name, the field path, what was found and what was expected.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ValidationError

from kanaria.spec.base import Model, Resource
from kanaria.spec.canary import Canary
from kanaria.spec.kube import (
    ConfigMap,
    Deployment,
    DestinationRule,
    Gateway,
    HorizontalPodAutoscaler,
    Namespace,
    Secret,
    Service,
    VirtualService,
)
from kanaria.spec.templates import AlertProvider, MetricTemplate

ISTIO_VERSIONS = (
    "networking.istio.io/v1alpha3",
    "networking.istio.io/v1beta1",
    "networking.istio.io/v1",
)

# (apiVersion, kind) -> model. One explicit table: a kind not here is stored but not checked.
MODELS: dict[tuple[str, str], type[Resource]] = {
    ("flagger.app/v1beta1", "Canary"): Canary,
    ("flagger.app/v1beta1", "MetricTemplate"): MetricTemplate,
    ("flagger.app/v1beta1", "AlertProvider"): AlertProvider,
    ("apps/v1", "Deployment"): Deployment,
    ("autoscaling/v2", "HorizontalPodAutoscaler"): HorizontalPodAutoscaler,
    ("autoscaling/v2beta2", "HorizontalPodAutoscaler"): HorizontalPodAutoscaler,
    ("v1", "Service"): Service,
    ("v1", "ConfigMap"): ConfigMap,
    ("v1", "Secret"): Secret,
    ("v1", "Namespace"): Namespace,
    **{(version, "Gateway"): Gateway for version in ISTIO_VERSIONS},
    **{(version, "VirtualService"): VirtualService for version in ISTIO_VERSIONS},
    **{(version, "DestinationRule"): DestinationRule for version in ISTIO_VERSIONS},
}
CLUSTER_SCOPED_KINDS = frozenset({"Namespace"})


@dataclass(frozen=True)
class Problem:
    """One thing wrong (or suspicious) in one document."""

    severity: Literal["error", "warning"]
    source: str
    index: int | None
    subject: str
    path: str
    message: str

    def __str__(self) -> str:
        where = self.source if self.index is None else f"{self.source}[{self.index}]"
        subject = f" {self.subject}" if self.subject else ""
        path = f" {self.path}:" if self.path else ""
        return f"{self.severity}: {where}{subject}:{path} {self.message}"


@dataclass
class Document:
    """One YAML document: as written (`raw`) and, when its kind is known and valid, typed."""

    source: str
    index: int
    raw: dict[str, Any]
    resource: Resource | None = None
    problems: list[Problem] = field(default_factory=list)

    @property
    def subject(self) -> str:
        kind = self.raw.get("kind", "?")
        name = (self.raw.get("metadata") or {}).get("name", "?")
        return f"{kind}/{name}"


@dataclass
class ReadResult:
    documents: list[Document]
    problems: list[Problem]

    @property
    def errors(self) -> list[Problem]:
        return [problem for problem in self.problems if problem.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [problem for problem in self.problems if problem.severity == "warning"]


def read_files(paths: list[str]) -> ReadResult:
    """Read and check every document in every file (a directory means its *.yaml files)."""
    documents: list[Document] = []
    problems: list[Problem] = []
    for path in _expand(paths):
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            problems.append(Problem("error", path, None, "", "", f"cannot read: {exc.strerror}"))
            continue
        result = read_text(text, path)
        documents += result.documents
        problems += result.problems
    return ReadResult(documents, problems)


def _expand(paths: list[str]) -> list[str]:
    expanded: list[str] = []
    for path in paths:
        directory = Path(path)
        if directory.is_dir():
            found = sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
            expanded += [str(entry) for entry in found]
        else:
            expanded.append(path)
    return expanded


def read_text(text: str, source: str) -> ReadResult:
    try:
        loaded = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        return ReadResult([], [_yaml_problem(exc, source)])
    documents = [
        read_document(raw, source, index) for index, raw in enumerate(loaded) if raw is not None
    ]
    return ReadResult(documents, [problem for doc in documents for problem in doc.problems])


def _yaml_problem(exc: yaml.YAMLError, source: str) -> Problem:
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
    reason = getattr(exc, "problem", None) or str(exc)
    return Problem("error", source, None, "", "", f"broken YAML at {where}{reason}")


def read_document(raw: Any, source: str, index: int) -> Document:
    if not isinstance(raw, dict):
        problem = Problem(
            "error", source, index, "", "", f"found {type(raw).__name__}, expected a mapping"
        )
        return Document(source, index, {}, problems=[problem])
    document = Document(source, index, raw)
    api_version, kind = raw.get("apiVersion"), raw.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str):
        document.problems.append(
            Problem("error", source, index, "", "", "apiVersion and kind are required")
        )
        return document
    if not (raw.get("metadata") or {}).get("name"):
        document.problems.append(
            Problem("error", source, index, kind, "metadata.name", "a name is required")
        )
    model = MODELS.get((api_version, kind))
    if model is None:
        document.problems.append(_unknown_kind(document, api_version, kind))
        return document
    errors = _all_validation_errors(model, raw)
    if errors:
        document.problems += [_validation_problem(document, error) for error in errors]
        return document
    document.resource = model.model_validate(raw)
    document.problems += [
        Problem("warning", source, index, document.subject, path, message)
        for path, message in unknown_fields(document.resource)
    ]
    return document


def _all_validation_errors(model: type[Resource], raw: dict[str, Any]) -> list[Any]:
    """Every validation error, including checks that pydantic skips after a nested error.

    A model's own checks (e.g. "no strategy") only run once its fields parse; so each round
    removes the fields that failed and validates again, keeping errors not reported before.
    """
    found: list[Any] = []
    candidate = copy.deepcopy(raw)
    for _ in range(_MAX_ROUNDS):
        try:
            model.model_validate(candidate)
        except ValidationError as exc:
            new = [error for error in exc.errors(include_url=False) if not _seen(error, found)]
            if not new:
                break
            found += new
            for error in new:
                _remove(candidate, error["loc"])
        else:
            break
    return found


_MAX_ROUNDS = 5


def _seen(error: Any, found: list[Any]) -> bool:
    # An error under a field already reported is a consequence of removing that field.
    return any(error["loc"][: len(earlier["loc"])] == earlier["loc"] for earlier in found)


def _remove(document: Any, loc: tuple[Any, ...]) -> None:
    path = [part for part in loc if not str(part).startswith(("function-", "literal["))]
    parent = document
    for part in path[:-1]:
        try:
            parent = parent[part]
        except (KeyError, IndexError, TypeError):
            return
    if path and isinstance(parent, dict):
        parent.pop(path[-1], None)
    elif path and isinstance(parent, list) and isinstance(path[-1], int) and path[-1] < len(parent):
        parent.pop(path[-1])


def _unknown_kind(document: Document, api_version: str, kind: str) -> Problem:
    versions = sorted(version for version, known_kind in MODELS if known_kind == kind)
    if versions:
        message = f"found apiVersion {api_version!r}, expected one of {', '.join(versions)}"
        return Problem(
            "error", document.source, document.index, document.subject, "apiVersion", message
        )
    return Problem(
        "warning",
        document.source,
        document.index,
        document.subject,
        "kind",
        f"kanaria does not know kind {kind!r} ({api_version}); it is stored but not checked",
    )


def _validation_problem(document: Document, error: Any) -> Problem:
    path = format_path(error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    if message.startswith("Input should be "):
        message = "expected " + message.removeprefix("Input should be ")
    if error["type"] == "missing":
        message = "a value is required"
    elif error["type"] not in _CUSTOM_TYPES and not isinstance(error.get("input"), dict | list):
        message = f"found {error.get('input')!r}, {message}"
    elif error["type"] == "extra_forbidden":
        message = "unknown field"
    return Problem("error", document.source, document.index, document.subject, path, message)


_CUSTOM_TYPES = frozenset(
    {
        "threshold_range",
        "metric_source",
        "metric_interval",
        "no_strategy",
        "step_weights",
        "duplicate_names",
        "cookie_names",
        "selector",
        "replicas",
        "value_error",
    }
)


def format_path(loc: tuple[Any, ...]) -> str:
    """`('spec', 'analysis', 'metrics', 0, 'interval')` → `spec.analysis.metrics[0].interval`."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif not str(part).startswith(("function-", "literal[")):
            text += f".{part}" if text else str(part)
    return text


def unknown_fields(model: BaseModel, path: str = "") -> list[tuple[str, str]]:
    """Every field present in the YAML that the model does not know, with its path."""
    found = [
        (f"{path}.{key}" if path else key, "unknown field (Flagger's CRD would drop it)")
        for key in (model.model_extra or {})
    ]
    for name, info in type(model).model_fields.items():
        alias = info.alias or name
        found += _unknown_in(getattr(model, name), f"{path}.{alias}" if path else alias)
    return found


def _unknown_in(value: Any, path: str) -> list[tuple[str, str]]:
    if isinstance(value, Model):
        return unknown_fields(value, path)
    if isinstance(value, list):
        return [
            item
            for index, entry in enumerate(value)
            for item in _unknown_in(entry, f"{path}[{index}]")
        ]
    return []
