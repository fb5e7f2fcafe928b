"""Local stand-ins for the SaaS metrics backends that cannot run here (Datadog, New Relic,
Dynatrace, Google Cloud Monitoring, Splunk Observability, a Kubernetes external metrics
adapter, InfluxDB 2's query API).

They are NOT those services. Each is an aiohttp server on 127.0.0.1 that checks credentials the
way the vendor documents, and answers with the request and response shapes of the vendor's API
reference — success, empty, several series, a rejected query, refused credentials, rate limiting
(with the vendor's headers) and a server error — so the providers are tested against the
documented contract, and every request they send is recorded for the tests to assert on.

A test sets `series` (one list of values per time series; `[]` for an empty answer) and `mode`
(`ok`, `bad-query`, `rate-limited`, `server-error`).
"""

from __future__ import annotations

import base64
import gzip
import json
import struct
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from aiohttp import WSMsgType, web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


@dataclass
class VendorServer:
    """The common part: a loopback server that records requests and plays a mode."""

    credential: str
    series: list[list[float | None]] = field(default_factory=lambda: [[99.5]])
    mode: str = "ok"
    received: list[Received] = field(default_factory=list)
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        assert self._runner is not None
        host, port = self._runner.addresses[0][:2]
        return f"http://{host}:{port}"

    def routes(self) -> list[tuple[str, str, Handler]]:
        raise NotImplementedError

    async def __aenter__(self) -> VendorServer:
        app = web.Application(middlewares=[self._record])
        for method, path, handler in self.routes():
            app.router.add_route(method, path, handler)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @web.middleware
    async def _record(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        body = await request.read()
        self.received.append(
            Received(request.method, request.path, dict(request.query), dict(request.headers), body)
        )
        return await handler(request)

    def first(self, path: str) -> Received:
        return next(each for each in self.received if each.path == path)

    def last(self, path: str) -> Received:
        return [each for each in self.received if each.path == path][-1]


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(body, status=status, headers=headers)


# --- Datadog: metrics query API v1 -----------------------------------------------------------


@dataclass
class Datadog(VendorServer):
    """`GET /api/v1/query` and `/api/v1/validate`, keys in DD-API-KEY / DD-APPLICATION-KEY.
    Errors are `{"errors": [...]}`; a 429 carries X-RateLimit-Limit/-Period/-Remaining/-Reset."""

    application_key: str = "app-key"

    def routes(self) -> list[tuple[str, str, Handler]]:
        return [("GET", "/api/v1/query", self.query), ("GET", "/api/v1/validate", self.validate)]

    def _refusal(self, request: web.Request) -> web.Response | None:
        api, app = request.headers.get("DD-API-KEY"), request.headers.get("DD-APPLICATION-KEY")
        if api != self.credential or app != self.application_key:
            return _json(403, {"errors": ["Forbidden"]})
        if self.mode == "rate-limited":
            headers = {
                "X-RateLimit-Limit": "100",
                "X-RateLimit-Period": "60",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": "17",
                "X-RateLimit-Name": "metrics_query",
            }
            return _json(
                429, {"errors": ["Rate limit of 100 requests in 60 seconds reached"]}, headers
            )
        if self.mode == "server-error":
            return _json(500, {"errors": ["Internal Server Error"]})
        return None

    async def validate(self, request: web.Request) -> web.Response:
        return self._refusal(request) or _json(200, {"valid": True})

    async def query(self, request: web.Request) -> web.Response:
        refused = self._refusal(request)
        if refused:
            return refused
        query = request.query["query"]
        if self.mode == "bad-query":
            return _json(400, {"errors": [f"Error parsing query: unable to parse {query}"]})
        start, end = int(request.query["from"]), int(request.query["to"])
        series = [
            {
                "metric": "istio.mesh.request.count",
                "display_name": "istio.mesh.request.count",
                "scope": f"destination_workload:podinfo,pod:p{index}",
                "expression": query,
                "pointlist": [
                    [(start + step * 60) * 1000.0, value] for step, value in enumerate(values)
                ],
                "start": start * 1000,
                "end": end * 1000,
                "interval": 60,
                "length": len(values),
                "aggr": "sum",
                "unit": None,
                "tag_set": [f"pod:p{index}"],
            }
            for index, values in enumerate(self.series)
        ]
        return _json(
            200,
            {
                "status": "ok",
                "res_type": "time_series",
                "series": series,
                "from_date": start * 1000,
                "to_date": end * 1000,
                "query": query,
                "message": "",
                "group_by": [],
            },
        )


# --- New Relic: Insights query API -----------------------------------------------------------


@dataclass
class NewRelic(VendorServer):
    """`GET /v1/accounts/<id>/query?nrql=…` with `X-Query-Key`; errors are `{"error": "…"}`."""

    account: str = "1234567"

    def routes(self) -> list[tuple[str, str, Handler]]:
        return [("GET", "/v1/accounts/{account}/query", self.query)]

    async def query(self, request: web.Request) -> web.Response:
        if request.headers.get("X-Query-Key") != self.credential:
            return _json(401, {"error": "Invalid query key"})
        if request.match_info["account"] != self.account:
            return _json(403, {"error": "Query key is not valid for this account"})
        if self.mode == "rate-limited":
            return _json(429, {"error": "Too many requests"}, {"Retry-After": "30"})
        if self.mode == "server-error":
            return _json(503, {"error": "Service unavailable"})
        if self.mode == "bad-query":
            return _json(400, {"error": "NRQL Syntax Error: Error at line 1 position 7"})
        results = [{"result": values[-1] if values else None} for values in self.series]
        return _json(
            200,
            {
                "results": results or [{"result": None}],
                "metadata": {"eventTypes": ["Transaction"], "contents": []},
            },
        )


# --- Dynatrace: metrics API v2 ---------------------------------------------------------------


@dataclass
class Dynatrace(VendorServer):
    """`GET /api/v2/metrics/query` and `/api/v2/metrics`, `Authorization: Api-Token …`;
    errors are `{"error": {"code", "message"}}`, a 429 carries Retry-After."""

    def routes(self) -> list[tuple[str, str, Handler]]:
        return [("GET", "/api/v2/metrics/query", self.query), ("GET", "/api/v2/metrics", self.list)]

    def _refusal(self, request: web.Request) -> web.Response | None:
        if request.headers.get("Authorization") != f"Api-Token {self.credential}":
            return _json(401, {"error": {"code": 401, "message": "Token Authentication failed"}})
        if self.mode == "rate-limited":
            headers = {
                "Retry-After": "12",
                "X-RateLimit-Limit": "50",
                "X-RateLimit-Reset": str(int(time.time() * 1e6) + 12_000_000),
            }
            return _json(429, {"error": {"code": 429, "message": "Too Many Requests"}}, headers)
        if self.mode == "server-error":
            return _json(503, {"error": {"code": 503, "message": "Service Unavailable"}})
        return None

    async def list(self, request: web.Request) -> web.Response:
        return self._refusal(request) or _json(
            200, {"totalCount": 1, "nextPageKey": None, "metrics": [{"metricId": "builtin:x"}]}
        )

    async def query(self, request: web.Request) -> web.Response:
        refused = self._refusal(request)
        if refused:
            return refused
        selector = request.query["metricSelector"]
        if self.mode == "bad-query":
            return _json(400, {"error": {"code": 400, "message": f"Invalid selector {selector}"}})
        data = [
            {
                "dimensions": [f"SERVICE-{index}"],
                "dimensionMap": {"dt.entity.service": f"SERVICE-{index}"},
                "timestamps": [int(request.query["to"])] * len(values),
                "values": values,
            }
            for index, values in enumerate(self.series)
        ]
        result = [
            {
                "metricId": selector,
                "dataPointCountRatio": 1e-5,
                "dimensionCountRatio": 1e-5,
                "data": data,
            }
        ]
        return _json(
            200,
            {
                "totalCount": len(data),
                "nextPageKey": None,
                "resolution": request.query.get("resolution"),
                "result": result,
            },
        )


# --- Google Cloud Monitoring: projects.timeSeries.query, and an OAuth token endpoint ---------


@dataclass
class CloudMonitoring(VendorServer):
    """`POST /v3/projects/<p>/timeSeries:query` with a bearer token that `/token` issues for a
    service-account JWT (RFC 7523); errors are `{"error": {"code", "message", "status"}}`.
    `credential` is the client_email the token endpoint accepts."""

    project: str = "kanaria-test"
    issued: str = "ya29.local-test-token"
    public_key: Any = None  # the service account key's public half, to check JWT signatures

    def routes(self) -> list[tuple[str, str, Handler]]:
        return [
            ("POST", "/token", self.token),
            ("POST", "/v3/projects/{project}/timeSeries:query", self.query),
        ]

    async def token(self, request: web.Request) -> web.Response:
        form = await request.post()
        claims = _verified_claims(str(form.get("assertion", "")), self.public_key)
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" or (
            claims is None or claims.get("iss") != self.credential
        ):
            return _json(
                400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
            )
        return _json(200, {"access_token": self.issued, "expires_in": 3599, "token_type": "Bearer"})

    async def query(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.issued}":
            return _google_error(
                401, "UNAUTHENTICATED", "Request had invalid authentication credentials."
            )
        if request.match_info["project"] != self.project:
            return _google_error(
                403, "PERMISSION_DENIED", "Permission monitoring.timeSeries.list denied"
            )
        if self.mode == "rate-limited":
            return _google_error(
                429, "RESOURCE_EXHAUSTED", "Quota exceeded for quota metric 'Time series queries'"
            )
        if self.mode == "server-error":
            return _google_error(503, "UNAVAILABLE", "The service is currently unavailable.")
        query = (await request.json()).get("query", "")
        if self.mode == "bad-query" or not query:
            return _google_error(400, "INVALID_ARGUMENT", f"Parse error at line 1: {query!r}")
        body: dict[str, Any] = {
            "timeSeriesDescriptor": {
                "labelDescriptors": [{"key": "resource.service_name"}],
                "pointDescriptors": [
                    {"key": "value.ratio", "valueType": "DOUBLE", "metricKind": "GAUGE"}
                ],
            }
        }
        if self.series:
            body["timeSeriesData"] = [
                {
                    "labelValues": [{"stringValue": f"podinfo-{index}"}],
                    "pointData": [
                        {
                            "values": [{"doubleValue": value}],
                            "timeInterval": {"endTime": "2026-01-01T00:00:00Z"},
                        }
                        for value in values
                    ],
                }
                for index, values in enumerate(self.series)
            ]
        return _json(200, body)


def _google_error(code: int, status: str, message: str) -> web.Response:
    return _json(code, {"error": {"code": code, "message": message, "status": status}})


def _verified_claims(assertion: str, public_key: Any) -> dict[str, Any] | None:
    """The JWT's claims if its RS256 signature verifies with `public_key`."""
    from cryptography.exceptions import InvalidSignature  # noqa: PLC0415
    from cryptography.hazmat.primitives import hashes  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import padding  # noqa: PLC0415

    try:
        header, claims, signature = assertion.split(".")
        public_key.verify(
            _unpad(signature), f"{header}.{claims}".encode(), padding.PKCS1v15(), hashes.SHA256()
        )
        decoded: dict[str, Any] = json.loads(_unpad(claims))
    except (ValueError, InvalidSignature):
        return None
    return decoded


def _unpad(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


# --- Splunk Observability: SignalFlow over WebSocket, and the REST validation call ------------


@dataclass
class SignalFx(VendorServer):
    """`/v2/signalflow` (WebSocket: authenticate, execute, then binary data messages and an
    END_OF_CHANNEL control message) and `GET /v2/metric` with `X-SF-Token`."""

    compress: bool = False
    programs: list[dict[str, Any]] = field(default_factory=list)

    def routes(self) -> list[tuple[str, str, Handler]]:
        return [("GET", "/v2/signalflow", self.stream), ("GET", "/v2/metric", self.metrics)]

    async def metrics(self, request: web.Request) -> web.Response:
        if request.headers.get("X-SF-Token") != self.credential:
            return _json(401, {"code": 401, "message": "Unauthorized"})
        if self.mode == "rate-limited":
            return _json(429, {"code": 429, "message": "Too many requests"}, {"Retry-After": "5"})
        return _json(200, {"count": 1, "results": [{"name": "demo.trans.latency"}]})

    async def stream(self, request: web.Request) -> web.StreamResponse:
        if self.mode == "rate-limited":  # the upgrade itself is refused
            return _json(429, {"code": 429, "message": "Too many requests"}, {"Retry-After": "5"})
        if self.mode == "server-error":
            return _json(503, {"code": 503, "message": "Service unavailable"})
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        async for message in socket:
            if message.type != WSMsgType.TEXT:
                continue
            if not await self._handle(socket, json.loads(message.data)):
                break
        await socket.close()
        return socket

    async def _handle(self, socket: web.WebSocketResponse, message: dict[str, Any]) -> bool:
        if message.get("type") == "authenticate":
            if message.get("token") != self.credential:
                await socket.send_json(
                    {"type": "error", "error": 401, "message": "Invalid auth token"}
                )
                return False
            await socket.send_json({"type": "authenticated", "orgId": "org", "userId": "user"})
            return True
        if message.get("type") == "execute":
            self.programs.append(message)
            await self._execute(socket, str(message["channel"]), str(message["program"]))
        return True

    async def _execute(self, socket: web.WebSocketResponse, channel: str, program: str) -> None:
        control = {"type": "control-message", "channel": channel, "timestampMs": 0}
        await socket.send_json({**control, "event": "STREAM_START"})
        await socket.send_json({**control, "event": "JOB_START", "handle": "handle-1"})
        if self.mode == "bad-query":
            await socket.send_json(
                {
                    "type": "error",
                    "channel": channel,
                    "error": 400,
                    "errorType": "ANALYTICS_PROGRAM_PARSE_ERROR",
                    "message": f"Parse error: {program}",
                }
            )
            return
        for step in range(max((len(values) for values in self.series), default=0)):
            points = [
                (index, values[step])
                for index, values in enumerate(self.series)
                if step < len(values)
            ]
            await socket.send_bytes(data_message(channel, points, self.compress))
        await socket.send_json({**control, "event": "END_OF_CHANNEL"})


def data_message(channel: str, points: list[tuple[int, float | None]], compress: bool) -> bytes:
    """A binary data message: version 1, type 5, flags, channel; timestamp, count; payloads of
    (value type, TSID, value) — doubles here, and type 0 (no value) for None."""
    payloads = b"".join(
        struct.pack(">Bqd", 2, 1000 + tsid, value)
        if value is not None
        else struct.pack(">Bq8x", 0, 1000 + tsid)
        for tsid, value in points
    )
    body = struct.pack(">QI", int(time.time() * 1000), len(points)) + payloads
    if compress:
        body = gzip.compress(body)
    header = struct.pack(">BBBx16s", 1, 5, 1 if compress else 0, channel.encode())
    return header + body


# --- Kubernetes External Metrics API (an adapter behind the API server) ----------------------


@dataclass
class ExternalMetricsAdapter(VendorServer):
    """`GET /apis/external.metrics.k8s.io/v1beta1[/namespaces/<ns>/<metric>]` with a bearer
    token; answers ExternalMetricValueList, and Kubernetes Status objects for errors."""

    metrics: tuple[str, ...] = ("success-rate",)

    def routes(self) -> list[tuple[str, str, Handler]]:
        base = "/apis/external.metrics.k8s.io/v1beta1"
        return [
            ("GET", base, self.discovery),
            ("GET", base + "/namespaces/{ns}/{metric}", self.value),
        ]

    def _refusal(self, request: web.Request) -> web.Response | None:
        if request.headers.get("Authorization") != f"Bearer {self.credential}":
            return _status(401, "Unauthorized", "Unauthorized")
        if self.mode == "rate-limited":
            return _status(429, "TooManyRequests", "too many requests", {"Retry-After": "1"})
        if self.mode == "server-error":
            return _status(
                503, "ServiceUnavailable", "the server is currently unable to handle the request"
            )
        return None

    async def discovery(self, request: web.Request) -> web.Response:
        return self._refusal(request) or _json(
            200,
            {
                "kind": "APIResourceList",
                "apiVersion": "v1",
                "groupVersion": "external.metrics.k8s.io/v1beta1",
                "resources": [],
            },
        )

    async def value(self, request: web.Request) -> web.Response:
        refused = self._refusal(request)
        if refused:
            return refused
        metric = request.match_info["metric"]
        if self.mode == "bad-query":
            selector = request.query.get("labelSelector", "")
            return _status(400, "BadRequest", f"unable to parse requirement: {selector}")
        if metric not in self.metrics:
            return _status(404, "NotFound", f"the server could not find the metric {metric}")
        items = [
            {
                "metricName": metric,
                "metricLabels": {"pod": f"p{index}"},
                "timestamp": "2026-01-01T00:00:00Z",
                "value": f"{round(values[-1] * 1000)}m",
            }
            for index, values in enumerate(self.series)
            if values and values[-1] is not None
        ]
        return _json(
            200,
            {
                "kind": "ExternalMetricValueList",
                "apiVersion": "external.metrics.k8s.io/v1beta1",
                "metadata": {},
                "items": items,
            },
        )


def _status(
    code: int, reason: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    body = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    return _json(code, body, headers)


# --- InfluxDB 2: the Flux query API ----------------------------------------------------------


@dataclass
class InfluxDB2(VendorServer):
    """`POST /api/v2/query?org=…` with `Authorization: Token …`, answering annotated CSV (one
    table per series); errors are `{"code", "message"}`."""

    org: str = "kanaria"
    datatype: str = "double"

    def routes(self) -> list[tuple[str, str, Handler]]:
        return [("POST", "/api/v2/query", self.query)]

    async def query(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Token {self.credential}":
            return _json(401, {"code": "unauthorized", "message": "unauthorized access"})
        if request.query.get("org") != self.org:
            return _json(
                404,
                {
                    "code": "not found",
                    "message": f'organization name "{request.query.get("org")}" not found',
                },
            )
        if self.mode == "rate-limited":
            return _json(
                429,
                {"code": "too many requests", "message": "org has exceeded its query limit"},
                {"Retry-After": "8"},
            )
        if self.mode == "server-error":
            return _json(500, {"code": "internal error", "message": "unexpected error"})
        flux = (await request.json())["query"]
        if self.mode == "bad-query":
            return _json(
                400,
                {"code": "invalid", "message": f"compilation failed: error at @1:1-1:5: {flux}"},
            )
        return web.Response(text=annotated_csv(self.series, self.datatype), content_type="text/csv")


def annotated_csv(series: list[list[float | None]], datatype: str = "double") -> str:
    """Flux's annotated CSV: per table the #datatype, #group and #default annotations, a
    header, then rows; tables separated by a blank line."""
    tables = []
    for index, values in enumerate(series):
        rows = [
            f",,{index},2026-01-01T00:00:00Z,2026-01-01T00:01:00Z,2026-01-01T00:00:{step:02d}Z,"
            f"{'' if value is None else value},rate,podinfo"
            for step, value in enumerate(values)
        ]
        tables.append(
            "\r\n".join(
                [
                    f"#datatype,string,long,dateTime:RFC3339,dateTime:RFC3339,dateTime:RFC3339,{datatype},string,string",
                    "#group,false,false,true,true,false,false,true,true",
                    "#default,_result,,,,,,,",
                    ",result,table,_start,_stop,_time,_value,_field,_measurement",
                    *rows,
                ]
            )
        )
    return "\r\n\r\n".join(tables) + "\r\n"
