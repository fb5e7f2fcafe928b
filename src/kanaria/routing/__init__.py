"""Routers: how a canary's traffic is split. One explicit mapping from provider name to router;
an unknown name is a configuration error that lists the known ones (Flagger silently falls back
to Istio)."""

from __future__ import annotations

from collections.abc import Callable

from kanaria.errors import ConfigError
from kanaria.routing import smi
from kanaria.routing.apisix import ApisixRouter
from kanaria.routing.appmesh import AppMeshRouter
from kanaria.routing.appmesh_v1beta1 import AppMeshV1beta1Router
from kanaria.routing.base import Router, Routes
from kanaria.routing.contour import ContourRouter
from kanaria.routing.gatewayapi import gateway_api_v1, gateway_api_v1beta1
from kanaria.routing.gloo import GlooRouter
from kanaria.routing.istio import IstioRouter
from kanaria.routing.knative import KnativeRouter
from kanaria.routing.kubernetes import KubernetesRouter
from kanaria.routing.kuma import KumaRouter
from kanaria.routing.nginx import NginxRouter
from kanaria.routing.skipper import SkipperRouter
from kanaria.routing.traefik import TraefikRouter
from kanaria.spec.objects import ObjectClient

ROUTERS: dict[str, Callable[[ObjectClient], Router]] = {
    "istio": IstioRouter,
    "kubernetes": KubernetesRouter,
    "gatewayapi:v1": gateway_api_v1,
    "gatewayapi:v1beta1": gateway_api_v1beta1,
    "nginx": NginxRouter,
    "contour": ContourRouter,
    "traefik": TraefikRouter,
    "skipper": SkipperRouter,
    "linkerd": smi.linkerd,
    "osm": smi.osm,
    "smi:v1alpha1": smi.v1alpha1,
    "smi:v1alpha2": smi.v1alpha2,
    "smi:v1alpha3": smi.v1alpha3,
    "gloo": GlooRouter,
    "kuma": KumaRouter,
    "apisix": ApisixRouter,
    "knative": KnativeRouter,
    "appmesh": AppMeshV1beta1Router,
    "appmesh:v1beta2": AppMeshRouter,
}


def router_for(provider: str, objects: ObjectClient) -> Router:
    try:
        factory = ROUTERS[provider]
    except KeyError:
        known = ", ".join(sorted(ROUTERS))
        raise ConfigError(f"unknown mesh provider {provider!r}; known: {known}") from None
    return factory(objects)


__all__ = ["ROUTERS", "Router", "Routes", "router_for"]
