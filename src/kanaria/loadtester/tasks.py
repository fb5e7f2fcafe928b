"""Webhook payloads and the tasks they ask for, read once with a reason for every refusal.

Flagger (and kanaria's webhook client) post `{name, namespace, phase, checksum, metadata}`; the
metadata says which task to run. A payload the load tester cannot run must be answered with 400
and a reason, because that reason ends up in the canary's events.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from kanaria.errors import ConfigError

# Task types of Flagger's load tester that kanaria's does not run; named in the 400 answer.
UNSUPPORTED_TYPES = frozenset({"helm", "helmv3", "kubectl", "concord", "ngrinder"})


class PayloadError(ConfigError):
    """A request body the load tester cannot act on; the message is the 400 answer."""


class TaskKind(StrEnum):
    """`cmd` runs in the background (answered 202 at once); `bash` blocks until done."""

    CMD = "cmd"
    BASH = "bash"


@dataclass(frozen=True)
class Payload:
    name: str = ""
    namespace: str = ""
    phase: str = ""
    checksum: str = ""
    metadata: Mapping[str, str] | None = None

    @property
    def canary(self) -> str:
        """The key of the canary, `<name>.<namespace>`, as Flagger's load tester keys gates."""
        return f"{self.name}.{self.namespace}"


@dataclass(frozen=True)
class Task:
    canary: str
    kind: TaskKind
    command: str
    log_output: bool = False
    return_output: bool = False


def parse_payload(body: bytes) -> Payload:
    """The payload in a request body; raises PayloadError saying what is wrong with it."""
    try:
        document = json.loads(body or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PayloadError(f"request body is not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise PayloadError("request body must be a JSON object with name, namespace and metadata")
    return Payload(
        name=_text(document, "name"),
        namespace=_text(document, "namespace"),
        phase=_text(document, "phase"),
        checksum=_text(document, "checksum"),
        metadata=_metadata(document.get("metadata")),
    )


def task_from_payload(payload: Payload) -> Task:
    """The task that the payload's metadata asks for; raises PayloadError when there is none."""
    if not payload.metadata:
        raise PayloadError("metadata is missing; it must hold at least cmd")
    kind = _kind(payload.metadata.get("type", ""))
    command = payload.metadata.get("cmd", "").strip()
    if not command:
        raise PayloadError(f"metadata.cmd is missing or empty for a {kind} task")
    return Task(
        canary=payload.canary,
        kind=kind,
        command=command,
        log_output=payload.metadata.get("logCmdOutput") == "true",
        return_output=payload.metadata.get("returnCmdOutput") == "true",
    )


def _kind(type_name: str) -> TaskKind:
    if not type_name:
        return TaskKind.CMD
    try:
        return TaskKind(type_name)
    except ValueError:
        known = ", ".join(kind.value for kind in TaskKind)
        if type_name in UNSUPPORTED_TYPES:
            raise PayloadError(
                f"task type {type_name!r} is not supported by this load tester; use one of {known}"
            ) from None
        raise PayloadError(f"unknown task type {type_name!r}; known types: {known}") from None


def _text(document: Mapping[str, Any], key: str) -> str:
    value = document.get(key, "")
    if not isinstance(value, str):
        raise PayloadError(f"{key} must be a string, found {json.dumps(value)}")
    return value


def _metadata(value: Any) -> dict[str, str] | None:
    # Flagger's metadata is map[string]string; scalars are accepted in their JSON spelling so a
    # hand-written `"logCmdOutput": true` works, nested values are refused.
    if value is None:
        return None
    if not isinstance(value, dict):
        raise PayloadError("metadata must be an object of strings")
    metadata: dict[str, str] = {}
    for key, item in value.items():
        if isinstance(item, dict | list):
            raise PayloadError(f"metadata.{key} must be a string, found {json.dumps(item)}")
        metadata[key] = item if isinstance(item, str) else json.dumps(item)
    return metadata
