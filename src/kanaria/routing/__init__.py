"""Routers: how a canary's traffic is split. One explicit mapping from provider name to router;
an unknown name is a configuration error that lists the known ones (Flagger silently falls back
to Istio)."""

from __future__ import annotations

from collections.abc import Callable

from kanaria.errors import ConfigError
from kanaria.routing.base import Router, Routes
from kanaria.routing.istio import IstioRouter
from kanaria.spec.objects import ObjectClient

ROUTERS: dict[str, Callable[[ObjectClient], Router]] = {"istio": IstioRouter}


def router_for(provider: str, objects: ObjectClient) -> Router:
    try:
        factory = ROUTERS[provider]
    except KeyError:
        known = ", ".join(sorted(ROUTERS))
        raise ConfigError(f"unknown mesh provider {provider!r}; known: {known}") from None
    return factory(objects)


__all__ = ["ROUTERS", "Router", "Routes", "router_for"]
