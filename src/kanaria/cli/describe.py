"""kubectl's way of showing objects: ages, aligned tables, `describe` output and its Events.

`kanaria describe canary/podinfo -n test` should read like the end of the seed document, so
this module copies kubectl's rules rather than inventing its own: ages as
`duration.HumanDuration` prints them (`5s`, `2m10s`, `39m`, `3h4m`, `2d5h`), tables aligned
like Go's tabwriter (kubectl's padding: 3 for `get`, 2 for `describe`), objects described field
by field with camelCase keys turned into words (`lastTransitionTime` → `Last Transition
Time`), and Events folded as kubectl folds them: `38m (x2 over 39m)` from the Event's count,
firstTimestamp and lastTimestamp, sorted by lastTimestamp.

Nothing secret reaches the screen: a Secret shows its keys and their sizes in bytes, as
kubectl's Secret describer does, and every other value goes through `redact`, so a webhook URL's
credentials are never printed.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from kanaria.redaction import redact
from kanaria.spec.objects import Object

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
GET_PADDING = 3
GET_MIN_WIDTH = 6
DESCRIBE_PADDING = 2


# ---- time ------------------------------------------------------------------------------------


def parse_time(text: Any) -> datetime | None:
    """An RFC 3339 timestamp as stored (`2026-01-01T10:00:00Z`), or None."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def human_duration(seconds: float) -> str:
    """Kubernetes' `duration.HumanDuration`: what kubectl prints in AGE columns."""
    whole = int(seconds)
    if whole < -1:
        return "<invalid>"
    if whole < 0:
        return "0s"
    if whole < 120:
        return f"{whole}s"
    minutes = whole // 60
    if minutes < 10:
        rest = whole % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    return _hours(whole // 3600, minutes % 60)


def _hours(hours: int, minutes: int) -> str:
    if hours < 8:
        return f"{hours}h{minutes}m" if minutes else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d{hours % 24}h" if hours % 24 else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        years, days = hours // 24 // 365, (hours // 24) % 365
        return f"{years}y{days}d" if days else f"{years}y"
    return f"{hours // 24 // 365}y"


def age(timestamp: Any, now: datetime) -> str:
    moment = parse_time(timestamp)
    return human_duration((now - moment).total_seconds()) if moment else "<unknown>"


# ---- tables ----------------------------------------------------------------------------------


def align(rows: Sequence[Sequence[str]], padding: int, min_width: int = 0) -> list[str]:
    """Go's tabwriter on whole rows: every column but the last padded to its widest cell."""
    if not rows:
        return []
    columns = max(len(row) for row in rows)
    widths = [
        max(min_width, *(len(row[i]) + padding for row in rows if i < len(row) - 1))
        if any(i < len(row) - 1 for row in rows)
        else 0
        for i in range(columns)
    ]
    return [
        "".join(cell.ljust(widths[i]) if i < len(row) - 1 else cell for i, cell in enumerate(row))
        for row in rows
    ]


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A `kubectl get` table."""
    return "\n".join(align([list(header), *rows], GET_PADDING, GET_MIN_WIDTH))


# ---- describe --------------------------------------------------------------------------------

_KUBECTL_ACRONYMS = frozenset({"API", "URL", "UID", "OSB", "GUID"})


def words(key: str) -> str:
    """kubectl's `smartLabelFor`: `lastTransitionTime` → `Last Transition Time`, `apiVersion`
    → `API Version`; keys with digits or punctuation other than '-' stay as written."""
    if any(not char.isalpha() and char != "-" for char in key):
        return key
    parts = re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|-", key) or [key]
    return " ".join(
        part.upper() if part.upper() in _KUBECTL_ACRONYMS else part[:1].upper() + part[1:]
        for part in parts
    )


def align_blocks(rows: Sequence[Sequence[str]], padding: int) -> list[str]:
    """tabwriter's column blocks: a line without a tab (one cell) ends the block above it."""
    lines: list[str] = []
    block: list[Sequence[str]] = []
    for row in [*rows, []]:
        if len(row) > 1:
            block.append(row)
            continue
        lines += align(block, padding)
        block = []
        if row:
            lines.append(row[0])
    return lines


def describe(obj: Object, events: Sequence[Object], now: datetime) -> str:
    """kubectl's generic describe (as for a Canary): name, namespace, labels, annotations, every
    other field sorted by name, then the Events table."""
    metadata = obj.get("metadata") or {}
    rows: list[list[str]] = [["Name:", str(metadata.get("name", ""))]]
    if metadata.get("namespace"):
        rows.append(["Namespace:", str(metadata["namespace"])])
    rows += _mapping_rows("Labels:", metadata.get("labels"))
    rows += _mapping_rows("Annotations:", metadata.get("annotations"), ": ")
    content = {**obj, "metadata": _shown_metadata(metadata)}
    rows += _content_rows(content, 0)
    return "\n".join([*align_blocks(rows, DESCRIBE_PADDING), *events_table(events, now)]) + "\n"


def _shown_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    hidden = ("name", "namespace", "labels", "annotations", "managedFields")
    return {key: value for key, value in metadata.items() if key not in hidden}


def _mapping_rows(title: str, mapping: Any, separator: str = "=") -> list[list[str]]:
    """kubectl's multi-line labels (`app=podinfo`) and annotations (`key: value`)."""
    if not mapping:
        return [[title, "<none>"]]
    pairs = sorted(mapping.items())
    return [
        [title if index == 0 else "", f"{key}{separator}{value}"]
        for index, (key, value) in enumerate(pairs)
    ]


def _content_rows(content: dict[str, Any], level: int) -> list[list[str]]:
    indent = "  " * level
    rows: list[list[str]] = []
    for key in sorted(content):
        value = content[key]
        label = f"{indent}{words(key)}:"
        if isinstance(value, dict):
            rows += [[label], *_content_rows(value, level + 1)]
        elif isinstance(value, list):
            rows += [[label], *_list_rows(value, level + 1)]
        else:
            rows.append([label, _scalar(value)])
    return rows


def _list_rows(items: list[Any], level: int) -> list[list[str]]:
    rows: list[list[str]] = []
    for item in items:
        if isinstance(item, dict):
            rows += _content_rows(item, level)
        else:
            rows.append([f"{'  ' * level}{_scalar(item)}"])
    return rows


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "<nil>" if value is None else redact(str(value))


# ---- Secrets: keys and sizes, never values ---------------------------------------------------


def describe_secret(obj: Object, _events: Sequence[Object], _now: datetime) -> str:
    """kubectl's Secret describer: metadata, type, then each key with its size in bytes."""
    metadata = obj.get("metadata") or {}
    rows: list[list[str]] = [
        ["Name:", str(metadata.get("name", ""))],
        ["Namespace:", str(metadata.get("namespace", ""))],
        *_mapping_rows("Labels:", metadata.get("labels")),
        *_mapping_rows("Annotations:", _safe_annotations(metadata.get("annotations"))),
        [""],
        ["Type:", str(obj.get("type") or "Opaque")],
        [""],
        ["Data"],
        ["===="],
        *([f"{key}:", f"{size} bytes"] for key, size in sorted(secret_sizes(obj).items())),
    ]
    return "\n".join(align_blocks(rows, DESCRIBE_PADDING)) + "\n"


def secret_sizes(obj: Object) -> dict[str, int]:
    """The size in bytes of each of a Secret's values: `data` decoded from base64, `stringData`
    (which a manifest may write and the local store keeps) as UTF-8."""
    sizes = {
        str(key): len(str(value).encode()) for key, value in (obj.get("stringData") or {}).items()
    }
    for key, encoded in (obj.get("data") or {}).items():
        try:
            sizes[str(key)] = len(base64.b64decode(str(encoded), validate=True))
        except binascii.Error:
            sizes[str(key)] = len(str(encoded).encode())
    return sizes


def _safe_annotations(annotations: Any) -> Any:
    # `kubectl apply` keeps the whole manifest, values included, in this annotation.
    if not isinstance(annotations, dict) or LAST_APPLIED not in annotations:
        return annotations
    return {**annotations, LAST_APPLIED: "<redacted: holds the Secret's values>"}


# ---- Deployments, as kubectl's own describer shows them ----------------------------------------


def describe_deployment(obj: Object, events: Sequence[Object], now: datetime) -> str:
    """kubectl's Deployment describer: replicas, strategy, pod template, conditions."""
    metadata, spec = obj.get("metadata") or {}, obj.get("spec") or {}
    status = obj.get("status") or {}
    rows: list[list[str]] = [
        ["Name:", str(metadata.get("name", ""))],
        ["Namespace:", str(metadata.get("namespace", ""))],
        ["CreationTimestamp:", str(metadata.get("creationTimestamp", ""))],
        *_mapping_rows("Labels:", metadata.get("labels")),
        *_mapping_rows("Annotations:", metadata.get("annotations"), ": "),
        ["Selector:", _selector_text((spec.get("selector") or {}).get("matchLabels"))],
        ["Replicas:", _replicas_text(spec, status)],
        *_strategy_rows(spec),
    ]
    lines = align_blocks(rows, DESCRIBE_PADDING)
    lines += ["Pod Template:", *_template_lines(spec.get("template") or {})]
    lines += _conditions_lines(status.get("conditions") or [])
    return "\n".join([*lines, *events_table(events, now)]) + "\n"


def _selector_text(labels: Any) -> str:
    return ",".join(f"{key}={value}" for key, value in (labels or {}).items()) or "<none>"


def _replicas_text(spec: Object, status: Object) -> str:
    desired = spec.get("replicas", 1)
    counts = {key: int(status.get(key) or 0) for key in ("updatedReplicas", "replicas")}
    available = int(status.get("availableReplicas") or 0)
    unavailable = int(status.get("unavailableReplicas") or 0)
    return (
        f"{desired} desired | {counts['updatedReplicas']} updated | {counts['replicas']} total"
        f" | {available} available | {unavailable} unavailable"
    )


def _strategy_rows(spec: Object) -> list[list[str]]:
    strategy = spec.get("strategy") or {}
    kind = str(strategy.get("type", "RollingUpdate"))
    rows = [["StrategyType:", kind], ["MinReadySeconds:", str(spec.get("minReadySeconds", 0))]]
    if kind == "RollingUpdate":
        rolling = strategy.get("rollingUpdate") or {}
        unavailable = rolling.get("maxUnavailable", "25%")
        surge = rolling.get("maxSurge", "25%")
        rows.append(["RollingUpdateStrategy:", f"{unavailable} max unavailable, {surge} max surge"])
    return rows


def _template_lines(template: Object) -> list[str]:
    metadata, pod = template.get("metadata") or {}, template.get("spec") or {}
    rows: list[list[str]] = [
        *_mapping_rows("  Labels:", metadata.get("labels")),
        *_mapping_rows("  Annotations:", metadata.get("annotations"), ": "),
        ["  Containers:"],
    ]
    for container in pod.get("containers") or []:
        rows += _container_rows(container)
    return align_blocks(rows, DESCRIBE_PADDING)


def _container_rows(container: Object) -> list[list[str]]:
    ports = ", ".join(
        f"{port.get('containerPort')}/{port.get('protocol', 'TCP')}"
        for port in container.get("ports") or []
    )
    rows = [[f"   {container.get('name', '')}:"], ["    Image:", str(container.get("image", ""))]]
    rows.append(["    Ports:", ports or "<none>"])
    for field in ("command", "args"):
        if container.get(field):
            rows += [
                [f"    {words(field)}:"],
                *[[f"      {redact(str(word))}"] for word in container[field]],
            ]
    resources = container.get("resources") or {}
    for field in ("limits", "requests"):
        if resources.get(field):
            rows.append([f"    {words(field)}:"])
            rows += [[f"      {key}:", str(value)] for key, value in resources[field].items()]
    for field, label in (("livenessProbe", "Liveness:"), ("readinessProbe", "Readiness:")):
        if container.get(field):
            rows.append([f"    {label}", _probe_text(container[field])])
    env = container.get("env") or []
    rows += [["    Environment:", "<none>"]] if not env else [["    Environment:"]]
    rows += [
        [f"      {var.get('name')}:", redact(str(var.get("value", "<set from a source>")))]
        for var in env
    ]
    return rows


def _probe_text(probe: Object) -> str:
    """`http-get http://:http/healthz delay=5s timeout=5s period=10s #success=1 #failure=3`."""
    if probe.get("exec"):
        action = f"exec [{' '.join(str(w) for w in probe['exec'].get('command') or [])}]"
    elif probe.get("httpGet"):
        get = probe["httpGet"]
        action = f"http-get http://:{get.get('port', '')}{get.get('path', '/')}"
    elif probe.get("tcpSocket"):
        action = f"tcp-socket :{probe['tcpSocket'].get('port', '')}"
    else:
        action = "<unknown>"
    timing = (
        f"delay={probe.get('initialDelaySeconds', 0)}s timeout={probe.get('timeoutSeconds', 1)}s"
        f" period={probe.get('periodSeconds', 10)}s #success={probe.get('successThreshold', 1)}"
        f" #failure={probe.get('failureThreshold', 3)}"
    )
    return f"{action} {timing}"


def _conditions_lines(conditions: Sequence[Object]) -> list[str]:
    if not conditions:
        return []
    rows = [["  Type", "Status", "Reason"], ["  ----", "------", "------"]]
    rows += [
        [f"  {c.get('type', '')}", str(c.get("status", "")), str(c.get("reason", ""))]
        for c in conditions
    ]
    return ["Conditions:", *align(rows, DESCRIBE_PADDING)]


# ---- events ----------------------------------------------------------------------------------


def events_about(events: Iterable[Object], obj: Object) -> list[Object]:
    """The Events whose involvedObject is `obj`, oldest lastTimestamp first."""
    metadata = obj.get("metadata") or {}
    uid = metadata.get("uid")

    def about(event: Object) -> bool:
        involved = event.get("involvedObject") or {}
        same = (involved.get("kind"), involved.get("name")) == (
            obj.get("kind"),
            metadata.get("name"),
        )
        return same and (not uid or not involved.get("uid") or involved.get("uid") == uid)

    return sorted((event for event in events if about(event)), key=_last_seen)


def _last_seen(event: Object) -> tuple[datetime, datetime, int, str]:
    """Sort key: lastTimestamp, then (for events of the same second) the one first seen
    earlier, then the one stored earlier."""
    never = datetime.min.replace(tzinfo=UTC)
    first = parse_time(event.get("firstTimestamp")) or parse_time(event.get("eventTime")) or never
    last = parse_time(event.get("lastTimestamp")) or parse_time(event.get("eventTime")) or first
    metadata = event.get("metadata") or {}
    version = str(metadata.get("resourceVersion", "0"))
    return last, first, int(version) if version.isdigit() else 0, str(metadata.get("name", ""))


def event_interval(event: Object, now: datetime) -> str:
    """kubectl's Age cell: `39m`, or `38m (x2 over 39m)` for an Event seen more than once."""
    first = age(event.get("firstTimestamp") or event.get("eventTime"), now)
    series = event.get("series") or {}
    if series:
        last = age(series.get("lastObservedTime"), now)
        return f"{last} (x{series.get('count', 1)} over {first})"
    count = int(event.get("count") or 1)
    if count > 1:
        return f"{age(event.get('lastTimestamp'), now)} (x{count} over {first})"
    return first


def events_table(events: Sequence[Object], now: datetime) -> list[str]:
    """The `Events:` block at the end of `kubectl describe`."""
    if not events:
        return ["Events:  <none>"]
    rows = [
        ["  Type", "Reason", "Age", "From", "Message"],
        ["  ----", "------", "----", "----", "-------"],
    ]
    for event in events:
        source = (event.get("source") or {}).get("component") or event.get("reportingComponent", "")
        rows.append(
            [
                f"  {event.get('type', '')}",
                str(event.get("reason", "")),
                event_interval(event, now),
                str(source),
                str(event.get("message", "")).strip(),
            ]
        )
    return ["Events:", *align(rows, DESCRIBE_PADDING)]
