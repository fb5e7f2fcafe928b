"""A real InfluxDB for integration tests: Debian's `influxd` on loopback ports over a temporary
directory, stopped for sure.

Debian ships InfluxDB 1.6, which speaks InfluxQL only: it has no Flux query API
(`/api/v2/query`, added in 1.8). Tests use it to check what a user pointing a Flux template at
an InfluxDB 1.x sees; Flux itself is tested against InfluxDB 2's documented shapes.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from kanaria.platforms.local.binaries import free_port

CONFIG = """\
reporting-disabled = true
bind-address = "127.0.0.1:{rpc_port}"
[meta]
  dir = "{root}/meta"
[data]
  dir = "{root}/data"
  wal-dir = "{root}/wal"
[http]
  bind-address = "127.0.0.1:{http_port}"
  log-enabled = false
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
"""


@dataclass(frozen=True)
class InfluxDBServer:
    url: str
    version: str


@contextlib.contextmanager
def run_influxdb() -> Iterator[InfluxDBServer]:
    binary = shutil.which("influxd")
    if binary is None:
        raise RuntimeError(
            "InfluxDB is not installed: apt-get install --no-install-recommends influxdb "
            "(scripts/install.sh --dev does)"
        )
    with tempfile.TemporaryDirectory(prefix="kanaria-influxdb-") as directory:
        root, http_port = Path(directory), free_port()
        (root / "influxdb.conf").write_text(
            CONFIG.format(root=root, rpc_port=free_port(), http_port=http_port)
        )
        with (root / "influxd.log").open("wb") as log:
            process = subprocess.Popen(
                [binary, "-config", str(root / "influxdb.conf")],
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        try:
            url = f"http://127.0.0.1:{http_port}"
            yield InfluxDBServer(url, _wait_for_ping(url, process, root / "influxd.log"))
        finally:
            process.terminate()
            process.wait(timeout=10)


def _wait_for_ping(url: str, process: subprocess.Popen[bytes], log: Path) -> str:
    """The server's version, once `/ping` answers."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"influxd exited: {log.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(f"{url}/ping", timeout=2) as answer:
                return str(answer.headers.get("X-Influxdb-Version", ""))
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    raise RuntimeError(f"influxd did not answer within 20 s: {log.read_text(errors='replace')}")
