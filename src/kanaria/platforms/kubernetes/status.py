"""The Canary's status subresource as the engine's `CanaryStore`, robust to a busy API server.

The status is the operator's only memory (phase, failed checks, applied and promoted specs), so
a lost status write would make a restarted operator repeat or skip a step. Writes are JSON
merge patches of `/status`, which need no resourceVersion; a 409 (a webhook or another writer
in the way) or a passing 5xx is retried a few times after re-reading the Canary, which also
tells whether it still exists. Past that, the error goes up and the tick is retried whole.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from kanaria.errors import NotFoundError, TemporaryError
from kanaria.spec.canary import Canary
from kanaria.spec.objects import CANARY, ObjectClient
from kanaria.workloads.canaries import parse_canary

log = logging.getLogger(__name__)

STATUS_ATTEMPTS = 5
_PAUSE_SECONDS = 0.1


class KubernetesCanaryStore:
    def __init__(self, objects: ObjectClient, attempts: int = STATUS_ATTEMPTS) -> None:
        self.objects = objects
        self.attempts = attempts

    async def get(self, namespace: str, name: str) -> Canary | None:
        raw = await self.objects.get(CANARY, namespace, name)
        return None if raw is None else parse_canary(raw)

    async def patch_status(self, canary: Canary, patch: dict[str, Any]) -> None:
        await write_status(self.objects, canary.namespace, canary.name, patch, self.attempts)


async def write_status(
    objects: ObjectClient,
    namespace: str,
    name: str,
    patch: dict[str, Any],
    attempts: int = STATUS_ATTEMPTS,
) -> None:
    """Merge `patch` into the Canary's status, retrying conflicts and passing failures."""
    for attempt in range(1, attempts + 1):
        try:
            await objects.patch_status(CANARY, namespace, name, patch)
            return
        except NotFoundError:
            raise
        except TemporaryError as exc:  # ConflictError included
            if attempt == attempts:
                raise
            log.info("canary %s/%s: status write %d failed, retrying: %s", namespace, name,
                     attempt, exc)  # fmt: skip
            await asyncio.sleep(_PAUSE_SECONDS * attempt)
        if await objects.get(CANARY, namespace, name) is None:
            raise NotFoundError(f"canary {name}.{namespace} was deleted")
