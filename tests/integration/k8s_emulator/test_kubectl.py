"""Real kubectl works against the emulator unchanged, and is answered as a cluster answers it.

Users drive kanaria with kubectl: `apply` (validated against OpenAPI, with no
`--validate=false`), `get` with Flagger's printer columns, `get -w`, `describe` with the Canary's
Events, `wait --for=condition=promoted` and `annotate`. These run the kubectl on PATH (1.32 on
the project's machines; Debian's 1.20 where scripts/install.sh installed it) as a subprocess.
"""

import asyncio
import contextlib
import dataclasses
import os
from collections.abc import AsyncIterator
from pathlib import Path

import kmock
import pytest
import yaml
from kubernetes_asyncio import client

from tests.support.k8s.emulator import KubernetesEmulator
from tests.support.k8s.fixtures import EmulatedCluster
from tests.support.tools import required_tool

pytestmark = pytest.mark.integration

SEED = Path(__file__).parents[3] / "examples" / "seed"
CANARIES = "flagger.app/v1beta1/canaries"
CANARIES_RESOURCE = kmock.resource(CANARIES)
COMMAND_SECONDS = 30.0


@dataclasses.dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str


@dataclasses.dataclass(frozen=True)
class Kubectl:
    """kubectl with its own kubeconfig and home (so its discovery cache is the test's own)."""

    binary: str
    cluster: EmulatedCluster
    home: Path

    def _environment(self) -> dict[str, str]:
        path = os.environ.get("PATH", "/usr/bin:/bin")
        return {"PATH": path, "HOME": str(self.home), "KUBECONFIG": str(self.cluster.kubeconfig)}

    async def start(self, *args: str) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            self.binary,
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=self._environment(),
        )

    async def __call__(self, *args: str, stdin: str = "") -> Ran:
        process = await self.start(*args)
        out, err = await asyncio.wait_for(process.communicate(stdin.encode()), COMMAND_SECONDS)
        assert process.returncode is not None
        return Ran(process.returncode, out.decode(), err.decode())


@pytest.fixture
def kubectl(k8s_cluster: EmulatedCluster, tmp_path: Path) -> Kubectl:
    binary = required_tool("kubectl", "Debian's kubernetes-client: scripts/install.sh --dev")
    return Kubectl(binary, k8s_cluster, tmp_path / "home")


@contextlib.asynccontextmanager
async def running(process: asyncio.subprocess.Process) -> AsyncIterator[asyncio.StreamReader]:
    try:
        assert process.stdout is not None
        yield process.stdout
    finally:
        process.kill()
        await process.wait()


async def line_with(stream: asyncio.StreamReader, *words: str) -> str:
    """The first line that holds every word (what a user watching the terminal waits for)."""
    while True:
        line = (await asyncio.wait_for(stream.readline(), COMMAND_SECONDS)).decode()
        assert line, f"the stream ended before a line with {words}"
        if all(word in line for word in words):
            return line


def _seed_canary(step_weight: object = 10) -> str:
    canary = yaml.safe_load((SEED / "podinfo-canary.yaml").read_text())
    canary["spec"]["analysis"]["stepWeight"] = step_weight
    return yaml.safe_dump(canary)


async def _create_seed_canary(emulator: KubernetesEmulator) -> None:
    canary = yaml.safe_load(_seed_canary())
    await emulator.create_object(CANARIES, canary, "test")


async def test_the_seed_applies_as_on_a_cluster_and_its_v2beta2_hpa_is_refused(
    kubectl: Kubectl, k8s_cluster: EmulatedCluster
) -> None:
    applied = await kubectl("apply", "-f", str(SEED))

    assert applied.code == 1  # one manifest failed: the others were still applied
    assert 'no matches for kind "HorizontalPodAutoscaler" in version "autoscaling/v2beta2"' in (
        applied.err
    )
    assert "canary.flagger.app/podinfo created" in applied.out
    assert "deployment.apps/podinfo created" in applied.out
    emulator = k8s_cluster.emulator
    assert emulator.get_object("autoscaling/v2/horizontalpodautoscalers", "test", "podinfo") is None
    canary = emulator.get_object(CANARIES, "test", "podinfo")
    assert canary is not None
    assert "kubectl.kubernetes.io/last-applied-configuration" in canary["metadata"]["annotations"]

    again = await kubectl("apply", "-f", str(SEED / "podinfo.yaml"))
    assert again.out.strip() == "deployment.apps/podinfo unchanged", again.err

    listed = await kubectl("get", "canary", "podinfo", "-n", "test")  # the singular name
    assert listed.out.split("\n")[0].split() == [
        "NAME",
        "STATUS",
        "WEIGHT",
        "LASTTRANSITIONTIME",
    ]
    wide = await kubectl("get", "canaries", "-n", "test", "-o", "wide")
    assert wide.out.split() == [
        *("NAME", "STATUS", "WEIGHT", "SUSPENDED", "FAILEDCHECKS", "INTERVAL", "MIRROR"),
        *("STEPWEIGHT", "STEPWEIGHTS", "MAXWEIGHT", "LASTTRANSITIONTIME"),
        *("podinfo", "1m", "10", "50"),
    ]


async def test_a_wrong_type_is_refused_and_an_unknown_field_pruned_as_a_cluster_does(
    kubectl: Kubectl, k8s_cluster: EmulatedCluster
) -> None:
    refused = await kubectl("apply", "-n", "test", "-f", "-", stdin=_seed_canary("ten"))
    assert refused.code == 1
    assert "stepWeight" in refused.err
    assert "integer" in refused.err

    # the server's own check, which kubectl's validation cannot skip: 422 Invalid
    server = await kubectl(
        "apply", "--validate=false", "-n", "test", "-f", "-", stdin=_seed_canary("ten")
    )
    assert server.code == 1
    assert 'The Canary "podinfo" is invalid' in server.err
    assert "spec.analysis.stepWeight in body must be of type integer" in server.err
    assert k8s_cluster.emulator.get_object(CANARIES, "test", "podinfo") is None

    deployment = yaml.safe_load((SEED / "podinfo.yaml").read_text())
    deployment["spec"]["replica"] = 3  # a typo of `replicas`
    typo = yaml.safe_dump(deployment)
    strict = await kubectl("apply", "-f", "-", stdin=typo)
    assert strict.code == 1
    assert 'unknown field "replica"' in strict.err or 'unknown field "spec.replica"' in strict.err
    pruned = await kubectl("apply", "--validate=false", "-f", "-", stdin=typo)
    assert pruned.code == 0, pruned.err
    stored = k8s_cluster.emulator.get_object("apps/v1/deployments", "test", "podinfo")
    assert stored is not None
    assert "replica" not in stored["spec"]


async def test_get_watch_streams_flaggers_columns(
    kubectl: Kubectl, k8s_cluster: EmulatedCluster
) -> None:
    emulator = k8s_cluster.emulator
    await _create_seed_canary(emulator)

    async with running(await kubectl.start("get", "canaries", "-n", "test", "-w")) as stream:
        header = await line_with(stream, "NAME")
        await line_with(stream, "podinfo")
        for weight in (10, 20):
            await emulator.write_status(
                CANARIES_RESOURCE, "test", "podinfo", _status("Progressing", weight)
            )
            row = await line_with(stream, "Progressing", str(weight))
            assert row.split() == ["podinfo", "Progressing", str(weight), TRANSITION]

    assert header.split() == ["NAME", "STATUS", "WEIGHT", "LASTTRANSITIONTIME"]


async def test_wait_annotate_and_describe_with_the_canarys_events(
    kubectl: Kubectl, k8s_cluster: EmulatedCluster
) -> None:
    emulator = k8s_cluster.emulator
    await _create_seed_canary(emulator)
    waiting = await kubectl.start(
        "wait", "-n", "test", "canary/podinfo", "--for=condition=promoted", "--timeout=20s"
    )
    await asyncio.sleep(0.5)
    await emulator.write_status(CANARIES_RESOURCE, "test", "podinfo", _status("Initialized", 0))
    out, _ = await asyncio.wait_for(waiting.communicate(), COMMAND_SECONDS)
    assert waiting.returncode == 0
    assert "canary.flagger.app/podinfo condition met" in out.decode()

    annotated = await kubectl("annotate", "-n", "test", "canary/podinfo", "kanaria.io/note=hi")
    assert annotated.code == 0, annotated.err
    canary = emulator.get_object(CANARIES, "test", "podinfo")
    assert canary is not None
    assert canary["metadata"]["annotations"]["kanaria.io/note"] == "hi"

    message = "Halt advancement no values found for istio metric request-success-rate"
    await _warning_event(k8s_cluster, canary, message)
    described = await kubectl("describe", "-n", "test", "canary/podinfo")
    events = described.out.split("Events:")[1]
    assert "Warning" in events
    assert "Synced" in events
    assert message in events


TRANSITION = "2026-01-01T00:00:00Z"


def _status(phase: str, weight: int) -> dict[str, object]:
    promoted = "Unknown" if phase == "Progressing" else "True"
    condition = {
        "type": "Promoted",
        "status": promoted,
        "reason": phase,
        "message": "",
        "lastUpdateTime": TRANSITION,
        "lastTransitionTime": TRANSITION,
    }
    return {
        "phase": phase,
        "canaryWeight": weight,
        "failedChecks": 0,
        "iterations": 0,
        "lastTransitionTime": TRANSITION,
        "conditions": [condition],
    }


async def _warning_event(cluster: EmulatedCluster, canary: dict[str, object], message: str) -> None:
    """A Warning Event on the Canary, as the operator records one."""
    meta = canary["metadata"]
    assert isinstance(meta, dict)
    event = {
        "metadata": {"generateName": "podinfo."},
        "involvedObject": {
            "apiVersion": "flagger.app/v1beta1",
            "kind": "Canary",
            "name": "podinfo",
            "namespace": "test",
            "uid": meta["uid"],
        },
        "type": "Warning",
        "reason": "Synced",
        "message": message,
        "source": {"component": "kanaria"},
        "count": 1,
        "firstTimestamp": TRANSITION,
        "lastTimestamp": TRANSITION,
    }
    await client.CoreV1Api(cluster.api).create_namespaced_event("test", event)
