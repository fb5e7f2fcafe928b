"""The three Services of a canary (Flagger's KubernetesRouter): `<svc>`, `<svc>-primary`,
`<svc>-canary`.

The apex Service selects the primary's pods, so taking it over is seamless once the primary is
ready; `-canary` selects the target's pods. A pre-existing apex Service is taken over: its
selector and ports are set, its own labels and annotations kept.
"""

from __future__ import annotations

from typing import Any

from kanaria.errors import NotFoundError
from kanaria.spec.canary import Canary, ServiceMetadata
from kanaria.spec.naming import (
    CANARY_SUFFIX,
    PRIMARY_SUFFIX,
    owned_by,
    owner_reference,
    selector_of,
)
from kanaria.spec.objects import DEPLOYMENT, SERVICE, Object, ObjectClient


class ServiceRouter:
    """Reconciles the Services; traffic weights are the mesh router's business."""

    def __init__(self, objects: ObjectClient) -> None:
        self.objects = objects

    async def reconcile(self, canary: Canary) -> None:
        name = canary.spec.target_ref.name
        target = await self.objects.get(DEPLOYMENT, canary.namespace, name)
        if target is None:
            raise NotFoundError(f"deployment {name}.{canary.namespace} not found")
        selector = selector_of(target)
        apex = canary.spec.service_name
        service = canary.spec.service
        wanted = [
            (apex, selector.primary, service.apex),
            (apex + PRIMARY_SUFFIX, selector.primary, service.primary),
            (apex + CANARY_SUFFIX, selector.target, service.canary),
        ]
        for service_name, pod_selector, metadata in wanted:
            await self._reconcile_service(
                canary, service_name, pod_selector, selector.label, metadata
            )

    async def _reconcile_service(
        self,
        canary: Canary,
        name: str,
        pod_selector: dict[str, str],
        label: str,
        metadata: ServiceMetadata | None,
    ) -> None:
        existing = await self.objects.get(SERVICE, canary.namespace, name)
        spec = self._spec(canary, pod_selector)
        labels = {label: name, **(metadata.labels if metadata else {})}
        annotations = dict(metadata.annotations) if metadata else {}
        if existing is None:
            await self.objects.create(
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": {
                        "name": name,
                        "namespace": canary.namespace,
                        "labels": labels,
                        "annotations": annotations,
                        "ownerReferences": [owner_reference(canary)],
                    },
                    "spec": spec,
                }
            )
            return
        patch: dict[str, Any] = {}
        if _differs(existing.get("spec") or {}, spec):
            patch["spec"] = spec
        if owned_by(existing, canary):
            wanted_meta = {"labels": labels, "annotations": annotations}
            current = existing.get("metadata") or {}
            if any((current.get(key) or {}) != value for key, value in wanted_meta.items()):
                patch["metadata"] = wanted_meta
        if patch:
            await self.objects.patch(SERVICE, canary.namespace, name, patch)

    def _spec(self, canary: Canary, pod_selector: dict[str, str]) -> dict[str, Any]:
        service = canary.spec.service
        port: dict[str, Any] = {
            "name": service.port_name,
            "protocol": "TCP",
            "port": service.port,
            "targetPort": service.target_port if service.target_port is not None else service.port,
        }
        if service.app_protocol:
            port["appProtocol"] = service.app_protocol
        spec: dict[str, Any] = {"type": "ClusterIP", "selector": pod_selector, "ports": [port]}
        if service.headless:
            spec["clusterIP"] = "None"
        return spec


def _differs(current: Object, wanted: Object) -> bool:
    return any(current.get(key) != value for key, value in wanted.items())
