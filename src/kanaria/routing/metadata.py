"""The metadata of the objects routers write, as Flagger writes it.

Flagger marks every object it manages with two annotations that tell Flux to leave it alone
(neither reconcile it back to Git nor report drift); a Flux user who moves to kanaria relies on
them. The apex routing object (HTTPRoute, HTTPProxy, TraefikService, …) takes its labels and
annotations from `spec.service.apex`. Comparisons treat a missing map and an empty one alike,
as the API server does.
"""

from __future__ import annotations

from typing import Any

from kanaria.spec.canary import Canary
from kanaria.spec.naming import owner_reference
from kanaria.spec.objects import Kind, Object

FLUX_ANNOTATIONS = {
    "kustomize.toolkit.fluxcd.io/reconcile": "disabled",
    "helm.toolkit.fluxcd.io/driftDetection": "disabled",
}
KUBECTL_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration"


def with_flux_annotations(annotations: dict[str, str] | None) -> dict[str, str]:
    """The annotations plus Flux's hands-off markers."""
    return {**(annotations or {}), **FLUX_ANNOTATIONS}


def apex_labels(canary: Canary) -> dict[str, str]:
    apex = canary.spec.service.apex
    return dict(apex.labels) if apex else {}


def apex_annotations(canary: Canary) -> dict[str, str]:
    apex = canary.spec.service.apex
    return with_flux_annotations(apex.annotations if apex else None)


def new_object(
    kind: Kind,
    canary: Canary,
    name: str,
    spec: dict[str, Any],
    *,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
) -> Object:
    """An object in the Canary's namespace, controlled by the Canary (deleted with it)."""
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": canary.namespace,
        "ownerReferences": [owner_reference(canary)],
    }
    if labels:
        metadata["labels"] = dict(labels)
    if annotations:
        metadata["annotations"] = dict(annotations)
    return {"apiVersion": kind.api_version, "kind": kind.kind, "metadata": metadata, "spec": spec}


def labels_of(obj: Object) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("labels") or {})


def annotations_of(obj: Object) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("annotations") or {})


def without_empty(value: Any) -> Any:
    """A copy without None, empty lists and empty maps, at every depth: the values that Go's
    `omitempty` leaves out and that `cmpopts.EquateEmpty` treats as absent."""
    if isinstance(value, dict):
        cleaned = {key: without_empty(item) for key, item in value.items()}
        return {key: item for key, item in cleaned.items() if item not in (None, [], {})}
    if isinstance(value, list):
        return [without_empty(item) for item in value]
    return value
