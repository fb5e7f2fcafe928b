"""The App Mesh v1beta1 router (provider `appmesh`): Flagger's first App Mesh API, where the
VirtualService holds the router and its routes (flagger-routers.md §16.6).

It needs `service.meshName`. VirtualNodes `<svc>`, `<svc>-primary` and `<svc>-canary` name
their DNS hosts `<name>.<namespace>` (the apex node answers on the primary's host); the
VirtualServices are named like DNS names, `<svc>.<namespace>` (weighted) and
`<svc>-canary.<namespace>` (all to the canary). Routes, A/B header matching and refusals are
those of the v1beta2 router (`appmesh.py`), in v1beta1's field names.
"""

from __future__ import annotations

import copy
from typing import Any

from kanaria.errors import ConfigError
from kanaria.routing.appmesh import (
    A_B_PRIORITIES,
    access_log,
    gateway_annotations,
    header_matches,
    port_mapping,
    retry_policy,
    route_prefix,
    supports,
    weights_of,
)
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
from kanaria.routing.support import refuse_unsupported
from kanaria.spec.canary import Canary
from kanaria.spec.naming import CANARY_SUFFIX, PRIMARY_SUFFIX
from kanaria.spec.objects import (
    APPMESH_V1BETA1_VIRTUAL_NODE,
    APPMESH_V1BETA1_VIRTUAL_SERVICE,
    Object,
    ObjectClient,
)

_COMPARED = without_keys("weightedTargets")


def dns_name(canary: Canary, name: str) -> str:
    return f"{name}.{canary.namespace}"


class AppMeshV1beta1Router:
    def __init__(self, objects: ObjectClient) -> None:
        self.objects = objects
        self.services = ServiceRouter(objects)
        self.supports = supports("appmesh")

    async def reconcile(self, canary: Canary) -> None:
        refuse_unsupported(canary, self.supports)
        if not canary.spec.service.mesh_name:
            raise ConfigError(
                "provider appmesh needs spec.service.meshName (mesh name cannot be empty)"
            )
        await self.services.reconcile(canary)
        apex = canary.spec.service_name
        primary_host = dns_name(canary, apex + PRIMARY_SUFFIX)
        await self._virtual_node(canary, apex, primary_host)
        await self._virtual_node(canary, apex + PRIMARY_SUFFIX, primary_host)
        await self._virtual_node(
            canary, apex + CANARY_SUFFIX, dns_name(canary, apex + CANARY_SUFFIX)
        )
        await self._virtual_service(canary, canary_weight=0)
        await self._virtual_service(canary, canary_weight=100)

    async def set_routes(self, canary: Canary, routes: Routes) -> None:
        service = await self._apex_service(canary)
        service["spec"]["routes"][0]["http"]["action"] = _action(canary, routes)
        await self.objects.replace(service)

    async def get_routes(self, canary: Canary) -> Routes:
        service = await self._apex_service(canary)
        routes = (service.get("spec") or {}).get("routes") or [{}]
        targets = ((routes[0].get("http") or {}).get("action") or {}).get("weightedTargets")
        where = f"VirtualService {dns_name(canary, canary.spec.service_name)}"
        return weights_of(canary, where, targets)

    async def finalize(self, canary: Canary) -> None:
        apex = canary.spec.service_name
        for kind, name in (
            (APPMESH_V1BETA1_VIRTUAL_SERVICE, dns_name(canary, apex)),
            (APPMESH_V1BETA1_VIRTUAL_SERVICE, dns_name(canary, apex + CANARY_SUFFIX)),
            (APPMESH_V1BETA1_VIRTUAL_NODE, apex),
            (APPMESH_V1BETA1_VIRTUAL_NODE, apex + PRIMARY_SUFFIX),
            (APPMESH_V1BETA1_VIRTUAL_NODE, apex + CANARY_SUFFIX),
        ):
            await revert(self.objects, canary, kind, canary.namespace, name)

    async def _apex_service(self, canary: Canary) -> Object:
        name = dns_name(canary, canary.spec.service_name)
        return await require(self.objects, APPMESH_V1BETA1_VIRTUAL_SERVICE, canary.namespace, name)

    async def _virtual_node(self, canary: Canary, name: str, host: str) -> None:
        spec: dict[str, Any] = {
            "meshName": canary.spec.service.mesh_name,
            "listeners": [{"portMapping": port_mapping(canary, container_port=False)}],
            "serviceDiscovery": {"dns": {"hostName": host}},
        }
        spec |= access_log(canary)
        backends = [
            {"virtualService": {"virtualServiceName": entry}}
            for entry in canary.spec.service.backends
        ]
        if backends:
            spec["backends"] = backends
        wanted = Wanted(
            APPMESH_V1BETA1_VIRTUAL_NODE,
            canary.namespace,
            name,
            spec,
            labels=apex_labels(canary),
            annotations=apex_annotations(canary),
        )
        await apply(self.objects, canary, wanted)

    async def _virtual_service(self, canary: Canary, canary_weight: int) -> None:
        apex = canary.spec.service_name
        router = apex if canary_weight == 0 else apex + CANARY_SUFFIX
        spec = {
            "meshName": canary.spec.service.mesh_name,
            "virtualRouter": {
                "name": router,
                "listeners": [{"portMapping": port_mapping(canary, container_port=False)}],
            },
            "routes": _routes(canary, router, canary_weight),
        }
        annotations = gateway_annotations(canary) if canary_weight == 0 else {}
        wanted = Wanted(
            APPMESH_V1BETA1_VIRTUAL_SERVICE,
            canary.namespace,
            dns_name(canary, router),
            spec,
            annotations=annotations,
            manage_metadata=False,
        )
        await apply(self.objects, canary, wanted, compare=_COMPARED, keep=_keep_weights)


def _routes(canary: Canary, name: str, canary_weight: int) -> list[dict[str, Any]]:
    apex = canary.spec.service_name
    weighted = _action(canary, Routes(100 - canary_weight, canary_weight))
    prefix = route_prefix(canary)
    if canary.spec.analysis.match and canary_weight == 0:
        to_primary = {
            "weightedTargets": [{"virtualNodeName": apex + PRIMARY_SUFFIX, "weight": 100}]
        }
        return [
            _route(
                canary, f"{apex}-a", {"prefix": prefix, "headers": header_matches(canary)}, weighted
            )
            | {"priority": A_B_PRIORITIES[0]},
            _route(canary, f"{apex}-b", {"prefix": prefix}, to_primary)
            | {"priority": A_B_PRIORITIES[1]},
        ]
    return [_route(canary, name, {"prefix": prefix}, weighted)]


def _route(
    canary: Canary, name: str, match: dict[str, Any], action: dict[str, Any]
) -> dict[str, Any]:
    http: dict[str, Any] = {"match": match, "action": action}
    policy = retry_policy(canary)
    if policy is not None:
        http["retryPolicy"] = {
            "perRetryTimeoutMillis": policy.per_retry_ms,
            "maxRetries": policy.attempts,
            "httpRetryEvents": list(policy.events),
        }
    return {"name": name, "http": http}


def _action(canary: Canary, routes: Routes) -> dict[str, Any]:
    apex = canary.spec.service_name
    return {
        "weightedTargets": [
            {"virtualNodeName": apex + CANARY_SUFFIX, "weight": routes.canary_weight},
            {"virtualNodeName": apex + PRIMARY_SUFFIX, "weight": routes.primary_weight},
        ]
    }


def _keep_weights(live: Object, spec: dict[str, Any]) -> dict[str, Any]:
    """A reconcile keeps the weights in force (the first route's action)."""
    live_routes = (live.get("spec") or {}).get("routes") or []
    live_action = (live_routes[0].get("http") or {}).get("action") if live_routes else None
    if live_action is not None and spec["routes"]:
        spec["routes"][0]["http"]["action"] = copy.deepcopy(live_action)
    return spec
