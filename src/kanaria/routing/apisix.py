"""The APISIX router: a canary copy of the user's ApisixRoute that weighs primary and canary
(flagger-routers.md §14).

The Canary's `routeRef` names an ApisixRoute whose HTTP rule sends to the apex Service. Flagger
copies that one rule into `<route>-<svc>-canary` with priority 10000 (so it wins over the
original) and two backends, `<svc>-primary` and `<svc>-canary`, carrying the weights. The
original ApisixRoute is never changed. Weights only: A/B, mirroring and session affinity are
refused.
"""

from __future__ import annotations

import copy
from typing import Any

from kanaria.errors import ConfigError
from kanaria.routing.base import Routes
from kanaria.routing.kubernetes import ServiceRouter
from kanaria.routing.managed import Wanted, apply, refuse_zero_weights, require, revert
from kanaria.routing.support import Supports, refuse_unsupported
from kanaria.spec.canary import Canary
from kanaria.spec.naming import CANARY_SUFFIX, PRIMARY_SUFFIX
from kanaria.spec.objects import APISIX_ROUTE, Object, ObjectClient

SUPPORTS = Supports("apisix")
CANARY_PRIORITY = 10000
_CANARY_BACKEND_FIELDS = ("servicePort", "resolveGranularity", "subset")


def route_ref_name(canary: Canary) -> str:
    ref = canary.spec.route_ref
    if ref is None or not ref.name:
        raise ConfigError("provider apisix needs spec.routeRef naming an ApisixRoute")
    return ref.name


def canary_route_name(canary: Canary) -> str:
    """`<routeRef>-<svc>-canary`: the APISIX metric queries select its routes by this name."""
    return f"{route_ref_name(canary)}-{canary.spec.service_name}-canary"


class ApisixRouter:
    def __init__(self, objects: ObjectClient) -> None:
        self.objects = objects
        self.services = ServiceRouter(objects)

    async def reconcile(self, canary: Canary) -> None:
        refuse_unsupported(canary, SUPPORTS)
        await self.services.reconcile(canary)
        source = await require(self.objects, APISIX_ROUTE, canary.namespace, route_ref_name(canary))
        metadata = source.get("metadata") or {}
        wanted = Wanted(
            APISIX_ROUTE,
            canary.namespace,
            canary_route_name(canary),
            canary_route_spec(canary, source),
            labels=dict(metadata.get("labels") or {}),
            annotations=dict(metadata.get("annotations") or {}),
            manage_metadata=False,  # Flagger copies them when it creates the copy, only then
        )
        await apply(self.objects, canary, wanted)

    async def set_routes(self, canary: Canary, routes: Routes) -> None:
        refuse_zero_weights(f"ApisixRoute {canary_route_name(canary)}", *_pair(routes))
        route = await self._canary_route(canary)
        apex = canary.spec.service_name
        for backend in _weighted_rule(canary, route)["backends"]:
            if backend.get("serviceName") == apex + PRIMARY_SUFFIX:
                backend["weight"] = routes.primary_weight
            elif backend.get("serviceName") == apex + CANARY_SUFFIX:
                backend["weight"] = routes.canary_weight
        await self.objects.replace(route)

    async def get_routes(self, canary: Canary) -> Routes:
        route = await self._canary_route(canary)
        primary = canary.spec.service_name + PRIMARY_SUFFIX
        for backend in _weighted_rule(canary, route)["backends"]:
            if backend.get("serviceName") == primary:
                weight = int(backend.get("weight") or 0)
                return Routes(weight, 100 - weight)
        raise AssertionError("unreachable: the weighted rule has the primary backend")

    async def finalize(self, canary: Canary) -> None:
        name = canary_route_name(canary)
        await revert(self.objects, canary, APISIX_ROUTE, canary.namespace, name)

    async def _canary_route(self, canary: Canary) -> Object:
        return await require(
            self.objects, APISIX_ROUTE, canary.namespace, canary_route_name(canary)
        )


def canary_route_spec(canary: Canary, source: Object) -> dict[str, Any]:
    """The source's spec with only the rule that sends to the apex Service, now weighted."""
    apex = canary.spec.service_name
    spec = copy.deepcopy(source.get("spec") or {})
    where = f"ApisixRoute {route_ref_name(canary)}.{canary.namespace}"
    rules = spec.get("http") or []
    if not rules:
        raise ConfigError(f"{where}: spec.http is empty")
    rule = _rule_with_backend(rules, apex)
    if rule is None:
        raise ConfigError(f"{where}: no http rule has a backend with serviceName {apex}")
    if len(rule.get("backends") or []) != 1:
        raise ConfigError(
            f"{where}: http rule {rule.get('name')} must have exactly one backend "
            f"(found {len(rule.get('backends') or [])})"
        )
    original = rule["backends"][0]
    primary = {**original, "serviceName": apex + PRIMARY_SUFFIX, "weight": 100}
    canary_backend = {"serviceName": apex + CANARY_SUFFIX, "weight": 0}
    canary_backend |= {key: original[key] for key in _CANARY_BACKEND_FIELDS if original.get(key)}
    spec["http"] = [{**rule, "priority": CANARY_PRIORITY, "backends": [primary, canary_backend]}]
    return spec


def _rule_with_backend(rules: list[dict[str, Any]], service: str) -> dict[str, Any] | None:
    for rule in rules:
        if any(b.get("serviceName") == service for b in rule.get("backends") or []):
            return rule
    return None


def _weighted_rule(canary: Canary, route: Object) -> dict[str, Any]:
    primary = canary.spec.service_name + PRIMARY_SUFFIX
    rule = _rule_with_backend((route.get("spec") or {}).get("http") or [], primary)
    if rule is None:
        raise ConfigError(
            f"ApisixRoute {canary_route_name(canary)}.{canary.namespace}: no http rule has "
            f"a backend with serviceName {primary}"
        )
    return rule


def _pair(routes: Routes) -> tuple[int, int]:
    return routes.primary_weight, routes.canary_weight
