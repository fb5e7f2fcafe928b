"""`--connect-to HOST:PORT:ADDRESS:PORT`: reach in-cluster names from outside the cluster.

Inside a cluster, webhook URLs such as `http://flagger-loadtester.test/` and the metrics server
resolve through cluster DNS. An operator run on a laptop against a cluster (through
`kubectl port-forward`), or in the tests against the API emulator, has no such DNS; curl's
`--connect-to` answer is to say where each host:port really is, and this resolver does that for
the webhook client and the Prometheus provider. Names not listed resolve as usual.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable

import aiohttp.abc
from aiohttp.abc import ResolveResult
from aiohttp.resolver import DefaultResolver

from kanaria.errors import ConfigError

Endpoint = tuple[str, int]


def parse_connect_to(specs: Iterable[str]) -> dict[Endpoint, Endpoint]:
    """`host:port:address:port` → {(host, port): (address, port)}; ConfigError when malformed."""
    table: dict[Endpoint, Endpoint] = {}
    for spec in specs:
        parts = spec.split(":")
        if len(parts) != 4 or not all(parts) or not (parts[1].isdigit() and parts[3].isdigit()):
            raise ConfigError(
                f"--connect-to {spec!r}: expected HOST:PORT:ADDRESS:PORT, "
                "e.g. flagger-loadtester.test:80:127.0.0.1:8080"
            )
        table[(parts[0], int(parts[1]))] = (parts[2], int(parts[3]))
    return table


class ConnectToResolver(aiohttp.abc.AbstractResolver):
    """Answers listed host:port pairs from the table; asks the system for the rest."""

    def __init__(self, table: dict[Endpoint, Endpoint]) -> None:
        self.table = table
        self._system: aiohttp.abc.AbstractResolver | None = None

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if (host, port) in self.table:
            address, real_port = self.table[(host, port)]
            return [
                {
                    "hostname": host,
                    "host": address,
                    "port": real_port,
                    "family": socket.AF_INET,
                    "proto": 0,
                    "flags": socket.AI_NUMERICHOST,
                }
            ]
        if self._system is None:
            self._system = DefaultResolver()
        return await self._system.resolve(host, port, family)

    async def close(self) -> None:
        if self._system is not None:
            await self._system.close()
