"""Server-side Tables: what `kubectl get` prints comes from the API server, not from kubectl.

kubectl asks for `application/json;as=Table;g=meta.k8s.io;v=v1` and prints the columns it gets.
For a custom resource those are the CRD's `additionalPrinterColumns` (Flagger's Status, Weight,
LastTransitionTime for Canaries), or Age when it has none; built-in kinds have
printers of their own. Without Tables, `kubectl get canaries` shows names only.
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

Body = dict[str, Any]
Column = Mapping[str, Any]  # a CRD's printer column: name, type, jsonPath, priority, ...
_NAME_COLUMN = {
    "name": "Name",
    "type": "string",
    "format": "name",
    "description": "Name must be unique within a namespace.",
    "priority": 0,
}
AGE_COLUMN = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}


def wants_table(accept: str) -> bool:
    """True when the client asks for a Table (kubectl get does; other clients do not)."""
    return any("as=Table" in choice for choice in accept.split(","))


def table(
    objects: Sequence[Body], columns: Sequence[Column], resource_version: str, include: str
) -> Body:
    """A meta.k8s.io/v1 Table of `objects` with the Name column and `columns`."""
    definitions = [_NAME_COLUMN] + [_definition(column) for column in columns]
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": definitions,
        "rows": [_row(obj, columns, include) for obj in objects],
    }


def _definition(column: Column) -> Body:
    return {
        "name": column["name"],
        "type": column.get("type", "string"),
        "format": column.get("format", ""),
        "description": column.get("description", ""),
        "priority": column.get("priority", 0),
    }


def _row(obj: Body, columns: Sequence[Column], include: str) -> Body:
    cells = [obj.get("metadata", {}).get("name")] + [_cell(obj, column) for column in columns]
    row: Body = {"cells": cells}
    if include == "Object":
        row["object"] = obj
    elif include != "None":
        row["object"] = {
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": obj.get("metadata", {}),
        }
    return row


def _cell(obj: Body, column: Column) -> Any:
    if "printer" in column:
        return column["printer"](obj)
    found = json_path(obj, column["jsonPath"])
    if found is None:
        return None
    if column.get("type") == "date":
        return age(found)
    if column.get("type", "string") == "string" and not isinstance(found, str):
        return json.dumps(found, separators=(",", ":"))
    return found


def json_path(obj: Any, path: str) -> Any:
    """The value at a simple JSONPath (`.status.phase`, `.spec.ports[0].port`,
    `.status.conditions[?(@.type=="Ready")].status`), or None."""
    value = obj
    for step in re.findall(r"\.([^.\[]+)|\[([^\]]+)\]", path.strip("{}")):
        key, index = step
        if key:
            value = value.get(key) if isinstance(value, Mapping) else None
        elif index.startswith("?(@."):
            found = re.fullmatch(r"\?\(@\.(\w+)\s*==\s*['\"](.*)['\"]\)", index)
            items = value if isinstance(value, list) else []
            matches = [
                i for i in items if found and isinstance(i, Mapping) and i.get(found[1]) == found[2]
            ]
            value = matches[0] if matches else None
        else:
            value = (
                value[int(index)]
                if isinstance(value, list) and -len(value) <= int(index) < len(value)
                else None
            )
        if value is None:
            return None
    return value


def age(timestamp: str, now: datetime.datetime | None = None) -> str:
    """A timestamp as kubectl shows ages: 5s, 3m12s, 2h, 4d."""
    try:
        then = datetime.datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return "<invalid>"
    seconds = int(((now or datetime.datetime.now(datetime.UTC)) - then).total_seconds())
    if seconds < 0:
        return "<invalid>"
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        return f"{minutes}m{seconds % 60}s" if seconds % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    return f"{hours}h" if hours < 48 else f"{hours // 24}d"


# -- built-in kinds (the printers kube-apiserver has for the kinds kanaria uses) ------------


def _printer(name: str, function: Callable[[Body], Any], **extra: Any) -> Body:
    return {"name": name, "type": "string", "printer": function, **extra}


def _ready(obj: Body) -> str:
    return (
        f"{obj.get('status', {}).get('readyReplicas', 0)}/{obj.get('spec', {}).get('replicas', 1)}"
    )


def _ports(obj: Body) -> str:
    ports = obj.get("spec", {}).get("ports") or []
    shown = [f"{p.get('port')}/{p.get('protocol', 'TCP')}" for p in ports]
    return ",".join(shown) or "<none>"


def _reference(obj: Body) -> str:
    target = obj.get("spec", {}).get("scaleTargetRef") or {}
    return f"{target.get('kind')}/{target.get('name')}"


def _involved(obj: Body) -> str:
    involved = obj.get("involvedObject") or {}
    return f"{str(involved.get('kind', '')).lower()}/{involved.get('name')}"


def _last_seen(obj: Body) -> str:
    when = (
        obj.get("lastTimestamp") or obj.get("eventTime") or obj["metadata"].get("creationTimestamp")
    )
    return age(str(when)) if when else "<unknown>"


BUILTIN_COLUMNS: dict[str, list[Body]] = {
    "apps/v1/deployments": [
        _printer("Ready", _ready),
        _printer("Up-to-date", lambda o: o.get("status", {}).get("updatedReplicas", 0)),
        _printer("Available", lambda o: o.get("status", {}).get("availableReplicas", 0)),
        AGE_COLUMN,
    ],
    "v1/services": [
        _printer("Type", lambda o: o.get("spec", {}).get("type", "ClusterIP")),
        _printer("Cluster-IP", lambda o: o.get("spec", {}).get("clusterIP", "<none>")),
        _printer("External-IP", lambda o: "<none>"),
        _printer("Port(s)", _ports),
        AGE_COLUMN,
    ],
    "autoscaling/v2/horizontalpodautoscalers": [
        _printer("Reference", _reference),
        _printer("MinPods", lambda o: o.get("spec", {}).get("minReplicas", 1)),
        _printer("MaxPods", lambda o: o.get("spec", {}).get("maxReplicas")),
        _printer("Replicas", lambda o: o.get("status", {}).get("currentReplicas", 0)),
        AGE_COLUMN,
    ],
    "v1/namespaces": [
        _printer("Status", lambda o: o.get("status", {}).get("phase", "Active")),
        AGE_COLUMN,
    ],
    "v1/configmaps": [_printer("Data", lambda o: len(o.get("data") or {})), AGE_COLUMN],
    "v1/events": [
        _printer("Last Seen", _last_seen),
        _printer("Type", lambda o: o.get("type", "")),
        _printer("Reason", lambda o: o.get("reason", "")),
        _printer("Object", _involved),
        _printer("Message", lambda o: o.get("message", "")),
    ],
}
