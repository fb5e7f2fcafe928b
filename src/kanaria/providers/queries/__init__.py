"""Builtin PromQL per mesh, looked up by the Canary's mesh provider name.

Flagger keeps the query backend (a provider) apart from the mesh dialect (an observer);
so do we: `providers/prometheus.py` runs any query, and this package holds, for each mesh,
the builtin `request-success-rate` and `request-duration` templates plus count templates for
a sequential judge (see `dialect.py` for their shape). One file per mesh, one explicit
mapping below; an unknown mesh is a ConfigError listing the known ones (Flagger silently
falls back to Istio).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from kanaria import errors
from kanaria.providers.queries import (
    apisix,
    contour,
    envoy,
    gloo,
    istio,
    knative,
    kubernetes,
    kuma,
    linkerd,
    nginx,
    osm,
    skipper,
    traefik,
)
from kanaria.providers.queries.dialect import (
    ISTIO_DURATION_BUCKETS_MS,
    CountQueries,
    MeshDialect,
    Workload,
)
from kanaria.providers.render import TemplateModel

__all__ = [
    "BUILTIN_METRICS",
    "ISTIO_DURATION_BUCKETS_MS",
    "MESHES",
    "CountQueries",
    "MeshDialect",
    "Workload",
    "builtin_model",
    "builtin_query",
    "count_queries",
    "dialect_for",
]

MESHES: Final[Mapping[str, MeshDialect]] = MappingProxyType(
    {
        "istio": istio.DIALECT,
        "envoy": envoy.DIALECT,
        "appmesh": envoy.DIALECT,
        "linkerd": linkerd.DIALECT,
        "nginx": nginx.DIALECT,
        "contour": contour.DIALECT,
        "gloo": gloo.DIALECT,
        "kubernetes": kubernetes.DIALECT,
        "gatewayapi": kubernetes.DIALECT,
        "osm": osm.DIALECT,
        "kuma": kuma.DIALECT,
        "apisix": apisix.DIALECT,
        "knative": knative.DIALECT,
        "smi": istio.DIALECT,
        "skipper": skipper.DIALECT,
        "traefik": traefik.DIALECT,
    }
)
"""Mesh provider name → dialect. `appmesh` is Flagger's name for the Envoy dialect; Flagger's
observer factory has no SMI case, so `smi:v1alphaN` Canaries get Istio's queries there too."""

_VERSIONED_FAMILIES = frozenset({"appmesh", "gatewayapi", "gloo", "smi"})
"""Flagger accepts versions after these names (`appmesh:v1beta2`, `gatewayapi:v1beta1`)."""

BUILTIN_METRICS: Final = ("request-success-rate", "request-duration")


def dialect_for(mesh: str) -> MeshDialect:
    """The dialect of a Canary's `spec.provider` (or the controller's mesh provider)."""
    family, _, version = mesh.partition(":")
    name = family if version and family in _VERSIONED_FAMILIES else mesh
    if name not in MESHES:
        raise errors.ConfigError(
            f"no builtin metrics for mesh provider {mesh!r}; known: {', '.join(MESHES)} "
            "(use a MetricTemplate for others)"
        )
    return MESHES[name]


def builtin_query(mesh: str, metric_name: str) -> str:
    """The builtin query template for `request-success-rate` or `request-duration`."""
    query = dialect_for(mesh).builtin(metric_name)
    if query is None:
        raise errors.ConfigError(
            f"{metric_name!r} is not a builtin metric; builtins are {', '.join(BUILTIN_METRICS)} "
            "(others need a query or a templateRef)"
        )
    return query


def builtin_model(mesh: str, model: TemplateModel) -> TemplateModel:
    """The names to fill into the mesh's builtin and count queries (Skipper respells them)."""
    return dialect_for(mesh).model_for(model)


def count_queries(
    mesh: str, workload: Workload, *, latency_bound_ms: float, windowed: bool = True
) -> CountQueries:
    """Templates counting total, failed and slow requests of the canary or the primary."""
    return dialect_for(mesh).count_queries(
        workload, latency_bound_ms=latency_bound_ms, windowed=windowed
    )
