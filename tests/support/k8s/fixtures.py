"""pytest fixtures that serve the Kubernetes API emulator on 127.0.0.1, one per test.

No cluster exists where kanaria's tests run, so the operator's integration tests talk to this
emulator over real HTTP, with the same clients and the same kubeconfig login as in production.
Make the fixtures visible from a conftest.py: either the root one,
`pytest_plugins = ["tests.support.k8s.fixtures"]`, or any conftest below it,
`from tests.support.k8s.fixtures import k8s_cluster  # noqa: F401`.
"""

import asyncio
import contextlib
import dataclasses
import inspect
import json
import pathlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import kmock
import pytest_asyncio
from kubernetes_asyncio import client, config

from tests.support.k8s.emulator import KubernetesEmulator

PRECREATED_NAMESPACES = ("test", "istio-system")


@dataclasses.dataclass(frozen=True)
class EmulatedCluster:
    """A running emulator and the ways to reach it."""

    emulator: KubernetesEmulator
    url: str  # http://127.0.0.1:PORT, no trailing slash
    kubeconfig: pathlib.Path  # server = url, user = a dummy token
    api: client.ApiClient  # kubernetes-asyncio, logged in through the kubeconfig


@pytest_asyncio.fixture
async def k8s_cluster(tmp_path: pathlib.Path) -> AsyncIterator[EmulatedCluster]:
    """An emulated cluster with the namespaces `test` and `istio-system`."""
    async with emulated_cluster(tmp_path / "kubeconfig") as cluster:
        yield cluster


@contextlib.asynccontextmanager
async def emulated_cluster(kubeconfig: pathlib.Path) -> AsyncIterator[EmulatedCluster]:
    """The fixture's body, for use outside pytest too (benchmarks, demos)."""
    async with KubernetesEmulator() as emulator, kmock.Server(emulator) as server:
        url = str(server.url).rstrip("/")
        for namespace in PRECREATED_NAMESPACES:
            await emulator.create_object("v1/namespaces", {"metadata": {"name": namespace}})
        write_kubeconfig(kubeconfig, url)
        api = await config.new_client_from_config(config_file=str(kubeconfig), persist_config=False)
        try:
            yield EmulatedCluster(emulator, url, kubeconfig, api)
        finally:
            await api.close()
            await emulator.end_watches()  # else the server waits for open watches on exit


def write_kubeconfig(path: pathlib.Path, url: str) -> pathlib.Path:
    """Write a kubeconfig for `url` with a dummy token (JSON is YAML too)."""
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "emulator", "cluster": {"server": url}}],
        "users": [{"name": "tester", "user": {"token": "emulator-accepts-any-token"}}],
        "contexts": [{"name": "emulator", "context": {"cluster": "emulator", "user": "tester"}}],
        "current-context": "emulator",
    }
    path.write_text(json.dumps(kubeconfig, indent=2))
    return path


async def eventually(
    check: Callable[[], Any | Awaitable[Any]], *, within: float = 10.0, interval: float = 0.05
) -> Any:
    """Poll `check` until it returns something truthy without an AssertionError; return that.

    Operators act asynchronously, so a test waits for the state it expects instead of sleeping.
    """
    deadline = asyncio.get_running_loop().time() + within
    failure: AssertionError | None = None
    while asyncio.get_running_loop().time() < deadline:
        try:
            result = check()
            result = await result if inspect.isawaitable(result) else result
            if result:
                return result
            failure = None
        except AssertionError as exc:
            failure = exc
        await asyncio.sleep(interval)
    raise AssertionError(f"not true after {within}s") from failure
