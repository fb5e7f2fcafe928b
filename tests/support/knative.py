"""What Knative Serving's controller does that the Knative router and target rely on.

No Knative runs where kanaria's tests run. Its controller turns each new template of a Knative
Service into an immutable Revision named `<service>-0000N`, reports the latest in
`status.latestCreatedRevisionName`, and reports the traffic it applied in `status.traffic`,
naming the revision behind `latestRevision: true`. These pure functions compute that; the unit
tests apply them to the in-memory store and `k8s/knative.py` to the API emulator.
"""

from __future__ import annotations

import copy
from typing import Any

Object = dict[str, Any]
READY = [{"type": "Ready", "status": "True", "reason": "", "message": ""}]
SERVICE_LABEL = "serving.knative.dev/service"


def new_revision(service: Object, revisions: list[Object]) -> Object | None:
    """The Revision Knative would create for the service's template, or None if it has one."""
    template = (service.get("spec") or {}).get("template") or {}
    name = service["metadata"]["name"]
    own = sorted(
        (r for r in revisions if r["metadata"].get("labels", {}).get(SERVICE_LABEL) == name),
        key=lambda r: r["metadata"]["name"],
    )
    if own and own[-1].get("spec") == template.get("spec"):
        return None
    return {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Revision",
        "metadata": {
            "name": f"{name}-{len(own) + 1:05d}",
            "namespace": service["metadata"]["namespace"],
            "labels": {SERVICE_LABEL: name},
        },
        "spec": copy.deepcopy(template.get("spec") or {}),
    }


def revision_status() -> Object:
    return {"conditions": copy.deepcopy(READY)}


def service_status(service: Object, latest: str) -> Object:
    """The status once Knative has applied the service's spec with `latest` as newest revision."""
    wanted = (service.get("spec") or {}).get("traffic") or [
        {"latestRevision": True, "percent": 100}
    ]
    traffic = []
    for target in wanted:
        follows_latest = bool(target.get("latestRevision"))
        applied = {
            "latestRevision": follows_latest,
            "revisionName": latest if follows_latest else target.get("revisionName"),
        }
        if "percent" in target:
            applied["percent"] = target["percent"]
        traffic.append(applied)
    return {
        "observedGeneration": service["metadata"].get("generation", 1),
        "latestCreatedRevisionName": latest,
        "latestReadyRevisionName": latest,
        "traffic": traffic,
        "conditions": copy.deepcopy(READY),
    }
