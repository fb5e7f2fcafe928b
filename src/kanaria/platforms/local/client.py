"""The CLI's way into a running local control plane: an `ObjectClient` over its HTTP API.

Because it is an `ObjectClient`, anything written against `spec.objects` — the CLI's verbs,
the demo, integration tests — can use a running platform exactly as it uses the in-memory store.
It finds the API through the state dir (`api.json` and the 0600 `token` file), turns HTTP
answers back into kanaria's errors (404 → NotFoundError, 409 → ConflictError, 400 →
ConfigError, 413 → ConfigError naming the size limit), and says plainly when no control plane
answers.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import Any

import aiohttp

from kanaria.errors import ConfigError, ConflictError, NotFoundError, TemporaryError
from kanaria.platforms.local.api import MAX_REQUEST_BYTES
from kanaria.platforms.local.state import StateDir, read_api_url, read_token
from kanaria.spec.objects import Kind, Object

DEFAULT_TIME_LIMIT = 30.0


class ApiClient:
    """A client of one control plane's API; use as `async with ApiClient.for_state(...)`."""

    def __init__(self, url: str, token: str, time_limit: float = DEFAULT_TIME_LIMIT) -> None:
        self.url = url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"}
        self._time_limit = time_limit
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def for_state(cls, state: StateDir, time_limit: float = DEFAULT_TIME_LIMIT) -> ApiClient:
        """The client of the control plane that runs on `state`; ConfigError if none was set up."""
        url = read_api_url(state)
        if url is None:
            raise ConfigError(
                f"no local platform runs on {state.root}; start one with: kanaria local up"
            )
        return cls(url, read_token(state), time_limit)

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # ---- ObjectClient ------------------------------------------------------------------------

    async def get(self, kind: Kind, namespace: str, name: str) -> Object | None:
        try:
            return await self._call("GET", "/v1/object", _identity(kind, namespace, name))
        except NotFoundError:
            return None

    async def list(
        self, kind: Kind, namespace: str | None, labels: dict[str, str] | None = None
    ) -> list[Object]:
        query = _kind(kind) | ({"namespace": namespace} if namespace else {})
        if labels:
            query["labelSelector"] = ",".join(f"{key}={value}" for key, value in labels.items())
        answer = await self._call("GET", "/v1/objects", query)
        return list(answer["items"])

    async def create(self, obj: Object) -> Object:
        return await self._call("POST", "/v1/objects", body=obj)

    async def replace(self, obj: Object) -> Object:
        return await self._call("PUT", "/v1/object", body=obj)

    async def patch(self, kind: Kind, namespace: str, name: str, patch: Object) -> Object:
        return await self._call("PATCH", "/v1/object", _identity(kind, namespace, name), patch)

    async def patch_status(self, kind: Kind, namespace: str, name: str, status: Object) -> Object:
        query = _identity(kind, namespace, name)
        return await self._call("PATCH", "/v1/object/status", query, status)

    async def delete(self, kind: Kind, namespace: str, name: str) -> bool:
        answer = await self._call("DELETE", "/v1/object", _identity(kind, namespace, name))
        return bool(answer["deleted"])

    # ---- the rest of the API -----------------------------------------------------------------

    async def apply(
        self, objects: Sequence[Object], dry_run: bool = False
    ) -> builtins.list[dict[str, Any]]:
        """Create or update every object, or none (see `api.apply_manifests`)."""
        body = {"objects": list(objects), "dryRun": dry_run}
        answer = await self._call("POST", "/v1/apply", body=body)
        return list(answer["results"])

    async def healthy(self) -> bool:
        try:
            answer = await self._call("GET", "/healthz")
        except (TemporaryError, ConfigError):
            return False
        return bool(answer.get("ok"))

    async def status(self) -> dict[str, Any]:
        return await self._call("GET", "/v1/status")

    async def config(self) -> dict[str, Any]:
        """The control plane's settings, e.g. `timeScale`, `gatewayUrl`, `prometheusUrl`."""
        return await self._call("GET", "/v1/config")

    async def logs(
        self, namespace: str, deployment: str, tail: int = -1, previous: bool = False
    ) -> dict[str, Any]:
        """`{"replica", "replicas", "text"}`: the first replica's output (its last run's)."""
        query = {"namespace": namespace, "deployment": deployment, "tail": str(tail)}
        query["previous"] = "1" if previous else "0"
        return await self._call("GET", "/v1/logs", query)

    async def replicas(self, namespace: str | None = None) -> builtins.list[dict[str, Any]]:
        """The running replicas (pods), as `api.replica_json` shows them."""
        answer = await self._call("GET", "/v1/replicas", {"namespace": namespace or ""})
        return list(answer["items"])

    async def wait(self, kinds: Iterable[Kind] | None, since: int, within: float = 30.0) -> int:
        """The store's revision for `kinds` once it passes `since`, or after `within` seconds."""
        query = [("since", str(since)), ("within", str(within))]
        query += [("kind", f"{kind.api_version}/{kind.kind}") for kind in kinds or ()]
        answer = await self._call("GET", "/v1/watch", query, extra_time=within)
        return int(answer["revision"])

    # ---- transport ---------------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        query: dict[str, str] | builtins.list[tuple[str, str]] | None = None,
        body: Object | None = None,
        extra_time: float = 0.0,
    ) -> dict[str, Any]:
        session = self._open()
        limit = aiohttp.ClientTimeout(total=self._time_limit + extra_time)
        data = _encoded(body)
        try:
            async with session.request(
                method,
                self.url + path,
                params=query,
                data=data,
                timeout=limit,
                headers={"Content-Type": "application/json"} if data is not None else None,
            ) as response:
                status = response.status
                if status == 413:
                    raise _too_large(None)
                answer = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise TemporaryError(
                f"the control plane at {self.url} does not answer ({exc.__class__.__name__}: "
                f"{exc}); is it up? (kanaria local status)"
            ) from exc
        if status >= 400:
            raise _error(status, answer)
        if not isinstance(answer, dict):
            raise TemporaryError(f"the control plane answered {path} with {type(answer).__name__}")
        return answer

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(headers=self._headers)
        return self._session


def _kind(kind: Kind) -> dict[str, str]:
    return {"apiVersion": kind.api_version, "kind": kind.kind}


def _identity(kind: Kind, namespace: str, name: str) -> dict[str, str]:
    return _kind(kind) | {"namespace": namespace, "name": name}


def _encoded(body: Object | None) -> bytes | None:
    """The JSON body, refused here already when the control plane would refuse its size."""
    if body is None:
        return None
    data = json.dumps(body, separators=(",", ":")).encode()
    if len(data) > MAX_REQUEST_BYTES:
        raise _too_large(len(data))
    return data


def _too_large(size: int | None) -> ConfigError:
    found = f" ({size} bytes)" if size is not None else ""
    return ConfigError(
        f"the request is too large for the control plane{found}: limit {MAX_REQUEST_BYTES} bytes"
        "; apply fewer or smaller objects at a time"
    )


def _error(status: int, answer: Any) -> Exception:
    message = str(answer.get("error") if isinstance(answer, dict) else answer)
    if status == 404:
        return NotFoundError(message)
    if status == 409:
        return ConflictError(message)
    if status in (400, 401, 422):
        return ConfigError(message)
    return TemporaryError(f"the control plane answered {status}: {message}")
