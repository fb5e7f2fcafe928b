"""What a mesh's request metrics look like, and the count queries derived from that.

Each mesh module (`istio.py`, `envoy.py`, …) fills one `MeshDialect`: Flagger's two builtin
queries kept as text, plus the few facts needed to *count* requests of one workload — the
request counter, the label matchers that pick the canary or the primary, the matcher for
failed (5xx) requests, and the latency histogram with its unit.

Count queries serve a sequential judge, which compares canary and primary on numbers of
requests rather than on rates. Each query returns **one sample** (an instant vector with
a single, label-less element) holding a number of requests of one workload:

* `total`  — all requests;
* `failed` — requests answered 5xx (or the mesh's own failure class); 0, not "no values",
  when the workload has traffic but no failures;
* `slow`   — requests slower than a latency bound, i.e. histogram `_count` minus the bucket
  whose `le` is the bound. The bound must be one of the histogram's bucket edges (Istio's
  defaults are `ISTIO_DURATION_BUCKETS_MS`); otherwise the query finds no bucket and
  answers "no values".

*Windowed* queries count over `[{{ interval }}]` with `increase()`, which copes with counter
resets (restarted pods); set `interval` to the time since the analysis began for counts since
then. *Cumulative* queries sum the raw counters: counts since each pod started, cheaper, but
wrong across restarts. A workload without traffic answers "no values" for `total`.
All templates still hold `{{ namespace }}` and the like, for `render_query`.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from typing import Literal

from kanaria import errors
from kanaria.providers.render import TemplateModel

Workload = Literal["canary", "primary"]

ISTIO_DURATION_BUCKETS_MS = (
    0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000,
    60000, 300000, 600000, 1800000, 3600000,
)  # fmt: skip
"""Istio's default edges for `istio_request_duration_milliseconds` (Envoy's are the same)."""


@dataclass(frozen=True, slots=True)
class CountQueries:
    """Templates that each return one number of requests of one workload."""

    total: str
    failed: str
    slow: str


@dataclass(frozen=True, slots=True)
class MeshDialect:
    """One mesh's metric names and matchers. Selectors are label matchers without braces."""

    mesh: str
    request_success_rate: str
    """Flagger's builtin: percentage (0-100) of non-5xx requests to the canary."""
    request_duration: str
    """Flagger's builtin: P99 latency of the canary in milliseconds (NGINX: the mean)."""
    requests_counter: str
    canary_selector: str
    primary_selector: str | None
    """None when the mesh's series cannot tell the primary's requests from the canary's."""
    failed_matcher: str
    latency_histogram: str
    """Histogram base name; `_bucket` and `_count` are appended."""
    latency_unit_ms: float = 1.0
    """Milliseconds per unit of the histogram's `le` (1000 for a histogram in seconds)."""
    word_names: bool = False
    """The mesh writes names with every non-word character as `_` (Skipper's route names):
    the names filled into its queries must be spelled the same way (`model_for`)."""

    def model_for(self, model: TemplateModel) -> TemplateModel:
        """The names to fill into this mesh's builtin and count queries."""
        if not self.word_names:
            return model
        return dataclasses.replace(
            model,
            name=_word(model.name),
            namespace=_word(model.namespace),
            target=_word(model.target),
            service=_word(model.service or model.target),
            ingress=_word(model.ingress or model.target),
        )

    def builtin(self, metric_name: str) -> str | None:
        """The builtin query named as in a Canary's `analysis.metrics[].name`, if any."""
        return {
            "request-success-rate": self.request_success_rate,
            "request-duration": self.request_duration,
        }.get(metric_name)

    def count_queries(
        self, workload: Workload, *, latency_bound_ms: float, windowed: bool = True
    ) -> CountQueries:
        """Count templates for the canary (`{{ target }}`) or the primary (`-primary`)."""
        if self.primary_selector is None:
            raise errors.ConfigError(
                f"the sequential judge compares canary and primary, and {self.mesh}'s metrics "
                "do not tell their requests apart; remove analysis.judge for this provider"
            )
        selector = self.canary_selector if workload == "canary" else self.primary_selector
        count = _windowed if windowed else _cumulative
        requests = count(f"{self.requests_counter}{{{selector}}}")
        failed = count(f"{self.requests_counter}{{{selector},{self.failed_matcher}}}")
        le = _le_pattern(_bound_in_unit(latency_bound_ms, self.latency_unit_ms))
        within = count(f'{self.latency_histogram}_bucket{{{selector},le=~"{le}"}}')
        observed = count(f"{self.latency_histogram}_count{{{selector}}}")
        return CountQueries(
            total=requests,
            # `or … * 0`: no failure series yet means zero failures, as long as there is traffic.
            failed=f"{failed} or {requests} * 0",
            slow=f"{observed} - {within}",
        )


_NON_WORD = re.compile(r"\W", re.ASCII)  # as Go's \W


def _word(name: str) -> str:
    return _NON_WORD.sub("_", name)


def _windowed(series: str) -> str:
    return f"sum(increase({series}[{{{{ interval }}}}]))"


def _cumulative(series: str) -> str:
    return f"sum({series})"


def _bound_in_unit(latency_bound_ms: float, unit_ms: float) -> float:
    if not (math.isfinite(latency_bound_ms) and latency_bound_ms > 0):
        raise errors.ConfigError(
            f"a latency bound must be a positive number of ms, got {latency_bound_ms}"
        )
    return latency_bound_ms / unit_ms


def _le_pattern(edge: float) -> str:
    """A regex (escaped for a PromQL string) matching how exporters spell an `le` edge.

    Exporters write 500 as "500" or "500.0", and 0.5 as "0.5"; Prometheus 2 compares `le`
    as text, so an exact matcher would miss one of the spellings.
    """
    if edge == int(edge):
        return f"{int(edge)}(\\\\.0+)?"
    return repr(edge).replace(".", "\\\\.") + "0*"
