"""MetricTemplates of every provider type Flagger knows, as `kanaria validate` reads them: the
shapes of Flagger's documentation pass, and a provider missing what its type needs is named."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kanaria.cli.main import main

TEMPLATES = {
    "prometheus": ({"address": "http://prometheus.istio-system:9090"},
                   "sum(rate(http_requests_total[{{ interval }}]))"),
    "datadog": ({"address": "https://api.datadoghq.com", "secretRef": {"name": "datadog"}},
                "sum:istio.mesh.request.count{destination_workload:{{ target }}}.as_count()"),
    "cloudwatch": ({"region": "ap-northeast-1"},
                   '[{"Id": "e", "Expression": "SUM(METRICS())", "ReturnData": true}]'),
    "newrelic": ({"secretRef": {"name": "newrelic"}},
                 "SELECT percentage(count(*), WHERE error IS false) FROM Transaction"),
    "graphite": ({"address": "http://graphite.monitoring"},
                 "target=sumSeries(app.{{ target }}.errors)&from=-5min"),
    "stackdriver": ({"secretRef": {"name": "gcloud"}},
                    "fetch k8s_container | metric 'istio.io/service/server/request_count'"),
    "influxdb": ({"address": "http://influxdb:8086", "secretRef": {"name": "influx"}},
                 'from(bucket: "istio") |> range(start: -1m) |> mean()'),
    "dynatrace": ({"address": "https://abc.live.dynatrace.com", "secretRef": {"name": "dt"}},
                  "builtin:service.errors.total.rate"),
    "keptn": ({}, "keptnmetric/{{ namespace }}/response-time"),
    "splunk": ({"address": "https://api.us1.signalfx.com", "secretRef": {"name": "sfx"}},
               "data('requests').sum().publish()"),
    "externalmetrics": ({}, "{{ namespace }}/success-rate?labelSelector=app%3D{{ target }}"),
}  # fmt: skip


def template_yaml(type_name: str, provider: dict[str, object], query: str) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "flagger.app/v1beta1",
            "kind": "MetricTemplate",
            "metadata": {"name": f"{type_name}-check", "namespace": "test"},
            "spec": {"provider": {"type": type_name, **provider}, "query": query},
        }
    )


def validate(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str) -> tuple[int, str]:
    manifest = tmp_path / "template.yaml"
    manifest.write_text(text)
    code = main(["validate", "-f", str(manifest)])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.mark.parametrize("type_name", sorted(TEMPLATES))
def test_every_flagger_type_validates(
    type_name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, output = validate(tmp_path, capsys, template_yaml(type_name, *TEMPLATES[type_name]))
    assert code == 0, output
    assert f"MetricTemplate/{type_name}-check: valid" in output


@pytest.mark.parametrize(
    ("type_name", "drop", "message"),
    [
        ("graphite", "address", "provider type graphite needs an address"),
        ("influxdb", "address", "provider type influxdb needs an address"),
        ("cloudwatch", "region", "provider type cloudwatch needs a region"),
        ("datadog", "secretRef", "needs a secretRef to a Secret with datadog_api_key and "
                                 "datadog_application_key"),
        ("splunk", "secretRef", "a Secret with sf_token_key"),
    ],
)  # fmt: skip
def test_a_provider_missing_what_its_type_needs_is_named(
    type_name: str, drop: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    provider, query = TEMPLATES[type_name]
    kept = {key: value for key, value in provider.items() if key != drop}
    code, output = validate(tmp_path, capsys, template_yaml(type_name, kept, query))
    assert code == 2
    assert "spec.provider" in output
    assert message in output
