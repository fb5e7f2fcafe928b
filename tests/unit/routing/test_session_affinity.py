"""Session affinity over two releases in a row, through the engine, on Istio and Gateway API:
each release has its own cookie; after a release its cookie is expired; and no holder of the
first release's cookie is sent to the second canary beyond the weights everyone gets
(issue 15: with a fixed cookie they all landed on the new canary at weight 10)."""

from __future__ import annotations

from typing import Any

import pytest

from kanaria.routing import ROUTERS
from kanaria.spec.objects import HTTP_ROUTE, VIRTUAL_SERVICE
from tests.unit.routing.flagger import istio_rule_for, rule_for
from tests.unit.routing.release import NAMESPACE, StoredRelease, canary_document

AFFINITY = {"cookieName": "flagger-cookie", "maxAge": 300}
ANALYSIS = {"stepWeight": 10, "maxWeight": 30, "sessionAffinity": AFFINITY}


class Routes:
    """What a request with a given cookie gets, read from the router's live object."""

    def __init__(self, release: StoredRelease, provider: str) -> None:
        self.release, self.provider = release, provider

    async def for_cookie(self, cookie: str | None) -> tuple[list[int], str | None]:
        """(primary and canary weights, the Set-Cookie sent back on the rule) of the rule that
        takes a request carrying `cookie`."""
        objects = self.release.objects
        if self.provider == "istio":
            found = await objects.get(VIRTUAL_SERVICE, NAMESPACE, "podinfo")
            assert found is not None
            rule = istio_rule_for(found["spec"]["http"], cookie)
            added = ((rule.get("headers") or {}).get("response") or {}).get("add") or {}
            return [d["weight"] for d in rule["route"]], added.get("Set-Cookie")
        found = await objects.get(HTTP_ROUTE, NAMESPACE, "podinfo")
        assert found is not None
        rule = rule_for(found["spec"]["rules"], cookie)
        headers = [
            header
            for route_filter in rule.get("filters") or []
            for header in (route_filter.get("responseHeaderModifier") or {}).get("add") or []
        ]
        set_cookie = next((h["value"] for h in headers if h["name"] == "Set-Cookie"), None)
        return [ref["weight"] for ref in rule["backendRefs"]], set_cookie


def cookies_of(release: StoredRelease, since: int) -> set[str]:
    return {
        status["sessionAffinityCookie"]
        for status in release.statuses[since:]
        if status.get("sessionAffinityCookie")
    }


SERVICES: dict[str, dict[str, Any]] = {
    "istio": {},
    "gatewayapi:v1": {"gatewayRefs": [{"name": "public", "namespace": "gateways"}]},
}


@pytest.mark.parametrize("provider", sorted(SERVICES))
async def test_two_releases_in_a_row_with_session_affinity(provider: str) -> None:
    release = StoredRelease(ROUTERS[provider])
    await release.setup(canary_document(provider, SERVICES[provider], ANALYSIS))
    routes = Routes(release, provider)
    await release.until("Initialized")

    await release.set_image("stefanprodan/podinfo:3.1.1")
    start = len(release.statuses)
    await release.until("Succeeded")
    (first_cookie,) = cookies_of(release, start)  # one value for the whole release
    assert first_cookie.startswith("flagger-cookie=")
    status = await release.status()
    assert "sessionAffinityCookie" not in status
    assert status["previousSessionAffinityCookie"] == first_cookie
    # after the release, its cookie holders are on the primary and told to drop the cookie
    assert await routes.for_cookie(first_cookie) == ([100, 0], f"{first_cookie}; Max-Age=-1")
    assert (await routes.for_cookie(None))[0] == [100, 0]

    await release.set_image("stefanprodan/podinfo:3.1.2")
    start = len(release.statuses)
    seen: list[tuple[list[int], list[int]]] = []

    async def check_old_holders() -> None:
        everyone, _ = await routes.for_cookie(None)
        old_holders, _ = await routes.for_cookie(first_cookie)
        seen.append((everyone, old_holders))

    await release.until("Succeeded", each=check_old_holders)
    # at every step, holders of the first cookie are weighted like everyone else
    assert all(old_holders == everyone for everyone, old_holders in seen)
    steps = [everyone for everyone, _ in seen]
    shifted = [w for i, w in enumerate(steps) if w[1] and (i == 0 or steps[i - 1] != w)]
    assert shifted == [[90, 10], [80, 20], [70, 30]]
    (second_cookie,) = cookies_of(release, start)
    assert second_cookie != first_cookie
    assert (await release.status())["previousSessionAffinityCookie"] == second_cookie


@pytest.mark.parametrize("provider", sorted(SERVICES))
async def test_holders_of_the_release_cookie_stay_on_the_canary(provider: str) -> None:
    release = StoredRelease(ROUTERS[provider])
    await release.setup(canary_document(provider, SERVICES[provider], ANALYSIS))
    routes = Routes(release, provider)
    await release.until("Initialized")
    await release.set_image("stefanprodan/podinfo:3.1.1")
    while not (await release.status()).get("sessionAffinityCookie"):
        await release.tick()
    cookie = (await release.status())["sessionAffinityCookie"]
    assert (await routes.for_cookie(cookie))[0] == [0, 100]
    assert (await routes.for_cookie(f"other=1; {cookie}; theme=dark"))[0] == [0, 100]
    assert (await routes.for_cookie("flagger-cookie=somethingElse"))[0] == [90, 10]
