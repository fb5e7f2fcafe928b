"""The SMI router: one `TrafficSplit` per Canary, for Linkerd, OSM and any SMI mesh.

Flagger writes the same object at three API versions (flagger-routers.md §7): `linkerd` and
`smi:v1alpha1` use v1alpha1, whose weights are Kubernetes quantities (`"100"`); `osm` and
`smi:v1alpha2` use v1alpha2, `smi:v1alpha3` v1alpha3, both with integer weights. The split
lists the canary first. A TrafficSplit only splits by weight, so canary and blue/green
releases are all it carries; A/B matches, mirroring and session affinity are refused.
"""

from __future__ import annotations

import math
import re
from typing import Any

from kanaria.errors import ConfigError, TemporaryError
from kanaria.routing.base import Routes
from kanaria.routing.kubernetes import ServiceRouter
from kanaria.routing.managed import Wanted, apply, require, revert
from kanaria.routing.support import Supports, refuse_unsupported
from kanaria.spec.canary import Canary
from kanaria.spec.naming import CANARY_SUFFIX, PRIMARY_SUFFIX
from kanaria.spec.objects import (
    TRAFFIC_SPLIT_V1ALPHA1,
    TRAFFIC_SPLIT_V1ALPHA2,
    TRAFFIC_SPLIT_V1ALPHA3,
    Kind,
    ObjectClient,
)

_QUANTITY = re.compile(r"(\d+(?:\.\d+)?)(m?)")


class SmiRouter:
    def __init__(self, objects: ObjectClient, kind: Kind, supports: Supports) -> None:
        self.objects = objects
        self.kind = kind
        self.supports = supports
        self.services = ServiceRouter(objects)

    async def reconcile(self, canary: Canary) -> None:
        refuse_unsupported(canary, self.supports)
        await self.services.reconcile(canary)
        hosts = canary.spec.service.hosts
        spec = {
            "service": hosts[0] if hosts else canary.spec.service_name,
            "backends": self._backends(canary, Routes(100, 0)),
        }
        wanted = Wanted(
            self.kind, canary.namespace, canary.spec.service_name, spec, manage_metadata=False
        )
        await apply(self.objects, canary, wanted, compare=_without_weights)

    async def set_routes(self, canary: Canary, routes: Routes) -> None:
        split = await require(self.objects, self.kind, canary.namespace, canary.spec.service_name)
        split["spec"]["backends"] = self._backends(canary, routes)
        await self.objects.replace(split)

    async def get_routes(self, canary: Canary) -> Routes:
        apex = canary.spec.service_name
        split = await require(self.objects, self.kind, canary.namespace, apex)
        weights = {
            backend.get("service"): _weight(backend.get("weight"))
            for backend in (split.get("spec") or {}).get("backends") or []
        }
        primary = weights.get(apex + PRIMARY_SUFFIX, 0)
        canary_weight = weights.get(apex + CANARY_SUFFIX, 0)
        if primary == 0 and canary_weight == 0:
            raise TemporaryError(
                f"TrafficSplit {apex}.{canary.namespace} does not contain routes for "
                f"{apex}{PRIMARY_SUFFIX} and {apex}{CANARY_SUFFIX}"
            )
        return Routes(primary, canary_weight)

    async def finalize(self, canary: Canary) -> None:
        await revert(self.objects, canary, self.kind, canary.namespace, canary.spec.service_name)

    def _backends(self, canary: Canary, routes: Routes) -> list[dict[str, Any]]:
        apex = canary.spec.service_name
        return [
            {"service": apex + CANARY_SUFFIX, "weight": self._encoded(routes.canary_weight)},
            {"service": apex + PRIMARY_SUFFIX, "weight": self._encoded(routes.primary_weight)},
        ]

    def _encoded(self, weight: int) -> int | str:
        """v1alpha1 weights are quantities, which Kubernetes writes as strings."""
        return str(weight) if self.kind == TRAFFIC_SPLIT_V1ALPHA1 else weight


def _without_weights(spec: Any) -> Any:
    backends = [
        {key: value for key, value in backend.items() if key != "weight"}
        for backend in spec.get("backends") or []
    ]
    return {**spec, "backends": backends}


def _weight(value: Any) -> int:
    """An integer weight, or a v1alpha1 quantity (`"100"`, `"500m"`) rounded up as
    Kubernetes' `Quantity.Value()` does."""
    if isinstance(value, bool):
        raise ConfigError(f"TrafficSplit weight {value!r} is not a number")
    if isinstance(value, int):
        return value
    found = _QUANTITY.fullmatch(str(value or "0").strip())
    if found is None:
        raise ConfigError(f"TrafficSplit weight {value!r} is not a number or a quantity")
    number = float(found.group(1)) / (1000 if found.group(2) else 1)
    return math.ceil(number)


LINKERD_A_B_HINT = (
    " (for A/B testing on Linkerd, Flagger's Linkerd tutorial uses provider gatewayapi:v1beta1, "
    "an HTTPRoute)"
)


def linkerd(objects: ObjectClient) -> SmiRouter:
    """Flagger's `linkerd` provider: SMI v1alpha1 (Linkerd's Gateway API routes are the
    `gatewayapi:*` providers' business)."""
    return SmiRouter(
        objects, TRAFFIC_SPLIT_V1ALPHA1, Supports("linkerd", a_b_hint=LINKERD_A_B_HINT)
    )


def osm(objects: ObjectClient) -> SmiRouter:
    """Flagger's `osm` provider: SMI v1alpha2."""
    return SmiRouter(objects, TRAFFIC_SPLIT_V1ALPHA2, Supports("osm"))


def v1alpha1(objects: ObjectClient) -> SmiRouter:
    return SmiRouter(objects, TRAFFIC_SPLIT_V1ALPHA1, Supports("smi:v1alpha1"))


def v1alpha2(objects: ObjectClient) -> SmiRouter:
    return SmiRouter(objects, TRAFFIC_SPLIT_V1ALPHA2, Supports("smi:v1alpha2"))


def v1alpha3(objects: ObjectClient) -> SmiRouter:
    return SmiRouter(objects, TRAFFIC_SPLIT_V1ALPHA3, Supports("smi:v1alpha3"))
