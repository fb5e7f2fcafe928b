"""Names and labels of the objects kanaria creates next to a target, as Flagger names them.

In `spec/` because every layer that reads or writes those objects must agree on them.
"""

from __future__ import annotations

from dataclasses import dataclass

from kanaria.errors import ConfigError
from kanaria.spec.canary import Canary
from kanaria.spec.objects import Object

SELECTOR_LABELS = ("app", "name", "app.kubernetes.io/name")
PRIMARY_SUFFIX = "-primary"
CANARY_SUFFIX = "-canary"
PRIMARY_REVISION_ANNOTATION = "flagger.app/primary-revision"
"""On a Knative Service: the revision serving as primary (the Knative target and router agree
on it; the latest created revision is the canary)."""


def primary_name(name: str) -> str:
    return f"{name}{PRIMARY_SUFFIX}"


@dataclass(frozen=True)
class Selector:
    """The label that tells the target's pods from the primary's: `app=podinfo` vs
    `app=podinfo-primary`."""

    label: str
    value: str

    @property
    def target(self) -> dict[str, str]:
        return {self.label: self.value}

    @property
    def primary(self) -> dict[str, str]:
        return {self.label: primary_name(self.value)}


def selector_of(deployment: Object, labels: tuple[str, ...] = SELECTOR_LABELS) -> Selector:
    match = ((deployment.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    for label in labels:
        if label in match:
            return Selector(label, str(match[label]))
    name = (deployment.get("metadata") or {}).get("name")
    raise ConfigError(
        f"Deployment {name} selector does not use any of the labels {', '.join(labels)}; "
        "kanaria needs one of them to tell the primary's pods from the canary's"
    )


def owner_reference(canary: Canary) -> dict[str, object]:
    return {
        "apiVersion": canary.api_version,
        "kind": "Canary",
        "name": canary.name,
        "uid": canary.metadata.uid or "",
        "controller": True,
        "blockOwnerDeletion": True,
    }


def owned_by(obj: Object, canary: Canary) -> bool:
    owners = (obj.get("metadata") or {}).get("ownerReferences") or []
    return any(o.get("kind") == "Canary" and o.get("name") == canary.name for o in owners)
