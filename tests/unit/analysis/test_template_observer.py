"""How the observer reads a MetricTemplate's provider: the Secret from the template's
namespace, Flagger's wording when the Secret or a key is missing, and the interval a backend
is given (scaled by the platform's time scale)."""

from __future__ import annotations

from kanaria.providers import datadog
from tests.support.templates import TemplateCheck, metric_template, secret

DATADOG = {"type": "datadog", "address": "http://127.0.0.1:9", "secretRef": {"name": "dd"}}


async def test_a_missing_secret_is_named_with_the_template() -> None:
    check = TemplateCheck(metric_template("errors", DATADOG, "avg:x{*}"))
    [event] = (await check.check("errors")).events
    assert event == (
        "Metric query failed for backend-check: metric template errors.test secret dd error: "
        "Secret dd.test not found"
    )


async def test_a_missing_key_is_named_with_the_template_and_the_type() -> None:
    check = TemplateCheck(
        metric_template("errors", DATADOG, "avg:x{*}"),
        secret("dd", {"datadog_api_key": "hunter2"}),
    )
    [event] = (await check.check("errors")).events
    assert event.startswith(
        "Metric query failed for backend-check: metric template errors.test provider datadog "
        "error: datadog credentials in Secret dd.test do not contain `datadog_application_key`"
    )
    assert "hunter2" not in event


async def test_the_backend_gets_the_interval_as_the_platform_runs_it() -> None:
    check = TemplateCheck(
        metric_template("errors", DATADOG, "avg:x{*}"),
        secret("dd", {"datadog_api_key": "k", "datadog_application_key": "a"}),
        time_scale=20.0,
    )
    provider = await check.observer._template_provider(*await check.parts("errors"))
    assert isinstance(provider, datadog.DatadogProvider)
    params = provider.query_params("q")
    assert int(params["to"]) - int(params["from"]) == 30, "10 × (60 s / 20)"
    await check.close()
