"""Small manifests shared by the emulator's tests, shaped like the seed's podinfo."""

from typing import Any


def deployment(
    name: str = "podinfo", *, image: str = "stefanprodan/podinfo:3.1.0"
) -> dict[str, Any]:
    """A Deployment with the podinfo container and an Istio-like sidecar."""
    labels = {"app": name}
    containers = [
        {"name": "podinfod", "image": image, "ports": [{"name": "http", "containerPort": 9898}]},
        {"name": "istio-proxy", "image": "istio/proxyv2:1.24"},
    ]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": containers}},
        },
    }


def canary(name: str = "podinfo") -> dict[str, Any]:
    """A Flagger Canary that targets the Deployment of the same name."""
    return {
        "apiVersion": "flagger.app/v1beta1",
        "kind": "Canary",
        "metadata": {"name": name},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "service": {"port": 9898},
            "analysis": {"interval": "1m", "threshold": 5, "maxWeight": 50, "stepWeight": 10},
        },
    }
