"""The Knative router: a Knative Service splits traffic between two of its own revisions.

Knative keeps every version of a Service as a Revision, so there is no `-primary` copy and no
routing object to create (flagger-routers.md §15): the annotation `flagger.app/primary-revision`
names the primary revision, the latest created revision is the canary, and the weights are the
Service's `spec.traffic` percents. Routes in force are read from `status.traffic`, which
Knative's controller writes once it has applied them. Only Knative Service targets go with
this router (checked in `spec/`). Weights only: A/B, mirroring and session affinity are refused.
"""

from __future__ import annotations

from typing import Any

from kanaria.errors import TemporaryError
from kanaria.routing.base import Routes
from kanaria.routing.managed import require
from kanaria.routing.support import Supports, refuse_unsupported
from kanaria.spec.canary import Canary
from kanaria.spec.naming import PRIMARY_REVISION_ANNOTATION
from kanaria.spec.objects import KNATIVE_SERVICE, Object, ObjectClient

SUPPORTS = Supports("knative")


def traffic(primary_revision: str, routes: Routes) -> list[dict[str, Any]]:
    """Knative's traffic targets: the latest revision (canary) first, then the primary."""
    return [
        {"latestRevision": True, "percent": routes.canary_weight},
        {"revisionName": primary_revision, "percent": routes.primary_weight},
    ]


class KnativeRouter:
    def __init__(self, objects: ObjectClient) -> None:
        self.objects = objects

    async def reconcile(self, canary: Canary) -> None:
        refuse_unsupported(canary, SUPPORTS)
        service = await self._service(canary)
        if PRIMARY_REVISION_ANNOTATION in _annotations(service):
            return
        latest = (service.get("status") or {}).get("latestCreatedRevisionName")
        if not latest:
            raise TemporaryError(f"{_key(canary)} has no revision yet")
        await self.objects.patch(
            KNATIVE_SERVICE,
            canary.namespace,
            canary.spec.target_ref.name,
            {"metadata": {"annotations": {PRIMARY_REVISION_ANNOTATION: latest}}},
        )

    async def set_routes(self, canary: Canary, routes: Routes) -> None:
        primary = _primary_revision(canary, await self._service(canary))
        await self.objects.patch(
            KNATIVE_SERVICE,
            canary.namespace,
            canary.spec.target_ref.name,
            {"spec": {"traffic": traffic(primary, routes)}},
        )

    async def get_routes(self, canary: Canary) -> Routes:
        service = await self._service(canary)
        primary = _primary_revision(canary, service)
        targets = (service.get("status") or {}).get("traffic") or []
        latest = next((t for t in targets if t.get("latestRevision") is True), None)
        pinned = next((t for t in targets if t.get("revisionName") == primary), None)
        if latest is None or pinned is None:
            raise TemporaryError(f"{_key(canary)} traffic spec invalid")
        for role, target in (("primary", pinned), ("canary", latest)):
            if target.get("percent") is None:
                raise TemporaryError(
                    f"{_key(canary)} {role} revision traffic percent does not exist"
                )
        return Routes(int(pinned["percent"]), int(latest["percent"]))

    async def finalize(self, canary: Canary) -> None:
        """Forget the primary revision and give all traffic back to the latest one (Flagger
        only removes the annotation, leaving the last split pinned)."""
        service = await self.objects.get(
            KNATIVE_SERVICE, canary.namespace, canary.spec.target_ref.name
        )
        if service is None:
            return
        await self.objects.patch(
            KNATIVE_SERVICE,
            canary.namespace,
            canary.spec.target_ref.name,
            {
                "metadata": {"annotations": {PRIMARY_REVISION_ANNOTATION: None}},
                "spec": {"traffic": None},
            },
        )

    async def _service(self, canary: Canary) -> Object:
        return await require(
            self.objects, KNATIVE_SERVICE, canary.namespace, canary.spec.target_ref.name
        )


def _primary_revision(canary: Canary, service: Object) -> str:
    primary = _annotations(service).get(PRIMARY_REVISION_ANNOTATION)
    if not primary:
        raise TemporaryError(f"{_key(canary)} annotation {PRIMARY_REVISION_ANNOTATION} not found")
    return str(primary)


def _annotations(service: Object) -> dict[str, str]:
    annotations: dict[str, str] = (service.get("metadata") or {}).get("annotations") or {}
    return annotations


def _key(canary: Canary) -> str:
    return f"Knative Service {canary.spec.target_ref.name}.{canary.namespace}"
