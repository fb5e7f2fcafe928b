"""Amazon CloudWatch as a metrics provider, through `GetMetricData` (boto3, in a thread).

As Flagger does: `region` is required; the query is a JSON array of MetricDataQuery objects
(key case does not matter, as with Go's decoder); it runs over the last 10 × the metric's
interval with `MaxDatapoints` 20, and the first value of the first result is the answer
(CloudWatch returns the newest first); the SDK retries 3 times; availability sends an empty
`GetMetricData` and takes a 400 (a validation error) as an answer. Credentials come from the
AWS default chain (environment, web identity/IRSA, instance role), as in Flagger — or, a
kanaria addition, from the Secret keys `aws_access_key_id`, `aws_secret_access_key` and
optionally `aws_session_token` when the template names a Secret. `address`, which Flagger
ignores, is the endpoint URL when set (a VPC endpoint, or a test server). Unlike Flagger,
several results with `ReturnData` are an error rather than the first one.

boto3 earns its place: Signature V4 and the whole credential chain are what a CloudWatch
client is, and AWS maintains them. It blocks, so calls run in a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import boto3
import botocore.config
import botocore.exceptions

from kanaria import errors
from kanaria.providers import credentials
from kanaria.providers.base import (
    MultipleValuesError,
    NoValuesError,
    ProviderAuthError,
    ProviderSettings,
    ProviderUnavailableError,
    QueryError,
    lookback_seconds,
)

if TYPE_CHECKING:
    import aiohttp
    import aiohttp.abc
    from mypy_boto3_cloudwatch import CloudWatchClient

LOOKBACK_INTERVALS = 10
MAX_DATAPOINTS = 20
KEY_ID, SECRET_KEY, SESSION_TOKEN = (
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
)

_FIELDS = (
    "Id", "Expression", "MetricStat", "Metric", "Namespace", "MetricName", "Dimensions", "Name",
    "Value", "Period", "Stat", "Unit", "Label", "ReturnData", "AccountId",
)  # fmt: skip
_CANONICAL = {field.lower(): field for field in _FIELDS}
_AUTH_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "UnrecognizedClientException",
        "ExpiredToken",
        "ExpiredTokenException",
        "MissingAuthenticationToken",
        "IncompleteSignature",
    }
)
_THROTTLING_CODES = frozenset({"Throttling", "ThrottlingException", "RequestLimitExceeded"})


def metric_data_queries(query: str) -> list[dict[str, Any]]:
    """The template's JSON as boto3 wants it: AWS's field names, whatever their case."""
    try:
        decoded = json.loads(query)
    except ValueError as exc:
        raise QueryError(
            f"error unmarshaling query: the cloudwatch query is not JSON: {exc}"
        ) from exc
    if not isinstance(decoded, list) or not all(isinstance(item, dict) for item in decoded):
        raise QueryError("a cloudwatch query is a JSON array of MetricDataQuery objects")
    return [_canonical(item) for item in decoded]


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return {_CANONICAL.get(key.lower(), key): _canonical(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_canonical(item) for item in value]
    return value


def first_value(response: Mapping[str, Any]) -> float:
    """The newest value of the one result."""
    results = response.get("MetricDataResults") or []
    if not results:
        raise NoValuesError("no values found: CloudWatch returned no result")
    if len(results) > 1:
        ids = ", ".join(str(result.get("Id")) for result in results)
        raise MultipleValuesError(
            f"CloudWatch returned {len(results)} results ({ids}), expected one; set "
            '"ReturnData": false on the queries that only feed an expression'
        )
    values = results[0].get("Values") or []
    if not values:
        status = results[0].get("StatusCode", "")
        raise NoValuesError(f"no values found: result {results[0].get('Id')} is empty ({status})")
    return float(values[0])


class CloudWatchProvider:
    """Runs GetMetricData over a window of 10 × the metric's interval."""

    def __init__(
        self,
        settings: ProviderSettings,
        *,
        resolver: aiohttp.abc.AbstractResolver | None = None,
        connector: aiohttp.BaseConnector | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        if not settings.region:
            raise errors.ConfigError("cloudwatch: region not specified (provider.region)")
        self.region = settings.region
        self.endpoint = settings.address or None
        self._lookback = lookback_seconds("cloudwatch", settings, LOOKBACK_INTERVALS)
        self._keys = _secret_keys(settings.secret, settings.secret_name)
        self._where = (
            credentials.where(settings.secret_name, KEY_ID, SECRET_KEY)
            if self._keys
            else "kanaria's environment (the AWS default credential chain)"
        )
        self._timeout = settings.timeout
        self._verify = not settings.insecure_skip_verify
        self._now = now
        self._client: CloudWatchClient | None = None

    @classmethod
    def from_settings(
        cls,
        settings: ProviderSettings,
        *,
        resolver: aiohttp.abc.AbstractResolver | None = None,
        connector: aiohttp.BaseConnector | None = None,
    ) -> CloudWatchProvider:
        return cls(settings, resolver=resolver, connector=connector)

    def __repr__(self) -> str:
        return f"CloudWatchProvider({self.region!r})"

    @property
    def source(self) -> str:
        return f"CloudWatch in {self.region}" + (f" at {self.endpoint}" if self.endpoint else "")

    def request(self, query: str) -> dict[str, Any]:
        """GetMetricData's arguments, as Flagger sends them."""
        now = self._now()
        return {
            "MetricDataQueries": metric_data_queries(query),
            "StartTime": datetime.fromtimestamp(now - self._lookback, UTC),
            "EndTime": datetime.fromtimestamp(now, UTC),
            "MaxDatapoints": MAX_DATAPOINTS,
        }

    async def query(self, query: str) -> float:
        response = await self._call(self.request(query))
        return first_value(response)

    async def is_online(self) -> bool:
        """An empty request must come back as a validation error (HTTP 400), or pass."""
        epoch = datetime.fromtimestamp(0, UTC)
        # a QueryError is the 400 Flagger expects: CloudWatch is there and took our signature
        with contextlib.suppress(QueryError):
            await self._call({"MetricDataQueries": [], "StartTime": epoch, "EndTime": epoch})
        return True

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await asyncio.to_thread(client.close)

    async def _call(self, arguments: dict[str, Any]) -> dict[str, Any]:
        try:
            return await asyncio.to_thread(self._get_metric_data, arguments)
        except botocore.exceptions.ClientError as exc:
            raise self._refusal(exc) from exc
        except botocore.exceptions.NoCredentialsError as exc:
            raise ProviderAuthError(
                f"{self.source}: no AWS credentials found in {self._where}"
            ) from exc
        except botocore.exceptions.ParamValidationError as exc:
            raise QueryError(
                f"the cloudwatch query is not a valid MetricDataQuery list: {exc}"
            ) from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise ProviderUnavailableError(f"{self.source} is unreachable: {exc}") from exc

    def _get_metric_data(self, arguments: dict[str, Any]) -> dict[str, Any]:
        if self._client is None:
            self._client = self._new_client()
        return dict(self._client.get_metric_data(**arguments))

    def _new_client(self) -> CloudWatchClient:
        config = botocore.config.Config(
            connect_timeout=self._timeout,
            read_timeout=self._timeout,
            retries={"total_max_attempts": 4, "mode": "standard"},
        )
        session = boto3.session.Session(
            aws_access_key_id=self._keys.get(KEY_ID),
            aws_secret_access_key=self._keys.get(SECRET_KEY),
            aws_session_token=self._keys.get(SESSION_TOKEN) or None,
            region_name=self.region,
        )
        return session.client(
            "cloudwatch", endpoint_url=self.endpoint, config=config, verify=self._verify
        )

    def _refusal(self, exc: botocore.exceptions.ClientError) -> errors.KanariaError:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
        reason = f"{code}: {error.get('Message', '')}"[:300]
        if code in _AUTH_CODES or status in (401, 403):
            return ProviderAuthError(
                f"{self.source} refused the credentials ({self._where}): {reason}"
            )
        if code in _THROTTLING_CODES or status == 429:
            return ProviderUnavailableError(f"{self.source} is throttling requests: {reason}")
        if status == 400:
            return QueryError(
                f"error requesting cloudwatch: {self.source} rejected the query: {reason}"
            )
        return ProviderUnavailableError(
            f"error requesting cloudwatch: {self.source} failed (HTTP {status}): {reason}"
        )


def _secret_keys(secret: Mapping[str, str | bytes] | None, secret_name: str) -> dict[str, str]:
    """Access keys from the Secret, when it holds them; otherwise the default chain is used."""
    if secret is None or not ({KEY_ID, SECRET_KEY} & set(secret)):
        return {}
    keys = credentials.required_keys("cloudwatch", secret, (KEY_ID, SECRET_KEY), secret_name)
    session_token = credentials.optional_key(secret, SESSION_TOKEN)
    return {**keys, SESSION_TOKEN: session_token} if session_token else keys
