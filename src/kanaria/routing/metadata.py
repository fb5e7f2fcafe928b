"""Reading and writing the metadata of routing objects (the parts `managed.py` leaves out).

Routers that do not fit `managed.apply` (the Services, Gateway API's HTTPRoute that keeps other
controllers' annotations, the canary Ingresses copied from the user's) build their objects with
these. Comparisons treat a missing map and an empty one alike, as the API server does.
"""

from __future__ import annotations

from typing import Any

from kanaria.routing.managed import with_flux_opt_out, without_keys
from kanaria.spec.canary import Canary
from kanaria.spec.naming import owner_reference
from kanaria.spec.objects import Kind, Object

KUBECTL_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration"

without_empty = without_keys()
"""A copy without empty values at any depth: what Go's `omitempty` leaves out and
`cmpopts.EquateEmpty` treats as absent."""


def with_flux_annotations(annotations: dict[str, str] | None) -> dict[str, str]:
    return with_flux_opt_out(dict(annotations or {}))


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
