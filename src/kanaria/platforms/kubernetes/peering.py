"""Leader election through kopf's peering: with several replicas, exactly one acts.

kopf pauses every peer that sees a live peer of higher priority, and pauses *all* peers whose
priorities are equal, so priorities must differ. kanaria ranks peers by start time, oldest
first: a replica that starts later (a rolling update, a restart after a crash) finds a leader
of higher priority and waits, instead of taking over while the leader may still be mid-tick.
A new peer starts paused until it has read the peering object, so two peers never act at once;
when the leader leaves, it removes itself, and when it dies its entry expires after
`peering_lifetime` seconds and the next oldest replica resumes, from the status the leader wrote.

kopf keeps peers in a `KopfPeering` object per watched namespace (`ClusterKopfPeering` when
watching all), which must exist; `ensure_peering_objects` creates them when missing.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from kanaria.errors import ConflictError
from kanaria.spec.objects import Kind, Object, ObjectClient

PEERING_NAME = "kanaria"
KOPF_PEERING = Kind("kopf.dev/v1", "KopfPeering")
CLUSTER_KOPF_PEERING = Kind("kopf.dev/v1", "ClusterKopfPeering")
_PRIORITY_CEILING = 10**13  # milliseconds since 1970 stay below this until the year 2286


def priority_by_age(started: float | None = None) -> int:
    """Higher for replicas started earlier (millisecond resolution, so ties are unlikely)."""
    moment = time.time() if started is None else started
    return _PRIORITY_CEILING - int(moment * 1000)


async def ensure_peering_objects(objects: ObjectClient, namespaces: Sequence[str]) -> None:
    """Create the peering object(s) kopf will use, unless they exist already."""
    if not namespaces:
        await _create(objects, CLUSTER_KOPF_PEERING, {"name": PEERING_NAME})
        return
    for namespace in namespaces:
        await _create(objects, KOPF_PEERING, {"name": PEERING_NAME, "namespace": namespace})


async def _create(objects: ObjectClient, kind: Kind, metadata: dict[str, str]) -> None:
    peering: Object = {"apiVersion": kind.api_version, "kind": kind.kind, "metadata": metadata}
    try:
        await objects.create(peering)
    except ConflictError:
        return  # another replica, or the installation, made it
