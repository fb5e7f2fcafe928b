"""The engine's `Target` for a Knative Service (Flagger's KnativeController).

A Knative Service keeps each version as an immutable Revision and scales them itself, so
there is nothing to copy and nothing to scale: the primary is the revision named by the
annotation `flagger.app/primary-revision`, the canary is `status.latestCreatedRevisionName`,
a new revision is a new release, and promotion moves the annotation to the latest revision.
At initialization all traffic is pinned to the current revision, so the next one starts at 0 %.
"""

from __future__ import annotations

from kanaria.errors import NotFoundError, TemporaryError
from kanaria.spec.canary import Canary, Phase
from kanaria.spec.naming import PRIMARY_REVISION_ANNOTATION
from kanaria.spec.objects import KNATIVE_REVISION, KNATIVE_SERVICE, Object, ObjectClient
from kanaria.workloads.base import Revision


class KnativeServiceTarget:
    def __init__(self, objects: ObjectClient) -> None:
        self.objects = objects

    async def service(self, canary: Canary) -> Object:
        name = canary.spec.target_ref.name
        found = await self.objects.get(KNATIVE_SERVICE, canary.namespace, name)
        if found is None:
            raise NotFoundError(f"Knative Service {name}.{canary.namespace} not found")
        return found

    async def initialize(self, canary: Canary) -> None:
        """While initializing: the current revision is the primary and takes all traffic."""
        if canary.status.phase is not Phase.INITIALIZING:
            return
        latest = await self._latest_revision(canary)
        await self.objects.patch(
            KNATIVE_SERVICE,
            canary.namespace,
            canary.spec.target_ref.name,
            {
                "metadata": {"annotations": {PRIMARY_REVISION_ANNOTATION: latest}},
                "spec": {
                    "traffic": [
                        {"latestRevision": True, "percent": 0},
                        {"revisionName": latest, "percent": 100},
                    ]
                },
            },
        )

    async def revision(self, canary: Canary) -> Revision:
        return Revision(await self._latest_revision(canary))

    async def check_primary_ready(self, canary: Canary) -> None:
        service = await self.service(canary)
        annotations = (service.get("metadata") or {}).get("annotations") or {}
        primary = annotations.get(PRIMARY_REVISION_ANNOTATION)
        if not primary:
            raise TemporaryError(
                f"Knative Service {canary.spec.target_ref.name}.{canary.namespace} primary "
                "revision annotation not found"
            )
        await self._check_ready(canary, str(primary))

    async def check_canary_ready(self, canary: Canary) -> None:
        await self._check_ready(canary, await self._latest_revision(canary))

    async def promote(self, canary: Canary) -> None:
        latest = await self._latest_revision(canary)
        await self.objects.patch(
            KNATIVE_SERVICE,
            canary.namespace,
            canary.spec.target_ref.name,
            {"metadata": {"annotations": {PRIMARY_REVISION_ANNOTATION: latest}}},
        )

    async def scale_to_zero(self, canary: Canary) -> None:
        """Knative scales revisions by their traffic; nothing to do."""

    async def scale_from_zero(self, canary: Canary) -> None:
        """Knative scales revisions by their traffic; nothing to do."""

    async def reconcile_primary_scaler(self, canary: Canary, *, initial: bool) -> None:
        """A Knative target has no autoscalerRef (refused in `spec/`)."""

    async def _latest_revision(self, canary: Canary) -> str:
        service = await self.service(canary)
        latest = (service.get("status") or {}).get("latestCreatedRevisionName")
        if not latest:
            raise TemporaryError(
                f"Knative Service {canary.spec.target_ref.name}.{canary.namespace} has no "
                "revision yet"
            )
        return str(latest)

    async def _check_ready(self, canary: Canary, name: str) -> None:
        revision = await self.objects.get(KNATIVE_REVISION, canary.namespace, name)
        if revision is None:
            raise TemporaryError(f"Knative Revision {name}.{canary.namespace} not found")
        conditions = (revision.get("status") or {}).get("conditions") or []
        if not any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions):
            raise TemporaryError(f"Knative Revision {name}.{canary.namespace} is not ready")
