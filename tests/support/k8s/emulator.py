"""A Kubernetes API server for integration tests: kmock's emulator with the server's semantics.

Stock kmock stores objects and serves discovery, but it lacks what an operator relies on:
server-managed metadata, optimistic concurrency, status and scale subresources, patch types,
selectors, resumable watches and garbage collection (`reference/k8s-emulator.md` lists each gap).
Without them kopf cannot add finalizers and mixes up objects, and tests pass that a cluster would
fail. This subclass keeps kmock's store (`emulator.objects[...]`, history, the request DSL) and
replaces how it writes, lists and watches. It also lets tests inject API faults and fake the
Deployment controller (see `deployments.py`).
"""

import asyncio
import bisect
import collections
import copy
import datetime
import re
import uuid
import warnings
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from types import TracebackType
from typing import Any

import aiohttp.web
import attrs
import kmock
from kmock._internal import apps, enums, rendering

from tests.support.k8s import patches, selectors, urls
from tests.support.k8s.deployments import DeploymentController
from tests.support.k8s.router_crds import ROUTER_RESOURCES

urls.install()

Key = tuple[kmock.resource, str | None, str]
Body = dict[str, Any]
Event = dict[str, Any]

NAMESPACES = kmock.resource("", "v1", "namespaces")
DEPLOYMENTS = kmock.resource("apps", "v1", "deployments")
_VERBS = {"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}
_REASONS = {400: "BadRequest", 404: "NotFound", 405: "MethodNotAllowed", 409: "Conflict"}
_REASONS |= {410: "Gone", 415: "UnsupportedMediaType", 422: "Invalid", 429: "TooManyRequests"}
_REASONS |= {500: "InternalError", 503: "ServiceUnavailable"}
_LONGEST_WATCH = 1800.0  # seconds; the API server's --min-request-timeout ends watches too


def _crd(kind: str, *, status: bool = True, namespaced: bool = True) -> kmock.ResourceInfo:
    verbs = {"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}
    subresources = {"status"} if status else set()
    return kmock.ResourceInfo(
        kind=kind, namespaced=namespaced, verbs=verbs, subresources=subresources
    )


CUSTOM_RESOURCES: dict[str, kmock.ResourceInfo] = {
    "flagger.app/v1beta1/canaries": _crd("Canary"),
    "flagger.app/v1beta1/metrictemplates": _crd("MetricTemplate", status=False),
    "flagger.app/v1beta1/alertproviders": _crd("AlertProvider", status=False),
    "kopf.dev/v1/kopfpeerings": _crd("KopfPeering", status=False),
    "kopf.dev/v1/clusterkopfpeerings": _crd("ClusterKopfPeering", status=False, namespaced=False),
}
for _version in ("v1beta1", "v1alpha3"):
    for _plural, _kind in [
        ("virtualservices", "VirtualService"),
        ("destinationrules", "DestinationRule"),
        ("gateways", "Gateway"),
    ]:
        CUSTOM_RESOURCES[f"networking.istio.io/{_version}/{_plural}"] = _crd(_kind)
CUSTOM_RESOURCES |= ROUTER_RESOURCES


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


def _prefer_stable(group: Body) -> Body:
    """kmock prefers a random version of a group; the API server prefers the most stable one."""
    versions = sorted(group["versions"], key=lambda v: _version_rank(v["version"]), reverse=True)
    return group | {"versions": versions, "preferredVersion": versions[0]}


def _header(request: rendering.Request, name: str) -> str:
    found = [v for k, v in request.headers.items() if k.lower() == name.lower()]
    return found[0].split(";")[0].strip().lower() if found else ""


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


@attrs.define(kw_only=True)
class KubernetesEmulator(kmock.KubernetesEmulator):
    """kmock's emulator with the API server's write, list and watch semantics."""

    _revision: int = attrs.field(default=0, init=False)
    _logs: dict[kmock.resource, list[tuple[int, Event]]] = attrs.field(
        factory=lambda: collections.defaultdict(list), init=False
    )
    _changed: asyncio.Condition = attrs.field(init=False)
    _results: dict[rendering.Request, Body] = attrs.field(factory=dict, init=False)
    _faults: list[Fault] = attrs.field(factory=list, init=False)
    _tasks: set[asyncio.Task[None]] = attrs.field(factory=set, init=False)
    _builtins: frozenset[kmock.resource] = attrs.field(default=frozenset(), init=False)
    _ending: bool = attrs.field(default=False, init=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        with warnings.catch_warnings():  # kmock 0.8 reads its bundle with a deprecated call
            warnings.simplefilter("ignore", DeprecationWarning)
            self.resources.load_bundled()
        self._builtins = frozenset(kmock.resource(key) for key in self.resources)
        for resource, info in CUSTOM_RESOURCES.items():
            self.resources[resource] = info
        self._changed = asyncio.Condition(self._lock)
        self.fallback[kmock.method.DELETE] << self._serve_result  # DELETE of a collection
        self._serve_discovery_with_trailing_slashes()

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
            return self._create(self._known(kmock.resource(resource)), namespace, body)

    def get_object(self, resource: str, namespace: str | None, name: str) -> Body | None:
        """The object's current body, or None if it does not exist."""
        obj = self._lookup((kmock.resource(resource), namespace, name))
        return None if obj is None else copy.deepcopy(obj)

    async def write_status(
        self, resource: kmock.resource, namespace: str | None, name: str, status: Body
    ) -> Body:
        """Replace an object's status as a controller would (no precondition)."""
        async with self._lock:
            current = self._current((resource, namespace, name))
            return self._update(
                (resource, namespace, name), {**current, "status": status}, "status"
            )

    async def follow(
        self,
        resource: kmock.resource,
        since: str | None = None,
        deadline: float | None = None,
        *,
        bookmark: bool = False,
    ) -> AsyncIterator[Event]:
        """Watch events of a resource: after revision `since`, or the current objects then on.

        With `bookmark`, a BOOKMARK marks the end of the current objects (`sendInitialEvents`).
        Ends at the event loop time `deadline`, or only when cancelled if it is None.
        """
        async with self._lock:
            if since in (None, "", "0"):
                position, initial = self._revision, self._snapshot(resource, bookmark)
            else:
                position, initial = self._parse_revision(since), []
        for event in initial:
            yield event
        loop = asyncio.get_running_loop()
        while not self._ending and (deadline is None or loop.time() < deadline):
            batch = await self._events_after(resource, position, deadline)
            for position, event in batch:  # noqa: B007  (the last position starts the next batch)
                yield event

    async def end_watches(self) -> None:
        """End every watch, as an API server does when it shuts down; new ones end at once."""
        async with self._changed:
            self._ending = True
            self._changed.notify_all()

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run a background job (a controller, garbage collection) until the emulator exits."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- request handling --------------------------------------------------------------------

    async def _handle(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        is_object_request = request.resource is not None and request.resource.plural is not None
        if is_object_request:
            self._raise_injected_fault(request)
        if is_object_request and request.method != enums.method.GET:
            async with self._lock:
                self._results[request] = self._write(request)
        try:  # skip kmock.KubernetesEmulator._handle: its writes are what this class replaces
            return await apps.RawHandler._handle(self, request)
        finally:
            self._results.pop(request, None)

    def _raise_injected_fault(self, request: rendering.Request) -> None:
        verb = _verb(request)
        for fault in self._faults:
            if fault.matches(verb, request):
                fault.hits += 1
                message = f"injected fault #{fault.hits} on {verb} {request.resource}"
                raise error(fault.status, message, name=request.name or "")

    async def _serve_result(self, request: rendering.Request) -> rendering.Payload:
        return self._results[request]

    async def _serve_create(self, request: rendering.Request) -> rendering.Payload:
        return rendering.Response(status=201, payload=self._results[request])  # "Created"

    _serve_update = _serve_delete = _serve_result

    async def _serve_fetch(self, request: rendering.Request) -> rendering.Payload:
        resource = self._known(request.resource)
        async with self._lock:
            obj = self._current((resource, request.namespace, request.name or ""))
        if request.subresource is None or request.subresource == "status":
            return obj
        if request.subresource == "scale" and self._has(resource, "scale"):
            return self._scale(obj)
        raise error(404, f"the server could not find the subresource {request.subresource}")

    async def _serve_list(self, request: rendering.Request) -> rendering.Payload:
        resource = self._known(request.resource)
        matches = self._matcher(request)
        async with self._lock:
            items = [obj for _, obj in self._live(resource) if matches(obj)]
            return self._as_list(resource, items)

    async def _serve_watch(self, request: rendering.Request) -> AsyncIterator[rendering.Payload]:
        resource = self._known(request.resource)
        matches = self._matcher(request)
        timeout = float(request.params.get("timeoutSeconds") or _LONGEST_WATCH)
        deadline = asyncio.get_running_loop().time() + min(timeout, _LONGEST_WATCH)
        since = request.params.get("resourceVersion")
        bookmark = request.params.get("sendInitialEvents") == "true"
        yield b""  # send the headers now: a quiet watch is still a watch
        async for event in self.follow(resource, since, deadline, bookmark=bookmark):
            if event["type"] == "BOOKMARK" or matches(event["object"]):
                yield event

    # -- writes ------------------------------------------------------------------------------

    def _write(self, request: rendering.Request) -> Body:
        resource = self._known(request.resource)
        if request.method == enums.method.POST and request.name is None:
            return self._create(resource, request.namespace, request.data)
        if request.method == enums.method.DELETE and request.name is None:
            matches = self._matcher(request)
            doomed = [key for key, obj in self._live(resource) if matches(obj)]
            return self._as_list(resource, [self._delete(key) for key in doomed])
        key = (resource, request.namespace, request.name or "")
        if request.method == enums.method.DELETE:
            return self._delete(key)
        if request.method not in (enums.method.PUT, enums.method.PATCH):
            raise error(405, f"{request.method.value} is not allowed on {request.url.path}")
        if request.subresource == "scale" and self._has(resource, "scale"):
            return self._scale(self._update(key, self._rescaled(key, request), None))
        if request.subresource is not None and not self._has(resource, request.subresource):
            raise error(404, f"the server could not find the subresource {request.subresource}")
        return self._update(key, self._new_body(self._current(key), request), request.subresource)

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

    def _create(self, resource: kmock.resource, namespace: str | None, body: Any) -> Body:
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
        if namespace is None:
            meta.pop("namespace", None)
        else:
            meta["namespace"] = namespace
        info = self.resources[resource]
        version = f"{resource.group}/{resource.version}".lstrip("/")
        obj.update(apiVersion=version, kind=info.kind or str(resource.plural).capitalize())
        if self._has(resource, "status"):
            obj.pop("status", None)
        return self._store(key, obj, "ADDED")

    def _update(self, key: Key, new: Body, subresource: str | None) -> Body:
        old = self._current(key)
        precondition = (new.get("metadata") or {}).get("resourceVersion")
        if precondition and precondition != old.get("metadata", {}).get("resourceVersion"):
            raise error(409, self._conflict_message(key), name=key[2])
        if (new.get("metadata") or {}).get("name", key[2]) != key[2]:
            raise error(400, "the name of the object does not match the name in the URL")
        result = self._isolated(key[0], old, copy.deepcopy(new), subresource)
        if _essence(result) != _essence(old):
            result["metadata"]["generation"] = old.get("metadata", {}).get("generation", 1) + 1
        if result == old:
            return old  # a no-op write changes nothing, not even the resourceVersion
        meta = result["metadata"]
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            return self._remove(key, result)
        return self._store(key, result, "MODIFIED")

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
        self._objects[key].delete()
        self._emit(key[0], "DELETED", obj)
        self.spawn(self._collect_garbage())
        return obj

    def _store(self, key: Key, obj: Body, event_type: str) -> Body:
        self._revision += 1
        obj.setdefault("metadata", {})["resourceVersion"] = str(self._revision)
        if key in self._objects:
            self._objects[key].history.append(obj)
        else:
            self._objects[key] = obj
        self._emit(key[0], event_type, obj)
        return obj

    def _emit(self, resource: kmock.resource, event_type: str, obj: Body) -> None:
        event = {"type": event_type, "object": copy.deepcopy(obj)}
        self._logs[resource].append((self._revision, event))
        self._changed.notify_all()  # the caller holds the lock, as a Condition requires

    async def _collect_garbage(self) -> None:
        """Delete objects whose owners are all gone (in the background, as the real GC does)."""
        async with self._lock:
            metas = [(key, obj.get("metadata", {})) for key, obj in self._live(None)]
            uids = {meta.get("uid") for _, meta in metas}
            for key, meta in metas:
                owners = {ref.get("uid") for ref in meta.get("ownerReferences") or []}
                if owners and not owners & uids:
                    self._delete(key)

    # -- reads -------------------------------------------------------------------------------

    def _has(self, resource: kmock.resource, subresource: str) -> bool:
        return subresource in self.resources[resource].subresources

    def _known(self, resource: kmock.resource | None) -> kmock.resource:
        if resource is None or resource not in self._get_resources():
            raise error(404, "the server could not find the requested resource")
        return kmock.resource(resource)

    def _lookup(self, key: Key) -> Body | None:
        if key not in self._objects or self._objects[key].deleted:
            return None
        return self._objects[key].raw

    def _current(self, key: Key) -> Body:
        obj = self._lookup(key)
        if obj is None:
            raise error(404, f'{key[0].plural} "{key[2]}" not found', name=key[2])
        return obj

    def _live(self, resource: kmock.resource | None) -> list[tuple[Key, Body]]:
        return [
            (key, obj.raw)
            for key, obj in self._objects.items()
            if not obj.deleted and resource in (None, key[0])
        ]

    def _snapshot(self, resource: kmock.resource, bookmark: bool) -> list[Event]:
        events = [
            {"type": "ADDED", "object": copy.deepcopy(obj)} for _, obj in self._live(resource)
        ]
        if bookmark:
            meta: Body = {"resourceVersion": str(self._revision)}
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
            events.append({"type": "BOOKMARK", "object": {"metadata": meta}})
        return events

    async def _events_after(
        self, resource: kmock.resource, position: int, deadline: float | None
    ) -> list[tuple[int, Event]]:
        log = self._logs[resource]

        def first_new() -> int:
            return bisect.bisect_right(log, position, key=lambda entry: entry[0])

        try:
            async with self._changed, asyncio.timeout_at(deadline):
                await self._changed.wait_for(lambda: self._ending or first_new() < len(log))
        except TimeoutError:
            return []
        return log[first_new() :]

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

    async def _serve_apis(self, request: rendering.Request) -> rendering.Payload:
        groups = await super()._serve_apis(request)
        assert isinstance(groups, dict)  # kmock's APIGroupList
        return groups | {"groups": [_prefer_stable(group) for group in groups["groups"]]}

    async def _serve_group(self, request: rendering.Request) -> rendering.Payload:
        group = await super()._serve_group(request)
        assert isinstance(group, dict)  # kmock's APIGroup
        return _prefer_stable(group)

    # -- shapes ------------------------------------------------------------------------------

    def _as_list(self, resource: kmock.resource, items: list[Body]) -> Body:
        kind = self.resources[resource].kind or str(resource.plural).capitalize()
        return {
            "apiVersion": f"{resource.group}/{resource.version}".lstrip("/"),
            "kind": f"{kind}List",
            "metadata": {"resourceVersion": str(self._revision)},
            "items": items,
        }

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
