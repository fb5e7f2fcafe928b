"""NGINX ingress: a canary Ingress `<ingressRef>-canary` beside the user's Ingress (provider
`nginx`, reference §8).

The canary Ingress is a copy of `spec.ingressRef` whose backend `<svc>` becomes `<svc>-canary`;
ingress-nginx then sends it a share of the user's requests, by the annotations
`<prefix>/canary-weight` (canary strategy, blue/green) or `<prefix>/canary-by-header`,
`-by-header-value`, `-by-header-pattern` and `-by-cookie` (A/B testing on one header and/or one
cookie). The prefix is `nginx.ingress.kubernetes.io` unless the controller runs with another,
as Flagger's `-ingress-annotations-prefix`. The user's Ingress is never changed, and stays when
the Canary goes. Mirroring and session affinity have no NGINX form: Flagger ignores them,
kanaria refuses them (`support.py`).
"""

from __future__ import annotations

import copy
from typing import Any

from kanaria.errors import ConfigError, NotFoundError
from kanaria.routing.base import Routes
from kanaria.routing.kubernetes import ServiceRouter
from kanaria.routing.metadata import (
    KUBECTL_ANNOTATION,
    annotations_of,
    labels_of,
    new_object,
    with_flux_annotations,
)
from kanaria.routing.support import Supports, refuse_unsupported
from kanaria.spec.canary import Canary
from kanaria.spec.naming import CANARY_SUFFIX
from kanaria.spec.objects import INGRESS, Object, ObjectClient

DEFAULT_ANNOTATION_PREFIX = "nginx.ingress.kubernetes.io"
SUPPORTS = Supports("nginx", header_matches=("exact", "regex"))


class NginxRouter:
    def __init__(
        self, objects: ObjectClient, annotation_prefix: str = DEFAULT_ANNOTATION_PREFIX
    ) -> None:
        self.objects = objects
        self.prefix = annotation_prefix
        self.services = ServiceRouter(objects)

    def annotation(self, suffix: str) -> str:
        return f"{self.prefix}/{suffix}"

    async def reconcile(self, canary: Canary) -> None:
        refuse_unsupported(canary, SUPPORTS)
        await self.services.reconcile(canary)
        ingress_name = _ingress_name(canary)
        source = await self.objects.get(INGRESS, canary.namespace, ingress_name)
        if source is None:
            raise NotFoundError(f"ingress {ingress_name}.{canary.namespace} not found")
        spec = canary_ingress_spec(canary, source)
        name = ingress_name + CANARY_SUFFIX
        live = await self.objects.get(INGRESS, canary.namespace, name)
        if live is None:
            annotations = self._initial_annotations(annotations_of(source))
            ingress = new_object(
                INGRESS, canary, name, spec, labels=labels_of(source), annotations=annotations
            )
            await self.objects.create(ingress)
        elif live.get("spec") != spec:
            live["spec"] = spec
            await self.objects.replace(live)

    async def set_routes(self, canary: Canary, routes: Routes) -> None:
        live = await self._canary_ingress(canary)
        annotations = annotations_of(live)
        if canary.spec.analysis.match:
            annotations = self._ab_annotations(annotations, canary.spec.analysis.match)
        else:
            annotations[self.annotation("canary-weight")] = str(routes.canary_weight)
        if routes.canary_weight > 0:
            annotations[self.annotation("canary")] = "true"
        else:
            annotations = self._initial_annotations(annotations)
        live["metadata"]["annotations"] = annotations
        await self.objects.replace(live)

    async def get_routes(self, canary: Canary) -> Routes:
        annotations = annotations_of(await self._canary_ingress(canary))
        by_request = (self.annotation("canary-by-cookie"), self.annotation("canary-by-header"))
        if canary.spec.analysis.match and any(key in annotations for key in by_request):
            return Routes(0, 100)
        text = annotations.get(self.annotation("canary-weight"), "0")
        try:
            weight = int(text)
        except ValueError:
            raise ConfigError(
                f"ingress {_ingress_name(canary)}-canary.{canary.namespace}: annotation "
                f"{self.annotation('canary-weight')} is {text!r}, not a whole number"
            ) from None
        return Routes(100 - weight, weight)

    async def finalize(self, canary: Canary) -> None:
        """Flagger leaves the canary Ingress in place; the Services get their selector back."""
        await self.services.finalize(canary)

    async def _canary_ingress(self, canary: Canary) -> Object:
        name = _ingress_name(canary) + CANARY_SUFFIX
        live = await self.objects.get(INGRESS, canary.namespace, name)
        if live is None:
            raise NotFoundError(f"ingress {name}.{canary.namespace} not found")
        return live

    def _initial_annotations(self, annotations: dict[str, str]) -> dict[str, str]:
        """The user's annotations without any canary ones, and the canary off the traffic."""
        canary_prefix = self.annotation("canary")
        kept = {
            key: value
            for key, value in with_flux_annotations(annotations).items()
            if canary_prefix not in key and KUBECTL_ANNOTATION not in key
        }
        return {**kept, canary_prefix: "true", self.annotation("canary-weight"): "0"}

    def _ab_annotations(
        self, annotations: dict[str, str], matches: list[dict[str, Any]]
    ) -> dict[str, str]:
        """Route by one header and/or one cookie; the last of each in `analysis.match` wins."""
        wanted: dict[str, str] = {}
        for match in matches:
            for header, written in (match.get("headers") or {}).items():
                condition = written or {}
                if header == "cookie":
                    wanted["canary-by-cookie"] = condition.get("exact") or ""
                    continue
                wanted["canary-by-header"] = header
                wanted["canary-by-header-value"] = condition.get("exact") or ""
                wanted["canary-by-header-pattern"] = condition.get("regex") or ""
        # Flagger's filter looks at values: keys like `…/canary-weight` are kept
        canary_prefix = self.annotation("canary")
        kept = {
            key: value
            for key, value in with_flux_annotations(annotations).items()
            if canary_prefix not in value
        }
        kept[canary_prefix] = "true"
        kept.update({self.annotation(suffix): value for suffix, value in wanted.items() if value})
        return kept


def _ingress_name(canary: Canary) -> str:
    reference = canary.spec.ingress_ref
    if reference is None or not reference.name:
        raise ConfigError(f"canary {canary.key}: ingress selector is empty (spec.ingressRef)")
    return reference.name


def canary_ingress_spec(canary: Canary, source: Object) -> dict[str, Any]:
    """The user's Ingress spec with its backend `<svc>` switched to `<svc>-canary`."""
    apex = canary.spec.service_name
    spec: dict[str, Any] = copy.deepcopy(source.get("spec") or {})
    switched = False
    for rule in spec.get("rules") or []:
        for path in (rule.get("http") or {}).get("paths") or []:
            backend = (path.get("backend") or {}).get("service")
            if backend is not None and backend.get("name") == apex:
                backend["name"] = apex + CANARY_SUFFIX
                switched = True
    if not switched:
        raise ConfigError(
            f"canary {canary.key}: backend {apex} not found in ingress {_ingress_name(canary)}"
        )
    return spec
