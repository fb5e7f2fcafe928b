"""Calling a Canary's webhooks over HTTP, with Flagger's contract.

A hook is a JSON POST; it passes when the answer's status is at most 202. Each attempt has the
hook's timeout (a hook that hangs is cut there); `retries` repeats attempts after connection
errors, 5xx and 429. Failures become `WebhookError` naming the hook and what went wrong, with any
credential in a URL redacted (the message becomes an Event and a log line).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import aiohttp

from kanaria.errors import TemporaryError
from kanaria.redaction import redact
from kanaria.spec.canary import Webhook

log = logging.getLogger(__name__)

_MAX_BODY = 2000
_RETRY_STATUSES = frozenset({429, *range(500, 600)})


class WebhookError(TemporaryError):
    """A webhook refused (status > 202), timed out, or could not be reached."""


@dataclass(frozen=True)
class HookPayload:
    """What every hook receives (Flagger's `CanaryWebhookPayload`)."""

    name: str
    namespace: str
    phase: str
    checksum: str
    metadata: dict[str, str]

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "namespace": self.namespace,
            "phase": self.phase,
            "checksum": self.checksum,
            "metadata": self.metadata,
        }


class HttpWebhookCaller:
    """Posts hooks with aiohttp. `connector` lets a platform resolve its own service names;
    `time_scale` shortens every hook timeout as the platform's clock does."""

    def __init__(
        self,
        connector: aiohttp.BaseConnector | None = None,
        time_scale: float = 1.0,
        min_timeout: float = 1.0,
    ) -> None:
        self._connector = connector
        self._session: aiohttp.ClientSession | None = None
        self._time_scale = time_scale
        self._min_timeout = min_timeout

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(connector=self._connector, connector_owner=False)
        return self._session

    def timeout_of(self, hook: Webhook) -> float:
        return max(self._min_timeout, hook.timeout_seconds / self._time_scale)

    async def call(self, hook: Webhook, payload: HookPayload) -> None:
        attempts = hook.retries + 1
        for attempt in range(1, attempts + 1):
            try:
                await self._attempt(hook, payload)
                return
            except _Retryable as exc:
                if attempt == attempts:
                    raise WebhookError(
                        f"{exc} (giving up after {attempts} attempt(s))"
                    ) from exc.__cause__
                await asyncio.sleep(min(0.1 * 2**attempt, 2.0))

    async def _attempt(self, hook: Webhook, payload: HookPayload) -> None:
        timeout = aiohttp.ClientTimeout(total=self.timeout_of(hook))
        ssl = not hook.disable_tls
        try:
            async with self._client().post(
                hook.url, json=payload.as_json(), timeout=timeout, ssl=ssl
            ) as response:
                body = (await response.text(errors="replace"))[:_MAX_BODY].strip()
                status = response.status
        except TimeoutError as exc:
            raise _Retryable(f"webhook {hook.name} timed out after {timeout.total:g}s") from exc
        except aiohttp.ClientError as exc:
            where = redact(hook.url)
            raise _Retryable(redact(f"webhook {hook.name} at {where} unreachable: {exc}")) from exc
        if status <= 202:
            return
        message = redact(f"{body or 'no body'} (status {status})")
        if status in _RETRY_STATUSES:
            raise _Retryable(message)
        raise WebhookError(message)


class _Retryable(Exception):
    """An attempt that may succeed if repeated."""
