"""A stand-in for Istio's sidecar telemetry: Istio-named series whose traffic a test dictates.

Real Prometheus queries need real series. Instead of running a mesh, this loopback HTTP
exporter serves the series Flagger's Istio queries read, for any workload a test declares:

* `istio_requests_total{reporter="destination", destination_workload,
  destination_workload_namespace, response_code}` — a counter per response code (`200`, and
  `500` once failures exist);
* `istio_request_duration_milliseconds_bucket{…, le}` / `_sum` / `_count` — a histogram with
  Istio's default bucket edges, labelled like the counter.

Counters advance continuously at the set rate (they are fractional, so `rate()` over any window
gives exactly the set values), and a test may change a workload's traffic at any time; counters
then continue from where they were, at the new rate.

Use from any test module (no pytest plugin needed)::

    from tests.support.istio_exporter import IstioExporter, histogram_quantile

    with IstioExporter() as exporter:               # serves http://127.0.0.1:<port>/metrics
        exporter.set_traffic("podinfo", namespace="test", rps=10, success_rate=0.95,
                             latency_ms={100: 0.95, 700: 0.05})
        ...  # point a Prometheus at exporter.target ("127.0.0.1:<port>")
        exporter.set_traffic("podinfo", namespace="test", rps=10, success_rate=1.0)
        p99 = histogram_quantile(0.99, {100: 0.95, 700: 0.05})   # what Prometheus will say: 900.0

A workload set with `rps=0` still exposes its `200` series, flat: its success rate is 0/0 = NaN.
The exporter is thread-based (not asyncio), so one instance can serve a whole module or session
regardless of pytest-asyncio's event-loop scope.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

ISTIO_BUCKETS_MS: tuple[float, ...] = (
    0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000,
    60000, 300000, 600000, 1800000, 3600000,
)  # fmt: skip
"""Istio's default `istio_request_duration_milliseconds` bucket edges (an independent copy)."""

OK_CODE, FAILED_CODE = "200", "500"
REQUESTS = "istio_requests_total"
DURATION = "istio_request_duration_milliseconds"

LatencyProfile = float | Mapping[float, float]
"""One latency in ms for every request, or {latency_ms: share of requests}; shares sum to 1."""


@dataclass(frozen=True, slots=True)
class Traffic:
    """What a workload receives: requests per second, the non-5xx share, and latencies."""

    rps: float
    success_rate: float = 1.0
    latency_ms: Mapping[float, float] = field(default_factory=lambda: {100.0: 1.0})

    def __post_init__(self) -> None:
        if self.rps < 0 or not 0 <= self.success_rate <= 1:
            raise ValueError(f"need rps >= 0 and 0 <= success_rate <= 1, got {self}")
        if abs(sum(self.latency_ms.values()) - 1) > 1e-9:
            raise ValueError(f"latency shares must sum to 1, got {dict(self.latency_ms)}")

    def rates(self) -> dict[tuple[str, str], float]:
        """Per-second growth of every counter, keyed by (response code, series)."""
        rates: dict[tuple[str, str], float] = {}
        mean_ms = sum(latency * share for latency, share in self.latency_ms.items())
        for code, code_rps in (
            (OK_CODE, self.rps * self.success_rate),
            (FAILED_CODE, self.rps * (1 - self.success_rate)),
        ):
            rates[code, REQUESTS] = code_rps
            rates[code, f"{DURATION}_count"] = code_rps
            rates[code, f"{DURATION}_sum"] = code_rps * mean_ms
            for edge in (*ISTIO_BUCKETS_MS, float("inf")):
                share = sum(s for latency, s in self.latency_ms.items() if latency <= edge)
                rates[code, f"{DURATION}_bucket:{_le_text(edge)}"] = code_rps * share
        return rates


@dataclass(slots=True)
class _Workload:
    """Counters as of `since`, plus the traffic that has been growing them since then."""

    traffic: Traffic
    since: float
    base: dict[tuple[str, str], float] = field(default_factory=dict)

    def values(self, now: float) -> dict[tuple[str, str], float]:
        elapsed = max(0.0, now - self.since)
        rates = self.traffic.rates()
        return {key: self.base.get(key, 0.0) + rate * elapsed for key, rate in rates.items()}


class IstioExporter:
    """The exporter; a context manager that serves on 127.0.0.1 and stops on exit."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._workloads: dict[tuple[str, str], _Workload] = {}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- traffic -----------------------------------------------------------------------------

    def set_traffic(
        self,
        workload: str,
        *,
        namespace: str = "test",
        rps: float,
        success_rate: float = 1.0,
        latency_ms: LatencyProfile = 100.0,
    ) -> None:
        """Declare a workload or change its traffic from now on (counters keep their values)."""
        profile = {float(latency_ms): 1.0} if isinstance(latency_ms, int | float) else latency_ms
        traffic = Traffic(rps=rps, success_rate=success_rate, latency_ms=dict(profile))
        with self._lock:
            now = self._clock()
            current = self._workloads.get((namespace, workload))
            base = current.values(now) if current else {}
            self._workloads[namespace, workload] = _Workload(traffic, now, base)

    def remove(self, workload: str, *, namespace: str = "test") -> None:
        """Stop exposing a workload's series, as when its pods go away."""
        with self._lock:
            self._workloads.pop((namespace, workload), None)

    # -- exposition --------------------------------------------------------------------------

    def render(self) -> str:
        """The Prometheus text exposition of every workload's series, as of now."""
        with self._lock:
            now = self._clock()
            snapshot = {key: w.values(now) for key, w in sorted(self._workloads.items())}
        lines = [f"# TYPE {REQUESTS} counter"]
        lines += _family_lines(snapshot, lambda series: series == REQUESTS)
        lines.append(f"# TYPE {DURATION} histogram")
        lines += _family_lines(snapshot, lambda series: series.startswith(DURATION))
        return "\n".join(lines) + "\n"

    # -- serving -----------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the exporter is not running")
        return int(self._server.server_address[1])

    @property
    def target(self) -> str:
        """`host:port`, as a Prometheus static target."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.target}/metrics"

    def start(self) -> IstioExporter:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="istio-exporter", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> IstioExporter:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def histogram_quantile(
    quantile: float, latency_ms: LatencyProfile, buckets: tuple[float, ...] = ISTIO_BUCKETS_MS
) -> float:
    """What Prometheus's `histogram_quantile` answers for this latency profile.

    The same linear interpolation inside the bucket holding the rank, so a test can state
    the exact expected P99 rather than "somewhere near".
    """
    profile = {float(latency_ms): 1.0} if isinstance(latency_ms, int | float) else latency_ms
    cumulative = [sum(s for lat, s in profile.items() if lat <= edge) for edge in buckets]
    rank = quantile * 1.0
    for index, (edge, count) in enumerate(zip(buckets, cumulative, strict=True)):
        if count >= rank:
            start = buckets[index - 1] if index else 0.0
            below = cumulative[index - 1] if index else 0.0
            if count == below:  # only when quantile is 0
                return start
            return start + (edge - start) * (rank - below) / (count - below)
    return buckets[-1]


def _family_lines(
    snapshot: Mapping[tuple[str, str], Mapping[tuple[str, str], float]],
    wanted: Callable[[str], bool],
) -> Iterator[str]:
    for (namespace, workload), values in snapshot.items():
        for (code, series), value in values.items():
            if not wanted(series.split(":")[0]) or not _exposed(code, values):
                continue
            name, _, le = series.partition(":")
            labels = (
                f'reporter="destination",destination_workload="{workload}",'
                f'destination_workload_namespace="{namespace}",response_code="{code}"'
            )
            labels += f',le="{le}"' if le else ""
            yield f"{name}{{{labels}}} {value!r}"


def _exposed(code: str, values: Mapping[tuple[str, str], float]) -> bool:
    # Like Istio, a response code has series only once a request got it; the success
    # code is always shown, so an idle workload still has (flat) series.
    return code == OK_CODE or values[code, REQUESTS] > 0


def _le_text(edge: float) -> str:
    if edge == float("inf"):
        return "+Inf"
    return str(int(edge)) if edge == int(edge) else repr(edge)


def _handler_for(exporter: IstioExporter) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] != "/metrics":
                self.send_error(404)
                return
            body = exporter.render().encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: one line per scrape would drown the test output."""

    return Handler
