"""Flagger's router test fixtures (`pkg/router/router_test.go` at v1.44), written as the YAML
they stand for, and an in-memory store holding what those tests start with.

Each router's test file builds its objects from these Canaries and checks the fields that
Flagger's own `<router>_test.go` checks, so kanaria writes what Flagger writes for the same
Canary.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from kanaria.spec.canary import Canary
from kanaria.spec.memory import MemoryObjects
from kanaria.spec.objects import SERVICE, Kind, Object

NAMESPACE = "default"

# what Flagger adds to every annotation set it writes, so that Flux leaves the object alone
FLUX_ANNOTATIONS = {
    "kustomize.toolkit.fluxcd.io/reconcile": "disabled",
    "helm.toolkit.fluxcd.io/driftDetection": "disabled",
}

METRICS = [
    {"name": "request-success-rate", "threshold": 99, "interval": "1m"},
    {"name": "request-duration", "threshold": 500, "interval": "1m"},
]

# newTestCanary
TEST_CANARY: dict[str, Any] = {
    "apiVersion": "flagger.app/v1beta1",
    "kind": "Canary",
    "metadata": {"name": "podinfo", "namespace": NAMESPACE, "uid": "canary-uid"},
    "spec": {
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
        "service": {
            "port": 9898,
            "portDiscovery": True,
            "appProtocol": "http",
            "headers": {
                "request": {"add": {"x-envoy-upstream-rq-timeout-ms": "15000"}, "remove": ["test"]},
                "response": {"remove": ["token"]},
            },
            "corsPolicy": {"allowMethods": ["GET", "POST"]},
            "match": [
                {
                    "name": "podinfo",
                    "uri": {"prefix": "/podinfo"},
                    "method": {"exact": "GET"},
                    "ignoreUriCase": True,
                }
            ],
            "retries": {
                "attempts": 10,
                "perTryTimeout": "30s",
                "retryOn": "connect-failure,gateway-error",
            },
            "gateways": ["istio/public-gateway", "mesh"],
        },
        "analysis": {"threshold": 10, "stepWeight": 10, "maxWeight": 50, "metrics": METRICS},
    },
}

# newTestGatewayAPICanary
GATEWAY_API_CANARY: dict[str, Any] = {
    "apiVersion": "flagger.app/v1beta1",
    "kind": "Canary",
    "metadata": {"name": "podinfo", "namespace": NAMESPACE, "uid": "canary-uid"},
    "spec": {
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
        "service": {
            "name": "podinfo",
            "port": 80,
            "portName": "http",
            "targetPort": 9898,
            "portDiscovery": True,
            "gatewayRefs": [{"name": "podinfo"}],
            "timeout": "10s",
            "backendTimeout": "5s",
        },
        "analysis": {"threshold": 10, "stepWeight": 10, "maxWeight": 50, "metrics": METRICS},
    },
}

# newTestCanaryIngress
INGRESS_CANARY: dict[str, Any] = {
    "apiVersion": "flagger.app/v1beta1",
    "kind": "Canary",
    "metadata": {
        "name": "nginx",
        "namespace": NAMESPACE,
        "uid": "canary-uid",
        "annotations": {
            "kustomize.toolkit.fluxcd.io/checksum": "0a40893bfdc545d62125bd3e74eeb2ebaa7097c2"
        },
    },
    "spec": {
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
        "ingressRef": {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "name": "podinfo"},
        "service": {"port": 9898},
        "analysis": {
            "threshold": 10,
            "stepWeight": 10,
            "maxWeight": 50,
            "metrics": METRICS[:1],
        },
    },
}

# newTestIngress
INGRESS: dict[str, Any] = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "Ingress",
    "metadata": {
        "name": "podinfo",
        "namespace": NAMESPACE,
        "annotations": {
            "kubernetes.io/ingress.class": "nginx",
            "kustomize.toolkit.fluxcd.io/checksum": "0a40893bfdc545d62125bd3e74eeb2ebaa7097c2",
        },
    },
    "spec": {
        "rules": [
            {
                "host": "app.example.com",
                "http": {
                    "paths": [
                        {
                            "path": "/",
                            "backend": {"service": {"name": "podinfo", "port": {"number": 9898}}},
                        }
                    ]
                },
            }
        ]
    },
}

# the match of newTestABTest
AB_MATCH = [{"headers": {"x-user-type": {"exact": "test"}}}]

SESSION_AFFINITY = {
    "cookieName": "flagger-cookie",
    "domain": "flagger.app",
    "httpOnly": True,
    "maxAge": 300,
    "partitioned": True,
    "path": "/app",
    "sameSite": "Strict",
    "secure": True,
}


def canary_of(document: dict[str, Any], **analysis: Any) -> Canary:
    """The Canary `document`, with `analysis` fields replaced."""
    changed = copy.deepcopy(document)
    changed["spec"]["analysis"].update(analysis)
    return Canary.model_validate(changed)


def deployment(name: str = "podinfo") -> Object:
    """newTestDeployment: the target, selected by `app: <name>`."""
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "podinfo", "image": "podinfo:3.1.0"}]},
            },
        },
    }


async def store(*extra: Object) -> MemoryObjects:
    """An in-memory API server holding the target Deployment and `extra`."""
    objects = MemoryObjects()
    await objects.create(deployment())
    for obj in extra:
        await objects.create(copy.deepcopy(obj))
    return objects


async def get(objects: MemoryObjects, kind: Kind, name: str) -> Object:
    found = await objects.get(kind, NAMESPACE, name)
    assert found is not None, f"{kind.kind} {name} was not created"
    return found


async def selectors(objects: MemoryObjects, namespace: str = NAMESPACE) -> dict[str, Any]:
    """Each Service's pod selector, by Service name."""
    return {
        service["metadata"]["name"]: service["spec"]["selector"]
        for service in await objects.list(SERVICE, namespace)
    }


def rule_for(rules: list[dict[str, Any]], cookie: str | None) -> dict[str, Any]:
    """The first HTTPRoute rule a request with header `Cookie: <cookie>` (or none) matches,
    as a gateway evaluates header regexes: Gateway API's RE2 over the whole value."""
    for rule in rules:
        for match in rule.get("matches") or [{}]:
            if all(_header_matches(header, cookie) for header in match.get("headers") or []):
                return rule
    raise AssertionError(f"no rule matches Cookie: {cookie}")


def _header_matches(header: dict[str, Any], cookie: str | None) -> bool:
    assert header["name"] == "Cookie"
    assert header["type"] == "RegularExpression"
    return cookie is not None and re.fullmatch(header["value"], cookie) is not None


def istio_rule_for(http: list[dict[str, Any]], cookie: str | None) -> dict[str, Any]:
    """The first VirtualService HTTP rule a request with `Cookie: <cookie>` (or none) matches;
    a rule without `match` takes every request, as in Istio."""
    for rule in http:
        for match in rule.get("match") or [{}]:
            conditions = (match.get("headers") or {}).items()
            if all(
                _istio_header_matches(name, condition, cookie) for name, condition in conditions
            ):
                return rule
    raise AssertionError(f"no rule matches Cookie: {cookie}")


def _istio_header_matches(name: str, condition: dict[str, Any], cookie: str | None) -> bool:
    assert name == "Cookie"
    return cookie is not None and re.fullmatch(condition["regex"], cookie) is not None
