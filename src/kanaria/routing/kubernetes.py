"""The three Services of a canary, and the `kubernetes` provider that has nothing else.

`ServiceRouter` is Flagger's Kubernetes service router, which every mesh router runs first:
`<svc>-canary` selects the target's pods, `<svc>-primary` and the apex `<svc>` the primary's.
A pre-existing apex Service is taken over (selector and ports) but its metadata stays its own;
on deletion with `revertOnDeletion` it gets its selector back (reference §2.1).

`KubernetesRouter` is provider `kubernetes` (Flagger's no-op mesh router, §3): plain Services
and no mesh, so traffic cannot be split. Only blue/green works: the canary is tested through
`<svc>-canary` while users stay on the primary, and promotion switches them by rolling the new
version out to the primary's pods. The engine asks `shifts_traffic` to run that way.
"""

from __future__ import annotations

import json
from typing import Any

from kanaria.errors import ConfigError, NotFoundError
from kanaria.routing.base import Routes
from kanaria.routing.metadata import (
    KUBECTL_ANNOTATION,
    annotations_of,
    labels_of,
    new_object,
    with_flux_annotations,
)
from kanaria.spec.canary import Canary, ServiceMetadata
from kanaria.spec.naming import CANARY_SUFFIX, PRIMARY_SUFFIX, Selector, selector_of
from kanaria.spec.objects import DEPLOYMENT, SERVICE, Object, ObjectClient


class ServiceRouter:
    """Reconciles the Services; traffic weights are the mesh router's business."""

    def __init__(self, objects: ObjectClient) -> None:
        self.objects = objects

    async def reconcile(self, canary: Canary) -> None:
        selector = await self._selector(canary)
        apex = canary.spec.service_name
        service = canary.spec.service
        wanted = [
            (apex + CANARY_SUFFIX, selector.target, service.canary),
            (apex + PRIMARY_SUFFIX, selector.primary, service.primary),
            (apex, selector.primary, service.apex),
        ]
        for name, pod_selector, metadata in wanted:
            await self._reconcile_service(canary, name, pod_selector, selector.label, metadata)

    async def finalize(self, canary: Canary) -> None:
        """Give a Service that kanaria took over its own pods back (Canary-owned ones go with
        the Canary)."""
        name = canary.spec.service_name
        live = await self.objects.get(SERVICE, canary.namespace, name)
        if live is None:
            raise NotFoundError(f"service {name}.{canary.namespace} not found")
        if _canary_controller(live) is not None:
            return
        last_applied = annotations_of(live).get(KUBECTL_ANNOTATION)
        if last_applied is None:
            selector = await self._selector(canary)
            await self._reconcile_service(canary, name, selector.target, selector.label, None)
            return
        try:
            selector_applied = (json.loads(last_applied).get("spec") or {}).get("selector")
        except (ValueError, AttributeError) as exc:
            raise ConfigError(
                f"service {name}.{canary.namespace}: annotation {KUBECTL_ANNOTATION} "
                f"is not a JSON object: {exc}"
            ) from exc
        live["spec"]["selector"] = selector_applied
        await self.objects.replace(live)

    async def _selector(self, canary: Canary) -> Selector:
        name = canary.spec.target_ref.name
        target = await self.objects.get(DEPLOYMENT, canary.namespace, name)
        if target is None:
            raise NotFoundError(f"deployment {name}.{canary.namespace} not found")
        return selector_of(target)

    async def _reconcile_service(
        self,
        canary: Canary,
        name: str,
        pod_selector: dict[str, str],
        label: str,
        metadata: ServiceMetadata | None,
    ) -> None:
        labels = {**(metadata.labels if metadata else {}), label: name}
        annotations = with_flux_annotations(metadata.annotations if metadata else None)
        spec = service_spec(canary, pod_selector)
        live = await self.objects.get(SERVICE, canary.namespace, name)
        if live is None:
            service = new_object(
                SERVICE, canary, name, spec, labels=labels, annotations=annotations
            )
            await self.objects.create(service)
            return
        updated = _updated_service(canary, live, spec, labels, annotations)
        if updated is not None:
            await self.objects.replace(updated)


def service_spec(canary: Canary, pod_selector: dict[str, str]) -> dict[str, Any]:
    service = canary.spec.service
    target_port = service.target_port
    port: dict[str, Any] = {
        "name": service.port_name or "http",
        "protocol": "TCP",
        "port": service.port,
        "targetPort": target_port if target_port not in (None, 0, "0", "") else service.port,
    }
    if service.app_protocol:
        port["appProtocol"] = service.app_protocol
    spec: dict[str, Any] = {"type": "ClusterIP", "selector": pod_selector, "ports": [port]}
    if service.headless:
        spec["clusterIP"] = "None"
    if service.traffic_distribution:
        spec["trafficDistribution"] = service.traffic_distribution
    return spec


def _updated_service(
    canary: Canary,
    live: Object,
    spec: dict[str, Any],
    labels: dict[str, str],
    annotations: dict[str, str],
) -> Object | None:
    """The live Service with what kanaria manages put right, or None when nothing differs.

    Selector and ports always follow the Canary (node ports kept); labels and annotations only
    on a Service this Canary created, keeping the keys listed in `unmanagedMetadata`.
    """
    live_spec = live.setdefault("spec", {})
    changed = False
    ports = _with_node_ports(spec["ports"], live_spec.get("ports") or [])
    if _by_port(ports) != _by_port(live_spec.get("ports") or []) or (
        spec["selector"] != live_spec.get("selector")
    ):
        live_spec["ports"], live_spec["selector"] = ports, spec["selector"]
        changed = True
    owner = _canary_controller(live)
    if owner is not None and owner.get("name") == canary.name:
        wanted_labels, wanted_annotations = _with_unmanaged(canary, live, labels, annotations)
        if wanted_labels != labels_of(live) or wanted_annotations != annotations_of(live):
            live["metadata"]["labels"] = wanted_labels
            live["metadata"]["annotations"] = wanted_annotations
            changed = True
    if not changed:
        return None
    live["metadata"]["annotations"] = with_flux_annotations(annotations_of(live))
    return live


def _with_node_ports(wanted: list[dict[str, Any]], live: list[dict[str, Any]]) -> list[Any]:
    node_ports = {port.get("name"): port["nodePort"] for port in live if port.get("nodePort")}
    return [
        {**port, "nodePort": node_ports[port["name"]]} if port["name"] in node_ports else port
        for port in wanted
    ]


def _by_port(ports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(ports, key=lambda port: int(port.get("port") or 0))


def _with_unmanaged(
    canary: Canary, live: Object, labels: dict[str, str], annotations: dict[str, str]
) -> tuple[dict[str, str], dict[str, str]]:
    unmanaged = canary.spec.service.unmanaged_metadata or {}
    live_labels, live_annotations = labels_of(live), annotations_of(live)
    kept_labels = {k: live_labels[k] for k in unmanaged.get("labels", []) if k in live_labels}
    kept_annotations = {
        k: live_annotations[k] for k in unmanaged.get("annotations", []) if k in live_annotations
    }
    return {**labels, **kept_labels}, {**annotations, **kept_annotations}


def _canary_controller(obj: Object) -> dict[str, Any] | None:
    """The object's controller reference when a Canary controls it."""
    for owner in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if owner.get("controller") and owner.get("kind") == "Canary":
            return dict(owner)
    return None


class KubernetesRouter:
    """Provider `kubernetes`: the Services and no mesh objects; blue/green only."""

    shifts_traffic = False

    def __init__(self, objects: ObjectClient) -> None:
        self.services = ServiceRouter(objects)

    async def reconcile(self, canary: Canary) -> None:
        await self.services.reconcile(canary)

    async def set_routes(self, canary: Canary, routes: Routes) -> None:
        """No mesh, no weights: the apex Service stays on the primary's pods."""

    async def get_routes(self, canary: Canary) -> Routes:
        """As Flagger's no-op router: on the canary once blue/green iterations began."""
        return Routes(0, 100) if canary.status.iterations > 0 else Routes(100, 0)

    async def finalize(self, canary: Canary) -> None:
        await self.services.finalize(canary)
