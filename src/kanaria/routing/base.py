"""The router contract: Flagger's four methods, and the weights they set and read back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from kanaria.spec.canary import Canary


@dataclass(frozen=True)
class Routes:
    """Traffic as the router really applies it; the weights sum to 100."""

    primary_weight: int
    canary_weight: int
    mirrored: bool = False


class Router(Protocol):
    async def reconcile(self, canary: Canary) -> None:
        """Create or update the Services and mesh objects."""

    async def set_routes(self, canary: Canary, routes: Routes) -> None:
        """Apply absolute weights. A router with session affinity also moves the cookies in
        `canary.status` (as Flagger's do); the engine saves them."""

    async def get_routes(self, canary: Canary) -> Routes:
        """Read back the weights in force."""

    async def finalize(self, canary: Canary) -> None:
        """Restore what was there before kanaria (revertOnDeletion)."""


def shifts_traffic(router: Router) -> bool:
    """Whether the router can move traffic at all. A router that cannot (provider
    `kubernetes`, plain Services) says `shifts_traffic = False`; the engine then runs every
    Canary as blue/green and never asks it for weights, as Flagger does."""
    return bool(getattr(router, "shifts_traffic", True))
