"""Real metrics backends shared by this package's tests: Graphite (carbon-cache + graphite-web)
and CloudWatch (moto's server), each started once, on demand."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.graphite_server import GraphiteServer, run_graphite
from tests.support.moto_server import MotoCloudWatch, run_moto


@pytest.fixture(scope="package")
def graphite() -> Iterator[GraphiteServer]:
    with run_graphite() as server:
        yield server


@pytest.fixture(scope="package")
def cloudwatch() -> Iterator[MotoCloudWatch]:
    with run_moto() as server:
        yield server
