"""`ObjectClient` over the Kubernetes API, so the shared target, router and event code runs on a
cluster unchanged.

Objects stay plain dicts end to end: requests go through kubernetes-asyncio's `ApiClient`
(its login, TLS and token refresh) on raw REST paths, and answers are never turned into
generated models, which would cost memory and lose fields they do not know (Istio's). Every
foreign failure is converted here, once: 404 → `NotFoundError` (or None from `get`), 409 →
`ConflictError`, 5xx, 429 and lost connections → `TemporaryError`, other refusals (400, 403,
422) → `PermanentError` naming the object and the server's reason. Merge patches always go as
`application/merge-patch+json`: custom resources refuse strategic merge patches, and a dict
sent by kubernetes-asyncio's generated APIs would be a JSON patch.
"""

from __future__ import annotations

import asyncio
import builtins
import collections
import json
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

import aiohttp
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

from kanaria.errors import ConfigError, ConflictError, NotFoundError, PermanentError, TemporaryError
from kanaria.spec.objects import Kind, Object, kind_of, name_of, namespace_of

log = logging.getLogger(__name__)

MERGE_PATCH = "application/merge-patch+json"
REQUEST_TIMEOUT_SECONDS = 30.0
READ_ATTEMPTS = 3  # reads are safe to repeat at once; writes wait for the next tick
_RETRY_PAUSE_SECONDS = 0.2


@dataclass(frozen=True)
class Resource:
    """Where a kind lives in the API: its plural and whether it is namespaced."""

    plural: str
    namespaced: bool = True


# Every kind kanaria reads or writes, by (group, kind); the version comes from the `Kind`.
RESOURCES: dict[tuple[str, str], Resource] = {
    ("apps", "Deployment"): Resource("deployments"),
    ("apps", "DaemonSet"): Resource("daemonsets"),
    ("autoscaling", "HorizontalPodAutoscaler"): Resource("horizontalpodautoscalers"),
    ("", "Service"): Resource("services"),
    ("", "ConfigMap"): Resource("configmaps"),
    ("", "Secret"): Resource("secrets"),
    ("", "Event"): Resource("events"),
    ("", "Namespace"): Resource("namespaces", namespaced=False),
    ("flagger.app", "Canary"): Resource("canaries"),
    ("flagger.app", "MetricTemplate"): Resource("metrictemplates"),
    ("flagger.app", "AlertProvider"): Resource("alertproviders"),
    ("networking.istio.io", "VirtualService"): Resource("virtualservices"),
    ("networking.istio.io", "DestinationRule"): Resource("destinationrules"),
    ("networking.istio.io", "Gateway"): Resource("gateways"),
    # the mesh routers' objects (routing/smi.py, gloo.py, kuma.py, apisix.py, knative.py,
    # appmesh.py)
    ("split.smi-spec.io", "TrafficSplit"): Resource("trafficsplits"),
    ("gloo.solo.io", "Upstream"): Resource("upstreams"),
    ("gateway.solo.io", "RouteTable"): Resource("routetables"),
    ("kuma.io", "TrafficRoute"): Resource("trafficroutes", namespaced=False),
    ("apisix.apache.org", "ApisixRoute"): Resource("apisixroutes"),
    ("serving.knative.dev", "Service"): Resource("services"),
    ("serving.knative.dev", "Revision"): Resource("revisions"),
    ("appmesh.k8s.aws", "VirtualNode"): Resource("virtualnodes"),
    ("appmesh.k8s.aws", "VirtualRouter"): Resource("virtualrouters"),
    ("appmesh.k8s.aws", "VirtualService"): Resource("virtualservices"),
    # the keptn metrics provider (providers/keptn.py) reads KeptnMetrics and runs Analyses
    ("metrics.keptn.sh", "KeptnMetric"): Resource("keptnmetrics"),
    ("metrics.keptn.sh", "Analysis"): Resource("analyses"),
    # the ingress and Gateway API routers' objects (routing/nginx.py, skipper.py,
    # gatewayapi.py, contour.py, traefik.py)
    ("networking.k8s.io", "Ingress"): Resource("ingresses"),
    ("gateway.networking.k8s.io", "HTTPRoute"): Resource("httproutes"),
    ("projectcontour.io", "HTTPProxy"): Resource("httpproxies"),
    ("traefik.io", "TraefikService"): Resource("traefikservices"),
    ("kopf.dev", "KopfPeering"): Resource("kopfpeerings"),
    ("kopf.dev", "ClusterKopfPeering"): Resource("clusterkopfpeerings", namespaced=False),
}

RequestListener = Callable[[str, str, int], None]  # verb, plural, HTTP status (0: no answer)


def resource_of(kind: Kind) -> Resource:
    try:
        return RESOURCES[(kind.group, kind.kind)]
    except KeyError:
        known = ", ".join(sorted(f"{k}.{g}" if g else k for g, k in RESOURCES))
        raise ConfigError(
            f"kanaria does not handle {kind.kind} ({kind.api_version}); known: {known}"
        ) from None


def path_of(kind: Kind, namespace: str | None, name: str | None = None, sub: str = "") -> str:
    """The REST path of an object (or of a collection when `name` is None)."""
    resource = resource_of(kind)
    root = f"/apis/{kind.api_version}" if kind.group else f"/api/{kind.api_version}"
    path = root
    if resource.namespaced and namespace is not None:
        path += f"/namespaces/{namespace}"
    path += f"/{resource.plural}"
    if name is not None:
        path += f"/{name}"
    return path + (f"/{sub}" if sub else "")


def label_selector(labels: dict[str, str] | None) -> str:
    return ",".join(f"{key}={value}" for key, value in sorted((labels or {}).items()))


class KubernetesObjects:
    """The `ObjectClient` of the operator. `requests` counts calls by (verb, plural)."""

    def __init__(
        self,
        api: ApiClient,
        listener: RequestListener | None = None,
        retry_pause: float = _RETRY_PAUSE_SECONDS,
    ) -> None:
        self.api = api
        self.listener = listener
        self.retry_pause = retry_pause
        self.requests: collections.Counter[tuple[str, str]] = collections.Counter()

    async def get(self, kind: Kind, namespace: str, name: str) -> Object | None:
        try:
            found = await self._read("get", kind, path_of(kind, namespace, name))
        except NotFoundError:
            return None
        return _with_kind(kind, found)

    async def list(
        self, kind: Kind, namespace: str | None, labels: dict[str, str] | None = None
    ) -> list[Object]:
        query = [("labelSelector", label_selector(labels))] if labels else []
        found = await self._read("list", kind, path_of(kind, namespace), query)
        # the API server leaves kind and apiVersion out of list items
        return [_with_kind(kind, item) for item in found.get("items") or []]

    async def list_at(self, kind: Kind, namespace: str | None) -> tuple[builtins.list[Object], str]:
        """Every object of a kind and the resourceVersion of the list (where a watch starts)."""
        found = await self._read("list", kind, path_of(kind, namespace))
        version = str((found.get("metadata") or {}).get("resourceVersion") or "")
        return [_with_kind(kind, item) for item in found.get("items") or []], version

    async def watch(
        self, kind: Kind, namespace: str | None, since: str, seconds: float
    ) -> AsyncIterator[Object]:
        """The watch events (`{"type", "object"}`) after resourceVersion `since`, until the
        server ends the stream (after `seconds`); TemporaryError if it breaks."""
        query = [
            ("watch", "true"),
            ("resourceVersion", since),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", str(int(seconds))),
        ]
        plural = resource_of(kind).plural
        self.requests[("watch", plural)] += 1
        path = path_of(kind, namespace)
        try:
            response = await self.api.call_api(
                path,
                "GET",
                query_params=query,
                header_params={"Accept": "application/json"},
                auth_settings=["BearerToken"],
                _preload_content=False,
                _request_timeout=seconds + REQUEST_TIMEOUT_SECONDS,
            )
        except ApiException as exc:
            self._heard("watch", plural, exc.status or 0)
            raise converted(exc, f"watch {kind.kind} {path}") from exc
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            self._heard("watch", plural, 0)
            raise TemporaryError(f"watch {kind.kind} {path}: API unreachable: {exc}") from exc
        self._heard("watch", plural, 200)
        async with response:
            async for line in _lines(response.content):
                yield json.loads(line)

    async def create(self, obj: Object) -> Object:
        kind, namespace = kind_of(obj), namespace_of(obj)
        path = path_of(kind, namespace if resource_of(kind).namespaced else None)
        return await self._call("create", kind, "POST", path, body=obj)

    async def replace(self, obj: Object) -> Object:
        kind = kind_of(obj)
        path = path_of(kind, namespace_of(obj), name_of(obj))
        return await self._call("update", kind, "PUT", path, body=obj)

    async def patch(self, kind: Kind, namespace: str, name: str, patch: Object) -> Object:
        body = {key: value for key, value in patch.items() if key != "status"}
        path = path_of(kind, namespace, name)
        return await self._call("patch", kind, "PATCH", path, body=body, content_type=MERGE_PATCH)

    async def patch_status(self, kind: Kind, namespace: str, name: str, status: Object) -> Object:
        path = path_of(kind, namespace, name, "status")
        body = {"status": status}
        return await self._call("patch", kind, "PATCH", path, body=body, content_type=MERGE_PATCH)

    async def delete(self, kind: Kind, namespace: str, name: str) -> bool:
        path = path_of(kind, namespace, name)
        try:
            await self._call("delete", kind, "DELETE", path)
        except NotFoundError:
            return False
        return True

    # transport

    async def _read(
        self, verb: str, kind: Kind, path: str, query: Sequence[tuple[str, str]] | None = None
    ) -> Object:
        for attempt in range(1, READ_ATTEMPTS + 1):
            try:
                return await self._call(verb, kind, "GET", path, query=query)
            except (NotFoundError, ConflictError):
                raise
            except TemporaryError:
                if attempt == READ_ATTEMPTS:
                    raise
                await asyncio.sleep(self.retry_pause * attempt)
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _call(
        self,
        verb: str,
        kind: Kind,
        method: str,
        path: str,
        *,
        query: Sequence[tuple[str, str]] | None = None,
        body: Object | None = None,
        content_type: str = "application/json",
    ) -> Object:
        plural = resource_of(kind).plural
        self.requests[(verb, plural)] += 1
        try:
            answer = await self.api.call_api(
                path,
                method,
                query_params=list(query or ()),
                header_params={"Accept": "application/json", "Content-Type": content_type},
                body=body,
                response_types_map={200: "object", 201: "object", 202: "object"},
                auth_settings=["BearerToken"],
                _return_http_data_only=True,
                _request_timeout=REQUEST_TIMEOUT_SECONDS,
            )
        except ApiException as exc:
            self._heard(verb, plural, exc.status or 0)
            raise converted(exc, f"{verb} {kind.kind} {path}") from exc
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            self._heard(verb, plural, 0)
            raise TemporaryError(f"{verb} {kind.kind} {path}: API unreachable: {exc}") from exc
        self._heard(verb, plural, 200)
        return answer if isinstance(answer, dict) else {}

    def _heard(self, verb: str, plural: str, status: int) -> None:
        if self.listener is not None:
            self.listener(verb, plural, status)


async def _lines(stream: aiohttp.StreamReader) -> AsyncIterator[bytes]:
    """The lines of a watch stream, however long (aiohttp's readline stops at 64 KiB)."""
    pending = b""
    try:
        async for chunk in stream.iter_any():
            pending += chunk
            *complete, pending = pending.split(b"\n")
            for line in complete:
                if line.strip():
                    yield line
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise TemporaryError(f"the watch stream broke: {exc}") from exc


def converted(exc: ApiException, what: str) -> Exception:
    """kanaria's error for an API answer: the class says whether to retry, the text why."""
    status = int(exc.status or 0)
    message = f"{what}: {status} {_reason(exc)}"
    if status == 404:
        return NotFoundError(message)
    if status == 409:
        return ConflictError(message)
    if status in (0, 408, 429) or status >= 500:
        return TemporaryError(message)
    return PermanentError(message)


def _reason(exc: ApiException) -> str:
    """The API server's own message from its Status body, else the HTTP reason."""
    try:
        status = json.loads(exc.body or "")
    except (TypeError, ValueError):
        return str(exc.reason or "")
    if isinstance(status, dict) and status.get("message"):
        return str(status["message"])
    return str(exc.reason or "")


def _with_kind(kind: Kind, obj: Object) -> Object:
    obj["apiVersion"] = kind.api_version
    obj["kind"] = kind.kind
    return obj
