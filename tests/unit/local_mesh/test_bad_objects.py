"""One bad Istio object is left out of the mesh; every other object is still served."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kanaria.errors import ConfigError
from kanaria.platforms.local.guard import ObjectKey, build_serving_the_rest
from kanaria.platforms.local.mesh import (
    EnvoyResources,
    MeshSnapshot,
    gateway_server_ports,
    translate,
)
from tests.support.istio import podinfo_virtual_service
from tests.unit.local_mesh.test_translate import GATEWAY, SERVICES, first_route, weights


def _gateway(name: str, port: int) -> dict[str, Any]:
    gateway = copy.deepcopy(GATEWAY)
    gateway["metadata"]["name"] = name
    gateway["spec"]["servers"][0]["port"]["number"] = port
    return gateway


def _builder(objects: list[dict[str, Any]]) -> Any:
    async def build(excluded: frozenset[ObjectKey]) -> EnvoyResources:
        kept = [
            obj for obj in objects
            if (obj["kind"], obj["metadata"]["namespace"], obj["metadata"]["name"]) not in excluded
        ]  # fmt: skip
        gateways = [obj for obj in kept if obj["kind"] == "Gateway"]
        ports = {port: 18000 + port % 1000 for port in gateway_server_ports(gateways)}
        return translate(
            MeshSnapshot(
                services=SERVICES,
                virtual_services=tuple(obj for obj in kept if obj["kind"] == "VirtualService"),
                gateways=tuple(gateways),
                gateway_ports=ports,
            )
        )

    return build


def test_a_gateway_port_past_65535_is_refused_by_name() -> None:
    with pytest.raises(ConfigError, match=r"Gateway istio-system/huge: .* is not a port number"):
        gateway_server_ports([_gateway("huge", 2**63)])


async def test_bad_objects_are_left_out_and_named() -> None:
    good = podinfo_virtual_service(primary=60, canary=40)
    shapeless = copy.deepcopy(good)
    shapeless["metadata"]["name"] = "shapeless"
    shapeless["spec"]["http"] = [{"route": "not a list"}]
    huge = _gateway("huge", 2**63)
    objects = [GATEWAY, huge, shapeless, good]
    resources, left_out = await build_serving_the_rest(_builder(objects), objects)
    assert sorted(obj["metadata"]["name"] for obj, _ in left_out) == ["huge", "shapeless"]
    assert all(reason for _, reason in left_out)
    route = first_route(resources, "gateway|80")
    assert set(weights(route).values()) == {60, 40}


async def test_when_no_single_object_explains_it_the_first_failure_is_raised() -> None:
    async def never(excluded: frozenset[ObjectKey]) -> EnvoyResources:
        raise ConfigError("Envoy is unhappy as a whole")

    with pytest.raises(ConfigError, match="unhappy as a whole"):
        await build_serving_the_rest(never, [GATEWAY])
