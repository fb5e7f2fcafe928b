"""Injected faults: the configured rate and delay range, reproducible with a seed."""

from __future__ import annotations

import pytest

from kanaria.apps.podinfo.config import Settings
from kanaria.apps.podinfo.faults import Fault, FaultInjector


def test_no_faults_unless_asked() -> None:
    injector = FaultInjector(Settings())
    assert all(injector.draw("/") == Fault() for _ in range(100))


@pytest.mark.parametrize("rate", [0.0, 0.1, 1 / 3, 0.5, 1.0])
def test_error_rate_is_close_to_the_configured_fraction(rate: float) -> None:
    injector = FaultInjector(Settings(random_error=True, random_error_rate=rate, seed=42))
    draws = 3000
    failures = sum(injector.draw("/").fail for _ in range(draws))
    assert abs(failures / draws - rate) < 0.03


def test_the_same_seed_gives_the_same_faults() -> None:
    settings = Settings(random_error=True, random_delay=True, seed=7)
    first = _draws(settings)
    assert first == _draws(settings)
    assert first != _draws(Settings(random_error=True, random_delay=True, seed=8))


def _draws(settings: Settings) -> list[Fault]:
    injector = FaultInjector(settings)
    return [injector.draw("/") for _ in range(50)]


def test_delays_stay_within_the_range() -> None:
    settings = Settings(random_delay=True, random_delay_min=0.2, random_delay_max=0.4, seed=1)
    delays = [fault.delay for fault in _draws(settings)]
    assert all(0.2 <= delay <= 0.4 for delay in delays)
    assert len(set(delays)) > 1


def test_a_fixed_delay_when_min_equals_max() -> None:
    settings = Settings(random_delay=True, random_delay_min=0.25, random_delay_max=0.25)
    assert {fault.delay for fault in _draws(settings)} == {0.25}


@pytest.mark.parametrize(
    "path", ["/healthz", "/readyz", "/readyz/disable", "/metrics", "/version", "/status/200"]
)
def test_probes_and_scrapes_are_spared(path: str) -> None:
    injector = FaultInjector(Settings(random_error=True, random_error_rate=1.0, random_delay=True))
    assert injector.draw(path) == Fault()


@pytest.mark.parametrize("path", ["/", "/token", "/env", "/echo"])
def test_api_paths_get_faults(path: str) -> None:
    injector = FaultInjector(Settings(random_error=True, random_error_rate=1.0))
    assert injector.draw(path).fail
