"""The VirtualService Flagger's Istio router writes for the seed Canary, with chosen weights
(reference/flagger.md §5), for the data-plane tests: one copy for unit and integration tests."""

from __future__ import annotations

from typing import Any

GATEWAY_REFERENCE = "public-gateway.istio-system.svc.cluster.local"


def podinfo_virtual_service(
    primary: int = 90,
    canary: int = 10,
    gateways: tuple[str, ...] = (GATEWAY_REFERENCE, "mesh"),
    **http: Any,
) -> dict[str, Any]:
    route = {
        "route": [
            {"destination": {"host": "podinfo-primary"}, "weight": primary},
            {"destination": {"host": "podinfo-canary"}, "weight": canary},
        ],
        "retries": {
            "attempts": 3,
            "perTryTimeout": "1s",
            "retryOn": "gateway-error,connect-failure,refused-stream",
        },
        **http,
    }
    return {
        "apiVersion": "networking.istio.io/v1alpha3",
        "kind": "VirtualService",
        "metadata": {"name": "podinfo", "namespace": "test"},
        "spec": {"hosts": ["*", "podinfo"], "gateways": list(gateways), "http": [route]},
    }
