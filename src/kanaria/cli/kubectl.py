"""kubectl's verbs for the local platform: apply, get, describe, set image, delete, logs.

Same verbs, flags and output as kubectl where kubectl has them, so the seed's commands run with
`kanaria` in place of `kubectl`. Every verb talks to the running control plane through
`ApiClient` (found via `--state-dir`, `$KANARIA_STATE_DIR` or `~/.local/state/kanaria`).

`apply -f` reads and checks every document with `spec.documents.read_files` first; one error
anywhere means nothing is sent (exit 2, every problem printed). The control plane then checks
the whole batch again (namespaces exist, the mesh still translates) before it writes anything.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import yaml

from kanaria.cli.describe import (
    age,
    describe,
    describe_deployment,
    describe_secret,
    events_about,
    table,
)
from kanaria.errors import ConfigError, ConflictError, KanariaError, NotFoundError
from kanaria.platforms.local.state import StateDir
from kanaria.spec.apiserver import dns1123_label
from kanaria.spec.documents import read_files
from kanaria.spec.objects import (
    ALERT_PROVIDER,
    CANARY,
    CONFIGMAP,
    DEPLOYMENT,
    DESTINATION_RULE,
    EVENT,
    GATEWAY,
    HPA,
    METRIC_TEMPLATE,
    NAMESPACE,
    SECRET,
    SERVICE,
    VIRTUAL_SERVICE,
    Kind,
    Object,
    kind_of,
    name_of,
    namespace_of,
)

if TYPE_CHECKING:
    from kanaria.platforms.local.client import ApiClient

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
SET_IMAGE_ATTEMPTS = 5


@dataclass(frozen=True)
class ResourceType:
    """One kind as kubectl names it on the command line."""

    kind: Kind
    plural: str
    short: tuple[str, ...] = ()
    namespaced: bool = True

    @property
    def qualified_plural(self) -> str:
        """`deployments.apps`, as kubectl says in `... "podinfo" not found`."""
        return f"{self.plural}.{self.kind.group}" if self.kind.group else self.plural

    def names(self) -> set[str]:
        singular = self.kind.kind.lower()
        group = self.kind.group
        names = {singular, self.plural, *self.short}
        return names | ({f"{singular}.{group}", f"{self.plural}.{group}"} if group else set())


RESOURCE_TYPES = (
    ResourceType(DEPLOYMENT, "deployments", ("deploy",)),
    ResourceType(SERVICE, "services", ("svc",)),
    ResourceType(HPA, "horizontalpodautoscalers", ("hpa",)),
    ResourceType(NAMESPACE, "namespaces", ("ns",), namespaced=False),
    ResourceType(CONFIGMAP, "configmaps", ("cm",)),
    ResourceType(SECRET, "secrets"),
    ResourceType(EVENT, "events", ("ev",)),
    ResourceType(CANARY, "canaries", ("canary",)),
    ResourceType(METRIC_TEMPLATE, "metrictemplates"),
    ResourceType(ALERT_PROVIDER, "alertproviders"),
    ResourceType(VIRTUAL_SERVICE, "virtualservices", ("vs",)),
    ResourceType(DESTINATION_RULE, "destinationrules", ("dr",)),
    ResourceType(GATEWAY, "gateways", ("gw",)),
)


def resource_name(kind: Kind) -> str:
    """kubectl's name for a kind in messages: `deployment.apps`, `service`."""
    return f"{kind.kind.lower()}.{kind.group}" if kind.group else kind.kind.lower()


def resource_type(text: str) -> ResourceType:
    wanted = text.lower()
    for candidate in RESOURCE_TYPES:
        if wanted in candidate.names():
            return candidate
    raise ConfigError(f'the server doesn\'t have a resource type "{text}"')


def type_of(kind: Kind) -> ResourceType:
    for candidate in RESOURCE_TYPES:
        if (candidate.kind.group, candidate.kind.kind) == (kind.group, kind.kind):
            return candidate
    return ResourceType(kind, kind.kind.lower() + "s")


# ---- registration ----------------------------------------------------------------------------


def register(commands: Any) -> None:
    _register_apply(commands)
    _register_get(commands)
    _register_describe(commands)
    _register_set(commands)
    _register_delete(commands)
    _register_logs(commands)


def _common(parser: argparse.ArgumentParser, namespaced: bool = True) -> None:
    parser.add_argument(
        "--state-dir",
        default=None,
        help="the platform's state dir (default $KANARIA_STATE_DIR or ~/.local/state/kanaria)",
    )
    if namespaced:
        parser.add_argument("-n", "--namespace", default=None, help="namespace (default: default)")


def _register_apply(commands: Any) -> None:
    parser = commands.add_parser("apply", help="create or update objects from manifests")
    parser.add_argument("-f", "--filename", action="append", required=True, metavar="FILE")
    _common(parser)
    parser.set_defaults(run=lambda args: _run(args, apply_command))


def _register_get(commands: Any) -> None:
    parser = commands.add_parser("get", help="list objects (kubectl get)")
    parser.add_argument("kind", metavar="KIND[/NAME]")
    parser.add_argument("names", nargs="*", metavar="NAME")
    parser.add_argument("-A", "--all-namespaces", action="store_true")
    parser.add_argument("-o", "--output", choices=("yaml", "json", "wide", "name"), default=None)
    parser.add_argument("-l", "--selector", default=None, help="label selector key=value,…")
    _common(parser)
    parser.set_defaults(run=lambda args: _run(args, get_command))


def _register_describe(commands: Any) -> None:
    parser = commands.add_parser("describe", help="show an object and its events")
    parser.add_argument("target", metavar="KIND/NAME | KIND")
    parser.add_argument("names", nargs="*", metavar="NAME")
    _common(parser)
    parser.set_defaults(run=lambda args: _run(args, describe_command))


def _register_set(commands: Any) -> None:
    parser = commands.add_parser("set", help="change one field of an object")
    verbs = parser.add_subparsers(dest="what", metavar="image", required=True)
    image = verbs.add_parser("image", help="set a container's image: deployment/NAME C=IMAGE")
    image.add_argument("target", metavar="deployment/NAME")
    image.add_argument("images", nargs="+", metavar="CONTAINER=IMAGE")
    _common(image)
    image.set_defaults(run=lambda args: _run(args, set_image_command))


def _register_delete(commands: Any) -> None:
    parser = commands.add_parser("delete", help="delete objects by file or KIND/NAME")
    parser.add_argument("targets", nargs="*", metavar="KIND/NAME | KIND NAME")
    parser.add_argument("-f", "--filename", action="append", default=[], metavar="FILE")
    parser.add_argument("--ignore-not-found", action="store_true")
    _common(parser)
    parser.set_defaults(run=lambda args: _run(args, delete_command))


def _register_logs(commands: Any) -> None:
    parser = commands.add_parser("logs", help="print a replica's output")
    parser.add_argument("target", metavar="deployment/NAME")
    parser.add_argument("--tail", type=int, default=-1, help="only the last N lines")
    parser.add_argument(
        "-p", "--previous", action="store_true", help="the output of the replica's previous run"
    )
    _common(parser)
    parser.set_defaults(run=lambda args: _run(args, logs_command))


Verb = Callable[["ApiClient", argparse.Namespace], Awaitable[int]]


def _run(args: argparse.Namespace, verb: Verb) -> int:
    """Run a verb against the platform of `--state-dir`; server errors print as kubectl's."""

    # Imported here so that `kanaria validate` does not pay for aiohttp.
    from kanaria.platforms.local.client import ApiClient  # noqa: PLC0415

    async def call() -> int:
        async with ApiClient.for_state(StateDir.at(args.state_dir)) as client:
            return await verb(client, args)

    try:
        return asyncio.run(call())
    except NotFoundError as exc:
        print(f"Error from server (NotFound): {exc}", file=sys.stderr)
        return EXIT_FAILED
    except ConflictError as exc:
        print(f"Error from server (Conflict): {exc}", file=sys.stderr)
        return EXIT_FAILED


def _namespace(args: argparse.Namespace) -> str:
    return str(args.namespace or "default")


# ---- apply -----------------------------------------------------------------------------------


async def apply_command(client: ApiClient, args: argparse.Namespace) -> int:
    manifests = read_manifests(args.filename, getattr(args, "namespace", None))
    for result in await client.apply(manifests):
        print(result["line"])
    return 0


def read_manifests(paths: Sequence[str], namespace: str | None) -> list[Object]:
    """Every document of every file, checked; ConfigError listing every problem if any."""
    result = read_files(list(paths))
    for warning in result.warnings:
        print(warning, file=sys.stderr)
    if result.errors:
        count = len(result.errors)
        problems = "\n".join(str(problem) for problem in result.errors)
        raise ConfigError(f"{count} error{'s' if count > 1 else ''}; nothing applied\n{problems}")
    manifests = [json.loads(json.dumps(doc.raw, default=str)) for doc in result.documents]
    if not manifests:
        raise ConfigError("no objects passed to apply")
    return [_in_namespace(manifest, namespace) for manifest in manifests]


def _in_namespace(manifest: Object, namespace: str | None) -> Object:
    """kubectl's -n: fills in a missing namespace, refuses a different one or a bad name."""
    metadata = manifest.setdefault("metadata", {})
    if namespace is None or manifest.get("kind") == "Namespace":
        return manifest
    if reason := dns1123_label(namespace):
        raise ConfigError(f"--namespace: {reason}")
    written = metadata.get("namespace")
    if written and written != namespace:
        raise ConfigError(
            f"the namespace from the provided object {written!r} does not match the namespace "
            f"{namespace!r}. You must pass '--namespace={written}' to perform this operation."
        )
    metadata["namespace"] = namespace
    return manifest


# ---- get -------------------------------------------------------------------------------------


async def get_command(client: ApiClient, args: argparse.Namespace) -> int:
    kind_text, _, first_name = args.kind.partition("/")
    if kind_text.lower() in POD_NAMES:
        return await get_pods(client, args)
    rtype = resource_type(kind_text)
    names = ([first_name] if first_name else []) + list(args.names)
    namespace = None if args.all_namespaces else _namespace(args)
    if names:
        found = [await _get_one(client, rtype, namespace or "default", name) for name in names]
    else:
        labels = _selector(args.selector)
        found = await client.list(rtype.kind, namespace if rtype.namespaced else None, labels)
    if args.output in ("yaml", "json"):
        print(render_objects(found, args.output, single=len(names) == 1))
        return 0
    if not found:
        where = "" if args.all_namespaces or not rtype.namespaced else f" in {namespace} namespace."
        print(f"No resources found{where}", file=sys.stderr)
        return 0
    if args.output == "name":
        print("\n".join(f"{resource_name(rtype.kind)}/{name_of(obj)}" for obj in found))
        return 0
    wide = args.output == "wide"
    print(get_table(rtype, found, datetime.now(UTC), wide, args.all_namespaces))
    return 0


async def _get_one(client: ApiClient, rtype: ResourceType, namespace: str, name: str) -> Object:
    found = await client.get(rtype.kind, namespace, name)
    if found is None:
        raise NotFoundError(f'{rtype.qualified_plural} "{name}" not found')
    return found


def _selector(text: str | None) -> dict[str, str] | None:
    if not text:
        return None
    pairs = [part.split("=", 1) for part in text.split(",") if part]
    if any(len(pair) != 2 for pair in pairs):
        raise ConfigError(f"-l wants key=value,…; found {text!r}")
    return dict(pairs)


def render_objects(objects: Sequence[Object], output: str, single: bool) -> str:
    """`-o yaml|json`: the stored object, or kubectl's `List` of them."""
    document: Object = (
        objects[0]
        if single and objects
        else {"apiVersion": "v1", "items": list(objects), "kind": "List", "metadata": {}}
    )
    if output == "json":
        return json.dumps(document, indent=4)
    return yaml.safe_dump(document, sort_keys=False, default_flow_style=False).rstrip("\n")


Columns = tuple[list[str], Callable[[Object, datetime], list[str]]]


def get_table(
    rtype: ResourceType,
    objects: Sequence[Object],
    now: datetime,
    wide: bool = False,
    all_namespaces: bool = False,
) -> str:
    """The `kubectl get` table of one kind."""
    header, row = _columns(rtype.kind.kind, wide)
    rows = [row(obj, now) for obj in objects]
    if all_namespaces and rtype.namespaced:
        header = ["NAMESPACE", *header]
        rows = [[namespace_of(obj), *cells] for obj, cells in zip(objects, rows, strict=True)]
    return table(header, rows)


def _columns(kind: str, wide: bool) -> Columns:
    columns: dict[str, Callable[[bool], Columns]] = {
        "Deployment": _deployment_columns,
        "Service": _service_columns,
        "Canary": _canary_columns,
        "HorizontalPodAutoscaler": _hpa_columns,
        "Namespace": lambda _: (["NAME", "STATUS", "AGE"], _namespace_row),
        "Event": lambda _: (["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"], _event_row),
        "VirtualService": lambda _: (["NAME", "GATEWAYS", "HOSTS", "AGE"], _virtual_service_row),
        "DestinationRule": lambda _: (["NAME", "HOST", "AGE"], _destination_rule_row),
    }
    chosen = columns.get(kind)
    return chosen(wide) if chosen else (["NAME", "AGE"], _generic_row)


def _created(obj: Object, now: datetime) -> str:
    return age((obj.get("metadata") or {}).get("creationTimestamp"), now)


def _generic_row(obj: Object, now: datetime) -> list[str]:
    return [name_of(obj), _created(obj, now)]


def _deployment_columns(wide: bool) -> Columns:
    header = ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    if wide:
        header += ["CONTAINERS", "IMAGES", "SELECTOR"]

    def row(obj: Object, now: datetime) -> list[str]:
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        desired = spec.get("replicas", 1)
        cells = [
            name_of(obj),
            f"{status.get('readyReplicas', 0)}/{desired}",
            str(status.get("updatedReplicas", 0)),
            str(status.get("availableReplicas", 0)),
            _created(obj, now),
        ]
        if wide:
            containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
            selector = (spec.get("selector") or {}).get("matchLabels") or {}
            cells += [
                ",".join(str(c.get("name", "")) for c in containers),
                ",".join(str(c.get("image", "")) for c in containers),
                ",".join(f"{k}={v}" for k, v in selector.items()) or "<none>",
            ]
        return cells

    return header, row


def _service_columns(wide: bool) -> Columns:
    header = ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    if wide:
        header.append("SELECTOR")

    def row(obj: Object, now: datetime) -> list[str]:
        spec = obj.get("spec") or {}
        ports = ",".join(
            f"{port.get('port')}/{port.get('protocol', 'TCP')}" for port in spec.get("ports") or []
        )
        cells = [
            name_of(obj),
            str(spec.get("type", "ClusterIP")),
            str(spec.get("clusterIP") or "<none>"),
            "<none>",
            ports or "<none>",
            _created(obj, now),
        ]
        if wide:
            selector = spec.get("selector") or {}
            cells.append(",".join(f"{k}={v}" for k, v in selector.items()) or "<none>")
        return cells

    return header, row


def _canary_columns(wide: bool) -> Columns:
    """Flagger's printer columns; `-o wide` adds the priority-1 ones."""
    header = ["NAME", "STATUS", "WEIGHT"]
    if wide:
        header += ["SUSPENDED", "FAILEDCHECKS", "INTERVAL", "MIRROR", "STEPWEIGHT"]
        header += ["STEPWEIGHTS", "MAXWEIGHT"]
    header.append("LASTTRANSITIONTIME")

    def row(obj: Object, now: datetime) -> list[str]:
        status = obj.get("status") or {}
        analysis = (obj.get("spec") or {}).get("analysis") or {}
        cells = [name_of(obj), str(status.get("phase", "")), str(status.get("canaryWeight", 0))]
        if wide:
            cells += [
                str((obj.get("spec") or {}).get("suspend", "")),
                str(status.get("failedChecks", 0)),
                str(analysis.get("interval", "")),
                str(analysis.get("mirror", "")),
                str(analysis.get("stepWeight", "")),
                ",".join(str(w) for w in analysis.get("stepWeights") or []),
                str(analysis.get("maxWeight", "")),
            ]
        cells.append(str(status.get("lastTransitionTime", "")))
        return cells

    return header, row


def _hpa_columns(wide: bool) -> Columns:
    header = ["NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS", "AGE"]

    def row(obj: Object, now: datetime) -> list[str]:
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        target = spec.get("scaleTargetRef") or {}
        return [
            name_of(obj),
            f"{target.get('kind', '')}/{target.get('name', '')}",
            _hpa_targets(spec, status),
            str(spec.get("minReplicas", 1)),
            str(spec.get("maxReplicas", "")),
            str(status.get("currentReplicas", 0)),
            _created(obj, now),
        ]

    return header, row


def _hpa_targets(spec: Object, status: Object) -> str:
    """`cpu: 12%/99%`, with `<unknown>` before the first measurement."""
    current = {
        (m.get("resource") or {}).get("name"): (m.get("resource") or {}).get("current") or {}
        for m in status.get("currentMetrics") or []
    }
    cells = []
    for metric in spec.get("metrics") or []:
        resource = metric.get("resource") or {}
        wanted = (resource.get("target") or {}).get("averageUtilization")
        measured = (current.get(resource.get("name")) or {}).get("averageUtilization")
        shown = "<unknown>" if measured is None else f"{measured}%"
        cells.append(f"{resource.get('name', '?')}: {shown}/{wanted}%")
    return ", ".join(cells) or "<none>"


def _namespace_row(obj: Object, now: datetime) -> list[str]:
    phase = (obj.get("status") or {}).get("phase", "Active")
    return [name_of(obj), str(phase), _created(obj, now)]


def _event_row(obj: Object, now: datetime) -> list[str]:
    involved = obj.get("involvedObject") or {}
    return [
        age(obj.get("lastTimestamp") or obj.get("firstTimestamp"), now),
        str(obj.get("type", "")),
        str(obj.get("reason", "")),
        f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}",
        str(obj.get("message", "")),
    ]


def _virtual_service_row(obj: Object, now: datetime) -> list[str]:
    spec = obj.get("spec") or {}
    gateways = json.dumps(spec.get("gateways") or [])
    hosts = json.dumps(spec.get("hosts") or [])
    return [name_of(obj), gateways, hosts, _created(obj, now)]


def _destination_rule_row(obj: Object, now: datetime) -> list[str]:
    return [name_of(obj), str((obj.get("spec") or {}).get("host", "")), _created(obj, now)]


# ---- pods: the replicas the workload runtime runs -------------------------------------------

POD_NAMES = frozenset({"pod", "pods", "po"})


async def get_pods(client: ApiClient, args: argparse.Namespace) -> int:
    namespace = None if args.all_namespaces else _namespace(args)
    replicas = await client.replicas(namespace)
    wanted = set(args.names) | ({args.kind.partition("/")[2]} - {""})
    replicas = [r for r in replicas if not wanted or r["name"] in wanted]
    if args.output in ("yaml", "json"):
        print(render_objects(replicas, args.output, single=False))
        return 0
    if not replicas:
        where = "" if args.all_namespaces else f" in {namespace} namespace."
        print(f"No resources found{where}", file=sys.stderr)
        return 0
    print(pods_table(replicas, datetime.now(UTC), args.output == "wide", args.all_namespaces))
    return 0


def pods_table(
    replicas: Sequence[dict[str, Any]], now: datetime, wide: bool, all_namespaces: bool
) -> str:
    """`kubectl get pods`: NAME READY STATUS RESTARTS AGE (wide: IP and PID)."""
    header = ["NAME", "READY", "STATUS", "RESTARTS", "AGE"] + (["IP", "PID"] if wide else [])
    rows = []
    for replica in replicas:
        row = [
            str(replica["name"]),
            "1/1" if replica["ready"] else "0/1",
            str(replica["phase"]),
            str(replica["restarts"]),
            age(replica.get("createdAt"), now),
        ]
        row += [str(replica["ip"]), str(replica.get("pid") or "<none>")] if wide else []
        rows.append([str(replica["namespace"]), *row] if all_namespaces else row)
    return table(["NAMESPACE", *header] if all_namespaces else header, rows)


# ---- describe --------------------------------------------------------------------------------


# Kinds kubectl describes its own way; every other kind gets the generic describer.
DESCRIBERS = {"Deployment": describe_deployment, "Secret": describe_secret}


async def describe_command(client: ApiClient, args: argparse.Namespace) -> int:
    kind_text, _, first_name = args.target.partition("/")
    rtype = resource_type(kind_text)
    names = ([first_name] if first_name else []) + list(args.names)
    namespace = _namespace(args)
    if names:
        found = [await _get_one(client, rtype, namespace, name) for name in names]
    else:
        found = await client.list(rtype.kind, namespace if rtype.namespaced else None)
    now = datetime.now(UTC)
    texts = []
    for obj in found:
        events = await client.list(EVENT, namespace_of(obj) if rtype.namespaced else None)
        describer = DESCRIBERS.get(rtype.kind.kind, describe)
        texts.append(describer(obj, events_about(events, obj), now))
    print("\n\n".join(text.rstrip("\n") for text in texts))
    return 0


# ---- set image -------------------------------------------------------------------------------


async def set_image_command(client: ApiClient, args: argparse.Namespace) -> int:
    kind_text, _, name = args.target.partition("/")
    rtype = resource_type(kind_text)
    if rtype.kind.kind != "Deployment" or not name:
        raise ConfigError(f"set image works on deployment/NAME, found {args.target!r}")
    images = _image_arguments(args.images)
    for _ in range(SET_IMAGE_ATTEMPTS):
        current = await _get_one(client, rtype, _namespace(args), name)
        if not set_images(current, images):
            return 0
        try:
            await client.replace(current)
        except ConflictError:
            continue  # someone else wrote it between our read and write: read it again
        print(f"{resource_name(rtype.kind)}/{name} image updated")
        return 0
    raise KanariaError(f"deployment/{name} kept changing; try again")


def _image_arguments(texts: Sequence[str]) -> dict[str, str]:
    images = {}
    for text in texts:
        container, _, image = text.partition("=")
        if not container or not image:
            raise ConfigError(f"expected CONTAINER=IMAGE, found {text!r}")
        images[container] = image
    return images


def set_images(deployment: Object, images: dict[str, str]) -> bool:
    """Set each container's image (`*` means every container); True if anything changed.

    ConfigError naming the first container that does not exist, as kubectl does.
    """
    pod = ((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}
    containers = [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]
    changed = False
    for container_name, image in images.items():
        matching = [c for c in containers if container_name in ("*", c.get("name"))]
        if not matching:
            raise ConfigError(f'unable to find container named "{container_name}"')
        for container in matching:
            changed |= container.get("image") != image
            container["image"] = image
    return changed


# ---- delete ----------------------------------------------------------------------------------


async def delete_command(client: ApiClient, args: argparse.Namespace) -> int:
    targets = _delete_targets(args)
    failed = False
    for kind, namespace, name in targets:
        rtype = type_of(kind)
        if await client.delete(kind, namespace, name):
            print(f'{resource_name(kind)} "{name}" deleted')
        elif not args.ignore_not_found:
            message = f'{rtype.qualified_plural} "{name}" not found'
            print(f"Error from server (NotFound): {message}", file=sys.stderr)
            failed = True
    return EXIT_FAILED if failed else 0


def _delete_targets(args: argparse.Namespace) -> list[tuple[Kind, str, str]]:
    if bool(args.filename) == bool(args.targets):
        raise ConfigError("delete wants either -f FILE or KIND/NAME (not both, not neither)")
    if args.filename:
        return [
            (kind_of(obj), namespace_of(obj), name_of(obj))
            for obj in read_manifests(args.filename, args.namespace)
        ]
    return [(rtype.kind, _namespace(args), name) for rtype, name in _named(args.targets)]


def _named(targets: Sequence[str]) -> list[tuple[ResourceType, str]]:
    """`deployment/a service/b` or `deployment a b`."""
    if all("/" in target for target in targets):
        pairs = [target.split("/", 1) for target in targets]
        return [(resource_type(kind), name) for kind, name in pairs]
    if "/" in targets[0] or len(targets) < 2:
        raise ConfigError("name the objects as KIND/NAME … or KIND NAME …")
    rtype = resource_type(targets[0])
    return [(rtype, name) for name in targets[1:]]


# ---- logs ------------------------------------------------------------------------------------


async def logs_command(client: ApiClient, args: argparse.Namespace) -> int:
    kind_text, _, name = args.target.partition("/")
    if not name:
        kind_text, name = "deployment", kind_text
    if resource_type(kind_text).kind.kind != "Deployment":
        raise ConfigError(f"logs works on deployment/NAME, found {args.target!r}")
    answer = await client.logs(_namespace(args), name, args.tail, args.previous)
    if len(answer["replicas"]) > 1:
        count = len(answer["replicas"])
        print(f"Found {count} pods, using pod/{answer['replica']}", file=sys.stderr)
    sys.stdout.write(str(answer["text"]))
    return 0
