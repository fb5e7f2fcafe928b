"""A Kubernetes API server for integration tests: kmock's emulator with the server's semantics.

Stock kmock stores objects and serves discovery, but it lacks what an operator relies on:
server-managed metadata, optimistic concurrency, status and scale subresources, patch types,
selectors, resumable watches and garbage collection (`reference/k8s-emulator.md` lists each gap),
and what real kubectl relies on: core discovery, OpenAPI, Tables, JSON watch streams, CRD
schemas. Without them kopf cannot add finalizers and mixes up objects, kubectl cannot apply, and
tests pass that a cluster would fail. This subclass keeps kmock's URL parsing, discovery and
request log, and its object view (`emulator.objects[...]` with a bounded history); it answers
every resource request itself from an index by resource and namespace, so a request costs the
same with 10 objects or 10,000. It also lets tests inject API faults and fake the Deployment
controller (see `deployments.py`).
"""

import asyncio
import bisect
import collections
import copy
import datetime
import json
import re
import uuid
import warnings
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Mapping
from types import TracebackType
from typing import Any

import aiohttp.web
import attrs
import kmock
from kmock._internal import apps, enums, rendering

from tests.support.k8s import definitions, openapi, patches, schemas, selectors, tables, urls
from tests.support.k8s.deployments import DeploymentController
from tests.support.k8s.router_crds import ROUTER_RESOURCES

urls.install()

Key = tuple[kmock.resource, str | None, str]
Body = dict[str, Any]
Event = dict[str, Any]

NAMESPACES = kmock.resource("", "v1", "namespaces")
DEPLOYMENTS = kmock.resource("apps", "v1", "deployments")
CRDS = kmock.resource("apiextensions.k8s.io", "v1", "customresourcedefinitions")
_VERBS = {"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}
_REASONS = {400: "BadRequest", 404: "NotFound", 405: "MethodNotAllowed", 409: "Conflict"}
_REASONS |= {410: "Expired", 415: "UnsupportedMediaType", 422: "Invalid", 429: "TooManyRequests"}
_REASONS |= {406: "NotAcceptable", 500: "InternalError", 503: "ServiceUnavailable"}
_LONGEST_WATCH = 1800.0  # seconds; the API server's --min-request-timeout ends watches too
_JSON = "application/json"

# Kinds declared by name only (served with a CRD that keeps every field, and no columns);
# a CRD manifest in definitions.CUSTOM_RESOURCE_DEFINITIONS can say more.
CUSTOM_RESOURCES: dict[str, kmock.ResourceInfo] = dict(ROUTER_RESOURCES)


def error(status: int, message: str, reason: str = "", **details: Any) -> kmock.KubernetesError:
    """An API error as the server would phrase it: a Status with a code, a reason, a message."""
    reason = reason or _REASONS.get(status, "InternalError")
    details = details or {"causes": []}  # kmock would put its own traceback in empty details
    return kmock.KubernetesError(status=status, reason=reason, message=message, details=details)


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _essence(obj: Mapping[str, Any]) -> dict[str, Any]:
    """What `generation` counts: everything but metadata and status."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


def _verb(request: rendering.Request) -> str:
    if request.method == enums.method.GET:
        watched = request.action == enums.action.WATCH
        return "watch" if watched else "get" if request.name else "list"
    if request.method == enums.method.DELETE:
        return "delete" if request.name else "deletecollection"
    return {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(request.method.value, "")


def _version_rank(version: str) -> tuple[int, int, int]:
    """Order API versions as the API server prefers them: v2 > v1 > v1beta2 > v1beta1 > v1alpha1."""
    found = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
    if found is None:
        return (-1, 0, 0)
    stage = {"alpha": 0, "beta": 1, None: 2}[found[2]]
    return (stage, int(found[1]), int(found[3] or 0))


def _header(request: rendering.Request, name: str) -> str:
    found = [v for k, v in request.headers.items() if k.lower() == name.lower()]
    return found[0].split(";")[0].strip().lower() if found else ""


def _dumps(body: Any) -> str:
    return json.dumps(body, separators=(",", ":"))


@attrs.define
class Fault:
    """An injected API failure: answers `times` matching requests (None: all) with `status`."""

    verb: str
    resource: kmock.resource
    status: int
    times: int | None
    name: str | None = None
    namespace: str | None = None
    subresource: str | None = None
    hits: int = 0

    def matches(self, verb: str, request: rendering.Request) -> bool:
        exhausted = self.times is not None and self.hits >= self.times
        return bool(
            not exhausted
            and self.verb in ("*", verb)
            and request.resource is not None
            and self.resource.check(request.resource)
            and self.name in (None, request.name)
            and self.namespace in (None, request.namespace)
            and self.subresource in (None, request.subresource)
        )


@attrs.define
class _WatchLog:
    """One resource's recent events, for watches that resume from a resourceVersion."""

    changed: asyncio.Condition
    events: list[tuple[int, Event]] = attrs.field(factory=list)
    compacted: int = 0  # events up to this revision are gone: resuming before it is 410 Gone


@attrs.define(kw_only=True)
class KubernetesEmulator(kmock.KubernetesEmulator):
    """kmock's emulator with the API server's write, list, watch and kubectl semantics."""

    history_limit: int = 32  # versions kept per object in `emulator.objects[...].history`
    event_log_limit: int = 10_000  # watch events kept per resource (older resumes: 410 Gone)
    request_log_limit: int = 1_000  # requests kept in kmock's request log

    _revision: int = attrs.field(default=0, init=False)
    _index: dict[kmock.resource, dict[str | None, dict[str, Body]]] = attrs.field(
        factory=lambda: collections.defaultdict(dict), init=False
    )
    _logs: dict[kmock.resource, _WatchLog] = attrs.field(factory=dict, init=False)
    _faults: list[Fault] = attrs.field(factory=list, init=False)
    _tasks: set[asyncio.Task[None]] = attrs.field(factory=set, init=False)
    _builtins: frozenset[kmock.resource] = attrs.field(default=frozenset(), init=False)
    _custom: dict[kmock.resource, definitions.ServedVersion] = attrs.field(factory=dict, init=False)
    _openapi: openapi.OpenApi = attrs.field(init=False)
    _ending: bool = attrs.field(default=False, init=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        with warnings.catch_warnings():  # kmock 0.8 reads its bundle with a deprecated call
            warnings.simplefilter("ignore", DeprecationWarning)
            self.resources.load_bundled()
        self._builtins = frozenset(kmock.resource(key) for key in self.resources)
        for resource, info in CUSTOM_RESOURCES.items():
            self._serve_crd(definitions.crd_from_info(kmock.resource(resource), info))
        for crd in definitions.CUSTOM_RESOURCE_DEFINITIONS:
            self._serve_crd(crd)
        self._openapi = openapi.OpenApi(self.resources, self._custom)
        self._serve_discovery_with_trailing_slashes()
        self.fallback["get /openapi/v3"] << self._serve_openapi_v3_index
        self.fallback["get", re.compile(r"/openapi/v3/.+")] << self._serve_openapi_v3

    def _serve_discovery_with_trailing_slashes(self) -> None:
        """kubernetes-asyncio asks `/apis/`, `/api/`, `/version/`; kmock knows them without `/`."""
        self.fallback["get", re.compile(r"/apis/[^/]+/[^/]+/")] << self._serve_version
        self.fallback["get", re.compile(r"/apis/[^/]+/")] << self._serve_group
        self.fallback["get", re.compile(r"/api/[^/]+/")] << self._serve_version
        self.fallback["get /version/"] << self._serve_server_version
        self.fallback["get /apis/"] << self._serve_apis
        self.fallback["get /api/"] << self._serve_api

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await super().__aexit__(exc_type, exc_value, traceback)

    # -- what tests call -------------------------------------------------------------------

    def inject(
        self,
        verb: str,
        resource: str,
        *,
        status: int = 500,
        times: int | None = 1,
        name: str | None = None,
        namespace: str | None = None,
        subresource: str | None = None,
    ) -> Fault:
        """Fail the next `times` requests (`None`: all) of a verb on a resource with `status`.

        `verb` is an API verb (get, list, watch, create, update, patch, delete,
        deletecollection) or `*`; `resource` is as kmock reads it: `deployments`,
        `apps/v1/deployments`, `canaries.flagger.app`. Nothing is written when a fault hits.
        """
        if verb != "*" and verb not in _VERBS:
            raise ValueError(f"unknown verb {verb!r}; known: {sorted(_VERBS)}")
        fault = Fault(verb, kmock.resource(resource), status, times, name, namespace, subresource)
        self._faults.append(fault)
        return fault

    def deployment_controller(self, rollout_delay: float = 0.2) -> DeploymentController:
        """Start writing Deployment status as kube-controller-manager would; see deployments.py."""
        controller = DeploymentController(self, rollout_delay=rollout_delay)
        self.spawn(controller.run())
        return controller

    async def create_object(self, resource: str, body: Body, namespace: str | None = None) -> Body:
        """Create an object as a POST would, without going through HTTP."""
        async with self._lock:
            created, _ = self._create(self._known(kmock.resource(resource)), namespace, body, "")
            return created

    def get_object(self, resource: str, namespace: str | None, name: str) -> Body | None:
        """The object's current body, or None if it does not exist."""
        obj = self._lookup((kmock.resource(resource), namespace, name))
        return None if obj is None else copy.deepcopy(obj)

    def count_objects(self, resource: str, namespace: str | None = None) -> int:
        """How many objects of a resource exist (in one namespace, or in all)."""
        return sum(1 for _ in self._live(kmock.resource(resource), namespace))

    async def write_status(
        self, resource: kmock.resource, namespace: str | None, name: str, status: Body
    ) -> Body:
        """Replace an object's status as a controller would (no precondition)."""
        async with self._lock:
            current = self._current((resource, namespace, name))
            new = {**current, "status": status}
            return self._update((resource, namespace, name), new, "status")[0]

    async def follow(
        self,
        resource: kmock.resource,
        since: str | None = None,
        deadline: float | None = None,
        *,
        bookmark: bool = False,
        namespace: str | None = None,
    ) -> AsyncIterator[Event]:
        """Watch events of a resource: after revision `since`, or the current objects then on.

        With `bookmark`, a BOOKMARK marks the end of the current objects (`sendInitialEvents`).
        Ends at the event loop time `deadline`, or only when cancelled if it is None. A `since`
        older than the events kept yields one ERROR event (410 Gone), as the API server does.
        """
        log = self._log(resource)
        async with self._lock:
            if since in (None, "", "0"):
                position, initial = self._revision, self._snapshot(resource, namespace, bookmark)
            else:
                position, initial = self._parse_revision(since), []
                if position < log.compacted:
                    initial = [self._expired(position, log.compacted)]
        for event in initial:
            yield event
        if initial and initial[-1]["type"] == "ERROR":
            return
        loop = asyncio.get_running_loop()
        while not self._ending and (deadline is None or loop.time() < deadline):
            batch = await self._events_after(log, position, deadline)
            for position, event in batch:  # noqa: B007  (the last position starts the next batch)
                yield event

    async def end_watches(self) -> None:
        """End every watch, as an API server does when it shuts down; new ones end at once."""
        async with self._lock:
            self._ending = True
            for log in self._logs.values():
                log.changed.notify_all()

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run a background job (a controller, garbage collection) until the emulator exits."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- request handling --------------------------------------------------------------------

    async def _handle(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        if len(self._requests) > self.request_log_limit:
            del self._requests[: -self.request_log_limit // 2]
        if request.url.path == "/openapi/v2":
            return self._serve_openapi_v2(request)
        if request.resource is None or request.resource.plural is None:
            # discovery, OpenAPI, and whatever a test declared with kmock's DSL
            return await apps.RawHandler._handle(self, request)
        try:
            return await self._serve(request)
        except kmock.KubernetesError as exc:
            return await self._render_error(exc)

    async def _serve(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        self._raise_injected_fault(request)
        resource = self._known(request.resource)
        verb = _verb(request)
        if verb == "watch":
            return await self._stream_watch(request, resource)
        warned: list[str] = []
        if verb == "get":
            body = self._fetch(request, resource)
        elif verb == "list":
            body = self._list(request, resource)
        else:
            async with self._lock:
                body, warned = self._write(request, resource)
        status = 201 if verb == "create" else 200
        if verb in ("get", "list") and tables.wants_table(_header_raw(request, "Accept")):
            body = self._as_table(request, resource, body)
        headers = {"Content-Type": _JSON}
        if warned:
            headers["Warning"] = ", ".join(f'299 - "{w}"' for w in warned)
        return aiohttp.web.Response(text=_dumps(body), status=status, headers=headers)

    def _raise_injected_fault(self, request: rendering.Request) -> None:
        verb = _verb(request)
        for fault in self._faults:
            if fault.matches(verb, request):
                fault.hits += 1
                message = f"injected fault #{fault.hits} on {verb} {request.resource}"
                raise error(fault.status, message, name=request.name or "")

    def _fetch(self, request: rendering.Request, resource: kmock.resource) -> Body:
        obj = self._current((resource, request.namespace, request.name or ""))
        if request.subresource is None or request.subresource == "status":
            return obj
        if request.subresource == "scale" and self._has(resource, "scale"):
            return self._scale(obj)
        raise error(404, f"the server could not find the subresource {request.subresource}")

    def _list(self, request: rendering.Request, resource: kmock.resource) -> Body:
        matches = self._matcher(request)
        items = [obj for obj in self._live(resource, request.namespace) if matches(obj)]
        return self._as_list(resource, items)

    async def _stream_watch(
        self, request: rendering.Request, resource: kmock.resource
    ) -> aiohttp.web.StreamResponse:
        matches = self._matcher(request)
        timeout = float(request.params.get("timeoutSeconds") or _LONGEST_WATCH)
        deadline = asyncio.get_running_loop().time() + min(timeout, _LONGEST_WATCH)
        since = request.params.get("resourceVersion")
        bookmark = request.params.get("sendInitialEvents") == "true"
        as_table = tables.wants_table(_header_raw(request, "Accept"))
        response = aiohttp.web.StreamResponse(headers={"Content-Type": _JSON})
        await response.prepare(request._raw_request)
        events = self.follow(
            resource, since, deadline, bookmark=bookmark, namespace=request.namespace
        )
        first = True
        try:
            async for event in events:
                if event["type"] in ("BOOKMARK", "ERROR") or matches(event["object"]):
                    shown = (
                        self._as_table_event(request, resource, event, first) if as_table else event
                    )
                    first = first and shown is event
                    await response.write(_dumps(shown).encode() + b"\n")
        except ConnectionResetError:  # the client went away
            return response
        await response.write_eof()
        return response

    # -- writes ------------------------------------------------------------------------------

    def _write(
        self, request: rendering.Request, resource: kmock.resource
    ) -> tuple[Body, list[str]]:
        validation = request.params.get("fieldValidation", "Warn")
        if request.method == enums.method.POST and request.name is None:
            return self._create(resource, request.namespace, request.data, validation)
        if request.method == enums.method.DELETE and request.name is None:
            matches = self._matcher(request)
            doomed = [obj for obj in self._live(resource, request.namespace) if matches(obj)]
            keys = [
                (resource, obj["metadata"].get("namespace"), obj["metadata"]["name"])
                for obj in doomed
            ]
            return self._as_list(resource, [self._delete(key) for key in keys]), []
        key = (resource, request.namespace, request.name or "")
        if request.method == enums.method.DELETE:
            return self._delete(key), []
        if request.method not in (enums.method.PUT, enums.method.PATCH):
            raise error(405, f"{request.method.value} is not allowed on {request.url.path}")
        if request.subresource == "scale" and self._has(resource, "scale"):
            updated, warned = self._update(key, self._rescaled(key, request), None)
            return self._scale(updated), warned
        if request.subresource is not None and not self._has(resource, request.subresource):
            raise error(404, f"the server could not find the subresource {request.subresource}")
        new = self._new_body(self._current(key), request)
        return self._update(key, new, request.subresource, validation)

    def _new_body(self, current: Body, request: rendering.Request) -> Body:
        if request.method == enums.method.PUT:
            if not isinstance(request.data, dict):
                raise error(400, "the body of an update must be an object")
            return request.data
        assert request.resource is not None  # a write always names its resource
        custom = request.resource not in self._builtins
        try:
            return patches.apply_patch(
                current, request.data, _header(request, "Content-Type"), custom=custom
            )
        except patches.PatchError as exc:
            raise error(exc.status, exc.message, exc.reason) from exc

    def _rescaled(self, key: Key, request: rendering.Request) -> Body:
        """The object with the replicas of a written Scale (its resourceVersion as precondition)."""
        current = self._current(key)
        scale = self._new_body(self._scale(current), request)
        new = copy.deepcopy(current)
        new.setdefault("spec", {})["replicas"] = scale.get("spec", {}).get("replicas")
        new["metadata"]["resourceVersion"] = scale.get("metadata", {}).get("resourceVersion")
        return new

    def _create(
        self, resource: kmock.resource, namespace: str | None, body: Any, validation: str
    ) -> tuple[Body, list[str]]:
        if not isinstance(body, dict):
            raise error(400, "the body of a create must be an object")
        obj = copy.deepcopy(body)
        meta = obj.setdefault("metadata", {})
        namespace = self._namespace_for(resource, namespace, meta.get("namespace"))
        name = meta.get("name") or self._generated_name(meta.get("generateName"))
        key = (resource, namespace, name)
        if self._lookup(key) is not None:
            raise error(409, f'{resource.plural} "{name}" already exists', name=name)
        meta.update(name=name, uid=str(uuid.uuid4()), creationTimestamp=_now(), generation=1)
        meta.pop("deletionTimestamp", None)
        meta.pop("resourceVersion", None)
        if namespace is None:
            meta.pop("namespace", None)
        else:
            meta["namespace"] = namespace
        info = self.resources[resource]
        version = f"{resource.group}/{resource.version}".lstrip("/")
        obj.update(apiVersion=version, kind=info.kind or str(resource.plural).capitalize())
        if self._has(resource, "status"):
            obj.pop("status", None)
        if resource == NAMESPACES:
            obj["status"] = {"phase": "Active"}
        obj, warned = self._admit(resource, obj, validation)
        return self._store(key, obj, "ADDED"), warned

    def _update(
        self, key: Key, new: Body, subresource: str | None, validation: str = "Warn"
    ) -> tuple[Body, list[str]]:
        old = self._current(key)
        precondition = (new.get("metadata") or {}).get("resourceVersion")
        if precondition and precondition != old.get("metadata", {}).get("resourceVersion"):
            raise error(409, self._conflict_message(key), name=key[2])
        if (new.get("metadata") or {}).get("name", key[2]) != key[2]:
            raise error(400, "the name of the object does not match the name in the URL")
        result = self._isolated(key[0], old, copy.deepcopy(new), subresource)
        result, warned = self._admit(key[0], result, validation)
        if _essence(result) != _essence(old):
            result["metadata"]["generation"] = old.get("metadata", {}).get("generation", 1) + 1
        if result == old:
            return old, warned  # a no-op write changes nothing, not even the resourceVersion
        meta = result["metadata"]
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            return self._remove(key, result), warned
        return self._store(key, result, "MODIFIED"), warned

    def _admit(
        self, resource: kmock.resource, obj: Body, validation: str
    ) -> tuple[Body, list[str]]:
        """Check and prune a body as the API server does before storing it (see schemas.py)."""
        info = self.resources[resource]
        served = self._custom.get(resource)
        if served is not None:
            pruned, findings = schemas.check_custom(obj, served.schema)
        else:
            version = resource.version or ""
            definition = schemas.builtin_definition_name(
                resource.group or "", version, info.kind or ""
            )
            if definition is None:
                return obj, []
            pruned, findings = schemas.prune_builtin(obj, definition)
        name = obj.get("metadata", {}).get("name", "")
        if findings.causes:
            raise self._invalid(resource, name, findings.causes)
        unknown = [f'unknown field "{path}"' for path in findings.unknown]
        if unknown and validation == "Strict":
            kind = info.kind
            message = f'{kind} in version "{resource.version}" cannot be handled as a {kind}: '
            raise error(400, message + "strict decoding error: " + ", ".join(unknown))
        return pruned, unknown if validation != "Ignore" else []

    def _invalid(
        self, resource: kmock.resource, name: str, causes: list[dict[str, str]]
    ) -> kmock.KubernetesError:
        kind = self.resources[resource].kind or ""
        qualified = f"{kind}.{resource.group}" if resource.group else kind
        said = [f"{cause['field']}: {cause['message']}" for cause in causes]
        summary = said[0] if len(said) == 1 else "[" + ", ".join(said) + "]"
        message = f'{qualified} "{name}" is invalid: {summary}'
        return error(422, message, name=name, group=resource.group, kind=kind, causes=causes)

    def _isolated(self, resource: kmock.resource, old: Body, new: Body, sub: str | None) -> Body:
        """Keep what a write to this (sub)resource may not change: status, or all but status."""
        old = copy.deepcopy(old)  # the stored version must stay as it was
        if sub == "status":
            result = {**old, "status": new.get("status")}
        else:
            result = {**new, "metadata": dict(new.get("metadata") or {})}
            server_owned = ("uid", "creationTimestamp", "generation", "deletionTimestamp")
            for field in ("name", "namespace", "resourceVersion", *server_owned):
                result["metadata"].pop(field, None)
                if field in old.get("metadata", {}):
                    result["metadata"][field] = old["metadata"][field]
            if self._has(resource, "status"):
                result["status"] = old.get("status")
            result |= {k: old[k] for k in ("apiVersion", "kind") if k in old}
        if result.get("status") is None:
            result.pop("status", None)
        return result

    def _delete(self, key: Key) -> Body:
        obj = self._current(key)
        if not obj.get("metadata", {}).get("finalizers"):
            return self._remove(key)
        if obj["metadata"].get("deletionTimestamp"):
            return obj
        obj = copy.deepcopy(obj)
        obj["metadata"].update(deletionTimestamp=_now(), deletionGracePeriodSeconds=0)
        return self._store(key, obj, "MODIFIED")

    def _remove(self, key: Key, last: Body | None = None) -> Body:
        """Delete for good; watchers see `last` (e.g. without finalizers) or the current body."""
        obj = copy.deepcopy(last or self._current(key))
        self._revision += 1
        obj.setdefault("metadata", {})["resourceVersion"] = str(self._revision)
        resource, namespace, name = key
        del self._index[resource][namespace][name]
        self._objects[key].delete()
        self._trim_history(key)
        self._emit(resource, "DELETED", obj)
        if resource == CRDS:
            self._stop_serving_crd(obj)
        self.spawn(self._collect_garbage())
        return obj

    def _store(self, key: Key, obj: Body, event_type: str) -> Body:
        """Keep `obj` as the object's new version; stored bodies are never changed in place."""
        self._revision += 1
        obj.setdefault("metadata", {})["resourceVersion"] = str(self._revision)
        resource, namespace, name = key
        self._index[resource].setdefault(namespace, {})[name] = obj
        if key in self._objects:
            self._objects[key].history.append(obj)
            self._trim_history(key)
        else:
            self._objects[key] = obj
        self._emit(resource, event_type, obj)
        if resource == CRDS:
            self._serve_crd(obj)
        return obj

    def _trim_history(self, key: Key) -> None:
        history = self._objects[key].history
        if len(history) > self.history_limit:
            del history[: len(history) - self.history_limit]

    def _emit(self, resource: kmock.resource, event_type: str, obj: Body) -> None:
        log = self._log(resource)
        log.events.append((self._revision, {"type": event_type, "object": obj}))
        if len(log.events) > 2 * self.event_log_limit:  # drop in halves: appends stay O(1)
            dropped = len(log.events) - self.event_log_limit
            log.compacted = log.events[dropped - 1][0]
            del log.events[:dropped]
        log.changed.notify_all()  # the caller holds the lock, as a Condition requires

    async def _collect_garbage(self) -> None:
        """Delete objects whose owners are all gone (in the background, as the real GC does)."""
        async with self._lock:
            owned = [
                (
                    (resource, obj["metadata"].get("namespace"), obj["metadata"]["name"]),
                    obj["metadata"],
                )
                for resource in list(self._index)
                for obj in self._live(resource, None)
                if obj["metadata"].get("ownerReferences")
            ]
            uids = {
                obj["metadata"].get("uid") for r in list(self._index) for obj in self._live(r, None)
            }
            for key, meta in owned:
                owners = {ref.get("uid") for ref in meta.get("ownerReferences") or []}
                if owners and not owners & uids and self._lookup(key) is not None:
                    self._delete(key)

    # -- custom resources --------------------------------------------------------------------

    def _serve_crd(self, crd: Mapping[str, Any]) -> None:
        """Serve the versions a CRD declares, as the API server does once it is established."""
        for served in definitions.served_versions(crd):
            self.resources[served.resource] = served.info
            self._custom[served.resource] = served
        if hasattr(self, "_openapi"):
            self._openapi.forget()

    def _stop_serving_crd(self, crd: Mapping[str, Any]) -> None:
        for served in definitions.served_versions(crd):
            self._custom.pop(served.resource, None)
            del self.resources[served.resource]
        self._openapi.forget()

    # -- reads -------------------------------------------------------------------------------

    def _get_resources(self) -> list[kmock.resource]:
        return list(self._resources)  # kmock would scan every stored object on each request

    def _has(self, resource: kmock.resource, subresource: str) -> bool:
        return subresource in self.resources[resource].subresources

    def _known(self, resource: kmock.resource | None) -> kmock.resource:
        if resource is None or resource not in self._resources:
            raise error(404, "the server could not find the requested resource")
        return kmock.resource(resource)

    def _lookup(self, key: Key) -> Body | None:
        resource, namespace, name = key
        return self._index.get(resource, {}).get(namespace, {}).get(name)

    def _current(self, key: Key) -> Body:
        obj = self._lookup(key)
        if obj is None:
            raise error(404, f'{key[0].plural} "{key[2]}" not found', name=key[2])
        return obj

    def _live(self, resource: kmock.resource, namespace: str | None) -> Iterator[Body]:
        by_namespace = self._index.get(resource, {})
        if namespace is not None:
            yield from list(by_namespace.get(namespace, {}).values())
            return
        for objects in list(by_namespace.values()):
            yield from list(objects.values())

    def _log(self, resource: kmock.resource) -> _WatchLog:
        if resource not in self._logs:
            self._logs[resource] = _WatchLog(asyncio.Condition(self._lock))
        return self._logs[resource]

    def _snapshot(
        self, resource: kmock.resource, namespace: str | None, bookmark: bool
    ) -> list[Event]:
        events = [{"type": "ADDED", "object": obj} for obj in self._live(resource, namespace)]
        if bookmark:
            meta: Body = {"resourceVersion": str(self._revision)}
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
            events.append({"type": "BOOKMARK", "object": {"metadata": meta}})
        return events

    @staticmethod
    def _expired(position: int, compacted: int) -> Event:
        message = f"too old resource version: {position} ({compacted})"
        status = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure"}
        return {
            "type": "ERROR",
            "object": {**status, "message": message, "reason": "Expired", "code": 410},
        }

    async def _events_after(
        self, log: _WatchLog, position: int, deadline: float | None
    ) -> list[tuple[int, Event]]:
        def first_new() -> int:
            return bisect.bisect_right(log.events, position, key=lambda entry: entry[0])

        try:
            async with log.changed, asyncio.timeout_at(deadline):
                await log.changed.wait_for(lambda: self._ending or first_new() < len(log.events))
        except TimeoutError:
            return []
        if position < log.compacted:
            return [(self._revision, self._expired(position, log.compacted))]
        return log.events[first_new() :]

    def _matcher(self, request: rendering.Request) -> Callable[[Body], bool]:
        try:
            labels = selectors.label_matcher(request.params.get("labelSelector", ""))
            fields = selectors.field_matcher(request.params.get("fieldSelector", ""))
        except selectors.SelectorError as exc:
            raise error(400, str(exc)) from exc

        def matches(obj: Body) -> bool:
            meta = obj.get("metadata", {})
            return (
                request.namespace in (None, meta.get("namespace"))
                and request.name in (None, meta.get("name"))
                and labels(meta.get("labels") or {})
                and fields(obj)
            )

        return matches

    # -- discovery and OpenAPI -----------------------------------------------------------------

    async def _serve_server_version(self, request: rendering.Request) -> rendering.Payload:
        major, minor, _ = schemas.KUBERNETES_VERSION.split(".")
        return {
            "major": major,
            "minor": minor,
            "gitVersion": f"v{schemas.KUBERNETES_VERSION}",
            "gitTreeState": "clean",
            "platform": "linux/amd64",
        }

    async def _serve_apis(self, request: rendering.Request) -> rendering.Payload:
        groups: dict[str, set[str]] = collections.defaultdict(set)
        for resource in self._resources:
            if resource.group:
                groups[resource.group].add(str(resource.version))
        listed = [self._group(name, versions) for name, versions in sorted(groups.items())]
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": listed}

    async def _serve_group(self, request: rendering.Request) -> rendering.Payload:
        assert request.resource is not None  # kmock routes only group URLs here
        group = request.resource.group
        versions = {str(r.version) for r in self._resources if r.group == group}
        if not group or not versions:
            raise error(404, "the server could not find the requested resource")
        return {"kind": "APIGroup", "apiVersion": "v1", **self._group(str(group), versions)}

    @staticmethod
    def _group(name: str, versions: set[str]) -> Body:
        ordered = sorted(versions, key=_version_rank, reverse=True)
        listed = [{"groupVersion": f"{name}/{v}", "version": v} for v in ordered]
        return {"name": name, "versions": listed, "preferredVersion": listed[0]}

    async def _serve_version(self, request: rendering.Request) -> rendering.Payload:
        assert request.resource is not None  # kmock routes only group/version URLs here
        group, version = request.resource.group or "", request.resource.version
        served = sorted(
            (r for r in self._resources if (r.group or "", r.version) == (group, version)),
            key=lambda r: str(r.plural),
        )
        if not served:
            raise error(404, "the server could not find the requested resource")
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": f"{group}/{version}".lstrip("/"),
            "resources": [entry for r in served for entry in self._discovered(r)],
        }

    def _discovered(self, resource: kmock.resource) -> list[Body]:
        """A resource and its subresources, as `/apis/{group}/{version}` lists them."""
        info = self.resources[resource]
        entry: Body = {
            "name": resource.plural,
            "singularName": info.singular or "",
            "namespaced": bool(info.namespaced),
            "kind": info.kind,
            "verbs": sorted(info.verbs),
        }
        if info.shortnames:
            entry["shortNames"] = sorted(info.shortnames)
        if info.categories:
            entry["categories"] = sorted(info.categories)
        entries = [entry]
        for sub in sorted(info.subresources):
            scale = sub == "scale"
            entries.append(
                {
                    "name": f"{resource.plural}/{sub}",
                    "singularName": "",
                    "namespaced": bool(info.namespaced),
                    "kind": "Scale" if scale else info.kind,
                    "verbs": ["get", "patch", "update"],
                    **({"group": "autoscaling", "version": "v1"} if scale else {}),
                }
            )
        return entries

    async def _serve_openapi_v3_index(self, request: rendering.Request) -> rendering.Payload:
        return self._openapi.index()

    async def _serve_openapi_v3(self, request: rendering.Request) -> rendering.Payload:
        path = request.url.path.removeprefix("/openapi/v3/")
        document = self._openapi.v3(path)
        if document is None:
            raise error(404, f"the server could not find the OpenAPI document {path}")
        return document

    def _serve_openapi_v2(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        if openapi.PROTOBUF_V2 in _header_raw(request, "Accept"):
            encoded = openapi.protobuf_v2(self._openapi.v2())
            headers = {"Content-Type": openapi.PROTOBUF_V2_ANSWER}
            return aiohttp.web.Response(body=encoded, headers=headers)
        return aiohttp.web.json_response(self._openapi.v2(), dumps=_dumps)

    # -- shapes ------------------------------------------------------------------------------

    def _as_list(self, resource: kmock.resource, items: list[Body]) -> Body:
        kind = self.resources[resource].kind or str(resource.plural).capitalize()
        return {
            "apiVersion": f"{resource.group}/{resource.version}".lstrip("/"),
            "kind": f"{kind}List",
            "metadata": {"resourceVersion": str(self._revision)},
            "items": items,
        }

    def _as_table_event(
        self, request: rendering.Request, resource: kmock.resource, event: Event, first: bool
    ) -> Event:
        """A watch event whose object is a one-row Table; columns only in the first one."""
        if event["type"] not in ("ADDED", "MODIFIED", "DELETED"):
            return event
        table = self._as_table(request, resource, event["object"])
        if not first:
            table["columnDefinitions"] = []
        return {**event, "object": table}

    def _as_table(self, request: rendering.Request, resource: kmock.resource, body: Body) -> Body:
        items = body.get("items", [body])
        return tables.table(
            items,
            self._columns(resource),
            str(self._revision),
            request.params.get("includeObject", "Metadata"),
        )

    def _columns(self, resource: kmock.resource) -> list[Mapping[str, Any]]:
        served = self._custom.get(resource)
        if served is not None:
            return list(served.columns) or [tables.AGE_COLUMN]
        name = f"{resource.group}/{resource.version}/{resource.plural}".lstrip("/")
        return tables.BUILTIN_COLUMNS.get(name, [tables.AGE_COLUMN])

    @staticmethod
    def _scale(obj: Body) -> Body:
        labels = obj.get("spec", {}).get("selector", {}).get("matchLabels", {})
        meta = obj["metadata"]
        return {
            "apiVersion": "autoscaling/v1",
            "kind": "Scale",
            "metadata": {
                k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion") if k in meta
            },
            "spec": {"replicas": obj.get("spec", {}).get("replicas", 1)},
            "status": {
                "replicas": obj.get("status", {}).get("replicas", 0),
                "selector": ",".join(f"{k}={v}" for k, v in labels.items()),
            },
        }

    def _namespace_for(
        self, resource: kmock.resource, in_url: str | None, in_body: str | None
    ) -> str | None:
        if self.resources[resource].namespaced is False:
            return None
        if in_url and in_body and in_url != in_body:
            raise error(400, "the namespace of the object does not match the namespace in the URL")
        namespace = in_url or in_body
        if not namespace:
            raise error(400, f"{resource.plural} are namespaced; the request names no namespace")
        if self._lookup((NAMESPACES, None, namespace)) is None:
            raise error(404, f'namespaces "{namespace}" not found', name=namespace)
        return namespace

    @staticmethod
    def _generated_name(prefix: str | None) -> str:
        if not prefix:
            raise error(422, "metadata.name or metadata.generateName is required")
        return prefix + uuid.uuid4().hex[:5]

    @staticmethod
    def _parse_revision(since: str) -> int:
        if not re.fullmatch(r"\d+", since):
            raise error(400, f"invalid resourceVersion {since!r}")
        return int(since)

    def _conflict_message(self, key: Key) -> str:
        return (
            f'Operation cannot be fulfilled on {key[0].plural} "{key[2]}": the object has been'
            " modified; please apply your changes to the latest version and try again"
        )


def _header_raw(request: rendering.Request, name: str) -> str:
    found = [v for k, v in request.headers.items() if k.lower() == name.lower()]
    return found[0] if found else ""
