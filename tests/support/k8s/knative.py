"""A stand-in for Knative Serving's controller, for the emulator (see `tests/support/knative.py`
for what it computes).

Started by a test with `emulator.spawn(KnativeServing(emulator).run())`: every Knative Service
that is created or changed gets a Revision for each new template (Ready at once) and a status
that reports the traffic it applied, as Knative reports it.
"""

from typing import TYPE_CHECKING, Any

import kmock

from tests.support import knative

if TYPE_CHECKING:
    from tests.support.k8s.emulator import KubernetesEmulator

SERVICES = kmock.resource("serving.knative.dev", "v1", "services")
REVISIONS = kmock.resource("serving.knative.dev", "v1", "revisions")


class KnativeServing:
    def __init__(self, emulator: "KubernetesEmulator") -> None:
        self._emulator = emulator
        self._revisions: list[dict[str, Any]] = []  # Knative is the only one who makes them

    async def run(self) -> None:
        """Follow Knative Services and serve each change (until the emulator stops)."""
        async for event in self._emulator.follow(SERVICES):
            if event["type"] != "DELETED":
                await self._serve(event["object"])

    async def _serve(self, service: dict[str, Any]) -> None:
        meta = service["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        current = self._emulator.get_object("serving.knative.dev/v1/services", namespace, name)
        if current is None:
            return
        latest = (current.get("status") or {}).get("latestCreatedRevisionName")
        revision = knative.new_revision(
            current, [r for r in self._revisions if r["metadata"]["namespace"] == namespace]
        )
        if revision is not None:
            self._revisions.append(revision)
            await self._emulator.create_object(
                "serving.knative.dev/v1/revisions", revision, namespace
            )
            latest = revision["metadata"]["name"]
            await self._emulator.write_status(
                REVISIONS, namespace, latest, knative.revision_status()
            )
        status = knative.service_status(current, str(latest))
        if current.get("status") != status:
            await self._emulator.write_status(SERVICES, namespace, name, status)
