"""The App Mesh router (`appmesh:v1beta2`): VirtualNodes, VirtualRouters and VirtualServices of
the AWS App Mesh controller (flagger-routers.md §16).

Flagger makes a VirtualNode for each of `<svc>-primary` and `<svc>-canary` (pods selected by
label, DNS names of the Services), and two router/service pairs: `<svc>`, whose route weighs
canary against primary, and `<svc>-canary`, which always sends to the canary. A/B testing
replaces the apex route with a header route (`<svc>-a`, the weighted one) ahead of a default
route to the primary (`<svc>-b`). App Mesh cannot mirror or pin sessions here; those are
refused. The helpers below are shared with the v1beta1 router (`appmesh_v1beta1.py`).
"""

from __future__ import annotations

import copy
import re
from typing import Any

from kanaria.errors import TemporaryError
from kanaria.routing.base import Routes
from kanaria.routing.kubernetes import ServiceRouter
from kanaria.routing.managed import (
    Wanted,
    apex_annotations,
    apex_labels,
    apply,
    require,
    revert,
    without_keys,
)
from kanaria.routing.support import HEADER_MATCH_KINDS, Supports, refuse_unsupported
from kanaria.spec.canary import Canary
from kanaria.spec.duration import parse_duration
from kanaria.spec.naming import CANARY_SUFFIX, PRIMARY_SUFFIX, Selector, selector_of
from kanaria.spec.objects import (
    APPMESH_VIRTUAL_NODE,
    APPMESH_VIRTUAL_ROUTER,
    APPMESH_VIRTUAL_SERVICE,
    DEPLOYMENT,
    Object,
    ObjectClient,
)

ACCESS_LOG_ANNOTATION = "appmesh.flagger.app/accesslog"
DNS_SUFFIX = "svc.cluster.local."
DEFAULT_RETRY_TIMEOUT_MS = 250
DEFAULT_RETRY_EVENTS = ("gateway-error",)
A_B_PRIORITIES = (10, 20)


def supports(provider: str) -> Supports:
    return Supports(provider, header_matches=HEADER_MATCH_KINDS)


class AppMeshRouter:
    def __init__(self, objects: ObjectClient) -> None:
        self.objects = objects
        self.services = ServiceRouter(objects)
        self.supports = supports("appmesh:v1beta2")

    async def reconcile(self, canary: Canary) -> None:
        refuse_unsupported(canary, self.supports)
        await self.services.reconcile(canary)
        selector = await self._selector(canary)
        apex = canary.spec.service_name
        await self._virtual_node(canary, apex + PRIMARY_SUFFIX, selector.primary)
        await self._virtual_node(canary, apex + CANARY_SUFFIX, selector.target)
        await self._virtual_router(canary, apex, canary_weight=0)
        await self._virtual_router(canary, apex + CANARY_SUFFIX, canary_weight=100)

    async def set_routes(self, canary: Canary, routes: Routes) -> None:
        router = await self._apex_router(canary)
        router["spec"]["routes"][0]["httpRoute"]["action"] = action(canary, routes)
        await self.objects.replace(router)

    async def get_routes(self, canary: Canary) -> Routes:
        router = await self._apex_router(canary)
        routes = (router.get("spec") or {}).get("routes") or [{}]
        targets = ((routes[0].get("httpRoute") or {}).get("action") or {}).get("weightedTargets")
        return weights_of(canary, f"VirtualRouter {canary.spec.service_name}", targets)

    async def finalize(self, canary: Canary) -> None:
        apex = canary.spec.service_name
        for kind, name in (
            (APPMESH_VIRTUAL_ROUTER, apex),
            (APPMESH_VIRTUAL_ROUTER, apex + CANARY_SUFFIX),
            (APPMESH_VIRTUAL_NODE, apex + PRIMARY_SUFFIX),
            (APPMESH_VIRTUAL_NODE, apex + CANARY_SUFFIX),
        ):
            await revert(self.objects, canary, kind, canary.namespace, name)

    async def _selector(self, canary: Canary) -> Selector:
        """The pods' label: `<value>-primary` on the primary's pods, `<value>` on the canary's."""
        name = canary.spec.target_ref.name
        return selector_of(await require(self.objects, DEPLOYMENT, canary.namespace, name))

    async def _apex_router(self, canary: Canary) -> Object:
        return await require(
            self.objects, APPMESH_VIRTUAL_ROUTER, canary.namespace, canary.spec.service_name
        )

    async def _virtual_node(self, canary: Canary, name: str, pods: dict[str, str]) -> None:
        listener: dict[str, Any] = {"portMapping": port_mapping(canary)}
        timeout = timeout_ms(canary)
        if timeout is not None:
            listener["timeout"] = {"http": {"perRequest": {"unit": "ms", "value": timeout}}}
        spec: dict[str, Any] = {
            "listeners": [listener],
            "serviceDiscovery": {"dns": {"hostname": f"{name}.{canary.namespace}.{DNS_SUFFIX}"}},
            "podSelector": {"matchLabels": pods},
        }
        spec |= access_log(canary)
        backends = [_backend(entry) for entry in canary.spec.service.backends]
        if backends:
            spec["backends"] = backends
        wanted = Wanted(
            APPMESH_VIRTUAL_NODE,
            canary.namespace,
            name,
            spec,
            labels=apex_labels(canary),
            annotations=apex_annotations(canary),
        )
        await apply(self.objects, canary, wanted, compare=_AWS_MANAGED, keep=_keep_aws_fields)

    async def _virtual_router(self, canary: Canary, name: str, canary_weight: int) -> None:
        spec = {
            "listeners": [{"portMapping": port_mapping(canary)}],
            "routes": _router_routes(canary, name, canary_weight),
        }
        wanted = Wanted(APPMESH_VIRTUAL_ROUTER, canary.namespace, name, spec, manage_metadata=False)
        await apply(
            self.objects, canary, wanted, compare=_ROUTER_COMPARED, keep=_keep_router_weights
        )
        await self._virtual_service(canary, name, apex=canary_weight == 0)

    async def _virtual_service(self, canary: Canary, name: str, apex: bool) -> None:
        """Made with its router and never updated, as Flagger does."""
        if await self.objects.get(APPMESH_VIRTUAL_SERVICE, canary.namespace, name) is not None:
            return
        spec = {"provider": {"virtualRouter": {"virtualRouterRef": {"name": name}}}}
        annotations = gateway_annotations(canary) if apex else {}
        wanted = Wanted(
            APPMESH_VIRTUAL_SERVICE, canary.namespace, name, spec, annotations=annotations
        )
        await self.objects.create(wanted.new(canary))


def _router_routes(canary: Canary, name: str, canary_weight: int) -> list[dict[str, Any]]:
    apex = canary.spec.service_name
    weighted = Routes(100 - canary_weight, canary_weight)
    if canary.spec.analysis.match and canary_weight == 0:
        headers = {"prefix": route_prefix(canary), "headers": header_matches(canary)}
        return [
            _http_route(canary, f"{apex}-a", headers, action(canary, weighted), A_B_PRIORITIES[0]),
            _http_route(
                canary,
                f"{apex}-b",
                {"prefix": route_prefix(canary)},
                {"weightedTargets": [_node_ref(apex + PRIMARY_SUFFIX, 100)]},
                A_B_PRIORITIES[1],
            ),
        ]
    return [_http_route(canary, name, {"prefix": route_prefix(canary)}, action(canary, weighted))]


def _http_route(
    canary: Canary,
    name: str,
    match: dict[str, Any],
    route_action: dict[str, Any],
    priority: int | None = None,
) -> dict[str, Any]:
    http: dict[str, Any] = {"match": match, "action": route_action}
    timeout = timeout_ms(canary)
    if timeout is not None:
        http["timeout"] = {"perRequest": {"unit": "ms", "value": timeout}}
    policy = retry_policy(canary)
    if policy is not None:
        http["retryPolicy"] = {
            "maxRetries": policy.attempts,
            "perRetryTimeout": {"unit": "ms", "value": policy.per_retry_ms},
            "httpRetryEvents": list(policy.events),
        }
    route: dict[str, Any] = {"name": name, "httpRoute": http}
    if priority is not None:
        route["priority"] = priority
    return route


def action(canary: Canary, routes: Routes) -> dict[str, Any]:
    apex = canary.spec.service_name
    return {
        "weightedTargets": [
            _node_ref(apex + CANARY_SUFFIX, routes.canary_weight),
            _node_ref(apex + PRIMARY_SUFFIX, routes.primary_weight),
        ]
    }


def _node_ref(name: str, weight: int) -> dict[str, Any]:
    return {"virtualNodeRef": {"name": name}, "weight": weight}


def weights_of(canary: Canary, where: str, targets: Any) -> Routes:
    """Primary and canary weights from a route's two weighted targets (v1beta2 names nodes in
    `virtualNodeRef.name`, v1beta1 in `virtualNodeName`)."""
    if not isinstance(targets, list) or len(targets) != 2:
        raise TemporaryError(f"{where}.{canary.namespace} routes not found")
    apex = canary.spec.service_name
    weights = {_target_node(target): int(target.get("weight") or 0) for target in targets}
    primary = weights.get(apex + PRIMARY_SUFFIX, 0)
    canary_weight = weights.get(apex + CANARY_SUFFIX, 0)
    if primary == 0 and canary_weight == 0:
        raise TemporaryError(
            f"{where}.{canary.namespace} does not contain routes for {apex}{PRIMARY_SUFFIX} "
            f"and {apex}{CANARY_SUFFIX}"
        )
    return Routes(primary, canary_weight)


def _target_node(target: dict[str, Any]) -> str:
    name = (target.get("virtualNodeRef") or {}).get("name") or target.get("virtualNodeName")
    return str(name or "")


# -- what both App Mesh versions derive from the Canary ------------------------------------------


def port_mapping(canary: Canary, container_port: bool = True) -> dict[str, Any]:
    """The listener: the container port (`targetPort` when a number) unless told otherwise;
    `grpc` when the port name says so, else `http`."""
    service = canary.spec.service
    port = service.port
    if container_port and isinstance(service.target_port, int) and service.target_port > 0:
        port = service.target_port
    return {"port": port, "protocol": protocol(canary)}


def protocol(canary: Canary) -> str:
    return "grpc" if "grpc" in canary.spec.service.port_name else "http"


def route_prefix(canary: Canary) -> str:
    """App Mesh routes on a URI prefix only: the first `service.match[].uri.prefix`, or `/`."""
    matches = canary.spec.service.match
    prefix = ((matches[0].get("uri") or {}).get("prefix") if matches else None) or "/"
    return str(prefix)


def header_matches(canary: Canary) -> list[dict[str, Any]]:
    headers = []
    for match in canary.spec.analysis.match:
        for name, string_match in (match.get("headers") or {}).items():
            kinds = {kind: string_match.get(kind) for kind in HEADER_MATCH_KINDS}
            headers.append({"name": name, "match": {k: v for k, v in kinds.items() if v}})
    return headers


def go_duration_ms(text: str | None) -> int | None:
    """Milliseconds in a Go duration (`30s`, `1m`, `250ms`); None when Go would not parse it."""
    if not text or (re.fullmatch(r"[0-9.]+", text.strip()) and text.strip() != "0"):
        return None  # Go wants a unit on anything but 0
    try:
        return int(parse_duration(text) * 1000)
    except ValueError:
        return None


def timeout_ms(canary: Canary) -> int | None:
    return go_duration_ms(canary.spec.service.timeout)


class RetryPolicy:
    """`service.retries` as App Mesh takes it: one retry on gateway errors after 250 ms unless
    the Canary says otherwise."""

    def __init__(self, attempts: int, per_retry_ms: int, events: tuple[str, ...]) -> None:
        self.attempts = attempts
        self.per_retry_ms = per_retry_ms
        self.events = events


def retry_policy(canary: Canary) -> RetryPolicy | None:
    retries = canary.spec.service.retries
    if retries is None:
        return None
    per_retry = go_duration_ms(retries.per_try_timeout)
    events = tuple(retries.retry_on.split(",")) if retries.retry_on else DEFAULT_RETRY_EVENTS
    return RetryPolicy(
        retries.attempts if retries.attempts > 0 else 1,
        per_retry if per_retry is not None else DEFAULT_RETRY_TIMEOUT_MS,
        events,
    )


def access_log(canary: Canary) -> dict[str, Any]:
    if canary.metadata.annotations.get(ACCESS_LOG_ANNOTATION) != "enabled":
        return {}
    return {"logging": {"accessLog": {"file": {"path": "/dev/stdout"}}}}


def gateway_annotations(canary: Canary) -> dict[str, str]:
    """What the App Mesh Gateway reads off the apex VirtualService, when `hosts` are set."""
    service = canary.spec.service
    if not service.hosts:
        return {}
    annotations = {
        "gateway.appmesh.k8s.aws/expose": "true",
        "gateway.appmesh.k8s.aws/domain": "".join(f"{host}," for host in service.hosts),
    }
    if service.timeout:
        annotations["gateway.appmesh.k8s.aws/timeout"] = service.timeout
    if service.retries is not None and service.retries.attempts > 0:
        annotations["gateway.appmesh.k8s.aws/retries"] = str(service.retries.attempts)
    return annotations


def _backend(entry: str) -> dict[str, Any]:
    if entry.startswith("arn:aws"):
        return {"virtualService": {"virtualServiceARN": entry}}
    return {"virtualService": {"virtualServiceRef": {"name": entry}}}


# -- what reconcile leaves to the App Mesh controller and to set_routes -----------------------

_AWS_MANAGED = without_keys("awsName", "meshRef")
_ROUTER_COMPARED = without_keys("awsName", "meshRef", "weightedTargets")


def _keep_aws_fields(live: Object, spec: dict[str, Any]) -> dict[str, Any]:
    """The controller fills `awsName` and `meshRef`; a reconcile keeps them."""
    for key in ("awsName", "meshRef"):
        if key in (live.get("spec") or {}):
            spec[key] = copy.deepcopy(live["spec"][key])
    return spec


def _keep_router_weights(live: Object, spec: dict[str, Any]) -> dict[str, Any]:
    """A reconcile keeps the weights in force (the first route's action) and the AWS fields."""
    spec = _keep_aws_fields(live, spec)
    live_routes = (live.get("spec") or {}).get("routes") or []
    live_action = (live_routes[0].get("httpRoute") or {}).get("action") if live_routes else None
    if live_action is not None and spec["routes"]:
        spec["routes"][0]["httpRoute"]["action"] = copy.deepcopy(live_action)
    return spec
