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
        """Create or update the Services and mesh objects, leaving the weights alone."""

    async def set_routes(self, canary: Canary, routes: Routes) -> None:
        """Apply absolute weights."""

    async def get_routes(self, canary: Canary) -> Routes:
        """Read back the weights in force."""

    async def finalize(self, canary: Canary) -> None:
        """Restore what was there before kanaria (revertOnDeletion)."""
