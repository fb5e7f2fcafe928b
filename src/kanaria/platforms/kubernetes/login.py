"""One set of credentials for kopf's watches and for kanaria's own API calls.

`--kubeconfig` wins, then the pod's service account, then the usual kubeconfig (`$KUBECONFIG`,
`~/.kube/config`). Both clients read the same answer, so the operator never watches one cluster
while writing to another, and tests can point both at the API emulator with one file.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import kopf
from kubernetes_asyncio import client, config

from kanaria.errors import ConfigError


async def load_configuration(kubeconfig: Path | None) -> client.Configuration:
    """kubernetes-asyncio's connection settings; ConfigError when none can be found."""
    configuration = client.Configuration()
    if kubeconfig is not None:
        try:
            await config.load_kube_config(
                config_file=str(kubeconfig),
                client_configuration=configuration,
                persist_config=False,
            )
        except (config.ConfigException, OSError) as exc:
            raise ConfigError(f"--kubeconfig {kubeconfig}: {exc}") from exc
        return configuration
    try:
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    except config.ConfigException:
        try:
            await config.load_kube_config(client_configuration=configuration, persist_config=False)
        except (config.ConfigException, OSError) as exc:
            raise ConfigError(
                "no Kubernetes credentials: not in a pod, and no kubeconfig "
                f"($KUBECONFIG or ~/.kube/config): {exc}"
            ) from exc
    return configuration


async def connection_info(configuration: client.Configuration) -> kopf.ConnectionInfo:
    """The same credentials in kopf's terms (as kopf's own kubernetes-asyncio login does)."""
    header: Any = configuration.get_api_key_with_prefix("BearerToken")
    if inspect.isawaitable(header):
        header = await header  # kubernetes-asyncio ≥ 33.3 refreshes tokens here
    parts = str(header).split(" ", 1) if header else []
    scheme, token = (None, None) if not parts else (None, parts[0]) if len(parts) == 1 else parts
    return kopf.ConnectionInfo(
        server=str(configuration.host),
        ca_path=configuration.ssl_ca_cert,
        insecure=not configuration.verify_ssl,
        username=configuration.username or None,
        password=configuration.password or None,
        scheme=scheme,
        token=token,
        certificate_path=configuration.cert_file,
        private_key_path=configuration.key_file,
        proxy_url=configuration.proxy,
    )
