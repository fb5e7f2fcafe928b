"""`apply`'s rules: every check before any write, then created / configured / unchanged."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from kanaria.errors import ConfigError, NotFoundError
from kanaria.platforms.local.api import apply_manifests, resource_name, validate_documents
from kanaria.platforms.local.network import ServiceAddresses
from kanaria.platforms.local.store import SqliteObjects
from kanaria.spec.memory import MemoryObjects
from kanaria.spec.objects import DEPLOYMENT, GATEWAY, HPA, SERVICE, Kind, Object

SEED = Path(__file__).parents[3] / "examples" / "seed"


def namespace(name: str) -> Object:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def deployment(image: str = "stefanprodan/podinfo:3.1.0", **labels: str) -> Object:
    metadata: dict[str, Any] = {"name": "podinfo", "namespace": "test"}
    if labels:
        metadata["labels"] = labels
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata,
        "spec": {
            "selector": {"matchLabels": {"app": "podinfo"}},
            "template": {
                "metadata": {"labels": {"app": "podinfo"}},
                "spec": {"containers": [{"name": "podinfod", "image": image}]},
            },
        },
    }


def service() -> Object:
    return SERVICE.new(
        "test", "podinfo", spec={"selector": {"app": "podinfo"}, "ports": [{"port": 9898}]}
    )


def lines(applied: Sequence[Any]) -> list[str]:
    return [item.line for item in applied]


async def test_create_then_unchanged_then_configured() -> None:
    objects = MemoryObjects()
    first = await apply_manifests(objects, [deployment(), namespace("test")])
    assert lines(first) == ["namespace/test created", "deployment.apps/podinfo created"]
    again = await apply_manifests(objects, [namespace("test"), deployment()])
    assert lines(again) == ["namespace/test unchanged", "deployment.apps/podinfo unchanged"]
    changed = await apply_manifests(objects, [deployment("stefanprodan/podinfo:3.1.1")])
    assert lines(changed) == ["deployment.apps/podinfo configured"]
    stored = await objects.get(DEPLOYMENT, "test", "podinfo")
    assert stored is not None
    assert stored["metadata"]["generation"] == 2


async def test_missing_namespace_refuses_the_whole_batch() -> None:
    objects = MemoryObjects()
    manifests = [namespace("istio-system"), deployment(), service()]
    with pytest.raises(NotFoundError, match='namespaces "test" not found'):
        await apply_manifests(objects, manifests)
    assert objects.objects == {}


async def test_a_failing_validator_refuses_the_whole_batch() -> None:
    objects = MemoryObjects()

    async def refuse_services(manifests: Sequence[Object]) -> list[str]:
        return [f"Service {m['metadata']['name']}: no" for m in manifests if m["kind"] == "Service"]

    with pytest.raises(ConfigError, match="Service podinfo: no"):
        await apply_manifests(
            objects, [namespace("test"), deployment(), service()], [refuse_services]
        )
    assert objects.objects == {}


async def test_update_replaces_labels_and_keeps_status() -> None:
    objects = MemoryObjects()
    await apply_manifests(objects, [namespace("test"), deployment(app="podinfo", tier="web")])
    await objects.patch_status(DEPLOYMENT, "test", "podinfo", {"readyReplicas": 2})
    await apply_manifests(objects, [deployment(app="podinfo")])
    stored = await objects.get(DEPLOYMENT, "test", "podinfo")
    assert stored is not None
    assert stored["metadata"]["labels"] == {"app": "podinfo"}
    assert stored["status"] == {"readyReplicas": 2}
    unlabelled = await apply_manifests(objects, [deployment()])
    assert lines(unlabelled) == ["deployment.apps/podinfo configured"]


async def test_a_service_keeps_its_vip_and_reads_unchanged(tmp_path: Path) -> None:
    addresses = ServiceAddresses()
    objects = SqliteObjects(tmp_path / "objects.sqlite", admissions=[addresses.admit])
    await apply_manifests(objects, [namespace("test"), service()])
    again = await apply_manifests(objects, [service()])
    assert lines(again) == ["service/podinfo unchanged"]
    stored = await objects.get(SERVICE, "test", "podinfo")
    assert stored is not None
    assert stored["spec"]["clusterIP"] == "127.96.0.1"


async def test_dry_run_checks_but_writes_nothing() -> None:
    objects = MemoryObjects()
    await apply_manifests(objects, [namespace("test"), deployment()], dry_run=True)
    assert objects.objects == {}


async def test_the_seed_manifests_apply_in_one_batch() -> None:
    objects = MemoryObjects()
    manifests = [
        document
        for path in sorted(SEED.glob("*.yaml"))
        for document in yaml.safe_load_all(path.read_text())
        if document
    ]
    assert await validate_documents(manifests) == []
    applied = await apply_manifests(objects, manifests)
    assert {line.rsplit(" ", 1)[1] for line in lines(applied)} == {"created"}
    assert await objects.get(GATEWAY, "istio-system", "public-gateway") is not None
    assert await objects.get(HPA, "test", "podinfo") is not None


async def test_server_side_validation_reports_the_field() -> None:
    broken = deployment()
    broken["spec"]["replicas"] = -1
    (problem,) = await validate_documents([broken])
    assert "spec.replicas" in problem


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        (DEPLOYMENT, "deployment.apps"),
        (SERVICE, "service"),
        (Kind("flagger.app/v1beta1", "Canary"), "canary.flagger.app"),
        (
            Kind("autoscaling/v2beta2", "HorizontalPodAutoscaler"),
            "horizontalpodautoscaler.autoscaling",
        ),
        (GATEWAY, "gateway.networking.istio.io"),
    ],
)
def test_resource_names_read_as_kubectl_prints_them(kind: Kind, name: str) -> None:
    assert resource_name(kind) == name


async def test_replicas_set_by_an_autoscaler_survive_a_reapply() -> None:
    objects = MemoryObjects()
    await apply_manifests(objects, [namespace("test"), deployment()])
    await objects.patch(DEPLOYMENT, "test", "podinfo", {"spec": {"replicas": 3}})
    again = await apply_manifests(objects, [deployment()])
    assert lines(again) == ["deployment.apps/podinfo unchanged"]
    explicit = deployment()
    explicit["spec"]["replicas"] = 1
    assert lines(await apply_manifests(objects, [explicit])) == [
        "deployment.apps/podinfo configured"
    ]
    stored = await objects.get(DEPLOYMENT, "test", "podinfo")
    assert stored is not None
    assert stored["spec"]["replicas"] == 1
