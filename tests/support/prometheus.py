"""A real Prometheus for integration tests: started on a free loopback port, stopped for sure.

Queries are only worth testing against the real PromQL engine (rate extrapolation, NaN from
0/0, histogram interpolation, error texts), so tests run the Debian `prometheus` binary
(override with `KANARIA_PROMETHEUS=/path/to/prometheus`). Scrape and evaluation intervals are
1 s.

Timing to plan for: Prometheus is ready in ~0.2 s, but it hands targets to its scrapers in
batches every **5 s**, so the first scrape comes ~5-6 s after start (and a target added later
with `set_targets` is scraped within ~5 s). Start one server per module or session, not per
test. A ratio such as a success rate has a value after two scrapes; an absolute `rate()` or
`increase()` over `[5s]` is only right once the window is full of samples (~5 s later), because
Prometheus extrapolates only half a scrape interval past the first sample.

Use from any test module::

    from tests.support.istio_exporter import IstioExporter
    from tests.support.prometheus import run_prometheus

    @pytest.fixture(scope="module")
    def prometheus() -> Iterator[PrometheusServer]:
        with IstioExporter() as exporter, run_prometheus([exporter.target]) as server:
            exporter.set_traffic("podinfo", namespace="test", rps=10, success_rate=0.99)
            server.wait_for_targets(1)  # the first scrape, ~6 s after start
            yield server

    async def test_something(prometheus: PrometheusServer) -> None:
        value = await prometheus.wait_for_value_async("sum(up)", predicate=lambda v: v >= 1)
        ...  # prometheus.url is "http://127.0.0.1:<port>"

`run_prometheus(targets)` scrapes the targets' `/metrics` under job `test`, from a file that
`server.set_targets([...])` rewrites while it runs; pass `scrape_configs=[…]` (Prometheus's YAML
structure, as dicts) for anything else, e.g. relabelling, and `extra_args` for more flags
(`--web.config.file=…`). Everything lives in a temporary directory, removed afterwards; the
server's log is in `server.log_path` and quoted in errors. `tests/integration/providers/` uses
both fixtures this way, shared by a package-scoped fixture in its `conftest.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCRAPE_INTERVAL = "1s"
READY_TIMEOUT_SECONDS = 20.0
_PORT_ATTEMPTS = 3
_TARGETS_FILE = "targets.json"


class PrometheusTestError(RuntimeError):
    """The test Prometheus did not start, or a query never gave the awaited value."""


def prometheus_binary() -> str:
    """The binary to run: `$KANARIA_PROMETHEUS`, else `prometheus` on PATH."""
    binary = os.environ.get("KANARIA_PROMETHEUS") or shutil.which("prometheus")
    if not binary:
        raise PrometheusTestError("no prometheus binary (apt install prometheus)")
    return binary


@dataclass
class PrometheusServer:
    """A running test Prometheus. Its helpers speak HTTP with urllib (no event loop needed)."""

    port: int
    directory: Path
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.directory / "prometheus.log"

    def log_tail(self, lines: int = 20) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def query(self, promql: str) -> dict[str, Any]:
        """The `data` of an instant query (`resultType` and `result`), raising on errors."""
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                payload = json.load(response)
        except urllib.error.HTTPError as exc:
            raise PrometheusTestError(f"query {promql!r}: HTTP {exc.code}: {exc.read()!r}") from exc
        data: dict[str, Any] = payload["data"]
        return data

    def value(self, promql: str) -> float | None:
        """The single value of a query, or None when it has no (or a NaN) sample yet."""
        data = self.query(promql)
        result = data["result"]
        if data["resultType"] == "scalar":
            sample = result
        elif data["resultType"] == "vector" and len(result) == 1:
            sample = result[0]["value"]
        else:
            return None
        number = float(sample[1])
        return None if math.isnan(number) else number

    def wait_for_value(
        self,
        promql: str,
        *,
        predicate: Callable[[float], bool] = lambda _: True,
        within: float = 15.0,
    ) -> float:
        """Poll until the query has one value that satisfies `predicate`; return it."""
        deadline = time.monotonic() + within
        last: float | None = None
        while time.monotonic() < deadline:
            last = self.value(promql)
            if last is not None and predicate(last):
                return last
            time.sleep(0.2)
        raise PrometheusTestError(
            f"after {within:g} s, {promql!r} gave {last!r}, not an acceptable value"
        )

    async def wait_for_value_async(
        self,
        promql: str,
        *,
        predicate: Callable[[float], bool] = lambda _: True,
        within: float = 15.0,
    ) -> float:
        """`wait_for_value` for async tests, polled off the event loop."""
        return await asyncio.to_thread(
            self.wait_for_value, promql, predicate=predicate, within=within
        )

    def set_targets(self, targets: Sequence[str]) -> None:
        """Replace job `test`'s targets (`host:port`); scraped within ~5 s."""
        _write_targets(self.directory, targets)

    def wait_for_targets(self, count: int, *, within: float = 15.0) -> None:
        """Wait until `count` scrape targets are up (scraped successfully at least once)."""
        self.wait_for_value("sum(up)", predicate=lambda up: up >= count, within=within)


@contextlib.contextmanager
def run_prometheus(
    targets: Sequence[str] = (),
    *,
    scrape_configs: Sequence[Mapping[str, Any]] | None = None,
    extra_args: Sequence[str] = (),
    directory: Path | None = None,
) -> Iterator[PrometheusServer]:
    """Start Prometheus scraping `targets` (`host:port`) every second; stop it on exit."""
    with contextlib.ExitStack() as stack:
        if directory is None:
            directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="prom-")))
        _write_targets(directory, targets)
        config = _config(directory, scrape_configs)
        (directory / "prometheus.yml").write_text(json.dumps(config, indent=2))
        server = _start(directory, extra_args)
        try:
            yield server
        finally:
            _stop(server.process)


def _config(directory: Path, scrape_configs: Sequence[Mapping[str, Any]] | None) -> dict[str, Any]:
    """A Prometheus config as JSON, which is valid YAML."""
    if scrape_configs is None:
        targets_file = str(directory / _TARGETS_FILE)
        scrape_configs = [{"job_name": "test", "file_sd_configs": [{"files": [targets_file]}]}]
    return {
        "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL},
        "scrape_configs": list(scrape_configs),
    }


def _write_targets(directory: Path, targets: Sequence[str]) -> None:
    """Write file_sd targets atomically, so Prometheus never reads half a file."""
    partial = directory / (_TARGETS_FILE + ".partial")
    partial.write_text(json.dumps([{"targets": list(targets)}]))
    partial.replace(directory / _TARGETS_FILE)


def _start(directory: Path, extra_args: Sequence[str]) -> PrometheusServer:
    """Start and wait for `/-/ready`, retrying on another port if ours was taken meanwhile."""
    for _ in range(_PORT_ATTEMPTS):
        server = _spawn(directory, _free_port(), extra_args)
        try:
            _wait_ready(server)
        except PrometheusTestError:
            _stop(server.process)
            if "address already in use" not in server.log_tail().lower():
                raise
            continue
        return server
    raise PrometheusTestError(f"no free port for Prometheus after {_PORT_ATTEMPTS} attempts")


def _spawn(directory: Path, port: int, extra_args: Sequence[str]) -> PrometheusServer:
    command = [
        prometheus_binary(),
        f"--config.file={directory / 'prometheus.yml'}",
        f"--storage.tsdb.path={directory / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
        *extra_args,
    ]
    with (directory / "prometheus.log").open("ab") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    return PrometheusServer(port=port, directory=directory, process=process)


def _wait_ready(server: PrometheusServer, timeout: float = READY_TIMEOUT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise PrometheusTestError(
                f"Prometheus exited with {server.process.returncode}:\n{server.log_tail()}"
            )
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"{server.url}/-/ready", timeout=1) as response,
        ):
            if response.status == 200:
                return
        time.sleep(0.05)
    raise PrometheusTestError(f"Prometheus not ready after {timeout:g} s:\n{server.log_tail()}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it lingers; always reaped."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
