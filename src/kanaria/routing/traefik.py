"""Traefik: a weighted TraefikService `<svc>` over `<svc>-primary` and `<svc>-canary`
(provider `traefik`, reference §10).

The user's IngressRoute points at the TraefikService; the canary is listed only while it has
weight, as Flagger writes it, and a weight of 0 is left out of the object (Traefik reads a
missing weight as 0). A TraefikService cannot route by request, mirror or pin sessions: Flagger
ignores those fields (so an A/B Canary sent everyone to the canary); kanaria refuses them.
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
from kanaria.spec.objects import TRAEFIK_SERVICE, Object, ObjectClient

SUPPORTS = Supports("traefik")


class TraefikRouter:
    def __init__(self, objects: ObjectClient) -> None:
        self.objects = objects
        self.services = ServiceRouter(objects)

    async def reconcile(self, canary: Canary) -> None:
        refuse_unsupported(canary, SUPPORTS)
        await self.services.reconcile(canary)
        name = canary.spec.service_name
        live = await self.objects.get(TRAEFIK_SERVICE, canary.namespace, name)
        # a canary in the list keeps its place, whatever its weight
        listed = [(PRIMARY_SUFFIX, 100)]
        if live is not None and len(_weighted(live)) == 2:
            listed.append((CANARY_SUFFIX, 100))
        wanted = Wanted(
            TRAEFIK_SERVICE,
            canary.namespace,
            name,
            _spec(canary, listed),
            labels=apex_labels(canary),
            annotations=apex_annotations(canary),
        )
        await apply(self.objects, canary, wanted)

    async def set_routes(self, canary: Canary, routes: Routes) -> None:
        name = f"TraefikService {canary.spec.service_name}.{canary.namespace}"
        refuse_zero_weights(name, routes.primary_weight, routes.canary_weight)
        live = await self._live(canary)
        listed = [(PRIMARY_SUFFIX, routes.primary_weight)]
        if routes.canary_weight > 0:
            listed.append((CANARY_SUFFIX, routes.canary_weight))
        live["spec"] = _spec(canary, listed)
        await self.objects.replace(live)

    async def get_routes(self, canary: Canary) -> Routes:
        services = _weighted(await self._live(canary))
        if not services:
            raise NotFoundError(
                f"TraefikService {canary.spec.service_name}.{canary.namespace} services not found"
            )
        primary = canary.spec.service_name + PRIMARY_SUFFIX
        for service in services:
            if service.get("name") == primary:
                weight = int(service.get("weight") or 0)
                return Routes(weight, 100 - weight)
        return Routes(0, 0)

    async def finalize(self, canary: Canary) -> None:
        """The Services get their selector back, and a TraefikService kanaria took over its
        spec; one it created goes with the Canary."""
        await self.services.finalize(canary)
        name = canary.spec.service_name
        await revert(self.objects, canary, TRAEFIK_SERVICE, canary.namespace, name)

    async def _live(self, canary: Canary) -> Object:
        name = canary.spec.service_name
        live = await self.objects.get(TRAEFIK_SERVICE, canary.namespace, name)
        if live is None:
            raise NotFoundError(f"TraefikService {name}.{canary.namespace} not found")
        return live


def _spec(canary: Canary, listed: list[tuple[str, int]]) -> dict[str, Any]:
    services = []
    for suffix, weight in listed:
        service: dict[str, Any] = {
            "name": canary.spec.service_name + suffix,
            "namespace": canary.namespace,
            "port": canary.spec.service.port,
        }
        if weight:
            service["weight"] = weight
        services.append(service)
    return {"weighted": {"services": services}}


def _weighted(obj: Object) -> list[dict[str, Any]]:
    return list(((obj.get("spec") or {}).get("weighted") or {}).get("services") or [])
