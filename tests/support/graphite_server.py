"""A real Graphite for integration tests: Debian's carbon-cache and graphite-web on free loopback
ports, over a temporary storage directory, stopped for sure.

Points go in through carbon's plaintext protocol (`path value timestamp\\n` on the line
receiver), exactly as a collector would send them; graphite-web's render API reads them back,
from whisper files and — for points not yet flushed — from carbon's cache (carbonlink), so a
point sent is readable within a fraction of a second. Every series keeps 1-second points for an
hour. Both programs take ~3 s to start: start one server per module or package.

    with run_graphite() as graphite:
        graphite.send("kanaria.test.rate", 99.5)
        ...  # graphite.url is "http://127.0.0.1:<port>"
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from kanaria.platforms.local.binaries import free_port

DEBIAN_PYTHON = "/usr/bin/python3"
READY_TIMEOUT_SECONDS = 30.0
WEB_MAIN = Path(__file__).with_name("graphite_web.py")

CARBON_CONF = """\
[cache]
STORAGE_DIR = {root}
LOCAL_DATA_DIR = {root}/whisper
WHITELISTS_DIR = {root}
LOG_DIR = {root}/log
PID_DIR = {root}
ENABLE_LOGROTATION = False
USER =
MAX_CACHE_SIZE = inf
MAX_UPDATES_PER_SECOND = 10000
MAX_CREATES_PER_MINUTE = inf
ENABLE_UDP_LISTENER = False
LINE_RECEIVER_INTERFACE = 127.0.0.1
LINE_RECEIVER_PORT = {line_port}
PICKLE_RECEIVER_INTERFACE = 127.0.0.1
PICKLE_RECEIVER_PORT = {pickle_port}
CACHE_QUERY_INTERFACE = 127.0.0.1
CACHE_QUERY_PORT = {query_port}
LOG_LISTENER_CONN_SUCCESS = False
LOG_UPDATES = False
LOG_CACHE_HITS = False
"""
STORAGE_SCHEMAS = """\
[everything]
pattern = .*
retentions = 1s:1h
"""


class GraphiteTestError(RuntimeError):
    """The test Graphite is not installed or did not start."""


@dataclass
class GraphiteServer:
    url: str
    line_port: int
    root: Path

    def send(self, path: str, value: float, timestamp: float | None = None) -> None:
        """One point through carbon's plaintext protocol."""
        self.send_lines([f"{path} {value} {int(timestamp or time.time())}"])

    def send_lines(self, lines: list[str]) -> None:
        with socket.create_connection(("127.0.0.1", self.line_port), timeout=5) as connection:
            connection.sendall("".join(f"{line}\n" for line in lines).encode())

    def wait_until_readable(self, target: str, within: float = 10.0) -> None:
        """Until the render API shows a value for `target`: a new series is readable once
        carbon has created its whisper file (usually well under a second)."""
        query = urllib.parse.urlencode({"target": target, "from": "-1h", "format": "json"})
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            with urllib.request.urlopen(f"{self.url}/render?{query}", timeout=5) as answer:
                found = json.loads(answer.read())
            if any(point[0] is not None for series in found for point in series["datapoints"]):
                return
            time.sleep(0.05)
        raise GraphiteTestError(f"{target} was not readable within {within} s")


def graphite_installed() -> None:
    """Fail (never skip) when Debian's Graphite is missing: scripts/install.sh installs it."""
    if shutil.which("carbon-cache") is None or not _has_graphite_web():
        raise GraphiteTestError(
            "Graphite is not installed: apt-get install --no-install-recommends "
            "graphite-carbon graphite-web (scripts/install.sh --dev does)"
        )


@contextlib.contextmanager
def run_graphite() -> Iterator[GraphiteServer]:
    graphite_installed()
    with tempfile.TemporaryDirectory(prefix="kanaria-graphite-") as directory:
        root = Path(directory)
        ports = {name: free_port() for name in ("line_port", "pickle_port", "query_port")}
        web_port = free_port()
        (root / "log").mkdir()
        (root / "carbon.conf").write_text(CARBON_CONF.format(root=root, **ports))
        (root / "storage-schemas.conf").write_text(STORAGE_SCHEMAS)
        with (
            _started("carbon", _carbon_command(root), root) as carbon,
            _started("web", _web_command(root, web_port, ports["query_port"]), root) as web,
        ):
            server = GraphiteServer(f"http://127.0.0.1:{web_port}", ports["line_port"], root)
            _wait_until_ready(server, [carbon, web], root)
            yield server


def _carbon_command(root: Path) -> list[str]:
    return [
        str(shutil.which("carbon-cache")),
        f"--config={root / 'carbon.conf'}",
        f"--pidfile={root / 'carbon.pid'}",
        "--logfile=-",
        "--nodaemon",
        "start",
    ]


def _web_command(root: Path, port: int, carbonlink_port: int) -> list[str]:
    return [DEBIAN_PYTHON, str(WEB_MAIN), str(port), str(root), str(carbonlink_port)]


@contextlib.contextmanager
def _started(name: str, command: list[str], root: Path) -> Iterator[subprocess.Popen[bytes]]:
    with (root / f"{name}.log").open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_ready(
    server: GraphiteServer, processes: list[subprocess.Popen[bytes]], root: Path
) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if any(process.poll() is not None for process in processes):
            raise GraphiteTestError(f"graphite exited: {_logs(root)}")
        if _answers(f"{server.url}/render?target=test&format=json") and _accepts(server.line_port):
            return
        time.sleep(0.1)
    raise GraphiteTestError(
        f"graphite did not start within {READY_TIMEOUT_SECONDS} s: {_logs(root)}"
    )


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _has_graphite_web() -> bool:
    if not Path(DEBIAN_PYTHON).exists():
        return False
    found = subprocess.run(
        [DEBIAN_PYTHON, "-c", "import graphite, django"], capture_output=True, check=False
    )
    return found.returncode == 0


def _logs(root: Path) -> str:
    return "\n".join(
        f"--- {log.name}\n{log.read_text(errors='replace')[-2000:]}"
        for log in sorted(root.glob("*.log"))
    )
