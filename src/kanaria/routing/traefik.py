"""Traefik: a weighted TraefikService `<svc>` over `<svc>-primary` and `<svc>-canary`
(provider `traefik`, reference §10).

The user's IngressRoute points at the TraefikService; the canary is listed only while it has
weight, as Flagger writes it, and a weight of 0 is left out of the object (Traefik reads a
missing weight as 0). Traefik has no A/B, mirroring or session affinity here: those fields are
ignored, as in Flagger.
"""

from __future__ import annotations

import copy
from typing import Any

from kanaria.errors import NotFoundError, PermanentError
from kanaria.routing.base import Routes
from kanaria.routing.kubernetes import ServiceRouter
from kanaria.routing.metadata import (
    annotations_of,
    apex_annotations,
    apex_labels,
    labels_of,
    new_object,
    without_empty,
)
from kanaria.spec.canary import Canary
from kanaria.spec.naming import CANARY_SUFFIX, PRIMARY_SUFFIX
from kanaria.spec.objects import TRAEFIK_SERVICE, Object, ObjectClient


class TraefikRouter:
    def __init__(self, objects: ObjectClient) -> None:
        self.objects = objects
        self.services = ServiceRouter(objects)

    async def reconcile(self, canary: Canary) -> None:
        await self.services.reconcile(canary)
        name = canary.spec.service_name
        labels, annotations = apex_labels(canary), apex_annotations(canary)
        live = await self.objects.get(TRAEFIK_SERVICE, canary.namespace, name)
        if live is None:
            spec = _spec(canary, [(PRIMARY_SUFFIX, 100)])
            service = new_object(
                TRAEFIK_SERVICE, canary, name, spec, labels=labels, annotations=annotations
            )
            await self.objects.create(service)
            return
        # a canary in the list keeps its place, whatever its weight
        listed = [(PRIMARY_SUFFIX, 100)]
        if len(_weighted(live)) == 2:
            listed.append((CANARY_SUFFIX, 100))
        wanted = _spec(canary, listed)
        if (
            _without_weights(live.get("spec") or {}) == _without_weights(wanted)
            and labels == labels_of(live)
            and annotations == annotations_of(live)
        ):
            return
        live["spec"] = wanted
        live["metadata"]["labels"] = labels
        live["metadata"]["annotations"] = annotations
        await self.objects.replace(live)

    async def set_routes(self, canary: Canary, routes: Routes) -> None:
        if routes.primary_weight == 0 and routes.canary_weight == 0:
            raise PermanentError(
                f"TraefikService {canary.spec.service_name}.{canary.namespace} update failed: "
                "no valid weights"
            )
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
        """Flagger leaves the TraefikService as it is; the Services get their selector back."""
        await self.services.finalize(canary)

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


def _without_weights(spec: dict[str, Any]) -> Any:
    spec = copy.deepcopy(spec)
    for service in (spec.get("weighted") or {}).get("services") or []:
        service.pop("weight", None)
    return without_empty(spec)
