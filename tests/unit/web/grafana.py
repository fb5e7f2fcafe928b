"""The PromQL of deploy/grafana/kanaria-dashboard.json, with Grafana's variables filled in."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DASHBOARD = Path(__file__).parents[3] / "deploy" / "grafana" / "kanaria-dashboard.json"
VARIABLES = {"$namespace": ".*", "$name": ".*", "$__range": "1h", "${datasource}": ""}


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def expressions(board: dict[str, Any]) -> list[str]:
    """Every query: panel targets, annotations and variable queries, variables substituted."""
    found = [
        str(target["expr"]) for panel in board["panels"] for target in panel.get("targets", [])
    ]
    found += [str(a["expr"]) for a in board["annotations"]["list"] if "expr" in a]
    return [fill(expression) for expression in found]


def fill(expression: str) -> str:
    for variable, value in VARIABLES.items():
        expression = expression.replace(variable, value)
    return expression
