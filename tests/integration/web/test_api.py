"""The dashboard's HTTP side on 127.0.0.1, mounted under a prefix as a platform mounts it:
pages, JSON during a release, history, and who may act."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from kanaria.clock import SimulatedClock
from kanaria.errors import NotFoundError
from kanaria.web.actions import Act, Outcome, annotation_act
from kanaria.web.dashboard import dashboard_app
from tests.unit.views.releases import NEW_IMAGE, ObjectRelease

pytestmark = pytest.mark.integration

TOKEN = "s3cret-token"
CANARY_API = "/dashboard/api/canaries/test/podinfo"


@dataclass
class RecordingAct:
    outcome: Outcome = field(default_factory=lambda: Outcome(True, "done"))
    calls: list[tuple[str, str, str]] = field(default_factory=list)

    async def __call__(self, namespace: str, name: str, action: str) -> Outcome:
        self.calls.append((namespace, name, action))
        if name == "ghost":
            raise NotFoundError("canary ghost.test not found")
        return self.outcome


async def serve(
    release: ObjectRelease, token: str | None = TOKEN, act: Act | None = None
) -> TestClient[web.Request, web.Application]:
    parent = web.Application()
    dashboard = dashboard_app(
        release.objects, token=token, act=act, clock=release.clock, sample_interval=3600
    )
    parent.add_subapp("/dashboard/", dashboard)
    client = TestClient(TestServer(parent, host="127.0.0.1"))
    await client.start_server()
    return client


@pytest.fixture
async def release() -> ObjectRelease:
    release = ObjectRelease(SimulatedClock())
    await release.setup()
    await release.run(5, until="Initialized")
    return release


@pytest.fixture
async def client(release: ObjectRelease) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    client = await serve(release, act=RecordingAct())
    yield client
    await client.close()


async def test_pages_know_their_prefix_and_ship_their_assets(
    client: TestClient[web.Request, web.Application],
) -> None:
    page = await client.get("/dashboard/")
    text = await page.text()
    assert page.status == 200
    assert '<base href="/dashboard/">' in text
    assert 'data-page="list"' in text
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    canary_page = await (await client.get("/dashboard/canary/test/podinfo")).text()
    assert 'data-page="canary" data-namespace="test" data-name="podinfo"' in canary_page
    hostile = await (await client.get("/dashboard/canary/test/%22%3E%3Cscript%3E")).text()
    assert 'data-name="&quot;&gt;&lt;script&gt;"' in hostile
    for asset in ("app.js", "style.css", "favicon.svg"):
        response = await client.get(f"/dashboard/static/{asset}")
        assert response.status == 200, asset
    assert "http" not in (await (await client.get("/dashboard/static/app.js")).text()).replace(
        "http://www.w3.org/2000/svg", ""
    )


async def test_json_follows_a_release_and_keeps_its_history(
    release: ObjectRelease, client: TestClient[web.Request, web.Application]
) -> None:
    await release.set_image(NEW_IMAGE)
    weights = []
    for _ in range(6):
        await release.run(1)
        listed = await (await client.get("/dashboard/api/canaries")).json()
        [row] = listed["canaries"]
        weights.append(row["weight"])
        assert row["phase"] == "Progressing"
        detail = await (await client.get(CANARY_API)).json()
    assert weights == [0, 10, 20, 30, 40, 50]
    canary = detail["canary"]
    assert canary["weight"] == 50
    assert [w for _, w in canary["history"]["weight"]] == [0, 10, 20, 30, 40, 50]
    # measured from the third step on (the first ticks run the pre-rollout gate and step in)
    assert len(canary["history"]["checks"]["request-success-rate"]) == 4
    assert canary["events"][-1]["message"] == (
        "(combined from similar events): Advance podinfo.test canary weight 50"
    )
    assert detail["actionsOff"] == ""
    missing = await client.get("/dashboard/api/canaries/test/ghost")
    assert missing.status == 404


async def test_history_starts_from_the_events_when_opened_mid_release(
    release: ObjectRelease,
) -> None:
    await release.set_image(NEW_IMAGE)
    await release.run(4)
    client = await serve(release)
    try:
        detail = await (await client.get(CANARY_API)).json()
    finally:
        await client.close()
    assert [w for _, w in detail["canary"]["history"]["weight"]] == [0, 10, 20, 30]


async def test_who_may_act(release: ObjectRelease) -> None:
    act = RecordingAct()
    client = await serve(release, act=act)
    url = f"{CANARY_API}/abort"
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    try:
        nobody = await client.post(url)
        assert nobody.status == 401
        assert "API token is required" in (await nobody.json())["message"]
        wrong = await client.post(url, headers={"Authorization": "Bearer nope"})
        assert wrong.status == 401
        assert act.calls == []
        done = await client.post(url, headers=bearer)
        assert (done.status, await done.json()) == (
            200,
            {"ok": True, "pending": False, "message": "done"},
        )
        assert act.calls == [("test", "podinfo", "abort")]
        unknown = await client.post(f"{CANARY_API}/explode", headers=bearer)
        assert unknown.status == 400
        ghost = await client.post("/dashboard/api/canaries/test/ghost/promote", headers=bearer)
        assert ghost.status == 404
        act.outcome = Outcome(False, "podinfo.test is Succeeded: only a release in progress")
        assert (await client.post(url, headers=bearer)).status == 409
        act.outcome = Outcome(True, "asked", pending=True)
        assert (await client.post(url, headers=bearer)).status == 202
    finally:
        await client.close()


@pytest.mark.parametrize(
    ("token", "with_act", "reason"),
    [
        (None, True, "actions are off: no API token is configured"),
        (TOKEN, False, "actions are not available on this dashboard"),
    ],
)
async def test_actions_switched_off(
    release: ObjectRelease, token: str | None, with_act: bool, reason: str
) -> None:
    client = await serve(release, token=token, act=RecordingAct() if with_act else None)
    try:
        response = await client.post(
            f"{CANARY_API}/abort", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        assert (response.status, (await response.json())["message"]) == (403, reason)
        listed = await (await client.get("/dashboard/api/canaries")).json()
        assert listed["actionsOff"] == reason
    finally:
        await client.close()


async def test_annotation_act_is_answered_by_the_engine(release: ObjectRelease) -> None:
    await release.set_image(NEW_IMAGE)
    await release.run(3)
    act = annotation_act(release.objects, answer_wait=5.0)

    async def engine_answers(action: str) -> Outcome:
        request: asyncio.Future[Outcome] = asyncio.ensure_future(act("test", "podinfo", action))
        await asyncio.sleep(0.05)
        await release.run(1)  # the engine reads the request on its next tick
        return await request

    aborted = await engine_answers("abort")
    assert (aborted.ok, aborted.pending) == (True, False)
    assert "aborted" in aborted.message
    assert await release.phase() == "Failed"
    promoted = await engine_answers("promote")
    assert (promoted.ok, promoted.pending) == (False, False)
    assert "only a progressing release can be promoted" in promoted.message
    unanswered = await annotation_act(release.objects, answer_wait=0.2)("test", "podinfo", "retry")
    assert (unanswered.ok, unanswered.pending) == (True, True)
