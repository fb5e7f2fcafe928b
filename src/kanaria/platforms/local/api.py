"""The control plane's HTTP API: how the CLI (and tests, and the demo) reach the object store.

The control plane is one process that owns the SQLite store; everything else talks to it over
loopback HTTP with a bearer token from the state dir, so a `kanaria get` never opens the
database under a running controller. The API is small and JSON throughout:

    GET    /healthz                                   liveness (token needed, like every call)
    GET    /v1/status                                 components and their health
    GET    /v1/config                                 time scale, gateway port, URLs
    GET    /v1/objects?apiVersion&kind[&namespace][&labelSelector=a=b,c=d]     list
    POST   /v1/objects                                create (body: the object)
    GET    /v1/object?apiVersion&kind&namespace&name  read
    PUT    /v1/object                                 replace (body: the object)
    PATCH  /v1/object?apiVersion&kind&namespace&name  JSON merge patch (not status)
    PATCH  /v1/object/status?...                      merge patch of .status
    DELETE /v1/object?...                             delete (a Namespace takes its objects)
    POST   /v1/apply                                  {"objects": [...], "dryRun": bool}
    GET    /v1/watch?kind=apps/v1/Deployment&since=N&within=S   wait for a change
    GET    /v1/logs?namespace&deployment[&tail][&previous]   a replica's output
    GET    /v1/replicas[?namespace]                   running replicas (`kanaria get pods`)

Errors are `{"error": message}` with 400 (bad input), 401, 404, 409 (conflict) or 503.
`apply_manifests` holds apply's rules (all-or-nothing checks, then create-or-update) so they
are tested without a socket.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from aiohttp import web

from kanaria.errors import ConfigError, ConflictError, KanariaError, NotFoundError, TemporaryError
from kanaria.platforms.local.network import Replica
from kanaria.platforms.local.store import SqliteObjects
from kanaria.spec.documents import CLUSTER_SCOPED_KINDS, read_document
from kanaria.spec.objects import (
    NAMESPACE,
    Kind,
    Object,
    ObjectClient,
    kind_of,
    name_of,
    namespace_of,
)

log = logging.getLogger(__name__)

Action = Literal["created", "configured", "unchanged"]
# Checks a whole batch before apply changes anything; returns problems (empty when fine).
Validator = Callable[[Sequence[Object]], Awaitable[list[str]]]
StatusSource = Callable[[], Awaitable[dict[str, Any]]]
LogSource = Callable[[str, str], list[tuple[str, Path]]]
ReplicaSource = Callable[[], Sequence[Replica]]
MAX_WATCH_SECONDS = 60.0
# The largest request body the API reads (413 beyond it); the client refuses larger ones first.
MAX_REQUEST_BYTES = 2**24
MAX_LOG_BYTES = 4 * 1024 * 1024
# Fields that others own once the object exists — the API server (a Service's VIP), an
# autoscaler (a Deployment's replicas): a manifest that leaves them out keeps them, as
# kubectl's apply does, rather than scaling the Deployment back to one replica.
_KEPT_FIELDS: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {
    ("", "Service"): (("spec", "clusterIP"),),
    ("apps", "Deployment"): (("spec", "replicas"),),
}


# ---- apply -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Applied:
    obj: Object
    action: Action

    @property
    def line(self) -> str:
        """kubectl's line: `deployment.apps/podinfo created`."""
        return f"{resource_name(kind_of(self.obj))}/{name_of(self.obj)} {self.action}"


def resource_name(kind: Kind) -> str:
    """kubectl's name for a kind: lower-case kind, then its group (`deployment.apps`)."""
    return f"{kind.kind.lower()}.{kind.group}" if kind.group else kind.kind.lower()


def is_cluster_scoped(obj: Object) -> bool:
    return str(obj.get("kind")) in CLUSTER_SCOPED_KINDS


async def apply_manifests(
    objects: ObjectClient,
    manifests: Sequence[Object],
    validators: Iterable[Validator] = (),
    dry_run: bool = False,
) -> list[Applied]:
    """Create or update each object, or nothing at all if any check fails (ConfigError or
    NotFoundError naming every problem). Namespaces go first."""
    await check_namespaces(objects, manifests)
    problems = [problem for validate in validators for problem in await validate(manifests)]
    if problems:
        raise ConfigError("; ".join(problems))
    ordered = sorted(manifests, key=lambda obj: not is_cluster_scoped(obj))
    if dry_run:
        return [Applied(obj, "unchanged") for obj in ordered]
    return [await _apply_one(objects, obj) for obj in ordered]


async def check_namespaces(objects: ObjectClient, manifests: Sequence[Object]) -> None:
    """kubectl's `namespaces "test" not found`, for every missing namespace, before any write."""
    existing = {name_of(ns) for ns in await objects.list(NAMESPACE, None)}
    existing |= {name_of(obj) for obj in manifests if obj.get("kind") == "Namespace"}
    missing = sorted(
        {namespace_of(obj) for obj in manifests if not is_cluster_scoped(obj)} - existing
    )
    if missing:
        raise NotFoundError(", ".join(f'namespaces "{name}" not found' for name in missing))


async def _apply_one(objects: ObjectClient, manifest: Object) -> Applied:
    kind, namespace, name = kind_of(manifest), namespace_of(manifest), name_of(manifest)
    current = await objects.get(kind, namespace, name)
    if current is None:
        return Applied(await objects.create(manifest), "created")
    desired = _desired(manifest, current)
    if _same(desired, current):
        return Applied(current, "unchanged")
    return Applied(await objects.replace(desired), "configured")


def _desired(manifest: Object, current: Object) -> Object:
    """The manifest as a replacement: its body, labels and annotations; the server's fields
    (uid, status) and the kept ones (`_KEPT_FIELDS`) stay as stored."""
    desired: Object = json.loads(json.dumps(manifest, default=str))
    metadata = desired.setdefault("metadata", {})
    for field in ("labels", "annotations"):
        if field not in metadata and (current.get("metadata") or {}).get(field):
            metadata[field] = {}
    desired.pop("status", None)
    kind = kind_of(manifest)
    for path in _KEPT_FIELDS.get((kind.group, kind.kind), ()):
        _copy_field(current, desired, path)
    return desired


def _copy_field(source: Object, target: Object, path: tuple[str, ...]) -> None:
    value: Any = source
    for part in path:
        value = value.get(part) if isinstance(value, dict) else None
    parent = target
    for part in path[:-1]:
        parent = parent.setdefault(part, {})
    if value is not None and path[-1] not in parent:
        parent[path[-1]] = value


def _same(desired: Object, current: Object) -> bool:
    def body(obj: Object) -> Object:
        return {key: value for key, value in obj.items() if key not in ("metadata", "status")}

    def labels(obj: Object) -> tuple[Any, Any]:
        metadata = obj.get("metadata") or {}
        return (metadata.get("labels") or {}, metadata.get("annotations") or {})

    return body(desired) == body(current) and labels(desired) == labels(current)


async def validate_documents(manifests: Sequence[Object]) -> list[str]:
    """The same checks as `kanaria validate`, for clients that did not run them."""
    return [
        str(problem)
        for index, raw in enumerate(manifests)
        for problem in read_document(raw, "request", index).problems
        if problem.severity == "error"
    ]


# ---- the HTTP server -------------------------------------------------------------------------


class ControlPlaneApi:
    """The aiohttp application and its runner; `start()` returns the URL it listens on."""

    def __init__(
        self,
        objects: SqliteObjects,
        token: str,
        *,
        status: StatusSource,
        config: Mapping[str, Any],
        logs: LogSource,
        replicas: ReplicaSource = tuple,
        validators: Sequence[Validator] = (),
    ) -> None:
        self.objects = objects
        self.token = token
        self.status = status
        self.config = config
        self.logs = logs
        self.replicas = replicas
        self.validators = [validate_documents, *validators]
        self._runner: web.AppRunner | None = None

    def application(self) -> web.Application:
        app = web.Application(
            middlewares=[self._errors, self._authenticate], client_max_size=MAX_REQUEST_BYTES
        )
        app.add_routes(
            [
                web.get("/healthz", self._healthz),
                web.get("/v1/status", self._status),
                web.get("/v1/config", self._config),
                web.get("/v1/objects", self._list),
                web.post("/v1/objects", self._create),
                web.get("/v1/object", self._get),
                web.put("/v1/object", self._replace),
                web.patch("/v1/object", self._patch),
                web.patch("/v1/object/status", self._patch_status),
                web.delete("/v1/object", self._delete),
                web.post("/v1/apply", self._apply),
                web.get("/v1/watch", self._watch),
                web.get("/v1/logs", self._logs),
                web.get("/v1/replicas", self._replicas),
            ]
        )
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._runner = web.AppRunner(self.application(), access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            raise TemporaryError(f"the API cannot listen on {host}:{port}: {exc}") from exc
        bound = self._runner.addresses[0]
        return f"http://{bound[0]}:{bound[1]}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ---- middlewares -------------------------------------------------------------------------

    @web.middleware
    async def _authenticate(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        offered = request.headers.get("Authorization", "")
        if not hmac.compare_digest(offered.encode(), f"Bearer {self.token}".encode()):
            return _error(401, "a valid bearer token is required (see the state dir's token file)")
        return await handler(request)

    @web.middleware
    async def _errors(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        try:
            return await handler(request)
        except NotFoundError as exc:
            return _error(404, str(exc))
        except ConflictError as exc:
            return _error(409, str(exc))
        except ConfigError as exc:
            return _error(400, str(exc))
        except KanariaError as exc:
            return _error(503, str(exc))

    # ---- handlers ----------------------------------------------------------------------------

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def _status(self, request: web.Request) -> web.Response:
        return web.json_response(await self.status())

    async def _config(self, request: web.Request) -> web.Response:
        return web.json_response(dict(self.config))

    async def _list(self, request: web.Request) -> web.Response:
        kind = _kind(request)
        namespace = request.query.get("namespace") or None
        labels = _selector(request.query.get("labelSelector", ""))
        return web.json_response({"items": await self.objects.list(kind, namespace, labels)})

    async def _create(self, request: web.Request) -> web.Response:
        obj = await _object_body(request)
        await check_namespaces(self.objects, [obj])
        await self._validate([obj])
        return web.json_response(await self.objects.create(obj), status=201)

    async def _get(self, request: web.Request) -> web.Response:
        kind, namespace, name = _identity(request)
        found = await self.objects.get(kind, namespace, name)
        if found is None:
            raise NotFoundError(f'{resource_name(kind)} "{name}" not found')
        return web.json_response(found)

    async def _replace(self, request: web.Request) -> web.Response:
        obj = await _object_body(request)
        await self._validate([obj])
        return web.json_response(await self.objects.replace(obj))

    async def _patch(self, request: web.Request) -> web.Response:
        kind, namespace, name = _identity(request)
        patched = await self.objects.patch(kind, namespace, name, await _object_body(request))
        return web.json_response(patched)

    async def _patch_status(self, request: web.Request) -> web.Response:
        kind, namespace, name = _identity(request)
        status = await _object_body(request)
        return web.json_response(await self.objects.patch_status(kind, namespace, name, status))

    async def _delete(self, request: web.Request) -> web.Response:
        kind, namespace, name = _identity(request)
        deleted = await self.objects.delete(kind, namespace, name)
        if deleted and (kind.group, kind.kind) == ("", "Namespace"):
            await self.objects.delete_namespace_contents(name)
        return web.json_response({"deleted": deleted})

    async def _apply(self, request: web.Request) -> web.Response:
        body = await _object_body(request)
        manifests = body.get("objects")
        if not isinstance(manifests, list) or not all(isinstance(m, dict) for m in manifests):
            raise ConfigError('apply wants {"objects": [object, ...]}')
        applied = await apply_manifests(
            self.objects, manifests, self.validators, dry_run=bool(body.get("dryRun"))
        )
        return web.json_response(
            {"results": [{"object": a.obj, "action": a.action, "line": a.line} for a in applied]}
        )

    async def _watch(self, request: web.Request) -> web.Response:
        kinds = [_parse_kind(text) for text in request.query.getall("kind", [])] or None
        since = _number(request, "since", 0.0)
        within = min(_number(request, "within", 30.0), MAX_WATCH_SECONDS)
        revision = await self.objects.changes.wait(kinds, int(since), within)
        return web.json_response({"revision": revision})

    async def _logs(self, request: web.Request) -> web.Response:
        namespace = request.query.get("namespace") or "default"
        deployment = request.query.get("deployment", "")
        tail = int(_number(request, "tail", -1))
        replicas = self.logs(namespace, deployment)
        if not replicas:
            raise NotFoundError(f"no replicas of deployment {namespace}/{deployment} have logs")
        replica, path = replicas[0]
        if request.query.get("previous") in ("1", "true"):
            path = path.with_suffix(".previous.log")
        return web.json_response(
            {"replica": replica, "replicas": [r for r, _ in replicas], "text": _tail(path, tail)}
        )

    async def _replicas(self, request: web.Request) -> web.Response:
        namespace = request.query.get("namespace") or None
        items = [
            replica_json(replica)
            for replica in self.replicas()
            if namespace in (None, replica.namespace)
        ]
        return web.json_response({"items": items})

    async def _validate(self, manifests: Sequence[Object]) -> None:
        problems = [problem for check in self.validators for problem in await check(manifests)]
        if problems:
            raise ConfigError("; ".join(problems))


def replica_json(replica: Replica) -> dict[str, Any]:
    """A replica as the API shows it; the workload runtime's extra fields when it has them."""
    created = getattr(replica, "created_at", None)
    return {
        "namespace": replica.namespace,
        "name": replica.name,
        "workload": replica.workload,
        "ip": replica.ip,
        "ready": replica.ready,
        "pid": replica.pid,
        "labels": dict(replica.labels),
        "phase": str(getattr(replica, "phase", "Running")),
        "restarts": int(getattr(replica, "restarts", 0)),
        "createdAt": created.strftime("%Y-%m-%dT%H:%M:%SZ") if created else None,
    }


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def _object_body(request: web.Request) -> Object:
    try:
        body = await request.json()
    except json.JSONDecodeError as exc:
        raise ConfigError(f"the request body is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise ConfigError("the request body must be a JSON object")
    return body


def _kind(request: web.Request) -> Kind:
    api_version, kind = request.query.get("apiVersion"), request.query.get("kind")
    if not api_version or not kind:
        raise ConfigError("apiVersion and kind are required query parameters")
    return Kind(api_version, kind)


def _identity(request: web.Request) -> tuple[Kind, str, str]:
    name = request.query.get("name")
    if not name:
        raise ConfigError("name is a required query parameter")
    return _kind(request), request.query.get("namespace") or "default", name


def _parse_kind(text: str) -> Kind:
    """`apps/v1/Deployment` or `v1/Event`."""
    api_version, _, kind = text.rpartition("/")
    if not api_version or not kind:
        raise ConfigError(f"kind must read apiVersion/Kind, found {text!r}")
    return Kind(api_version, kind)


def _selector(text: str) -> dict[str, str] | None:
    if not text:
        return None
    pairs = [part.split("=", 1) for part in text.split(",") if part]
    if any(len(pair) != 2 for pair in pairs):
        raise ConfigError(f"labelSelector must read key=value,…, found {text!r}")
    return {key.strip(): value.strip() for key, value in pairs}


def _number(request: web.Request, name: str, default: float) -> float:
    try:
        return float(request.query.get(name, default))
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number") from exc


def _tail(path: Path, lines: int) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(0, size - MAX_LOG_BYTES))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError as exc:
        raise NotFoundError(f"cannot read {path}: {exc.strerror}") from exc
    if lines < 0:
        return text
    kept = text.splitlines(keepends=True)[-lines:] if lines else []
    return "".join(kept)
