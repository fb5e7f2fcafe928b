"""The Kuma router: one cluster-scoped `TrafficRoute` splits a service (flagger-routers.md §13).

Kuma names services `<svc>_<namespace>_svc_<port>`; the TrafficRoute `<svc>` sends every
source's traffic for the apex service to the primary and canary services by weight. Being
cluster-scoped it has no owner reference, so no garbage collector removes it: with
`revertOnDeletion`, kanaria deletes the one it created (or restores one it took over), where
Flagger leaves it pointing at a primary that is gone. Weights only: A/B, mirroring and session
affinity are refused.
"""

from __future__ import annotations

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
)
from kanaria.routing.support import Supports, refuse_unsupported
from kanaria.spec.canary import Canary
from kanaria.spec.naming import CANARY_SUFFIX, PRIMARY_SUFFIX
from kanaria.spec.objects import KUMA_TRAFFIC_ROUTE, ObjectClient, namespace_of

SUPPORTS = Supports("kuma")
MESH_ANNOTATION = "kuma.io/mesh"
SERVICE_TAG = "kuma.io/service"
CLUSTER_SCOPE = namespace_of({})
"""Where a store files an object without a namespace; the API server ignores the namespace of
cluster-scoped kinds, so reads and writes agree on every platform."""


def kuma_service(canary: Canary, name: str) -> str:
    return f"{name}_{canary.namespace}_svc_{canary.spec.service.port}"


class KumaRouter:
    def __init__(self, objects: ObjectClient) -> None:
        self.objects = objects
        self.services = ServiceRouter(objects)

    async def reconcile(self, canary: Canary) -> None:
        refuse_unsupported(canary, SUPPORTS)
        await self.services.reconcile(canary)
        wanted = Wanted(
            KUMA_TRAFFIC_ROUTE,
            CLUSTER_SCOPE,
            canary.spec.service_name,
            traffic_route_spec(canary, Routes(100, 0)),
            labels=apex_labels(canary),
            annotations=apex_annotations(canary),
            owned=False,  # a namespaced Canary cannot own a cluster-scoped object
            cluster_scoped=True,
            top_level={"mesh": canary.metadata.annotations.get(MESH_ANNOTATION, "default")},
        )
        await apply(self.objects, canary, wanted)

    async def set_routes(self, canary: Canary, routes: Routes) -> None:
        route = await self._route(canary)
        route["spec"]["conf"] = _conf(canary, routes)
        await self.objects.replace(route)

    async def get_routes(self, canary: Canary) -> Routes:
        apex = canary.spec.service_name
        route = await self._route(canary)
        primary_weight = canary_weight = 0
        for split in ((route.get("spec") or {}).get("conf") or {}).get("split") or []:
            service = (split.get("destination") or {}).get(SERVICE_TAG, "")
            if service.split("_")[0] == apex + PRIMARY_SUFFIX:
                primary_weight = int(split.get("weight") or 0)
                canary_weight = 100 - primary_weight
        if primary_weight == 0 and canary_weight == 0:
            raise TemporaryError(
                f"TrafficRoute {apex} does not contain routes for {apex}{PRIMARY_SUFFIX} "
                f"and {apex}{CANARY_SUFFIX}"
            )
        return Routes(primary_weight, canary_weight)

    async def finalize(self, canary: Canary) -> None:
        apex = canary.spec.service_name
        if not await revert(self.objects, canary, KUMA_TRAFFIC_ROUTE, CLUSTER_SCOPE, apex):
            await self.objects.delete(KUMA_TRAFFIC_ROUTE, CLUSTER_SCOPE, apex)

    async def _route(self, canary: Canary) -> dict[str, Any]:
        return await require(
            self.objects, KUMA_TRAFFIC_ROUTE, CLUSTER_SCOPE, canary.spec.service_name
        )


def traffic_route_spec(canary: Canary, routes: Routes) -> dict[str, Any]:
    apex = canary.spec.service_name
    return {
        "sources": [{"match": {SERVICE_TAG: "*"}}],
        "destinations": [{"match": {SERVICE_TAG: kuma_service(canary, apex)}}],
        "conf": _conf(canary, routes),
    }


def _conf(canary: Canary, routes: Routes) -> dict[str, Any]:
    apex = canary.spec.service_name
    return {
        "split": [
            {
                "weight": routes.primary_weight,
                "destination": {SERVICE_TAG: kuma_service(canary, apex + PRIMARY_SUFFIX)},
            },
            {
                "weight": routes.canary_weight,
                "destination": {SERVICE_TAG: kuma_service(canary, apex + CANARY_SUFFIX)},
            },
        ]
    }
