"""Runs a kopf operator against the emulator, in a thread with an event loop of its own.

When kopf stops, it cancels every task created after it started; run as a task in the test's
loop, it would cancel pytest-asyncio's fixture teardown too (`reference/k8s-emulator.md`,
pitfall 15). A thread keeps the two loops apart. The operator logs in from a credentials vault
filled in advance, so neither the process environment nor the operator's registry is touched,
and several operators (peers, each with its own identity) can run in one process.
"""

import asyncio
import contextlib
import itertools
import threading
import time
import types
from collections.abc import AsyncIterator, Sequence
from typing import Any

import kopf
from kopf._cogs.structs import credentials

_operator_numbers = itertools.count(1)


class OperatorThread(threading.Thread):
    """One `kopf.operator(...)` in its own event loop; `error` holds what ended it, if anything."""

    def __init__(self, url: str, operator_options: dict[str, Any]) -> None:
        super().__init__(name=f"kopf-operator-{next(_operator_numbers)}", daemon=True)
        self.url = url
        self.stop_flag = threading.Event()
        self.ready_flag = threading.Event()
        self.error: BaseException | None = None
        self._operator_options = operator_options

    def run(self) -> None:
        try:
            asyncio.run(self._operate())
        except BaseException as exc:  # reported to the test by running_operator()
            self.error = exc

    async def _operate(self) -> None:
        vault = credentials.Vault()
        await vault.populate({"emulator": kopf.ConnectionInfo(server=self.url, insecure=True)})
        await kopf.operator(
            vault=vault,
            stop_flag=self.stop_flag,
            ready_flag=self.ready_flag,
            **self._operator_options,
        )

    def wait_until_ready(self, timeout: float) -> bool:
        """Block until kopf is ready; False if it died or took longer than `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while self.is_alive() and time.monotonic() < deadline:
            if self.ready_flag.wait(0.05):
                return True
        return False


@contextlib.asynccontextmanager
async def running_operator(
    url: str,
    registry: kopf.OperatorRegistry | types.ModuleType | None = None,
    *,
    namespaces: Sequence[str] = ("test",),
    peering: str | None = None,
    priority: int = 0,
    identity: str | None = None,
    memo: object | None = None,
    settings: kopf.OperatorSettings | None = None,
    startup_timeout: float = 10.0,
    stop_timeout: float = 10.0,
) -> AsyncIterator[OperatorThread]:
    """Run an operator against the API at `url` for the duration of the `async with` block.

    `registry` is a kopf registry, or a module whose handlers are in its `registry` attribute or
    else in kopf's default registry. No `namespaces` means cluster-wide. Without `peering` the
    operator is standalone; with it, it joins that KopfPeering with `priority` and `identity`.
    """
    options = {
        "registry": _registry_of(registry),
        "namespaces": list(namespaces),
        "clusterwide": not namespaces,
        "standalone": peering is None,
        "peering_name": peering,
        "priority": priority,
        "identity": identity,
        "memo": memo,
        "settings": settings,
    }
    thread = OperatorThread(url, options)
    thread.start()
    try:
        if not await asyncio.to_thread(thread.wait_until_ready, startup_timeout):
            raise RuntimeError(f"kopf did not get ready in {startup_timeout}s") from thread.error
        yield thread
    finally:
        thread.stop_flag.set()
        await asyncio.to_thread(thread.join, stop_timeout)
    if thread.is_alive():
        raise RuntimeError(f"kopf did not stop in {stop_timeout}s")
    if thread.error is not None:
        raise RuntimeError("the kopf operator failed") from thread.error


def _registry_of(source: kopf.OperatorRegistry | types.ModuleType | None) -> kopf.OperatorRegistry:
    if isinstance(source, kopf.OperatorRegistry):
        return source
    registry = getattr(source, "registry", None)
    return registry if isinstance(registry, kopf.OperatorRegistry) else kopf.get_default_registry()
