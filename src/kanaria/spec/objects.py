"""How everything above `spec/` reads and writes objects, on either platform.

Both platforms hold the same manifests — the local one in SQLite, the Kubernetes one in the API
server — so the code that creates `<name>-primary`, the Services, the HPA copy, the Istio objects
and the Events is written once against `ObjectClient` and runs unchanged on both.
Objects are plain dicts as in YAML. Errors are kanaria's: `NotFoundError`, `ConflictError` (a
stale resourceVersion: re-read and retry), `TemporaryError` (the store is unreachable).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Protocol

Object = dict[str, Any]


@dataclass(frozen=True)
class Kind:
    """An object type: apiVersion plus kind (e.g. `apps/v1` `Deployment`)."""

    api_version: str
    kind: str

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    def new(self, namespace: str, name: str, **fields: Any) -> Object:
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "metadata": {"name": name, "namespace": namespace},
            **fields,
        }


DEPLOYMENT = Kind("apps/v1", "Deployment")
HPA = Kind("autoscaling/v2", "HorizontalPodAutoscaler")
SERVICE = Kind("v1", "Service")
CONFIGMAP = Kind("v1", "ConfigMap")
SECRET = Kind("v1", "Secret")
EVENT = Kind("v1", "Event")
NAMESPACE = Kind("v1", "Namespace")
CANARY = Kind("flagger.app/v1beta1", "Canary")
METRIC_TEMPLATE = Kind("flagger.app/v1beta1", "MetricTemplate")
ALERT_PROVIDER = Kind("flagger.app/v1beta1", "AlertProvider")
VIRTUAL_SERVICE = Kind("networking.istio.io/v1beta1", "VirtualService")
DESTINATION_RULE = Kind("networking.istio.io/v1beta1", "DestinationRule")
GATEWAY = Kind("networking.istio.io/v1beta1", "Gateway")
# SMI TrafficSplit, at the three versions Flagger writes (linkerd: v1alpha1, osm: v1alpha2)
TRAFFIC_SPLIT_V1ALPHA1 = Kind("split.smi-spec.io/v1alpha1", "TrafficSplit")
TRAFFIC_SPLIT_V1ALPHA2 = Kind("split.smi-spec.io/v1alpha2", "TrafficSplit")
TRAFFIC_SPLIT_V1ALPHA3 = Kind("split.smi-spec.io/v1alpha3", "TrafficSplit")
GLOO_UPSTREAM = Kind("gloo.solo.io/v1", "Upstream")
GLOO_ROUTE_TABLE = Kind("gateway.solo.io/v1", "RouteTable")
KUMA_TRAFFIC_ROUTE = Kind("kuma.io/v1alpha1", "TrafficRoute")  # cluster-scoped
APISIX_ROUTE = Kind("apisix.apache.org/v2", "ApisixRoute")
KNATIVE_SERVICE = Kind("serving.knative.dev/v1", "Service")
KNATIVE_REVISION = Kind("serving.knative.dev/v1", "Revision")
APPMESH_VIRTUAL_NODE = Kind("appmesh.k8s.aws/v1beta2", "VirtualNode")
APPMESH_VIRTUAL_ROUTER = Kind("appmesh.k8s.aws/v1beta2", "VirtualRouter")
APPMESH_VIRTUAL_SERVICE = Kind("appmesh.k8s.aws/v1beta2", "VirtualService")
APPMESH_V1BETA1_VIRTUAL_NODE = Kind("appmesh.k8s.aws/v1beta1", "VirtualNode")
APPMESH_V1BETA1_VIRTUAL_SERVICE = Kind("appmesh.k8s.aws/v1beta1", "VirtualService")
INGRESS = Kind("networking.k8s.io/v1", "Ingress")
HTTP_ROUTE = Kind("gateway.networking.k8s.io/v1", "HTTPRoute")
HTTP_ROUTE_V1BETA1 = Kind("gateway.networking.k8s.io/v1beta1", "HTTPRoute")
HTTP_PROXY = Kind("projectcontour.io/v1", "HTTPProxy")
TRAEFIK_SERVICE = Kind("traefik.io/v1alpha1", "TraefikService")


def kind_of(obj: Object) -> Kind:
    return Kind(str(obj.get("apiVersion", "")), str(obj.get("kind", "")))


def name_of(obj: Object) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def namespace_of(obj: Object) -> str:
    return str((obj.get("metadata") or {}).get("namespace") or "default")


class ObjectClient(Protocol):
    """The object store of a platform: a small part of the Kubernetes API."""

    async def get(self, kind: Kind, namespace: str, name: str) -> Object | None:
        """The object, or None when it does not exist."""

    async def list(
        self, kind: Kind, namespace: str | None, labels: dict[str, str] | None = None
    ) -> list[Object]:
        """Objects of a kind, in one namespace or all (None), matching every label given."""

    async def create(self, obj: Object) -> Object:
        """Create; ConflictError if it exists. Returns the stored object."""

    async def replace(self, obj: Object) -> Object:
        """Replace the whole object (not its status). With metadata.resourceVersion set, a
        concurrent change raises ConflictError."""

    async def patch(self, kind: Kind, namespace: str, name: str, patch: Object) -> Object:
        """JSON merge patch (RFC 7386) of the object, not its status."""

    async def patch_status(self, kind: Kind, namespace: str, name: str, status: Object) -> Object:
        """JSON merge patch of `.status` only."""

    async def delete(self, kind: Kind, namespace: str, name: str) -> bool:
        """Delete; False when it did not exist."""


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: dicts merge, `None` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged


def matches_labels(obj: Object, labels: dict[str, str] | None) -> bool:
    if not labels:
        return True
    own = (obj.get("metadata") or {}).get("labels") or {}
    return all(own.get(key) == value for key, value in labels.items())


def version_free(kind: Kind) -> tuple[str, str]:
    """Objects are the same whatever version they are read at: key them by group and kind."""
    return (kind.group, kind.kind)
