"""The custom resources of the mesh and ingress routers (routing/smi.py, gloo.py, kuma.py,
apisix.py, knative.py, appmesh*.py, contour.py, traefik.py), as a cluster with those meshes
installed serves them. kmock's bundle already knows Ingresses and Gateway API's HTTPRoutes.

Kept apart from emulator.py's own table so that routers can add their kinds here without
touching the server. Kuma's TrafficRoute is cluster-scoped; Knative's Service and Revision have
a status that Knative writes (`knative.py` in this package plays Knative Serving).
"""

import kmock

_VERBS = {"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}


def _kind(kind: str, *, status: bool = False, namespaced: bool = True) -> kmock.ResourceInfo:
    subresources = {"status"} if status else set()
    return kmock.ResourceInfo(
        kind=kind, namespaced=namespaced, verbs=_VERBS, subresources=subresources
    )


ROUTER_RESOURCES: dict[str, kmock.ResourceInfo] = {
    **{
        f"split.smi-spec.io/{version}/trafficsplits": _kind("TrafficSplit")
        for version in ("v1alpha1", "v1alpha2", "v1alpha3")
    },
    "gloo.solo.io/v1/upstreams": _kind("Upstream", status=True),
    "gateway.solo.io/v1/routetables": _kind("RouteTable", status=True),
    "kuma.io/v1alpha1/trafficroutes": _kind("TrafficRoute", namespaced=False),
    "apisix.apache.org/v2/apisixroutes": _kind("ApisixRoute", status=True),
    "serving.knative.dev/v1/services": _kind("Service", status=True),
    "serving.knative.dev/v1/revisions": _kind("Revision", status=True),
    "appmesh.k8s.aws/v1beta2/virtualnodes": _kind("VirtualNode", status=True),
    "appmesh.k8s.aws/v1beta2/virtualrouters": _kind("VirtualRouter", status=True),
    "appmesh.k8s.aws/v1beta2/virtualservices": _kind("VirtualService", status=True),
    "appmesh.k8s.aws/v1beta1/virtualnodes": _kind("VirtualNode", status=True),
    "appmesh.k8s.aws/v1beta1/virtualservices": _kind("VirtualService", status=True),
    "projectcontour.io/v1/httpproxies": _kind("HTTPProxy", status=True),
    "traefik.io/v1alpha1/traefikservices": _kind("TraefikService"),
}
