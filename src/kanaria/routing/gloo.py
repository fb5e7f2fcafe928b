"""The Gloo Edge router: two Upstreams and a RouteTable that weighs them (flagger-routers.md §11).

Flagger no longer relies on Gloo's discovery: it creates the Upstreams
`<ns>-<svc>-primaryupstream-<port>` and `<ns>-<svc>-canaryupstream-<port>` for the Services it
made, copying connection settings from `spec.upstreamRef` when one is given, and a RouteTable
`<svc>` with one route to both. A/B testing puts header (exact or regex) and method matchers
on that single route: requests that do not match are left to the routes that delegate to this
table. Gloo has no mirroring or session affinity here; those are refused.
"""

from __future__ import annotations

import copy
from typing import Any

from kanaria.errors import TemporaryError
from kanaria.routing.base import Routes
from kanaria.routing.kubernetes import ServiceRouter
from kanaria.routing.managed import (
    Wanted,
    apex_annotations,
    apex_labels,
    apply,
    refuse_zero_weights,
    require,
    revert,
)
from kanaria.routing.support import Supports, refuse_unsupported
from kanaria.spec.canary import Canary
from kanaria.spec.naming import CANARY_SUFFIX, PRIMARY_SUFFIX
from kanaria.spec.objects import GLOO_ROUTE_TABLE, GLOO_UPSTREAM, SERVICE, Object, ObjectClient

SUPPORTS = Supports("gloo", header_matches=("exact", "regex"), method_match=True)

# Upstream settings Flagger copies from the `upstreamRef` Upstream
_COPIED_UPSTREAM_FIELDS = (
    "labels",
    "sslConfig",
    "circuitBreakers",
    "connectionConfig",
    "loadBalancerConfig",
    "useHttp2",
    "initialStreamWindowSize",
    "initialConnectionWindowSize",
    "httpProxyHostName",
)


def upstream_name(canary: Canary, role: str) -> str:
    """`<ns>-<svc>-primaryupstream-<port>` or `…-canaryupstream-…`; the Gloo metric queries
    select Envoy clusters by this name."""
    apex, port = canary.spec.service_name, canary.spec.service.port
    return f"{canary.namespace}-{apex}-{role}upstream-{port}"


class GlooRouter:
    def __init__(self, objects: ObjectClient) -> None:
        self.objects = objects
        self.services = ServiceRouter(objects)

    async def reconcile(self, canary: Canary) -> None:
        refuse_unsupported(canary, SUPPORTS)
        await self.services.reconcile(canary)
        apex = canary.spec.service_name
        await self._upstream(canary, apex + PRIMARY_SUFFIX, upstream_name(canary, "primary"))
        await self._upstream(canary, apex + CANARY_SUFFIX, upstream_name(canary, "canary"))
        wanted = Wanted(
            GLOO_ROUTE_TABLE,
            canary.namespace,
            apex,
            route_table_spec(canary, Routes(100, 0)),
            labels=apex_labels(canary),
            annotations=apex_annotations(canary),
        )
        await apply(self.objects, canary, wanted)

    async def set_routes(self, canary: Canary, routes: Routes) -> None:
        apex = canary.spec.service_name
        refuse_zero_weights(f"RouteTable {apex}.{canary.namespace}", *_pair(routes))
        table = await require(self.objects, GLOO_ROUTE_TABLE, canary.namespace, apex)
        table["spec"] = route_table_spec(canary, routes)
        await self.objects.replace(table)

    async def get_routes(self, canary: Canary) -> Routes:
        apex = canary.spec.service_name
        table = await require(self.objects, GLOO_ROUTE_TABLE, canary.namespace, apex)
        destinations = _destinations(table)
        if len(destinations) < 2:
            raise _no_destinations(canary)
        primary = upstream_name(canary, "primary")
        for destination in destinations:
            if destination["destination"]["upstream"].get("name") == primary:
                weight = int(destination.get("weight") or 0)
                return Routes(weight, 100 - weight)
        raise _no_destinations(canary)

    async def finalize(self, canary: Canary) -> None:
        apex = canary.spec.service_name
        await revert(self.objects, canary, GLOO_ROUTE_TABLE, canary.namespace, apex)

    async def _upstream(self, canary: Canary, service_name: str, name: str) -> None:
        service = await require(self.objects, SERVICE, canary.namespace, service_name)
        config = await self._config_upstream(canary)
        existing = await self.objects.get(GLOO_UPSTREAM, canary.namespace, name)
        if existing is None:
            spec = _upstream_spec(canary, service, config)
            await self.objects.create(
                Wanted(GLOO_UPSTREAM, canary.namespace, name, spec).new(canary)
            )
            return
        balancing = (config or {}).get("loadBalancerConfig")
        if balancing is not None and (existing.get("spec") or {}).get("loadBalancerConfig") != (
            balancing
        ):
            existing.setdefault("spec", {})["loadBalancerConfig"] = copy.deepcopy(balancing)
            await self.objects.replace(existing)

    async def _config_upstream(self, canary: Canary) -> dict[str, Any] | None:
        ref = canary.spec.upstream_ref
        if ref is None:
            return None
        namespace = ref.namespace or canary.namespace
        found = await require(self.objects, GLOO_UPSTREAM, namespace, ref.name)
        spec: dict[str, Any] = found.get("spec") or {}
        return spec


def _upstream_spec(
    canary: Canary, service: Object, config: dict[str, Any] | None
) -> dict[str, Any]:
    copied = config or {}
    spec = {key: copy.deepcopy(copied[key]) for key in _COPIED_UPSTREAM_FIELDS if key in copied}
    kube: dict[str, Any] = {
        "serviceName": service["metadata"]["name"],
        "serviceNamespace": canary.namespace,
        "servicePort": canary.spec.service.port,
    }
    selector = (service.get("spec") or {}).get("selector")
    if selector:
        kube["selector"] = dict(selector)
    spec["kube"] = kube
    return spec


def route_table_spec(canary: Canary, routes: Routes) -> dict[str, Any]:
    route: dict[str, Any] = {"inheritablePathMatchers": True}
    matchers = _matchers(canary)
    if matchers:
        route["matchers"] = matchers
    route["routeAction"] = {
        "multi": {
            "destinations": [
                _destination(canary, "primary", routes.primary_weight),
                _destination(canary, "canary", routes.canary_weight),
            ]
        }
    }
    return {"routes": [route]}


def _destination(canary: Canary, role: str, weight: int) -> dict[str, Any]:
    destination: dict[str, Any] = {
        "destination": {
            "upstream": {"name": upstream_name(canary, role), "namespace": canary.namespace}
        }
    }
    if weight:  # Gloo's weight is `omitempty`: 0 is left out
        destination["weight"] = weight
    return destination


def _matchers(canary: Canary) -> list[dict[str, Any]]:
    """One matcher with every header and method of `analysis.match`, or none."""
    headers: list[dict[str, Any]] = []
    methods: list[str] = []
    for match in canary.spec.analysis.match:
        for name, string_match in (match.get("headers") or {}).items():
            if string_match.get("regex"):
                headers.append({"name": name, "value": string_match["regex"], "regex": True})
            else:
                headers.append({"name": name, "value": string_match.get("exact", "")})
        method = (match.get("method") or {}).get("exact")
        if method is not None:
            methods.append(method)
    matcher: dict[str, Any] = {}
    if headers:
        matcher["headers"] = headers
    if methods:
        matcher["methods"] = methods
    return [matcher] if matcher else []


def _destinations(table: Object) -> list[dict[str, Any]]:
    routes = (table.get("spec") or {}).get("routes") or [{}]
    destinations: list[dict[str, Any]] = (
        (routes[0].get("routeAction") or {}).get("multi") or {}
    ).get("destinations") or []
    return destinations


def _pair(routes: Routes) -> tuple[int, int]:
    return routes.primary_weight, routes.canary_weight


def _no_destinations(canary: Canary) -> TemporaryError:
    apex = canary.spec.service_name
    return TemporaryError(f"RouteTable {apex}.{canary.namespace} destinations not found")
