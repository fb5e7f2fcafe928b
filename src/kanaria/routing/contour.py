"""Contour: an HTTPProxy `<svc>` whose route weighs `<svc>-primary` against `<svc>-canary`
(provider `contour`, reference §9).

The route matches the prefix of `spec.service.match[0]` (`/` by default) and carries the
Canary's timeout and retries; each service sets `l5d-dst-override`, so Linkerd behind Contour
routes to the right Service. A/B testing gives the matching requests a route of their own, with
one condition per header (exact, or `contains` for a prefix or suffix match), ahead of a route
that keeps everyone else on the primary. The HTTPProxy's `ingressClassName` is the operator's
ingress class, when it has one (Flagger's `-ingress-class`). Flagger ignores mirroring, session
affinity and header regexes on Contour; kanaria refuses them (`support.py`).
"""

from __future__ import annotations

from typing import Any

from kanaria.errors import NotFoundError
from kanaria.routing.base import Routes
from kanaria.routing.kubernetes import ServiceRouter
from kanaria.routing.managed import (
    Wanted,
    apex_annotations,
    apex_labels,
    apply,
    refuse_zero_weights,
    revert,
)
from kanaria.routing.support import Supports, refuse_unsupported
from kanaria.spec.canary import Canary
from kanaria.spec.naming import CANARY_SUFFIX, PRIMARY_SUFFIX
from kanaria.spec.objects import HTTP_PROXY, Object, ObjectClient

IDLE_TIMEOUT = "5m"


SUPPORTS = Supports("contour", header_matches=("exact", "prefix", "suffix"))
"""Contour matches headers exactly or by `contains` (Flagger's prefix and suffix); a regex
would become an empty exact match, so it is refused."""


class ContourRouter:
    def __init__(self, objects: ObjectClient, ingress_class: str = "") -> None:
        self.objects = objects
        self.ingress_class = ingress_class
        self.services = ServiceRouter(objects)

    async def reconcile(self, canary: Canary) -> None:
        refuse_unsupported(canary, SUPPORTS)
        await self.services.reconcile(canary)
        wanted = Wanted(
            HTTP_PROXY,
            canary.namespace,
            canary.spec.service_name,
            self.proxy_spec(canary, Routes(100, 0)),
            labels=apex_labels(canary),
            annotations=apex_annotations(canary),
            top_level={"status": {"currentStatus": "valid", "description": "valid HTTPProxy"}},
        )
        await apply(self.objects, canary, wanted)

    async def set_routes(self, canary: Canary, routes: Routes) -> None:
        name = f"HTTPProxy {canary.spec.service_name}.{canary.namespace}"
        refuse_zero_weights(name, routes.primary_weight, routes.canary_weight)
        live = await self._live(canary)
        live["spec"] = self.proxy_spec(canary, routes)
        await self.objects.replace(live)

    async def get_routes(self, canary: Canary) -> Routes:
        live = await self._live(canary)
        routes = (live.get("spec") or {}).get("routes") or []
        if not routes or len(routes[0].get("services") or []) < 2:
            raise NotFoundError(
                f"HTTPProxy {canary.spec.service_name}.{canary.namespace} services not found"
            )
        primary = canary.spec.service_name + PRIMARY_SUFFIX
        for service in routes[0]["services"]:
            if service.get("name") == primary:
                weight = int(service.get("weight") or 0)
                return Routes(weight, 100 - weight)
        return Routes(0, 0)

    async def finalize(self, canary: Canary) -> None:
        """The Services get their selector back, and an HTTPProxy kanaria took over its spec;
        one it created goes with the Canary."""
        await self.services.finalize(canary)
        await revert(self.objects, canary, HTTP_PROXY, canary.namespace, canary.spec.service_name)

    async def _live(self, canary: Canary) -> Object:
        name = canary.spec.service_name
        live = await self.objects.get(HTTP_PROXY, canary.namespace, name)
        if live is None:
            raise NotFoundError(f"HTTPProxy {name}.{canary.namespace} not found")
        return live

    def proxy_spec(self, canary: Canary, routes: Routes) -> dict[str, Any]:
        weighted = _route(canary, _conditions(canary), routes.primary_weight, routes.canary_weight)
        spec: dict[str, Any] = {"routes": [weighted]}
        if canary.spec.analysis.match:
            spec["routes"].append(_route(canary, [{"prefix": _prefix(canary)}], 100, 0))
        if self.ingress_class:
            spec["ingressClassName"] = self.ingress_class
        return spec


def _route(
    canary: Canary, conditions: list[dict[str, Any]], primary_weight: int, canary_weight: int
) -> dict[str, Any]:
    apex = canary.spec.service_name
    route: dict[str, Any] = {}
    if conditions:
        route["conditions"] = conditions
    route["services"] = [
        _service(canary, apex + PRIMARY_SUFFIX, primary_weight),
        _service(canary, apex + CANARY_SUFFIX, canary_weight),
    ]
    service = canary.spec.service
    if service.timeout:
        route["timeoutPolicy"] = {"response": service.timeout, "idle": IDLE_TIMEOUT}
    if service.retries is not None:
        route["retryPolicy"] = _retry_policy(canary)
    return route


def _service(canary: Canary, name: str, weight: int) -> dict[str, Any]:
    port = canary.spec.service.port
    destination = f"{name}.{canary.namespace}.svc.cluster.local:{port}"
    service: dict[str, Any] = {"name": name, "port": port}
    if weight:  # Contour reads a missing weight as 0
        service["weight"] = weight
    service["requestHeadersPolicy"] = {"set": [{"name": "l5d-dst-override", "value": destination}]}
    return service


def _retry_policy(canary: Canary) -> dict[str, Any]:
    retries = canary.spec.service.retries
    assert retries is not None
    policy: dict[str, Any] = {"count": retries.attempts}
    if retries.per_try_timeout:
        policy["perTryTimeout"] = retries.per_try_timeout
    if retries.retry_on:
        policy["retryOn"] = retries.retry_on.split(",")
    return policy


def _prefix(canary: Canary) -> str:
    match = canary.spec.service.match
    uri = (match[0].get("uri") or {}) if match else {}
    return str(uri.get("prefix") or "/")


def _conditions(canary: Canary) -> list[dict[str, Any]]:
    """The route's conditions: the prefix, and with A/B testing one per analysis header."""
    prefix = _prefix(canary)
    if not canary.spec.analysis.match:
        return [{"prefix": prefix}]
    return [
        {"prefix": prefix, "header": _header_condition(name, condition or {})}
        for match in canary.spec.analysis.match
        for name, condition in (match.get("headers") or {}).items()
    ]


def _header_condition(name: str, condition: dict[str, Any]) -> dict[str, str]:
    if condition.get("prefix"):
        return {"name": name, "contains": str(condition["prefix"])}
    if condition.get("suffix"):
        return {"name": name, "contains": str(condition["suffix"])}
    exact = str(condition.get("exact") or "")
    return {"name": name, "exact": exact} if exact else {"name": name}
