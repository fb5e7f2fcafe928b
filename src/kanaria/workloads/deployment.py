"""The engine's `Target` for a Deployment: `<name>-primary` made, kept ready, and promoted.

Written once against `ObjectClient`, so the local platform and the operator share it. It does
what Flagger's deployment controller does (flagger.md §2.6): the primary is a copy of the target
with its selector label suffixed `-primary` and its tracked ConfigMaps/Secrets replaced by
`-primary` copies; promotion copies the target's template (and configs) over; the target is
scaled to zero between releases and back up for the next one.
"""

from __future__ import annotations

import copy
import hashlib
import json
import uuid
from typing import Any

from kanaria.clock import ROLLOUT_DEADLINE_FLOOR_SECONDS, Clock
from kanaria.errors import NotFoundError, PermanentError, TemporaryError
from kanaria.spec.canary import Canary
from kanaria.spec.naming import (
    Selector,
    owner_reference,
    primary_name,
    selector_of,
)
from kanaria.spec.objects import DEPLOYMENT, HPA, Object, ObjectClient, kind_of, name_of
from kanaria.workloads import configs
from kanaria.workloads.base import Revision
from kanaria.workloads.readiness import check_rollout

ID_ANNOTATION = "flagger-id"
_COPIED_SPEC_FIELDS = (
    "minReadySeconds",
    "progressDeadlineSeconds",
    "revisionHistoryLimit",
    "strategy",
)


def template_hash(deployment: Object) -> str:
    """A stable hash of the pod template: what "a new revision" means."""
    template = (deployment.get("spec") or {}).get("template") or {}
    text = json.dumps(template, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class DeploymentTarget:
    def __init__(self, objects: ObjectClient, clock: Clock) -> None:
        self.objects = objects
        self.clock = clock

    async def target(self, canary: Canary) -> Object:
        name, namespace = canary.spec.target_ref.name, canary.namespace
        deployment = await self.objects.get(DEPLOYMENT, namespace, name)
        if deployment is None:
            raise NotFoundError(f"deployment {name}.{namespace} not found")
        return deployment

    async def primary(self, canary: Canary) -> Object | None:
        name = primary_name(canary.spec.target_ref.name)
        return await self.objects.get(DEPLOYMENT, canary.namespace, name)

    # Target

    async def initialize(self, canary: Canary) -> None:
        target = await self.target(canary)
        if await self.primary(canary) is None:
            await self._sync_configs(canary, target)
            await self.objects.create(self._primary_from(canary, target, existing=None))

    async def revision(self, canary: Canary) -> Revision:
        target = await self.target(canary)
        pod_spec = target["spec"]["template"].get("spec") or {}
        tracked = await configs.tracked(self.objects, canary.namespace, pod_spec)
        return Revision(template_hash(target), configs.checksums(tracked))

    async def check_primary_ready(self, canary: Canary) -> None:
        primary = await self.primary(canary)
        key = f"{primary_name(canary.spec.target_ref.name)}.{canary.namespace}"
        if primary is None:
            raise TemporaryError(f"{key} not ready: deployment not found")
        if int((primary.get("spec") or {}).get("replicas", 1)) == 0:
            raise PermanentError(f"halt {key} advancement: primary deployment is scaled to zero")
        threshold = canary.spec.analysis.primary_ready_threshold or 100
        try:
            check_rollout(primary, threshold, self._deadline(canary), self.clock.now())
        except (TemporaryError, PermanentError) as exc:
            raise type(exc)(f"{key} not ready: {exc}") from exc

    async def check_canary_ready(self, canary: Canary) -> None:
        target = await self.target(canary)
        key = f"{canary.spec.target_ref.name}.{canary.namespace}"
        threshold = canary.spec.analysis.canary_ready_threshold or 100
        try:
            check_rollout(target, threshold, self._deadline(canary), self.clock.now())
        except (TemporaryError, PermanentError) as exc:
            raise type(exc)(f"canary deployment {key} not ready: {exc}") from exc

    async def promote(self, canary: Canary) -> None:
        target = await self.target(canary)
        primary = await self.primary(canary)
        await self._sync_configs(canary, target)
        updated = self._primary_from(canary, target, existing=primary)
        if primary is None:
            await self.objects.create(updated)
        else:
            await self.objects.replace(updated)

    async def scale_to_zero(self, canary: Canary) -> None:
        await self._scale(canary, 0)

    async def scale_from_zero(self, canary: Canary) -> None:
        target = await self.target(canary)
        replicas = int((target.get("spec") or {}).get("replicas") or 0)
        if replicas > 0:
            return
        await self._scale(canary, await self._replicas_to_start(canary))

    async def reconcile_primary_scaler(self, canary: Canary, *, initial: bool) -> None:
        ref = canary.spec.autoscaler_ref
        if ref is None:
            return
        target_hpa = await self.objects.get(HPA, canary.namespace, ref.name)
        if target_hpa is None:
            raise NotFoundError(f"HorizontalPodAutoscaler {ref.name}.{canary.namespace} not found")
        existing = await self.objects.get(HPA, canary.namespace, primary_name(ref.name))
        wanted = self._primary_hpa(canary, target_hpa)
        if existing is None:
            await self.objects.create(wanted)
        elif not initial and existing.get("spec") != wanted["spec"]:
            wanted["metadata"] = {**existing["metadata"], "labels": wanted["metadata"]["labels"]}
            await self.objects.replace(wanted)

    # helpers

    def _deadline(self, canary: Canary) -> float:
        # Real processes start in real time: a compressed clock may not make a deadline
        # shorter than a rollout can possibly take.
        return self.clock.scaled(
            canary.spec.progress_deadline_seconds, floor=ROLLOUT_DEADLINE_FLOOR_SECONDS
        )

    async def _scale(self, canary: Canary, replicas: int) -> None:
        target = canary.spec.target_ref.name
        await self.objects.patch(
            DEPLOYMENT, canary.namespace, target, {"spec": {"replicas": replicas}}
        )

    async def _replicas_to_start(self, canary: Canary) -> int:
        primary = await self.primary(canary)
        primary_replicas = int(((primary or {}).get("spec") or {}).get("replicas") or 0)
        if canary.spec.autoscaler_ref is None:
            return max(primary_replicas, 1)
        hpa = await self.objects.get(HPA, canary.namespace, canary.spec.autoscaler_ref.name)
        minimum = int(((hpa or {}).get("spec") or {}).get("minReplicas") or 1)
        return max(minimum, 1)

    async def _sync_configs(self, canary: Canary, target: Object) -> None:
        pod_spec = target["spec"]["template"].get("spec") or {}
        for config in await configs.tracked(self.objects, canary.namespace, pod_spec):
            copied = configs.primary_copy(config, owner_reference(canary))
            existing = await self.objects.get(kind_of(config), canary.namespace, name_of(copied))
            if existing is None:
                await self.objects.create(copied)
            else:
                copied["metadata"]["resourceVersion"] = existing["metadata"].get("resourceVersion")
                await self.objects.replace(copied)

    def _primary_from(self, canary: Canary, target: Object, existing: Object | None) -> Object:
        selector = selector_of(target)
        spec = target["spec"]
        tracked_names = {ref.name for ref in configs.references(spec["template"].get("spec") or {})}
        template = _primary_template(spec["template"], selector, tracked_names)
        primary_spec: dict[str, Any] = {
            "replicas": _primary_replicas(canary, target, existing),
            "selector": {"matchLabels": selector.primary},
            "template": template,
        }
        primary_spec.update(
            {key: copy.deepcopy(spec[key]) for key in _COPIED_SPEC_FIELDS if key in spec}
        )
        metadata = {
            "name": primary_name(target["metadata"]["name"]),
            "namespace": canary.namespace,
            "labels": {**(target["metadata"].get("labels") or {}), **selector.primary},
            "annotations": {},
            "ownerReferences": [owner_reference(canary)],
        }
        if existing is not None:
            metadata = {**existing["metadata"], **metadata}
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": metadata,
            "spec": primary_spec,
        }

    def _primary_hpa(self, canary: Canary, target_hpa: Object) -> Object:
        spec = copy.deepcopy(target_hpa["spec"])
        spec["scaleTargetRef"] = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": primary_name(canary.spec.target_ref.name),
        }
        overrides = (
            canary.spec.autoscaler_ref.primary_scaler_replicas
            if canary.spec.autoscaler_ref
            else None
        )
        if overrides is not None and overrides.min_replicas is not None:
            spec["minReplicas"] = overrides.min_replicas
        if overrides is not None and overrides.max_replicas is not None:
            spec["maxReplicas"] = overrides.max_replicas
        metadata = target_hpa["metadata"]
        return {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {
                "name": primary_name(metadata["name"]),
                "namespace": canary.namespace,
                "labels": dict(metadata.get("labels") or {}),
                "ownerReferences": [owner_reference(canary)],
            },
            "spec": spec,
        }


def _primary_template(
    template: dict[str, Any], selector: Selector, tracked_names: set[str]
) -> dict[str, Any]:
    copied = copy.deepcopy(template)
    metadata = copied.setdefault("metadata", {})
    metadata["labels"] = {**(metadata.get("labels") or {}), **selector.primary}
    metadata["annotations"] = {
        **(metadata.get("annotations") or {}),
        ID_ANNOTATION: str(uuid.uuid4()),
    }
    copied["spec"] = configs.rename_in_pod_spec(copied.get("spec") or {}, tracked_names)
    return copied


def _primary_replicas(canary: Canary, target: Object, existing: Object | None) -> int:
    """With an autoscaler the primary's HPA owns its replica count; without, follow the target."""
    target_replicas = int(target["spec"].get("replicas") or 0)
    if existing is not None and canary.spec.autoscaler_ref is not None:
        return int(existing["spec"].get("replicas") or 1)
    if existing is not None and target_replicas == 0:
        return int(existing["spec"].get("replicas") or 1)
    return target_replicas or 1
