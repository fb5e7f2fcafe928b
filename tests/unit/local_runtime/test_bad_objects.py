"""A controller never dies on one bad object: it is marked with a Warning Event, and every other
object goes on being served (objects planted in the store as an older kanaria, a merge patch or
a bug could have left them, past `validate`)."""

from __future__ import annotations

from typing import Any

from kanaria.spec.objects import DEPLOYMENT, EVENT, HPA, Object
from tests.unit.local_runtime.fakes import World, podinfo_deployment


def _broken(name: str, **container: Any) -> Object:
    deployment = podinfo_deployment(replicas=1, name=name)
    deployment["spec"]["template"]["spec"]["containers"][0].update(container)
    return deployment


async def _warnings(world: World, namespace: str = "test") -> list[dict[str, Any]]:
    return [e for e in await world.objects.list(EVENT, namespace) if e.get("type") == "Warning"]


async def test_a_bad_deployment_is_marked_and_the_others_run(world: World) -> None:
    await world.objects.create(_broken("listed", resources={"requests": ["cpu", "100m"]}))
    await world.objects.create(_broken("overflow", ports=[{"containerPort": 2**63}]))
    await world.objects.create(podinfo_deployment(replicas=2))
    await world.settle()
    await world.advance(2)
    assert (await world.status())["readyReplicas"] == 2
    warnings = await _warnings(world)
    marked = {e["involvedObject"]["name"] for e in warnings}
    assert {"listed"} <= marked
    assert all(e["involvedObject"]["kind"] == "Deployment" for e in warnings)
    assert all("workloads controller cannot act on it" in e["message"] for e in warnings)
    count = len(warnings)
    await world.advance(2)  # marked once per generation, not at every pass
    assert len(await _warnings(world)) == count


def _hpa(name: str, target: str, **spec: Any) -> Object:
    return HPA.new(
        "test",
        name,
        spec={
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
            "minReplicas": 1,
            "maxReplicas": 4,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 50},
                    },
                }
            ],
            **spec,
        },
    )


async def test_a_bad_hpa_is_marked_and_the_others_scale(world: World) -> None:
    await world.objects.create(podinfo_deployment(replicas=1))
    await world.settle()
    await world.advance(2)
    broken = _hpa("broken", "podinfo")
    broken["spec"]["metrics"] = [{"type": "Resource", "resource": ["cpu"]}]
    await world.objects.create(broken)
    await world.objects.create(_hpa("podinfo", "podinfo", minReplicas=3))
    autoscaler = world.runtime.autoscaler
    await autoscaler.tick()
    stored = await world.objects.get(DEPLOYMENT, "test", "podinfo")
    assert stored is not None
    assert stored["spec"]["replicas"] == 3
    warnings = await _warnings(world)
    assert [e["involvedObject"]["name"] for e in warnings] == ["broken"]
    assert "autoscaler controller cannot act on it" in warnings[0]["message"]
