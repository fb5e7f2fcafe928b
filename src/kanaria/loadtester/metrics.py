"""The load tester's own Prometheus metrics: what it ran, how that ended, what is running.

When a canary fails on a webhook, the first question is whether the load tester ran the command
at all and how it ended; these counters answer it from `/metrics`.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, ProcessCollector, generate_latest


class LoadTesterMetrics:
    """Commands by type and outcome (success, failure, timeout, duplicate), and those running."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        ProcessCollector(registry=self.registry)
        self.commands = Counter(
            "kanaria_loadtester_commands_total",
            "Commands the load tester was asked to run, by task type and outcome.",
            ["type", "outcome"],
            registry=self.registry,
        )
        self.running = Gauge(
            "kanaria_loadtester_running_commands",
            "Commands running now, by task type.",
            ["type"],
            registry=self.registry,
        )

    def count(self, task_type: str, outcome: str) -> None:
        self.commands.labels(type=task_type, outcome=outcome).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
