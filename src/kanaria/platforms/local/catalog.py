"""The image catalog: what a container image means on a machine without containers.

The local platform runs the seed's manifests unchanged, so `image: stefanprodan/podinfo:3.1.1`
must turn into a program this machine has: kanaria's podinfo app, reporting version 3.1.1. The
catalog is that mapping, kept in YAML (`catalog.yaml` next to this module, plus the user's own
file read first, so users can add images or override ours without touching code).

How a container's `command` and `args` combine with an entry — the entry plays the image, whose
ENTRYPOINT is `run` and whose CMD is `args`, as Kubernetes combines them with an image:

1. No `command`: the argv is `run` followed by the container's `args`, or by the entry's `args`
   when the container has none.
2. With a `command`: its first word names the image's program (`./podinfo`, `podinfo`,
   `/home/app/podinfo`; only the last path part counts) and must be one of the entry's
   `programs`; the argv is `run`, the rest of `command`, then the container's `args`.
   Anything else (`sh -c ...`) is a `ConfigError`, since there is no shell image to run it in.
3. The entry's `extraArgs` follow (e.g. `--version-label={tag}`), then its fault flags, so a
   faulty entry beats the manifest's `--random-error=false` (podinfo's flags: last one wins).
4. With `goFlags`, Go-style single-dash long flags (`-port=8080`) become `--port=8080`.

`$(VAR)` references in the argv are left for the process supervisor, which expands them
against the replica's environment as the kubelet does.

`ReplicaFactory` goes the rest of the way from a Deployment's pod template to a `ReplicaSpec`:
the catalog's command, the environment (`envFrom`, then `env`, with ConfigMap, Secret and
`fieldRef` values resolved), ports, probes checked, labels with the template hash.
"""

from __future__ import annotations

import base64
import fnmatch
import os
import re
import string
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from kanaria.errors import ConfigError
from kanaria.platforms.local.network import ReplicaPort
from kanaria.platforms.local.probes import plan_probe
from kanaria.platforms.local.processes import DEFAULT_GRACE_SECONDS, ReplicaSpec
from kanaria.spec.kube import Container, Deployment, EnvVar
from kanaria.spec.objects import CONFIGMAP, SECRET, ObjectClient

CATALOG_VARIABLE = "KANARIA_CATALOG"
USER_CATALOG_NAME = "catalog.yaml"
BUILTIN_SOURCE = "built-in kanaria/platforms/local/catalog.yaml"
PLACEHOLDERS = frozenset({"tag", "image", "time_scale", "hosts_file"})
TEMPLATE_HASH_LABEL = "pod-template-hash"

_DOCKER_HUB_PREFIXES = ("docker.io/", "index.docker.io/", "registry-1.docker.io/")
_GO_FLAG = re.compile(r"-[A-Za-z][A-Za-z0-9_.-]+(=.*)?", re.DOTALL)
_ENTRY_FIELDS = frozenset(
    {"image", "run", "programs", "args", "extraArgs", "env", "goFlags", "faults"}
)


@dataclass(frozen=True)
class ImageRef:
    """An image reference reduced to what the catalog matches on: `repository:tag`."""

    repository: str
    tag: str

    @classmethod
    def parse(cls, image: str) -> ImageRef:
        name = image.strip().partition("@")[0]
        for prefix in _DOCKER_HUB_PREFIXES:
            name = name.removeprefix(prefix)
        name = name.removeprefix("library/")
        # A colon after the last slash is a tag; one before it is a registry port.
        repository, colon, tag = name.rpartition(":")
        if not colon or "/" in tag:
            repository, tag = name, "latest"
        return cls(repository, tag or "latest")

    @property
    def reference(self) -> str:
        return f"{self.repository}:{self.tag}"


@dataclass(frozen=True)
class Faults:
    """podinfo's fault injection, as flags of kanaria's podinfo app."""

    error_rate: float | None = None
    delay: tuple[float, float] | None = None

    def args(self) -> list[str]:
        flags = []
        if self.error_rate is not None:
            flags += ["--random-error=true", f"--random-error-rate={self.error_rate:g}"]
        if self.delay is not None:
            low, high = self.delay
            flags += ["--random-delay=true", f"--random-delay-min={low:g}"]
            flags += [f"--random-delay-max={high:g}", "--random-delay-unit=s"]
        return flags


@dataclass(frozen=True)
class CatalogEntry:
    """One image pattern and the program it stands for (field meanings in catalog.yaml)."""

    image: str
    run: tuple[str, ...]
    programs: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    extra_args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    go_flags: bool = False
    faults: Faults | None = None
    source: str = BUILTIN_SOURCE

    def matches(self, ref: ImageRef) -> bool:
        return fnmatch.fnmatchcase(ref.reference, self.image)


@dataclass(frozen=True)
class LaunchContext:
    """What the platform knows that a command may need: its time scale and hosts files."""

    time_scale: float = 1.0
    hosts_file: Callable[[str], Path] | None = None
    python: str = sys.executable


@dataclass(frozen=True)
class Command:
    """What to execute for one container: argv and the image's environment."""

    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()
    entry: CatalogEntry | None = field(default=None, compare=False)


class ImageCatalog:
    """Entries in lookup order: the user's file first, then the built-in ones.

    A catalog loaded from files notices when the user's file changes (`refreshed()`), so an
    edit takes effect for the next replica started, without restarting the platform.
    """

    def __init__(
        self,
        entries: Sequence[CatalogEntry],
        searched: Sequence[str],
        user_path: Path | None = None,
    ) -> None:
        self.entries = tuple(entries)
        self.searched = tuple(searched)
        self.user_path = user_path
        self._stamp = _stamp(user_path)

    @classmethod
    def load(
        cls, state_dir: Path | None = None, environ: Mapping[str, str] | None = None
    ) -> ImageCatalog:
        """The user's catalog (`$KANARIA_CATALOG`, else `<state_dir>/catalog.yaml`) and ours."""
        environ = os.environ if environ is None else environ
        user_path = user_catalog_path(state_dir, environ)
        required = bool(environ.get(CATALOG_VARIABLE))
        return cls.from_files(user_path, required=required)

    @classmethod
    def from_files(cls, user_path: Path | None, required: bool = False) -> ImageCatalog:
        entries: list[CatalogEntry] = []
        searched: list[str] = []
        if user_path is not None:
            searched.append(str(user_path))
            if user_path.exists() or required:
                entries += read_catalog_file(user_path)
        searched.append(BUILTIN_SOURCE)
        entries += parse_catalog(builtin_catalog_text(), BUILTIN_SOURCE)
        return cls(entries, searched, user_path)

    def refreshed(self) -> ImageCatalog:
        """This catalog, or a new one if the user's file appeared, changed or went away;
        a ConfigError if the changed file is wrong."""
        if self.user_path is None or _stamp(self.user_path) == self._stamp:
            return self
        return ImageCatalog.from_files(self.user_path)

    def entry_for(self, image: str) -> CatalogEntry:
        ref = ImageRef.parse(image)
        for entry in self.entries:
            if entry.matches(ref):
                return entry
        raise ConfigError(
            f"image {image!r} is not in the image catalog (searched "
            f"{', '.join(self.searched)}); add an entry with `image: {ref.repository}:*` "
            f"and the command to run"
        )

    def command_for(self, container: Container, namespace: str, context: LaunchContext) -> Command:
        """The argv and image environment for `container` (rules in the module docstring)."""
        entry = self.entry_for(container.image)
        argv = [*_run(entry, context), *_container_args(entry, container)]
        argv += _filled(entry.extra_args, _values(container.image, namespace, context))
        argv += entry.faults.args() if entry.faults else []
        if entry.go_flags:
            argv = [_double_dash(word) for word in argv]
        return Command(tuple(argv), entry.env, entry)


def _stamp(path: Path | None) -> tuple[int, int] | None:
    try:
        stat = path.stat() if path is not None else None
    except OSError:
        return None
    return (stat.st_mtime_ns, stat.st_size) if stat is not None else None


def user_catalog_path(state_dir: Path | None, environ: Mapping[str, str]) -> Path | None:
    configured = environ.get(CATALOG_VARIABLE)
    if configured:
        return Path(configured).expanduser()
    return state_dir / USER_CATALOG_NAME if state_dir is not None else None


def builtin_catalog_text() -> str:
    return resources.files(__package__).joinpath("catalog.yaml").read_text(encoding="utf-8")


def read_catalog_file(path: Path) -> list[CatalogEntry]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the image catalog ({exc.strerror})") from exc
    return parse_catalog(text, str(path))


def parse_catalog(text: str, source: str) -> list[CatalogEntry]:
    """Entries of one catalog file; any mistake is a ConfigError naming file, entry and field."""
    try:
        document = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML ({exc})") from exc
    if not isinstance(document, dict) or not isinstance(document.get("images", []), list):
        raise ConfigError(f"{source}: expected a mapping with a list under `images`")
    return [_entry(raw, source, f"images[{index}]") for index, raw in enumerate(document["images"])]


# ---- reading entries -------------------------------------------------------------------------


def _entry(raw: Any, source: str, path: str) -> CatalogEntry:
    where = f"{source}: {path}"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping")
    unknown = sorted(set(raw) - _ENTRY_FIELDS)
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {unknown}; known: {sorted(_ENTRY_FIELDS)}")
    image = raw.get("image")
    if not isinstance(image, str) or not image:
        raise ConfigError(f"{where}.image: expected an image pattern such as `repo/name:*`")
    run = _words(raw.get("run"), f"{where}.run")
    if not run:
        raise ConfigError(f"{where}.run: expected the program's argv, e.g. [python, -m, app]")
    extra_args = _words(raw.get("extraArgs"), f"{where}.extraArgs")
    _check_placeholders(extra_args, f"{where}.extraArgs")
    return CatalogEntry(
        image=image,
        run=run,
        programs=tuple(PurePosixPath(p).name for p in _words(raw.get("programs"), where)),
        args=_words(raw.get("args"), f"{where}.args"),
        extra_args=extra_args,
        env=_env(raw.get("env"), f"{where}.env"),
        go_flags=_flag(raw.get("goFlags", False), f"{where}.goFlags"),
        faults=_faults(raw.get("faults"), f"{where}.faults"),
        source=source,
    )


def _words(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(w, str | int | float) for w in value):
        raise ConfigError(f"{where}: expected a list of strings")
    return tuple(str(word) for word in value)


def _env(value: Any, where: str) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a mapping of variable names to values")
    return tuple((str(name), str(text)) for name, text in value.items())


def _flag(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: expected true or false")
    return value


def _faults(value: Any, where: str) -> Faults | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not set(value) <= {"errorRate", "delay"}:
        raise ConfigError(f"{where}: expected a mapping with errorRate and/or delay")
    rate = value.get("errorRate")
    if rate is not None and not (isinstance(rate, int | float) and 0 <= rate <= 1):
        raise ConfigError(f"{where}.errorRate: expected a fraction between 0 and 1")
    return Faults(
        error_rate=None if rate is None else float(rate),
        delay=_delay(value.get("delay"), f"{where}.delay"),
    )


def _delay(value: Any, where: str) -> tuple[float, float] | None:
    if value is None or value is False:
        return None
    if value is True:
        return (0.0, 5.0)  # podinfo's own default range
    if isinstance(value, dict):
        low, high = value.get("min", 0.0), value.get("max", 5.0)
        if isinstance(low, int | float) and isinstance(high, int | float) and 0 <= low <= high:
            return (float(low), float(high))
    raise ConfigError(f"{where}: expected true or {{min: seconds, max: seconds}}, min <= max")


def _check_placeholders(words: Iterable[str], where: str) -> None:
    for word in words:
        for _, name, _, _ in string.Formatter().parse(word):
            if name is not None and name not in PLACEHOLDERS:
                raise ConfigError(
                    f"{where}: unknown placeholder {{{name}}} in {word!r}; "
                    f"known: {', '.join(sorted(PLACEHOLDERS))}"
                )


# ---- building the argv -----------------------------------------------------------------------


def _run(entry: CatalogEntry, context: LaunchContext) -> list[str]:
    first, *rest = entry.run
    return [context.python if first == "python" else first, *rest]


def _container_args(entry: CatalogEntry, container: Container) -> list[str]:
    if not container.command:
        return list(container.args) if container.args else list(entry.args)
    program = PurePosixPath(container.command[0]).name
    if program not in entry.programs:
        known = ", ".join(entry.programs) or "none"
        raise ConfigError(
            f"container {container.name!r}: command {container.command[0]!r} is not a program "
            f"of image {container.image!r} (catalog entry {entry.image!r} in {entry.source} "
            f"runs: {known}); drop `command` or add the name to the entry's `programs`"
        )
    return [*container.command[1:], *container.args]


def _values(image: str, namespace: str, context: LaunchContext) -> dict[str, str]:
    hosts = context.hosts_file(namespace) if context.hosts_file is not None else None
    return {
        "tag": ImageRef.parse(image).tag,
        "image": image,
        "time_scale": f"{context.time_scale:g}",
        "hosts_file": str(hosts) if hosts is not None else "",
    }


def _filled(words: Iterable[str], values: Mapping[str, str]) -> list[str]:
    """Fill placeholders; an argument whose placeholders are all empty is left out."""
    filled = []
    for word in words:
        names = [name for _, name, _, _ in string.Formatter().parse(word) if name]
        if names and not any(values[name] for name in names):
            continue
        filled.append(word.format_map(values))
    return filled


def _double_dash(word: str) -> str:
    return f"-{word}" if _GO_FLAG.fullmatch(word) else word


# ---- building replicas from a template -------------------------------------------------------


_FIELD_REFS = {
    "metadata.name": "$(POD_NAME)",
    "metadata.namespace": "$(POD_NAMESPACE)",
    "status.podIP": "$(POD_IP)",
    "status.podIPs": "$(POD_IP)",
    "status.hostIP": "127.0.0.1",
    "spec.nodeName": "localhost",
    "spec.serviceAccountName": "default",
}


class ReplicaFactory:
    """Turns a Deployment's pod template into `ReplicaSpec`s, through the image catalog.

    Every reason a template cannot run here (unknown image, a second container, a probe the
    platform cannot run, a missing ConfigMap key) is a `ConfigError` whose message ends up in
    the Deployment's ReplicaFailure condition.
    """

    def __init__(self, objects: ObjectClient, catalog: ImageCatalog, launch: LaunchContext):
        self.objects = objects
        self.catalog = catalog
        self.launch = launch

    async def build(
        self, deployment: Deployment, raw_template: Mapping[str, Any], hash_text: str, name: str
    ) -> ReplicaSpec:
        namespace = deployment.namespace
        pod = deployment.spec.template
        if len(pod.spec.containers) != 1 or pod.spec.init_containers:
            raise ConfigError(
                "the local platform runs pods of exactly one container and no init containers; "
                f"found {len(pod.spec.containers)} and {len(pod.spec.init_containers)}"
            )
        container = pod.spec.containers[0]
        raw_container = raw_template["spec"]["containers"][0]
        self.catalog = self.catalog.refreshed()
        command = self.catalog.command_for(container, namespace, self.launch)
        ports = tuple(ReplicaPort(p.name or "", p.container_port) for p in container.ports)
        probes = {kind: raw_container.get(f"{kind}Probe") for kind in ("readiness", "liveness")}
        for kind, raw in probes.items():
            if raw is not None:
                plan_probe(raw, ports, f"spec.template.spec.containers[0].{kind}Probe")
        labels = {**(pod.metadata.get("labels") or {}), TEMPLATE_HASH_LABEL: hash_text}
        grace = raw_template["spec"].get("terminationGracePeriodSeconds", DEFAULT_GRACE_SECONDS)
        return ReplicaSpec(
            namespace=namespace,
            workload=deployment.name,
            name=name,
            template_hash=hash_text,
            argv=command.argv,
            env=(*command.env, *await self.environment(container, namespace)),
            ports=ports,
            labels={str(k): str(v) for k, v in labels.items()},
            annotations={
                str(k): str(v) for k, v in (pod.metadata.get("annotations") or {}).items()
            },
            readiness_probe=probes["readiness"],
            liveness_probe=probes["liveness"],
            requests={
                str(k): str(v) for k, v in (container.resources.get("requests") or {}).items()
            },
            grace_seconds=float(grace),
        )

    async def environment(self, container: Container, namespace: str) -> list[tuple[str, str]]:
        """`envFrom` first, then `env` (later entries win), as the kubelet builds it."""
        pairs: list[tuple[str, str]] = []
        for source in container.env_from:
            pairs += await self._env_from(source, namespace)
        for variable in container.env:
            value = await self._value(variable, namespace)
            if value is not None:
                pairs.append((variable.name, value))
        return pairs

    async def _env_from(self, source: Mapping[str, Any], namespace: str) -> list[tuple[str, str]]:
        prefix = str(source.get("prefix") or "")
        for key, kind in (("configMapRef", CONFIGMAP), ("secretRef", SECRET)):
            ref = source.get(key)
            if ref is not None:
                data = await self._data(kind.kind, ref, namespace)
                return [(f"{prefix}{name}", value) for name, value in (data or {}).items()]
        raise ConfigError(f"envFrom: expected configMapRef or secretRef, found {dict(source)}")

    async def _value(self, variable: EnvVar, namespace: str) -> str | None:
        source = variable.value_from
        if source is None:
            return variable.value or ""
        if "fieldRef" in source:
            path = str((source["fieldRef"] or {}).get("fieldPath", ""))
            if path not in _FIELD_REFS:
                raise ConfigError(f"env {variable.name}: fieldRef {path!r} is not supported here")
            return _FIELD_REFS[path]
        for key, kind in (("configMapKeyRef", CONFIGMAP), ("secretKeyRef", SECRET)):
            if key in source:
                return await self._key(variable.name, kind.kind, source[key], namespace)
        raise ConfigError(f"env {variable.name}: valueFrom {sorted(source)} is not supported here")

    async def _key(
        self, variable: str, kind: str, ref: Mapping[str, Any], namespace: str
    ) -> str | None:
        data = await self._data(kind, ref, namespace)
        key = str(ref.get("key", ""))
        if data is not None and key in data:
            return data[key]
        if ref.get("optional"):
            return None
        raise ConfigError(f"env {variable}: {kind} {ref.get('name')!r} has no key {key!r}")

    async def _data(self, kind: str, ref: Mapping[str, Any], namespace: str) -> dict[str, str]:
        """A ConfigMap's data or a Secret's decoded data; {} for a missing optional one."""
        stored = await self.objects.get(
            CONFIGMAP if kind == "ConfigMap" else SECRET, namespace, str(ref.get("name", ""))
        )
        if stored is None:
            if ref.get("optional"):
                return {}
            raise ConfigError(f"{kind} {namespace}/{ref.get('name')} not found")
        if kind == "ConfigMap":
            return {str(k): str(v) for k, v in (stored.get("data") or {}).items()}
        decoded = {
            str(k): base64.b64decode(str(v)).decode("utf-8", "replace")
            for k, v in (stored.get("data") or {}).items()
        }
        decoded.update({str(k): str(v) for k, v in (stored.get("stringData") or {}).items()})
        return decoded
