"""`kanaria operator`: run the Kubernetes operator (what the Deployment in deploy/ starts).

Flags follow Flagger's where Flagger has them (`-metrics-server`, `-mesh-provider`, `-namespace`,
`-enable-leader-election`, `-port`), spelled as kubectl spells flags. `--time-scale` shortens
every interval by one factor, as the local platform's does, for demos and tests only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path
from typing import Any

from kanaria.errors import ConfigError


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "operator",
        help="run the Kubernetes operator (Canaries of flagger.app/v1beta1, Istio, Prometheus)",
        description="Watch Canaries on a Kubernetes cluster and run their releases.",
    )
    parser.add_argument("--kubeconfig", type=Path, help="kubeconfig file (default: in-cluster)")
    parser.add_argument(
        "-n",
        "--namespace",
        action="append",
        default=[],
        metavar="NS",
        help="watch this namespace; repeat for several (default: all namespaces)",
    )
    parser.add_argument(
        "--metrics-server",
        default="http://prometheus.istio-system:9090",
        metavar="URL",
        help="Prometheus for the builtin checks (a Canary's spec.metricsServer wins)",
    )
    parser.add_argument(
        "--mesh-provider",
        default="istio",
        choices=["istio"],
        help="the router of Canaries without spec.provider",
    )
    parser.add_argument(
        "--leader-election",
        action="store_true",
        help="several replicas: only the oldest acts (kopf peering)",
    )
    parser.add_argument(
        "--port", type=int, default=8080, help="port of /healthz and /metrics (0: any free port)"
    )
    parser.add_argument("--event-webhook", metavar="URL", help="send every event to this URL")
    parser.add_argument(
        "--connect-to",
        action="append",
        default=[],
        metavar="HOST:PORT:ADDR:PORT",
        help="reach HOST:PORT (a webhook, the metrics server) at ADDR:PORT instead; repeatable",
    )
    parser.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="run every interval this many times faster (demos and tests)",
    )
    parser.add_argument(
        "--min-metric-window",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="never query Prometheus over less than this (with --time-scale)",
    )
    parser.add_argument(
        "--peering-lifetime",
        type=int,
        default=60,
        metavar="SECONDS",
        help="with --leader-election: how long a silent leader keeps its lease",
    )
    parser.add_argument(
        "--max-concurrent-ticks",
        type=int,
        default=16,
        metavar="N",
        help="Canaries analysed at the same moment; the others wait their turn",
    )
    _alert_flags(parser)
    parser.add_argument(
        "--dashboard-port",
        type=int,
        default=None,
        metavar="PORT",
        help="serve the dashboard on this port (off by default); actions need the token in "
        "$KANARIA_DASHBOARD_TOKEN",
    )
    parser.set_defaults(run=run)


def _alert_flags(parser: argparse.ArgumentParser) -> None:
    """Flagger's global alert provider, used by Canaries without `analysis.alerts`."""
    env = os.environ.get
    parser.add_argument("--slack-url", default=env("SLACK_URL"), metavar="URL")
    parser.add_argument("--slack-token", default=env("SLACK_TOKEN"), metavar="TOKEN")
    parser.add_argument("--slack-channel", default=env("SLACK_CHANNEL"), metavar="CHANNEL")
    parser.add_argument("--slack-user", default=env("SLACK_USER"), metavar="NAME")
    parser.add_argument("--slack-proxy-url", default=env("SLACK_PROXY_URL"), metavar="URL")
    parser.add_argument("--msteams-url", default=env("MSTEAMS_URL"), metavar="URL")
    parser.add_argument("--msteams-proxy-url", default=env("MSTEAMS_PROXY_URL"), metavar="URL")
    parser.add_argument("--cluster-name", default=env("CLUSTER_NAME"), help="named in every alert")


def run(args: argparse.Namespace) -> int:
    # imported here so that `kanaria validate` does not load kopf
    from kanaria.platforms.kubernetes.controller import OperatorConfig  # noqa: PLC0415
    from kanaria.platforms.kubernetes.network import parse_connect_to  # noqa: PLC0415
    from kanaria.webhooks.notifiers import default_provider  # noqa: PLC0415

    if args.time_scale <= 0:
        raise ConfigError(f"--time-scale must be positive, got {args.time_scale}")
    if args.max_concurrent_ticks < 1:
        raise ConfigError(
            f"--max-concurrent-ticks must be at least 1, got {args.max_concurrent_ticks}"
        )
    if args.kubeconfig is not None:
        if not args.kubeconfig.is_file():
            raise ConfigError(f"--kubeconfig {args.kubeconfig}: no such file")
        os.environ["KUBECONFIG"] = str(args.kubeconfig)  # for anything kopf reads on its own
    config = OperatorConfig(
        namespaces=tuple(args.namespace),
        kubeconfig=args.kubeconfig,
        metrics_server=args.metrics_server,
        mesh_provider=args.mesh_provider,
        leader_election=args.leader_election,
        peering_lifetime=args.peering_lifetime,
        port=args.port,
        time_scale=args.time_scale,
        min_metric_window=args.min_metric_window,
        connect_to=parse_connect_to(args.connect_to),
        event_webhook=args.event_webhook,
        max_concurrent_ticks=args.max_concurrent_ticks,
        alerts=default_provider(
            slack_url=args.slack_url,
            slack_token=args.slack_token,
            slack_channel=args.slack_channel,
            slack_user=args.slack_user,
            slack_proxy=args.slack_proxy_url,
            msteams_url=args.msteams_url,
            msteams_proxy=args.msteams_proxy_url,
        ),
        cluster_name=args.cluster_name,
    )
    asyncio.run(_operate(config, args.dashboard_port))
    return 0


async def _operate(config: Any, dashboard_port: int | None) -> None:
    """The operator, and beside it the dashboard when asked for; either ending ends both."""
    from kanaria.platforms.kubernetes.operator import run as run_operator  # noqa: PLC0415

    work = [asyncio.ensure_future(run_operator(config))]
    if dashboard_port is not None:
        work.append(asyncio.ensure_future(_dashboard(config, dashboard_port)))
    try:
        done, _ = await asyncio.wait(work, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()
    finally:
        for task in work:
            task.cancel()
        await asyncio.gather(*work, return_exceptions=True)


async def _dashboard(config: Any, port: int) -> None:
    from kubernetes_asyncio import client  # noqa: PLC0415

    from kanaria.platforms.kubernetes.client import KubernetesObjects  # noqa: PLC0415
    from kanaria.platforms.kubernetes.login import load_configuration  # noqa: PLC0415
    from kanaria.web.serve import dashboard_server, serve  # noqa: PLC0415

    token = os.environ.get("KANARIA_DASHBOARD_TOKEN") or None
    async with client.ApiClient(await load_configuration(config.kubeconfig)) as api:
        app = dashboard_server(KubernetesObjects(api), token=token)
        await serve(app, "0.0.0.0", port)
