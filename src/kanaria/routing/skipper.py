"""Skipper: a canary Ingress `<ingressRef>-canary` that weighs primary against canary by
annotation (provider `skipper`, reference §12).

The user's Ingress is left as it is. The canary Ingress copies it, points each path of `<svc>`
at `<svc>-primary` and adds the same path for `<svc>-canary`; `zalando.org/backend-weights`
holds the split, and a `Weight(100)` predicate makes Skipper prefer these routes over the
user's Ingress. When the canary has no weight, a `False()` predicate switches the canary
Ingress off. Unlike every other router, revertOnDeletion deletes the canary Ingress (Flagger
does). Flagger's Skipper router has no A/B testing, mirroring or session affinity and ignores
them; kanaria refuses them (`support.py`).
"""

from __future__ import annotations

import copy
import json
from typing import Any

from kanaria.errors import ConfigError, NotFoundError
from kanaria.routing.base import Routes
from kanaria.routing.kubernetes import ServiceRouter
from kanaria.routing.metadata import (
    annotations_of,
    labels_of,
    new_object,
    with_flux_annotations,
)
from kanaria.routing.support import Supports, refuse_unsupported
from kanaria.spec.canary import Canary
from kanaria.spec.naming import CANARY_SUFFIX, PRIMARY_SUFFIX
from kanaria.spec.objects import INGRESS, Object, ObjectClient

PREDICATE_ANNOTATION = "zalando.org/skipper-predicate"
WEIGHTS_ANNOTATION = "zalando.org/backend-weights"
ROUTE_WEIGHT = "Weight(100)"
ROUTE_DISABLED = "False()"
SUPPORTS = Supports("skipper")


class SkipperRouter:
    def __init__(self, objects: ObjectClient) -> None:
        self.objects = objects
        self.services = ServiceRouter(objects)

    async def reconcile(self, canary: Canary) -> None:
        refuse_unsupported(canary, SUPPORTS)
        await self.services.reconcile(canary)
        apex_name = _ingress_name(canary)
        apex = await self.objects.get(INGRESS, canary.namespace, apex_name)
        if apex is None:
            raise NotFoundError(f"ingress {apex_name}.{canary.namespace} not found")
        spec = canary_ingress_spec(canary, apex)
        annotations = _with_weights(canary, annotations_of(apex), Routes(100, 0))
        name = apex_name + CANARY_SUFFIX
        live = await self.objects.get(INGRESS, canary.namespace, name)
        if live is None:
            ingress = new_object(
                INGRESS, canary, name, spec, labels=labels_of(apex), annotations=annotations
            )
            await self.objects.create(ingress)
        elif live.get("spec") != spec:
            live["spec"] = spec
            live["metadata"]["annotations"] = with_flux_annotations(annotations)
            await self.objects.replace(live)

    async def set_routes(self, canary: Canary, routes: Routes) -> None:
        live = await self._canary_ingress(canary)
        annotations = _with_weights(canary, annotations_of(live), routes)
        if routes.canary_weight == 0:
            predicate = annotations[PREDICATE_ANNOTATION]
            annotations[PREDICATE_ANNOTATION] = insert_predicate(predicate, ROUTE_DISABLED)
        live["metadata"]["annotations"] = annotations
        await self.objects.replace(live)

    async def get_routes(self, canary: Canary) -> Routes:
        live = await self._canary_ingress(canary)
        where = f"ingress {live['metadata']['name']}.{canary.namespace}"
        text = annotations_of(live).get(WEIGHTS_ANNOTATION)
        if text is None:
            raise NotFoundError(f"{where} has no annotation {WEIGHTS_ANNOTATION}")
        try:
            weights = json.loads(text)
            apex = canary.spec.service_name
            return Routes(int(weights[apex + PRIMARY_SUFFIX]), int(weights[apex + CANARY_SUFFIX]))
        except (ValueError, TypeError, KeyError) as exc:
            raise ConfigError(
                f"{where}: annotation {WEIGHTS_ANNOTATION} has no weights for the primary and "
                f"the canary: {text!r} ({exc!r})"
            ) from exc

    async def finalize(self, canary: Canary) -> None:
        """The Services get their selector back, and the canary Ingress goes."""
        await self.services.finalize(canary)
        await self.objects.delete(INGRESS, canary.namespace, _ingress_name(canary) + CANARY_SUFFIX)

    async def _canary_ingress(self, canary: Canary) -> Object:
        name = _ingress_name(canary) + CANARY_SUFFIX
        live = await self.objects.get(INGRESS, canary.namespace, name)
        if live is None:
            raise NotFoundError(f"ingress {name}.{canary.namespace} not found")
        return live


def _ingress_name(canary: Canary) -> str:
    reference = canary.spec.ingress_ref
    if reference is None or not reference.name:
        raise ConfigError(f"canary {canary.key}: ingress selector is empty (spec.ingressRef)")
    return reference.name


def canary_ingress_spec(canary: Canary, apex: Object) -> dict[str, Any]:
    """The user's Ingress with each path of `<svc>` sent to the primary, and a copy of that
    path for the canary appended to the same rule."""
    service = canary.spec.service_name
    spec: dict[str, Any] = copy.deepcopy(apex.get("spec") or {})
    for rule in spec.get("rules") or []:
        paths = (rule.get("http") or {}).get("paths") or []
        for path in list(paths):
            backend = (path.get("backend") or {}).get("service")
            if backend is None or backend.get("name") != service:
                continue
            backend["name"] = service + PRIMARY_SUFFIX
            canary_path = copy.deepcopy(path)
            canary_path["backend"]["service"]["name"] = service + CANARY_SUFFIX
            paths.append(canary_path)
    return spec


def _with_weights(canary: Canary, annotations: dict[str, str], routes: Routes) -> dict[str, str]:
    apex = canary.spec.service_name
    weights = {
        apex + PRIMARY_SUFFIX: routes.primary_weight,
        apex + CANARY_SUFFIX: routes.canary_weight,
    }
    predicate = annotations.get(PREDICATE_ANNOTATION, "")
    return {
        **annotations,
        # Go writes a map's keys sorted, without spaces
        WEIGHTS_ANNOTATION: json.dumps(weights, sort_keys=True, separators=(",", ":")),
        PREDICATE_ANNOTATION: insert_predicate(predicate, ROUTE_WEIGHT),
    }


def insert_predicate(raw: str, insert: str) -> str:
    """`insert` first, then the other predicates of `raw` without the weight and off switches."""
    kept = [
        part.strip()
        for part in raw.split("&&")
        if part.strip() and part.strip() not in (ROUTE_WEIGHT, ROUTE_DISABLED)
    ]
    return " && ".join([insert, *kept])
