"""URL credentials never leave kanaria: one `redact` for logs, events, alerts and describe."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kanaria.clock import SimulatedClock
from kanaria.redaction import RedactingFilter, redact, redact_logs
from kanaria.spec.canary import Canary
from kanaria.spec.memory import MemoryObjects
from kanaria.workloads.events import ObjectEventRecorder, events_of
from tests.unit.engine.conftest import seed_canary


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("webhook notify at http://hooks:s3cret@lt.test/ unreachable",
         "webhook notify at http://hooks:xxxxx@lt.test/ unreachable"),
        ("https://ghp_TOKEN@github.com/org/repo", "https://xxxxx@github.com/org/repo"),
        ("https://events.example/hook?team=a&token=abc&x=1",
         "https://events.example/hook?team=a&token=xxxxx&x=1"),
        ("https://x.example/?api_key=1&Signature=2&X-Amz-Credential=3&page=4",
         "https://x.example/?api_key=xxxxx&Signature=xxxxx&X-Amz-Credential=xxxxx&page=4"),
        ("https://hooks.slack.com/services/T000/B000/XXXXXXXX",
         "https://hooks.slack.com/services/xxxxx"),
        ("https://discord.com/api/webhooks/123/abcdef", "https://discord.com/api/webhooks/xxxxx"),
        # Nothing secret: byte for byte, even where a parser would normalise.
        ("http://prometheus:9090/api/v1/query?query=sum(rate(x[1m]))&time=1",
         "http://prometheus:9090/api/v1/query?query=sum(rate(x[1m]))&time=1"),
        ("http://podinfo-canary.test:9898/?", "http://podinfo-canary.test:9898/?"),
        ("no URL; user:pass@host is not one", "no URL; user:pass@host is not one"),
        ("two: http://a:b@x/ and 'http://c:d@y/?token=t'",
         "two: http://a:xxxxx@x/ and 'http://c:xxxxx@y/?token=xxxxx'"),
    ],
)  # fmt: skip
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


SECRETS = st.text(st.characters(whitelist_categories=("L", "N")), min_size=6, max_size=30)


@given(password=SECRETS, token=SECRETS, prose=st.text(alphabet=" abc.,;()", max_size=40))
def test_no_url_credential_survives(password: str, token: str, prose: str) -> None:
    text = f"{prose} http://user:{password}@host.test:80/p?token={token}&q=1 {prose}"
    redacted = redact(text)
    assert f":{password}@" not in redacted
    assert f"token={token}" not in redacted
    assert redacted.count("xxxxx") == 2


def test_log_records_are_redacted_by_the_handler(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("tests.redaction")
    caplog.handler.addFilter(RedactingFilter())
    try:
        logger.warning("event webhook failed: %s", "http://u:pw@hooks.test/?token=t0k")
        try:
            raise RuntimeError("cannot reach http://u:pw@hooks.test/")
        except RuntimeError:
            logger.exception("delivery failed")
    finally:
        caplog.handler.filters.clear()
    text = caplog.text
    assert "pw@" not in text
    assert "t0k" not in text
    assert "http://u:xxxxx@hooks.test/?token=xxxxx" in text


def test_redact_logs_puts_one_filter_on_each_handler() -> None:
    logger = logging.getLogger("tests.redaction.handlers")
    handler = logging.NullHandler()
    logger.addHandler(handler)
    try:
        redact_logs(logger)
        redact_logs(logger)
        assert [type(item) for item in handler.filters] == [RedactingFilter]
    finally:
        logger.removeHandler(handler)


async def test_events_are_recorded_redacted() -> None:
    objects, clock = MemoryObjects(), SimulatedClock()
    recorder = ObjectEventRecorder(objects, clock)
    canary = Canary.model_validate(seed_canary())
    reason = "webhook notify at http://hooks:s3cret@lt.test/?token=t0k unreachable"
    await recorder.record(canary, "Warning", f"Halt podinfo.test advancement {reason}")
    [event] = await events_of(objects, canary)
    assert "s3cret" not in event["message"]
    assert "t0k" not in event["message"]
    assert "http://hooks:xxxxx@lt.test/?token=xxxxx" in event["message"]
