"""The local platform's state directory: one folder holds everything one platform instance owns.

The CLI, the control plane and `local down` find each other only through this folder, so it
must say, even after a SIGKILL, what runs and how to reach it:

* `objects.sqlite` — the object store (`store.py`).
* `config.json` — the control plane's settings (time scale, gateway port), written by `local up`.
* `api.json` and `token` — where the API listens and the bearer token it wants (mode 0600).
* `controlplane.lock` — held (flock) by the running control plane; the kernel drops it on any
  death, so a stale pid file never makes `local up` refuse to start.
* `pids/*.json` — every long-lived process the platform started (Envoy, Prometheus, replicas),
  with its kernel start time so a reused pid is never mistaken for ours.
* `logs/`, `envoy/`, `prometheus/`, `hosts/` — component logs and working folders.

The default folder is `$KANARIA_STATE_DIR`, else `~/.local/state/kanaria`.

Everything in it is private to the user: the store holds Secret values, replica records and
logs hold environments, `token` opens the API. Folders are 0700 and files 0600 (`PRIVATE_UMASK`
while the control plane runs, `write_atomically`, and `StateDir.create`, which also repairs a
folder an older kanaria left readable).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import secrets
import signal
import stat
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from kanaria.errors import ConfigError, PermanentError

STATE_DIR_VARIABLE = "KANARIA_STATE_DIR"
# Set in the control plane's environment so every process it starts inherits it; `local down`
# finds forgotten processes by it. Its value is a digest of the state dir's path, not the path:
# replicas (and the commands a load tester runs) need not learn where the platform's secrets are.
PLATFORM_MARKER_VARIABLE = "KANARIA_LOCAL_PLATFORM"
_KILL_POLL_SECONDS = 0.02
# Files and folders created under it are the user's alone (0600 and 0700).
PRIVATE_UMASK = 0o077
_OTHERS = 0o077


def default_state_dir() -> Path:
    """`$KANARIA_STATE_DIR`, else `~/.local/state/kanaria`."""
    configured = os.environ.get(STATE_DIR_VARIABLE)
    return Path(configured) if configured else Path.home() / ".local" / "state" / "kanaria"


@dataclass(frozen=True)
class ControlPlaneConfig:
    """What `local up` asked for; every component reads it from here or from the API."""

    time_scale: float = 1.0
    gateway_port: int = 8080
    api_port: int = 0


@dataclass(frozen=True)
class StateDir:
    """The paths of one platform instance."""

    root: Path

    @classmethod
    def at(cls, path: Path | str | None = None) -> StateDir:
        return cls(Path(path or default_state_dir()).expanduser().absolute())

    @property
    def store(self) -> Path:
        return self.root / "objects.sqlite"

    @property
    def config(self) -> Path:
        return self.root / "config.json"

    @property
    def api(self) -> Path:
        return self.root / "api.json"

    @property
    def token(self) -> Path:
        return self.root / "token"

    @property
    def lock(self) -> Path:
        return self.root / "controlplane.lock"

    @property
    def pids(self) -> Path:
        return self.root / "pids"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def envoy(self) -> Path:
        return self.root / "envoy"

    @property
    def prometheus(self) -> Path:
        return self.root / "prometheus"

    @property
    def hosts(self) -> Path:
        return self.root / "hosts"

    def replica_log(self, namespace: str, replica: str) -> Path:
        """Where the workload runtime writes a replica's output (`kanaria logs` reads it)."""
        return self.logs / "replicas" / namespace / f"{replica}.log"

    def create(self) -> None:
        """Make the folders (0700), and take from group and others whatever they could reach."""
        for folder in (self.root, self.pids, self.logs, self.envoy, self.prometheus, self.hosts):
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        make_private(self.root)

    def marker(self) -> dict[str, str]:
        """The environment entry that tags a process as started by this platform."""
        digest = hashlib.sha256(str(self.root).encode()).hexdigest()[:24]
        return {PLATFORM_MARKER_VARIABLE: digest}


# ---- config, API address, token --------------------------------------------------------------


def write_config(state: StateDir, config: ControlPlaneConfig) -> None:
    write_atomically(state.config, json.dumps(asdict(config), indent=1))


def read_config(state: StateDir) -> ControlPlaneConfig:
    raw = _read_json(state.config)
    if raw is None:
        return ControlPlaneConfig()
    try:
        return ControlPlaneConfig(
            time_scale=float(raw.get("time_scale", 1.0)),
            gateway_port=int(raw.get("gateway_port", 8080)),
            api_port=int(raw.get("api_port", 0)),
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{state.config}: unreadable control plane config ({exc})") from exc


def write_api_address(state: StateDir, url: str) -> None:
    record = {"url": url, "pid": os.getpid()}
    write_atomically(state.api, json.dumps(record))


def read_api_url(state: StateDir) -> str | None:
    raw = _read_json(state.api)
    return str(raw["url"]) if raw and "url" in raw else None


def ensure_token(state: StateDir) -> str:
    """The API's bearer token; made once (mode 0600) and kept, so clients survive restarts."""
    state.root.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        descriptor = os.open(state.token, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(32))
    return read_token(state)


def read_token(state: StateDir) -> str:
    try:
        return state.token.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(
            f"no API token in {state.root} ({exc.strerror}); is the platform up? (kanaria local up)"
        ) from exc


def write_atomically(path: Path, text: str) -> None:
    """Readers see the old file or the new one, never half of one; the file is 0600."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o600)  # a leftover temporary may have had another mode
        handle.write(text)
    os.replace(temporary, path)


def make_private(root: Path) -> None:
    """Remove group and other permissions from `root` and everything under it."""
    for folder, folders, files in os.walk(root):
        for name in (*folders, *files):
            _drop_others(Path(folder) / name)
    _drop_others(root)


def _drop_others(path: Path) -> None:
    # A file may vanish meanwhile (a rotated log); a symlink's own mode means nothing.
    with contextlib.suppress(FileNotFoundError):
        mode = path.lstat().st_mode
        if not stat.S_ISLNK(mode) and mode & _OTHERS:
            path.chmod(stat.S_IMODE(mode) & ~_OTHERS)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return loaded if isinstance(loaded, dict) else None


# ---- the control plane's lock ----------------------------------------------------------------


def acquire_lock(state: StateDir) -> IO[str]:
    """Hold the state dir for this process; PermanentError when another control plane has it.

    Keep the returned file open for the life of the control plane.
    """
    state.create()
    descriptor = os.open(state.lock, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
    handle = os.fdopen(descriptor, "a+", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        owner = lock_owner(state)
        raise PermanentError(
            f"a control plane already runs on {state.root}"
            + (f" (pid {owner})" if owner else "")
            + "; stop it first with: kanaria local down"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def is_locked(state: StateDir) -> bool:
    """True while some control plane holds the state dir."""
    if not state.lock.exists():
        return False
    with state.lock.open("a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


def lock_owner(state: StateDir) -> int | None:
    try:
        return int(state.lock.read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return None


# ---- pid files -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcessRecord:
    """One process the platform started; `start` is its kernel start time (pid reuse guard).

    Other components may write their own records into `pids/` (any file name ending in
    `.json`) as long as they carry these three fields; `path` is where it was read from.
    """

    name: str
    pid: int
    start: int
    path: Path | None = field(default=None, compare=False)

    def alive(self) -> bool:
        return process_start_time(self.pid) == self.start


def record_process(state: StateDir, name: str, pid: int) -> ProcessRecord:
    """Remember a process so `local down` can stop it even when the control plane is gone."""
    start = process_start_time(pid)
    if start is None:
        raise PermanentError(f"process {pid} ({name}) is not running")
    path = _pid_file(state, name)
    state.pids.mkdir(parents=True, exist_ok=True)
    write_atomically(path, json.dumps({"name": name, "pid": pid, "start": start}))
    return ProcessRecord(name, pid, start, path)


def forget_process(state: StateDir, name: str) -> None:
    _pid_file(state, name).unlink(missing_ok=True)


def recorded_processes(state: StateDir) -> list[ProcessRecord]:
    """Every recorded process, alive or not (check `alive()`)."""
    records = []
    for path in sorted(state.pids.glob("*.json")) if state.pids.is_dir() else []:
        raw = _read_json(path)
        if raw is not None:
            with contextlib.suppress(KeyError, TypeError, ValueError):
                name, pid, start = str(raw["name"]), int(raw["pid"]), int(raw["start"])
                records.append(ProcessRecord(name, pid, start, path))
    return records


def _pid_file(state: StateDir, name: str) -> Path:
    safe = "".join(char if char.isalnum() or char in "-_." else "_" for char in name)
    return state.pids / f"{safe}.json"


def process_start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot, or None if it does not exist."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    fields = stat.rpartition(")")[2].split()
    if len(fields) < 20 or fields[0] == "Z":
        return None
    return int(fields[19])


def marked_processes(state: StateDir) -> list[int]:
    """Pids of live processes whose environment carries this platform's marker.

    The safety net of `local down`: finds what a pid file missed (a replica started just before a
    SIGKILL, a command a load tester ran).
    """
    wanted = "".join(f"{name}={value}" for name, value in state.marker().items()).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environment = (entry / "environ").read_bytes()
        except OSError:
            continue
        if wanted in environment.split(b"\0") and process_start_time(int(entry.name)):
            found.append(int(entry.name))
    return sorted(found)


def terminate(pids: list[int], grace: float) -> list[int]:
    """SIGTERM each, SIGKILL what is left after `grace` seconds; returns the pids that survived.

    Pids are only signalled while their start time is unchanged, so a reused pid is left alone.
    """
    starts = {pid: process_start_time(pid) for pid in pids}
    living = {pid: start for pid, start in starts.items() if start is not None}
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid, start in living.items():
            if process_start_time(pid) == start:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, sig)
        living = _wait_gone(living, grace if sig == signal.SIGTERM else 5.0)
        if not living:
            break
    return sorted(living)


def _wait_gone(living: dict[int, int], seconds: float) -> dict[int, int]:
    deadline = time.monotonic() + seconds
    while True:
        _reap(living)
        living = {pid: start for pid, start in living.items() if process_start_time(pid) == start}
        if not living or time.monotonic() >= deadline:
            return living
        time.sleep(_KILL_POLL_SECONDS)


def _reap(pids: dict[int, int]) -> None:
    """Collect our own dead children, which otherwise linger as zombies."""
    for pid in pids:
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)
