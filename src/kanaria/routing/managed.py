"""How a router writes the routing objects it manages, the same way for every mesh.

Flagger's mesh routers repeat one pattern (flagger-routers.md §0.4): build the wanted spec,
create the object if missing (owned by the Canary, apex metadata with Flux's opt-out
annotations), otherwise replace its spec and metadata when they differ *in anything but the
weights*, so a periodic reconcile never resets a release in flight. Written once here.

kanaria adds one thing to the pattern: when it takes over an object that was there before it
(not owned by the Canary), the original spec is kept in Flagger's
`flagger.kubernetes.io/original-configuration` annotation, and `revert` puts it back when a
Canary with `revertOnDeletion` goes. Objects kanaria created are owned by the Canary, so the
API server's garbage collector removes them with it.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kanaria.errors import ConfigError, NotFoundError
from kanaria.spec.canary import Canary
from kanaria.spec.naming import owned_by, owner_reference
from kanaria.spec.objects import Kind, Object, ObjectClient

ORIGINAL_ANNOTATION = "flagger.kubernetes.io/original-configuration"
FLUX_OPT_OUT = {
    "kustomize.toolkit.fluxcd.io/reconcile": "disabled",
    "helm.toolkit.fluxcd.io/driftDetection": "disabled",
}
"""What Flagger adds to every annotation set it writes, so Flux leaves its objects alone."""

SpecFilter = Callable[[Any], Any]


def with_flux_opt_out(annotations: dict[str, str]) -> dict[str, str]:
    return {**annotations, **FLUX_OPT_OUT}


def apex_labels(canary: Canary) -> dict[str, str]:
    apex = canary.spec.service.apex
    return dict(apex.labels) if apex else {}


def apex_annotations(canary: Canary) -> dict[str, str]:
    apex = canary.spec.service.apex
    return with_flux_opt_out(dict(apex.annotations) if apex else {})


def without_keys(*keys: str) -> SpecFilter:
    """A spec filter that drops these keys at any depth, and empty values (absent == empty)."""
    dropped = frozenset(keys)

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            kept = {k: strip(v) for k, v in value.items() if k not in dropped}
            return {k: v for k, v in kept.items() if v not in (None, {}, [], "")}
        if isinstance(value, list):
            return [strip(item) for item in value]
        return value

    return strip


WEIGHTS = without_keys("weight")
"""The usual comparison: everything but the weights."""


@dataclass
class Wanted:
    """An object as the router wants it. Its labels and annotations are written on create;
    with `manage_metadata` they are also compared and replaced on update (Flagger's SMI and
    APISIX routers leave an existing object's metadata alone)."""

    kind: Kind
    namespace: str
    name: str
    spec: dict[str, Any]
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    manage_metadata: bool = True
    owned: bool = True
    cluster_scoped: bool = False  # `namespace` is where stores file it; not written
    top_level: dict[str, Any] = field(default_factory=dict)  # set on create only (Kuma's mesh)

    def new(self, canary: Canary) -> Object:
        metadata: dict[str, Any] = {"name": self.name}
        if not self.cluster_scoped:
            metadata["namespace"] = self.namespace
        if self.labels:
            metadata["labels"] = dict(self.labels)
        if self.annotations:
            metadata["annotations"] = dict(self.annotations)
        if self.owned:
            metadata["ownerReferences"] = [owner_reference(canary)]
        return {
            "apiVersion": self.kind.api_version,
            "kind": self.kind.kind,
            "metadata": metadata,
            **copy.deepcopy(self.top_level),
            "spec": copy.deepcopy(self.spec),
        }


async def apply(
    objects: ObjectClient,
    canary: Canary,
    wanted: Wanted,
    compare: SpecFilter = WEIGHTS,
    keep: Callable[[Object, dict[str, Any]], dict[str, Any]] | None = None,
) -> Object:
    """Create the object, or replace its spec (and metadata) if it differs beyond `compare`.

    `keep(live, spec)` may carry fields over from the live object into the new spec (App
    Mesh keeps its weights and AWS names this way).
    """
    live = await objects.get(wanted.kind, wanted.namespace, wanted.name)
    if live is None:
        return await objects.create(wanted.new(canary))
    spec_differs = compare(live.get("spec") or {}) != compare(wanted.spec)
    if not spec_differs and not _metadata_differs(live, wanted):
        return live
    updated = copy.deepcopy(live)
    if spec_differs:
        updated["spec"] = keep(live, copy.deepcopy(wanted.spec)) if keep else wanted.spec
    metadata = updated["metadata"]
    if wanted.manage_metadata:
        original = (metadata.get("annotations") or {}).get(ORIGINAL_ANNOTATION)
        metadata["labels"] = dict(wanted.labels)
        metadata["annotations"] = dict(wanted.annotations)
        if original is not None:
            metadata["annotations"][ORIGINAL_ANNOTATION] = original
    if spec_differs and _taken_over(live, canary):
        annotations = metadata.setdefault("annotations", {})
        annotations[ORIGINAL_ANNOTATION] = json.dumps(live.get("spec") or {}, sort_keys=True)
    return await objects.replace(updated)


def _metadata_differs(live: Object, wanted: Wanted) -> bool:
    if not wanted.manage_metadata:
        return False
    metadata = live.get("metadata") or {}
    if (metadata.get("labels") or {}) != wanted.labels:
        return True
    annotations = dict(metadata.get("annotations") or {})
    annotations.pop(ORIGINAL_ANNOTATION, None)
    return annotations != wanted.annotations


def _taken_over(live: Object, canary: Canary) -> bool:
    """The object was there before kanaria and its first spec is not recorded yet."""
    annotations = (live.get("metadata") or {}).get("annotations") or {}
    return not owned_by(live, canary) and ORIGINAL_ANNOTATION not in annotations


async def revert(
    objects: ObjectClient, canary: Canary, kind: Kind, namespace: str, name: str
) -> bool:
    """Put back the spec an object had before kanaria took it over; False if it had none."""
    live = await objects.get(kind, namespace, name)
    if live is None:
        return False
    annotations = dict((live.get("metadata") or {}).get("annotations") or {})
    original = annotations.pop(ORIGINAL_ANNOTATION, None)
    if original is None:
        return False
    try:
        spec = json.loads(original)
    except ValueError as exc:
        raise ConfigError(
            f"{kind.kind} {name}: annotation {ORIGINAL_ANNOTATION} is not JSON: {exc}"
        ) from exc
    restored = copy.deepcopy(live)
    restored["spec"] = spec
    restored["metadata"]["annotations"] = annotations
    await objects.replace(restored)
    return True


async def require(objects: ObjectClient, kind: Kind, namespace: str, name: str) -> Object:
    """The object, or NotFoundError naming it (retried next tick, as Flagger retries)."""
    found = await objects.get(kind, namespace, name)
    if found is None:
        where = f"{name}.{namespace}" if namespace else name
        raise NotFoundError(f"{kind.kind} {where} not found")
    return found


def refuse_zero_weights(what: str, primary_weight: int, canary_weight: int) -> None:
    """Flagger's Contour, Gloo, Traefik and APISIX routers refuse to route nothing at all."""
    if primary_weight == 0 and canary_weight == 0:
        raise ConfigError(f"{what} update failed: no valid weights (primary and canary are 0)")
