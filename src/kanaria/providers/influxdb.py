"""InfluxDB as a metrics provider: Flux over the v2 query API (`POST /api/v2/query`).

As Flagger does (through influxdb-client-go): the address is required; with a Secret, `token`
and `org` are required and sent as `Authorization: Token …` and `?org=`; the body asks for
annotated CSV; the timeout is 15 s; the value is the `_value` of the record. This API is
InfluxDB 2.x's, and InfluxDB 1.8+'s with `flux-enabled = true` (there the token is
`username:password`); InfluxQL and InfluxDB 1.7 or older cannot answer it.

Unlike Flagger: an answer with no record is "no values" (Flagger returns 0, so a missing
series passes a `max` check); several records are an error (Flagger reads the first); a
`long` or `unsignedLong` value is accepted (Flagger rejects anything but `double`, so
`count()` fails there); availability runs `buckets() |> limit(n: 1)` instead of reading a
bucket named `default`, which most installations do not have.

aiohttp and the csv module rather than `influxdb-client`: its asyncio client builds its own
aiohttp connector (so the local platform's resolver cannot be passed), pulls in reactivex, and
the annotated CSV of one query is a short, documented format.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import aiohttp
import aiohttp.abc

from kanaria import errors
from kanaria.providers import credentials
from kanaria.providers.base import (
    MultipleValuesError,
    NoValuesError,
    ProviderSettings,
    ProviderUnavailableError,
    QueryError,
)
from kanaria.providers.http import Answer, HttpBackend, backend_url, join

TIMEOUT_SECONDS = 15.0
ONLINE_QUERY = "buckets() |> limit(n: 1)"
DIALECT = {"annotations": ["datatype", "group", "default"], "delimiter": ",", "header": True}
NUMERIC_TYPES = frozenset({"double", "long", "unsignedLong"})


@dataclass(frozen=True, slots=True)
class Cell:
    datatype: str
    text: str


Record = dict[str, Cell]


def flux_records(text: str) -> list[Record]:
    """Every record of an annotated CSV answer; an error table becomes a QueryError."""
    records: list[Record] = []
    datatypes: list[str] = []
    defaults: list[str] = []
    header: list[str] | None = None
    for row in csv.reader(io.StringIO(text)):
        if not any(row):
            header = None  # a blank line ends a table; annotations and a header follow
        elif row[0] == "#datatype":
            datatypes, header = row[1:], None
        elif row[0] == "#default":
            defaults = row[1:]
        elif row[0].startswith("#"):
            continue
        elif header is None:
            header = row[1:]
        else:
            record = _record(header, datatypes, defaults, row[1:])
            if "error" in record and "_value" not in record:
                raise QueryError(f"InfluxDB failed the Flux query: {record['error'].text}")
            records.append(record)
    return records


def _record(
    header: list[str], datatypes: list[str], defaults: list[str], cells: list[str]
) -> Record:
    record: Record = {}
    for index, name in enumerate(header):
        text = cells[index] if index < len(cells) else ""
        default = defaults[index] if index < len(defaults) else ""
        datatype = datatypes[index] if index < len(datatypes) else "string"
        record[name] = Cell(datatype, text or default)
    return record


def record_value(records: list[Record]) -> float:
    """The `_value` of the one record."""
    if not records:
        raise NoValuesError("no values found: the Flux query returned no record")
    if len(records) > 1:
        raise MultipleValuesError(
            f"the Flux query returned {len(records)} records, expected one; reduce them, "
            "e.g. with |> group() |> mean()"
        )
    cell = records[0].get("_value")
    if cell is None:
        columns = ", ".join(records[0])
        raise QueryError(f"the Flux result has no _value column (columns: {columns})")
    if not cell.text:
        raise NoValuesError("no values found: the record's _value is null")
    if cell.datatype not in NUMERIC_TYPES:
        raise QueryError(f"the Flux result's _value is a {cell.datatype}, not a number")
    return float(cell.text)


class InfluxDBProvider:
    """Runs Flux queries against one InfluxDB."""

    def __init__(
        self,
        settings: ProviderSettings,
        *,
        resolver: aiohttp.abc.AbstractResolver | None = None,
        connector: aiohttp.BaseConnector | None = None,
    ) -> None:
        self._url = join(backend_url("influxdb", settings.address), "/api/v2/query")
        headers = [("Accept", "application/csv")]
        self._org = ""
        secrets: list[str] = []
        if settings.secret is not None:
            keys = credentials.required_keys(
                "influxdb", settings.secret, ("token", "org"), settings.secret_name
            )
            headers.append(("Authorization", f"Token {keys['token']}"))
            self._org, secrets = keys["org"], [keys["token"]]
        self._where = credentials.where(settings.secret_name, "token", "org")
        self.http = HttpBackend(
            "InfluxDB",
            settings.address,
            timeout=max(settings.timeout, TIMEOUT_SECONDS),
            headers=headers,
            verify_tls=not settings.insecure_skip_verify,
            ca_file=settings.ca_file,
            secrets=secrets,
            resolver=resolver,
            connector=connector,
        )

    @classmethod
    def from_settings(
        cls,
        settings: ProviderSettings,
        *,
        resolver: aiohttp.abc.AbstractResolver | None = None,
        connector: aiohttp.BaseConnector | None = None,
    ) -> InfluxDBProvider:
        return cls(settings, resolver=resolver, connector=connector)

    def __repr__(self) -> str:
        return f"InfluxDBProvider({self.http.address!r})"

    async def query(self, query: str) -> float:
        return record_value(await self._records(query))

    async def is_online(self) -> bool:
        await self._records(ONLINE_QUERY)
        return True

    async def close(self) -> None:
        await self.http.close()

    async def _records(self, flux: str) -> list[Record]:
        answer = await self.http.request(
            "POST",
            self._url,
            params={"org": self._org} if self._org else None,
            json_body={"query": flux, "type": "flux", "dialect": DIALECT},
        )
        if answer.status != 200:
            raise self._refusal(answer)
        try:
            return flux_records(answer.body.decode())
        except (UnicodeDecodeError, csv.Error) as exc:
            raise ProviderUnavailableError(
                f"{self.http.source} answered with something other than annotated CSV: "
                f"{self.http.excerpt(answer.body)}"
            ) from exc

    def _refusal(self, answer: Answer) -> errors.KanariaError:
        """InfluxDB's own 404s (no such bucket or org) are query errors; a 404 from anything
        else means there is no Flux API at the address."""
        if answer.status == 404:
            if answer.headers.get("content-type", "").startswith("application/json"):
                return QueryError(f"{self.http.source}: {self.http.reason(answer)}")
            version = answer.headers.get("x-influxdb-version")
            running = f" (it runs InfluxDB {version})" if version else ""
            return ProviderUnavailableError(
                f"{self.http.source} has no Flux query API at {self._url.path}{running}: "
                "InfluxDB 1.7 and older have none, 1.8 needs flux-enabled = true"
            )
        return self.http.refusal(answer, credentials=self._where)
