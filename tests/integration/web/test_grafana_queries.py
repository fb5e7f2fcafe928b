"""Prometheus' own parser accepts every query of the Grafana dashboard."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tests.unit.web.grafana import dashboard, expressions

pytestmark = pytest.mark.integration


def test_promtool_parses_every_dashboard_query(tmp_path: Path) -> None:
    from kanaria.platforms.local.binaries import promtool_path  # noqa: PLC0415

    queries = expressions(dashboard())
    rules = {
        "groups": [
            {
                "name": "grafana",
                "rules": [
                    {"record": f"kanaria:dashboard_{index}", "expr": query}
                    for index, query in enumerate(queries)
                ],
            }
        ]
    }
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump(rules))
    result = subprocess.run(
        [str(promtool_path()), "check", "rules", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(queries)} rules found" in result.stdout
