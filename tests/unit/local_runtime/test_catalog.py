"""The image catalog: which program an image runs, with which argv, and what it refuses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kanaria.apps.podinfo.config import parse_settings
from kanaria.errors import ConfigError
from kanaria.loadtester.main import parse_options
from kanaria.platforms.local.catalog import (
    BUILTIN_SOURCE,
    ImageCatalog,
    ImageRef,
    LaunchContext,
    parse_catalog,
)
from kanaria.spec.kube import Container

SEED_PODINFO_COMMAND = [
    "./podinfo",
    "--port=9898",
    "--port-metrics=9797",
    "--grpc-port=9999",
    "--grpc-service-name=podinfo",
    "--level=info",
    "--random-delay=false",
    "--random-error=false",
]
FLAGGER_LOADTESTER_COMMAND = ["./loadtester", "-port=8080", "-log-level=info", "-timeout=1h"]
CONTEXT = LaunchContext(
    time_scale=60, hosts_file=lambda ns: Path(f"/state/hosts/{ns}"), python="py"
)


def container(image: str, **fields: Any) -> Container:
    return Container.model_validate({"name": "main", "image": image, **fields})


@pytest.fixture
def catalog() -> ImageCatalog:
    return ImageCatalog.load(None, environ={})


@pytest.mark.parametrize(
    ("image", "reference"),
    [
        ("stefanprodan/podinfo:3.1.0", "stefanprodan/podinfo:3.1.0"),
        ("docker.io/stefanprodan/podinfo:3.1.1", "stefanprodan/podinfo:3.1.1"),
        ("index.docker.io/library/busybox", "busybox:latest"),
        ("localhost:5000/team/app", "localhost:5000/team/app:latest"),
        ("localhost:5000/team/app:2", "localhost:5000/team/app:2"),
        (
            "ghcr.io/fluxcd/flagger-loadtester:0.29.0@sha256:abcd",
            "ghcr.io/fluxcd/flagger-loadtester:0.29.0",
        ),
    ],
)
def test_image_references_are_normalized(image: str, reference: str) -> None:
    assert ImageRef.parse(image).reference == reference


def test_seed_podinfo_runs_kanarias_app_at_the_image_version(catalog: ImageCatalog) -> None:
    command = catalog.command_for(
        container("stefanprodan/podinfo:3.1.1", command=SEED_PODINFO_COMMAND), "test", CONTEXT
    )
    assert command.argv == (
        "py", "-m", "kanaria.apps.podinfo", *SEED_PODINFO_COMMAND[1:], "--version-label=3.1.1",
    )  # fmt: skip
    settings = parse_settings(command.argv[3:], {"POD_IP": "127.128.0.1"})
    assert (settings.version, settings.port, settings.metrics_port) == ("3.1.1", 9898, 9797)
    assert settings.host == "127.128.0.1"
    assert not settings.random_error


def test_args_without_command_follow_the_program_and_args_replace_the_images(
    catalog: ImageCatalog,
) -> None:
    plain = catalog.command_for(container("stefanprodan/podinfo:6.0.0"), "test", CONTEXT)
    assert plain.argv == ("py", "-m", "kanaria.apps.podinfo", "--version-label=6.0.0")
    with_args = catalog.command_for(
        container("stefanprodan/podinfo:6.0.0", args=["--port=8080"]), "test", CONTEXT
    )
    assert with_args.argv[3:] == ("--port=8080", "--version-label=6.0.0")


def test_faulty_versions_inject_errors_after_the_manifests_own_flags(
    catalog: ImageCatalog,
) -> None:
    command = catalog.command_for(
        container("stefanprodan/podinfo:6.6.6-faulty", command=SEED_PODINFO_COMMAND),
        "test",
        CONTEXT,
    )
    assert command.argv.index("--random-error=true") > command.argv.index("--random-error=false")
    settings = parse_settings(command.argv[3:], {})
    assert settings.random_error
    assert settings.random_error_rate == pytest.approx(0.3)
    assert settings.version == "6.6.6-faulty"
    slow = catalog.command_for(container("stefanprodan/podinfo:1.0-slow"), "test", CONTEXT)
    slow_settings = parse_settings(slow.argv[3:], {})
    assert slow_settings.random_delay
    assert slow_settings.random_delay_min == pytest.approx(0.6)


def test_flaggers_load_tester_gets_double_dash_flags_time_scale_hosts_file_and_grep(
    catalog: ImageCatalog,
) -> None:
    command = catalog.command_for(
        container("ghcr.io/fluxcd/flagger-loadtester:0.29.0", command=FLAGGER_LOADTESTER_COMMAND),
        "test",
        CONTEXT,
    )
    assert command.argv == (
        "py", "-m", "kanaria.loadtester", "--port=8080", "--log-level=info", "--timeout=1h",
        "--time-scale=60", "--hosts-file=/state/hosts/test", "--allow-program=grep",
    )  # fmt: skip
    options = parse_options(command.argv[3:], {"POD_IP": "127.128.0.7"})
    assert (options.port, options.timeout, options.time_scale) == (8080, 3600.0, 60.0)
    assert options.hosts_file == Path("/state/hosts/test")
    # Flagger's acceptance test pipes into grep; still no shell.
    assert options.policy.programs == {"hey", "curl", "ghz", "grep"}
    assert not options.policy.allow_shell


def test_an_argument_left_empty_by_its_placeholder_is_dropped(catalog: ImageCatalog) -> None:
    command = catalog.command_for(
        container("weaveworks/flagger-loadtester:0.18.0"), "test", LaunchContext(python="py")
    )
    assert command.argv == (
        "py", "-m", "kanaria.loadtester", "--port=8080", "--log-level=info", "--timeout=1h",
        "--time-scale=1", "--allow-program=grep",
    )  # fmt: skip


def test_an_unknown_image_names_the_image_and_every_catalog_searched(tmp_path: Path) -> None:
    catalog = ImageCatalog.load(tmp_path, environ={})
    with pytest.raises(ConfigError) as caught:
        catalog.command_for(container("nginx:1.25"), "test", CONTEXT)
    message = str(caught.value)
    assert "'nginx:1.25'" in message
    assert str(tmp_path / "catalog.yaml") in message
    assert BUILTIN_SOURCE in message


def test_a_command_that_is_not_the_images_program_is_refused(catalog: ImageCatalog) -> None:
    with pytest.raises(ConfigError, match=r"command 'sh' is not a program of image .*podinfo"):
        catalog.command_for(
            container("stefanprodan/podinfo:3.1.0", command=["sh", "-c", "./podinfo"]),
            "test",
            CONTEXT,
        )


USER_CATALOG = """
images:
  - image: stefanprodan/podinfo:3.1.1
    run: [python, -m, kanaria.apps.podinfo]
    programs: [podinfo]
    extraArgs: ["--version-label=custom-{tag}"]
    faults: {errorRate: 1}
  - image: "example.com/echo:*"
    run: [/bin/echo]
    env: {GREETING: hi}
"""


def test_the_users_catalog_comes_first_from_the_state_dir_or_the_variable(
    tmp_path: Path,
) -> None:
    (tmp_path / "catalog.yaml").write_text(USER_CATALOG)
    from_state_dir = ImageCatalog.load(tmp_path, environ={})
    own = from_state_dir.command_for(container("stefanprodan/podinfo:3.1.1"), "t", CONTEXT)
    assert "--version-label=custom-3.1.1" in own.argv
    assert "--random-error-rate=1" in own.argv
    builtin = from_state_dir.command_for(container("stefanprodan/podinfo:3.1.0"), "t", CONTEXT)
    assert "--version-label=3.1.0" in builtin.argv
    elsewhere = tmp_path / "elsewhere.yaml"
    elsewhere.write_text(USER_CATALOG)
    from_variable = ImageCatalog.load(None, environ={"KANARIA_CATALOG": str(elsewhere)})
    echo = from_variable.command_for(container("example.com/echo:1", args=["x"]), "t", CONTEXT)
    assert echo.argv == ("/bin/echo", "x")
    assert echo.env == (("GREETING", "hi"),)


def test_a_missing_catalog_named_by_the_variable_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nothing\.yaml: cannot read the image catalog"):
        ImageCatalog.load(None, environ={"KANARIA_CATALOG": str(tmp_path / "nothing.yaml")})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("images: [{run: [x]}]", r"user.yaml: images\[0\].image: expected an image pattern"),
        ("images: [{image: 'a:*'}]", r"images\[0\].run: expected the program's argv"),
        ("images: [{image: 'a:*', run: [x], colour: red}]", r"unknown field\(s\) \['colour'\]"),
        ("images: [{image: 'a:*', run: [x], extraArgs: ['{nope}']}]", r"unknown placeholder"),
        ("images: [{image: 'a:*', run: [x], faults: {errorRate: 2}}]", r"faults.errorRate"),
        ("images: [{image: 'a:*', run: [x], goFlags: maybe}]", r"goFlags: expected true"),
        ("images: {}", r"a list under `images`"),
        ("images: [", r"not valid YAML"),
    ],
)
def test_catalog_mistakes_name_the_file_entry_and_field(text: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        parse_catalog(text, "user.yaml")


def test_an_edited_user_catalog_takes_effect_without_a_restart(tmp_path: Path) -> None:
    catalog = ImageCatalog.load(tmp_path, environ={})
    assert catalog.refreshed() is catalog
    with pytest.raises(ConfigError):
        catalog.command_for(container("example.com/echo:1"), "t", CONTEXT)
    (tmp_path / "catalog.yaml").write_text(USER_CATALOG)
    refreshed = catalog.refreshed()
    assert refreshed.command_for(container("example.com/echo:1"), "t", CONTEXT).argv == (
        "/bin/echo",
    )
    assert refreshed.refreshed() is refreshed
    (tmp_path / "catalog.yaml").write_text("images: [{image: 'x:*'}]")
    with pytest.raises(ConfigError, match=r"images\[0\]\.run"):
        refreshed.refreshed()
