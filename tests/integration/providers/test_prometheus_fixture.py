"""The shared test Prometheus itself: targets added while it runs are scraped.

Other suites (the operator's, the local platform's) rely on `set_targets` to point one
long-lived Prometheus at exporters they start later.
"""

from __future__ import annotations

import pytest

from tests.support.istio_exporter import IstioExporter
from tests.support.prometheus import PrometheusServer

pytestmark = pytest.mark.integration


def test_a_target_added_while_running_is_scraped(
    prometheus: PrometheusServer, istio_exporter: IstioExporter
) -> None:
    with IstioExporter() as late:
        late.set_traffic("late-comer", namespace="other", rps=4)
        prometheus.set_targets([istio_exporter.target, late.target])
        try:
            query = 'count(istio_requests_total{destination_workload="late-comer"})'
            assert prometheus.wait_for_value(query, within=12) == 1
        finally:
            prometheus.set_targets([istio_exporter.target])
