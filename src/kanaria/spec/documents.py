"""Reading manifests: multi-document YAML in, typed resources and a list of every problem out.

`validate` and `apply` both go through `read_documents`, so a manifest is judged the same way
whether it is checked or applied, and *all* its problems are reported at once, each with the
file, the document's index, kind/name, the field path, what was found and what was expected.

A document is judged as a cluster would judge it: core kinds against Kubernetes' own schema
(`kubeschema.py`), every kind against the API server's rules for names, labels, ports and
quantities (`apiserver.py`), then kanaria's models for what kanaria itself reads. Reading is
bounded, since manifests may come from anywhere: a file over `MAX_FILE_BYTES`, nesting deeper
than `MAX_DEPTH` and aliases that expand past `MAX_NODES` are refused, each naming its limit,
before any of it is built; text that is not UTF-8 and a file with no object are errors too.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ValidationError

from kanaria.spec import kubeschema
from kanaria.spec.apiserver import rule_problems
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

# Limits on what is read, each named in its refusal. A Kubernetes object nests about 15 deep.
MAX_FILE_BYTES = 16 * 1024 * 1024
MAX_DEPTH = 100
MAX_NODES = 1_000_000


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
        metadata = self.raw.get("metadata")
        name = metadata.get("name", "?") if isinstance(metadata, dict) else "?"
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
            text = read_manifest_text(Path(path))
        except ManifestUnreadable as exc:
            problems.append(Problem("error", path, None, "", "", str(exc)))
            continue
        result = read_text(text, path)
        if not result.documents and not result.problems:
            result.problems.append(Problem("error", path, None, "", "", "no objects in the file"))
        documents += result.documents
        problems += result.problems
    return ReadResult(documents, problems)


class ManifestUnreadable(Exception):
    """A file that cannot be read as manifest text; the message says why."""


def read_manifest_text(path: Path) -> str:
    """The file's text; ManifestUnreadable when it is missing, too large or not UTF-8."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ManifestUnreadable(f"cannot read: {exc.strerror or exc}") from exc
    if len(data) > MAX_FILE_BYTES:
        raise ManifestUnreadable(f"too large: more than {MAX_FILE_BYTES} bytes (the limit)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ManifestUnreadable(
            f"not UTF-8 text: byte 0x{data[exc.start]:02x} at offset {exc.start}; "
            "manifests are YAML or JSON text"
        ) from exc


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
        loaded = list(yaml.load_all(text, Loader=BoundedLoader))
    except yaml.YAMLError as exc:
        return ReadResult([], [_yaml_problem(exc, source)])
    documents = [
        read_document(raw, source, index) for index, raw in enumerate(loaded) if raw is not None
    ]
    return ReadResult(documents, [problem for doc in documents for problem in doc.problems])


class ManifestTooComplex(yaml.YAMLError):
    """Nesting or alias expansion past the limits; refused before anything is built."""


class BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader with nesting depth and alias expansion bounded (`MAX_DEPTH`,
    `MAX_NODES`): a "billion laughs" document is refused in milliseconds instead of filling
    memory, and deep nesting gets a message instead of a RecursionError."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise ManifestTooComplex(f"nested deeper than {MAX_DEPTH} levels (the limit)")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_document(self, node: yaml.Node) -> Any:
        size, depth = _expansion(node)
        if size > MAX_NODES:
            raise ManifestTooComplex(f"aliases expand to more than {MAX_NODES} values (the limit)")
        if depth > MAX_DEPTH:
            raise ManifestTooComplex(
                f"aliases nest values deeper than {MAX_DEPTH} levels (the limit)"
            )
        return super().construct_document(node)


def _expansion(root: yaml.Node) -> tuple[int, int]:
    """How many values `root` becomes once every alias is copied out, and how deep they nest,
    counted over the shared nodes without copying (and without recursion: aliases can chain)."""
    sizes: dict[int, tuple[int, int]] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    open_nodes: set[int] = set()
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        children = _children(node)
        if children_done:
            open_nodes.discard(id(node))
            size = 1 + sum(sizes[id(child)][0] for child in children)
            depth = 1 + max((sizes[id(child)][1] for child in children), default=0)
            sizes[id(node)] = (min(size, MAX_NODES + 1), depth)
            continue
        if id(node) in open_nodes:
            raise ManifestTooComplex("an alias refers to a value that contains it (a cycle)")
        open_nodes.add(id(node))
        stack.append((node, True))
        stack += [(child, False) for child in children if id(child) not in sizes]
    return sizes[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _yaml_problem(exc: yaml.YAMLError, source: str) -> Problem:
    if isinstance(exc, ManifestTooComplex):
        return Problem("error", source, None, "", "", f"refused: {exc}")
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
    metadata = raw.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        document.problems.append(_problem(document, "metadata", _found_not_mapping(metadata)))
        return document
    if not (metadata or {}).get("name"):
        document.problems.append(
            Problem("error", source, index, kind, "metadata.name", "a name is required")
        )
    for key in ("name", "namespace"):
        value = (metadata or {}).get(key)
        if value is not None and not isinstance(value, str):
            found = f"found {type(value).__name__} {value!r:.40}, expected a string"
            document.problems.append(_problem(document, f"metadata.{key}", found))
    document.problems += _cluster_problems(document)
    model = MODELS.get((api_version, kind))
    if model is None:
        if not kubeschema.has_schema(api_version, kind):
            document.problems.append(_unknown_kind(document, api_version, kind))
        return document
    _check_model(document, model)
    return document


def _cluster_problems(document: Document) -> list[Problem]:
    """What a cluster's API server would refuse (errors) or drop (warnings) in `document`; a
    field with a wrong type is not judged again by the rules."""
    found = [
        Problem(p.severity, document.source, document.index, document.subject,
                format_path(p.path), p.message)
        for p in kubeschema.schema_problems(document.raw)
    ]  # fmt: skip
    wrong = {problem.path for problem in found if problem.severity == "error"}
    for path, message in rule_problems(document.raw):
        if format_path(path) not in wrong:
            found.append(_problem(document, format_path(path), message))
    return found


def _check_model(document: Document, model: type[Resource]) -> None:
    """kanaria's own model of the kind: its checks, and (for kinds without a Kubernetes
    schema) its warnings about unknown fields. Errors at a path already reported are not
    repeated."""
    reported = [problem.path for problem in document.problems if problem.severity == "error"]
    errors = _all_validation_errors(model, document.raw)
    if errors:
        document.problems += [
            problem
            for problem in (_validation_problem(document, error) for error in errors)
            if not _under_any(problem.path, reported)
        ]
        return
    if reported:
        return
    document.resource = model.model_validate(document.raw)
    if kubeschema.has_schema(str(document.raw["apiVersion"]), str(document.raw["kind"])):
        return  # the schema already named every field it does not know
    document.problems += [
        Problem("warning", document.source, document.index, document.subject, path, message)
        for path, message in unknown_fields(document.resource)
    ]


def _under_any(path: str, reported: list[str]) -> bool:
    return any(
        path == earlier or path.startswith((f"{earlier}.", f"{earlier}[")) or earlier == ""
        for earlier in reported
    )


def _problem(document: Document, path: str, message: str) -> Problem:
    return Problem("error", document.source, document.index, document.subject, path, message)


def _found_not_mapping(value: Any) -> str:
    return f"found {type(value).__name__} {value!r:.40}, expected a mapping"


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


def format_path(loc: tuple[Any, ...] | Any) -> str:
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
