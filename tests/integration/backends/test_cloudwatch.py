"""CloudWatch MetricTemplates against moto's server, which signs-checks requests as AWS does:
the value, the 10 × interval window, several results, no data, a wrong secret key, an
unreachable endpoint and the availability check, each as the engine reports it."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import pytest

from kanaria.platforms.local.binaries import free_port
from kanaria.providers import MultipleValuesError, NoValuesError
from kanaria.spec.templates import MetricTemplate
from tests.support.moto_server import REGION, MotoCloudWatch, now
from tests.support.templates import TemplateCheck, metric_template, secret

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def stat(metric: str, query_id: str = "errors", **fields: Any) -> dict[str, Any]:
    return {
        "Id": query_id,
        "MetricStat": {
            "Metric": {
                "Namespace": "Kanaria",
                "MetricName": metric,
                "Dimensions": [{"Name": "Service", "Value": "{{ target }}"}],
            },
            "Period": 60,
            "Stat": "Sum",
        },
        **fields,
    }


def template(server: MotoCloudWatch, queries: list[dict[str, Any]], **provider: Any) -> Any:
    spec = {"type": "cloudwatch", "region": REGION, "address": server.url,
            "secretRef": {"name": "aws"}, **provider}  # fmt: skip
    return metric_template("errors", spec, json.dumps(queries, indent=2))


def keys(server: MotoCloudWatch, secret_key: str | None = None) -> dict[str, Any]:
    return secret(
        "aws",
        {
            "aws_access_key_id": server.access_key_id,
            "aws_secret_access_key": secret_key or server.secret_access_key,
        },
    )


def fresh_metric(server: MotoCloudWatch, *ages_and_values: tuple[float, float]) -> str:
    name = f"Errors{uuid.uuid4().hex[:8]}"
    points = [(value, now() - timedelta(seconds=age)) for age, value in ages_and_values]
    server.put("Kanaria", name, points, Service="podinfo")
    return name


async def test_a_template_validates_and_reads_the_newest_value(cloudwatch: MotoCloudWatch) -> None:
    metric = fresh_metric(cloudwatch, (200, 5.0), (20, 2.0))
    document = template(cloudwatch, [stat(metric)])
    MetricTemplate.model_validate(document)
    check = TemplateCheck(document, keys(cloudwatch))
    try:
        checked = await check.check("errors", max_value=3)
    finally:
        await check.close()
    assert checked.value == 2.0
    assert checked.verdict == "pass"


async def test_lowercase_keys_work_as_with_flaggers_decoder(cloudwatch: MotoCloudWatch) -> None:
    metric = fresh_metric(cloudwatch, (20, 7.0))
    text = json.dumps([stat(metric)])
    for key in ("Id", "MetricStat", "Stat"):
        text = text.replace(f'"{key}"', f'"{key.lower()}"')
    lowered = json.loads(text)
    check = TemplateCheck(template(cloudwatch, lowered), keys(cloudwatch))
    try:
        assert await check.measure("errors") == 7.0
    finally:
        await check.close()


async def test_the_window_is_ten_intervals(cloudwatch: MotoCloudWatch) -> None:
    """A point 7 minutes old is inside 10 × 1m and outside 10 × 30s."""
    metric = fresh_metric(cloudwatch, (420, 9.0))
    check = TemplateCheck(template(cloudwatch, [stat(metric)]), keys(cloudwatch))
    try:
        assert await check.measure("errors", interval="1m") == 9.0
        with pytest.raises(NoValuesError, match="is empty"):
            await check.measure("errors", interval="30s")
    finally:
        await check.close()


async def test_no_data_halts_with_no_values(cloudwatch: MotoCloudWatch) -> None:
    check = TemplateCheck(template(cloudwatch, [stat("NeverWritten")]), keys(cloudwatch))
    try:
        checked = await check.check("errors")
    finally:
        await check.close()
    assert checked.verdict == "no-data"
    [event] = checked.events
    assert event.startswith("Halt advancement no values found")
    assert "result errors is empty" in event


async def test_several_results_are_an_error(cloudwatch: MotoCloudWatch) -> None:
    metric = fresh_metric(cloudwatch, (20, 1.0))
    queries = [stat(metric, "first"), stat(metric, "second")]
    check = TemplateCheck(template(cloudwatch, queries), keys(cloudwatch))
    try:
        with pytest.raises(MultipleValuesError):
            await check.measure("errors")
        checked = await check.check("errors")
    finally:
        await check.close()
    [event] = checked.events
    assert "CloudWatch returned 2 results (first, second)" in event
    assert '"ReturnData": false' in event


async def test_a_wrong_secret_key_is_refused_and_named(cloudwatch: MotoCloudWatch) -> None:
    check = TemplateCheck(
        template(cloudwatch, [stat("Errors")]), keys(cloudwatch, secret_key="not-the-key")
    )
    try:
        checked = await check.check("errors")
        availability = await check.availability("errors")
    finally:
        await check.close()
    [event] = checked.events
    assert "refused the credentials" in event
    assert "`aws_access_key_id`, `aws_secret_access_key` in Secret aws.test" in event
    assert "not-the-key" not in event
    [error] = availability
    assert error.startswith(
        "Error checking metric providers: cloudwatch in metric template errors.test not available"
    )


async def test_the_default_credential_chain_is_used_without_a_secret(
    cloudwatch: MotoCloudWatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", cloudwatch.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", cloudwatch.secret_access_key)
    metric = fresh_metric(cloudwatch, (20, 3.0))
    document = template(cloudwatch, [stat(metric)])
    del document["spec"]["provider"]["secretRef"]
    check = TemplateCheck(document)
    try:
        assert await check.measure("errors") == 3.0
        assert await check.availability("errors") == ["all the metrics providers are available!"]
    finally:
        await check.close()


async def test_an_unreachable_endpoint_is_unavailable() -> None:
    address = f"http://127.0.0.1:{free_port()}"
    provider = {"type": "cloudwatch", "region": REGION, "address": address,
                "secretRef": {"name": "aws"}}  # fmt: skip
    document = metric_template("errors", provider, "[]")
    aws_keys = {"aws_access_key_id": "AKIAEXAMPLE", "aws_secret_access_key": "example"}
    check = TemplateCheck(document, secret("aws", aws_keys))
    try:
        checked = await check.check("errors")
    finally:
        await check.close()
    [event] = checked.events
    assert f"CloudWatch in {REGION} at {address} is unreachable" in event
