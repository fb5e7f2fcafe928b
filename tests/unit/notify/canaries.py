"""The seed Canary with alert subscriptions, and AlertProviders/Secrets to store beside it."""

from __future__ import annotations

import base64
import copy
from pathlib import Path
from typing import Any

import yaml

from kanaria.spec.canary import Canary

SEED = Path(__file__).parents[3] / "examples" / "seed" / "podinfo-canary.yaml"


def seed_document(alerts: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(SEED.read_text())
    if alerts is not None:
        document["spec"]["analysis"]["alerts"] = copy.deepcopy(alerts)
    return document


def seed_canary(alerts: list[dict[str, Any]] | None = None) -> Canary:
    return Canary.model_validate(seed_document(alerts))


def provider(
    name: str, service: str, address: str | None = None, namespace: str = "test", **spec: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {"type": service, **spec}
    if address is not None:
        body["address"] = address
    return {
        "apiVersion": "flagger.app/v1beta1",
        "kind": "AlertProvider",
        "metadata": {"name": name, "namespace": namespace},
        "spec": body,
    }


def secret(name: str, namespace: str = "test", **values: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "data": {key: base64.b64encode(value.encode()).decode() for key, value in values.items()},
    }
