"""compose.yaml and ops/systemd run real ``kubeq`` subcommands with flags the real CLI accepts."""

from __future__ import annotations

import argparse
import configparser
import dataclasses
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from redis.connection import parse_url

from cluster.settings import Settings
from workers import cli, cloud
from workers.dns import daemon as dns

ROOT = Path(__file__).resolve().parents[2]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
UNITS = sorted((ROOT / "ops" / "systemd").glob("*.service"))
NODE_NAME = "node-1"  # stands for $(hostname) in compose and %i in kubeq-node@.service


def kubeq_argv(command: list[str] | str) -> list[str] | None:
    """The arguments after ``kubeq`` in a compose command (exec form, or ``sh -c "... exec kubeq ..."``);
    None when the command does not run kubeq."""
    argv = shlex.split(command) if isinstance(command, str) else list(command)
    if argv[:2] == ["sh", "-c"]:
        argv = shlex.split(argv[2].replace("$$", "$"))
        if "exec" in argv:
            argv = argv[argv.index("exec") + 1 :]
    argv = [NODE_NAME if a in ("$(hostname)", "%i") else a for a in argv]
    if not argv or Path(argv[0]).name != "kubeq":
        return None
    return argv[1:]


def parse_like_the_cli(argv: list[str]) -> argparse.Namespace:
    """Parse as ``kubeq`` does: dns and cloud-controller-manager hand their flags to their own parsers.
    Raises SystemExit (argparse's way) on an unknown subcommand or flag."""
    if argv and argv[0] == "dns":  # kubeq adds --server from the settings when it is not given
        rest = argv[1:]
        return dns.parse_args(rest if "--server" in rest else ["--server", "http://apiserver:6443", *rest])
    if argv and argv[0] == "cloud-controller-manager":
        return cloud._parser().parse_args(argv[1:])
    return cli._parser().parse_args(argv)


def known_env() -> set[str]:
    """``KUBEQ_<FIELD>`` of every setting, plus every other ``KUBEQ_*`` name the code reads."""
    names = {"KUBEQ_" + f.name.upper() for f in dataclasses.fields(Settings)}
    for package in ("cluster", "workers", "tasks"):
        for path in (ROOT / package).rglob("*.py"):
            names |= set(re.findall(r"\bKUBEQ_[A-Z0-9_]*[A-Z0-9]\b", path.read_text()))
    return names


KUBEQ_SERVICES = {
    name: svc for name, svc in SERVICES.items() if kubeq_argv(svc.get("command", [])) is not None
}


def test_the_deployment_has_every_component() -> None:
    subcommands = {name: kubeq_argv(svc["command"])[0] for name, svc in KUBEQ_SERVICES.items()}  # type: ignore[index]
    assert subcommands == {
        "certs": "certs",  # one-shot: the PKI and kubeconfigs of the secure deployment
        "apiserver": "apiserver",
        "controller-manager": "controller-manager",
        "scheduler": "scheduler",
        "beat": "beat",
        "cloud-controller-manager": "cloud-controller-manager",
        "dns": "dns",
        "flower": "flower",
        "node": "node",
    }
    assert "redis" in SERVICES
    assert SERVICES["apiserver"]["deploy"]["replicas"] == 2
    assert SERVICES["beat"]["deploy"]["replicas"] == 2  # one active, one standing by on redbeat's lock
    assert "deploy" not in SERVICES["node"] and "container_name" not in SERVICES["node"]  # --scale node=N


@pytest.mark.parametrize("name", sorted(KUBEQ_SERVICES))
def test_service_command_is_accepted_by_the_real_cli(name: str) -> None:
    argv = kubeq_argv(KUBEQ_SERVICES[name]["command"])
    assert argv is not None
    try:
        parse_like_the_cli(argv)
    except SystemExit as exc:  # argparse printed why
        pytest.fail(f"{name}: `kubeq {' '.join(argv)}` is refused by the CLI ({exc.code})")


def test_a_wrong_flag_would_be_caught() -> None:
    with pytest.raises(SystemExit):
        parse_like_the_cli(["scheduler", "--no-such-flag"])
    with pytest.raises(SystemExit):
        parse_like_the_cli(["dns", "--server", "http://x", "--bogus"])
    with pytest.raises(SystemExit):
        parse_like_the_cli(["no-such-subcommand"])


@pytest.mark.parametrize("name", sorted(KUBEQ_SERVICES))
def test_service_environment_names_known_settings(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    env = KUBEQ_SERVICES[name].get("environment") or {}
    assert isinstance(env, dict), "environment as a mapping"
    unknown = set(env) - known_env()
    assert not unknown, f"{name} sets variables no kubeq code reads: {sorted(unknown)}"
    for key, raw in env.items():  # the settings object takes the values (numbers parse, ...)
        monkeypatch.setenv(key, re.sub(r"\$\{[^}]*\}", "x", str(raw)))
    Settings.from_env()


def test_redis_url_is_a_valid_url_with_the_password() -> None:
    raw = SERVICES["apiserver"]["environment"]["KUBEQ_REDIS_URL"]
    url = re.sub(r"\$\{REDIS_PASSWORD[^}]*\}", "pw0123", raw)
    parsed = parse_url(url)
    assert (parsed["host"], parsed["port"], parsed["password"]) == ("redis", 6379, "pw0123")
    assert "redis" in SERVICES and "--requirepass" in " ".join(SERVICES["redis"]["command"])


def test_depends_on_and_healthchecks_reference_real_services() -> None:
    for name, svc in SERVICES.items():
        deps = svc.get("depends_on") or {}
        deps = {d: {} for d in deps} if isinstance(deps, list) else deps
        for dep, spec in deps.items():
            assert dep in SERVICES, f"{name} depends on unknown service {dep}"
            assert dep != name, f"{name} depends on itself"
            if spec.get("condition") == "service_healthy":
                assert "healthcheck" in SERVICES[dep], f"{name} waits for {dep} to be healthy: no healthcheck"


def test_healthchecks_probe_readyz_and_ping() -> None:
    from cluster.apiserver.app import _HEALTH

    api = SERVICES["apiserver"]
    test = " ".join(api["healthcheck"]["test"])
    port = kubeq_argv(api["command"])[kubeq_argv(api["command"]).index("--port") + 1]  # type: ignore[union-attr]
    assert f"127.0.0.1:{port}/readyz" in test and "/readyz" in _HEALTH
    assert "ping" in " ".join(SERVICES["redis"]["healthcheck"]["test"]).lower()


@pytest.mark.parametrize(
    ("service", "worker"),
    [
        ("controller-manager", "controllers@"),
        ("scheduler", "scheduler@"),
        ("cloud-controller-manager", "cloud@"),
        ("node", "kubelet@"),
    ],
)
def test_worker_healthchecks_ping_the_workers_name(service: str, worker: str) -> None:
    """The ping targets the Celery node name the role's worker really takes (checked in its source)."""
    test = " ".join(SERVICES[service]["healthcheck"]["test"])
    assert f'-d "{worker}' in test and "-A workers.celery_app" in test
    sources = " ".join(p.read_text() for p in (ROOT / "workers").rglob("*.py"))
    assert f'f"{worker}{{' in sources


def test_volumes_and_mounted_files_exist() -> None:
    declared = set(COMPOSE.get("volumes") or {})
    for name, svc in SERVICES.items():
        for volume in svc.get("volumes") or []:
            source = volume.split(":")[0] if ":" in volume else None
            if source is None:
                continue  # anonymous volume
            if source.startswith((".", "/")):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in declared, f"{name} uses undeclared volume {source}"


def test_image_is_built_from_ops_dockerfile() -> None:
    dockerfile = (ROOT / "ops" / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", dockerfile, re.M)
    assert "nftables" in dockerfile and "iproute2" in dockerfile and "pip" in dockerfile
    for name, svc in KUBEQ_SERVICES.items():
        build = svc.get("build") or {}
        assert build.get("dockerfile") == "ops/Dockerfile" and build.get("context") == ".", name
    node = SERVICES["node"]
    assert node.get("privileged") is True
    assert "namespaces" in kubeq_argv(node["command"])  # type: ignore[operator]


def unit_file(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None, comment_prefixes=("#", ";"))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(path.read_text())
    return parser


def test_every_systemd_unit_is_there() -> None:
    assert {p.name for p in UNITS} == {
        "kubeq-apiserver.service",
        "kubeq-controller-manager.service",
        "kubeq-scheduler.service",
        "kubeq-beat.service",
        "kubeq-dns.service",
        "kubeq-cloud-controller-manager.service",
        "kubeq-flower.service",
        "kubeq-node@.service",
    }


@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_systemd_unit_runs_a_real_subcommand(path: Path) -> None:
    unit = unit_file(path)
    service = unit["Service"]
    assert service["EnvironmentFile"] == "/etc/kubeq/kubeq.env"
    argv = kubeq_argv(service["ExecStart"])
    assert argv is not None, f"{path.name} does not run kubeq"
    assert Path(shlex.split(service["ExecStart"])[0]).is_absolute()  # systemd wants an absolute path
    try:
        parse_like_the_cli(argv)
    except SystemExit:
        pytest.fail(f"{path.name}: `kubeq {' '.join(argv)}` is refused by the CLI")
    assert unit["Install"]["WantedBy"] == "multi-user.target"
    if path.name == "kubeq-node@.service":
        assert argv[argv.index("--name") + 1] == NODE_NAME  # the instance is the node name


def test_environment_file_example_names_known_settings() -> None:
    names = set()
    for line in (ROOT / "ops" / "systemd" / "kubeq.env").read_text().splitlines():
        line = line.strip().lstrip("#").strip()
        match = re.match(r"^(KUBEQ_[A-Z0-9_]+)=", line)
        if match:
            names.add(match.group(1))
    assert {"KUBEQ_REDIS_URL", "KUBEQ_SERVER"} <= names
    assert not names - known_env()


def test_components_talk_tls_with_their_own_credentials() -> None:
    """Secure by default: https everywhere, a kubeconfig per component, the PKI made before the API server."""
    assert COMPOSE["x-kubeq-env"]["KUBEQ_SERVER"].startswith("https://")
    assert SERVICES["apiserver"]["depends_on"]["certs"]["condition"] == "service_completed_successfully"
    assert "--components" in kubeq_argv(SERVICES["certs"]["command"])  # type: ignore[operator]
    for name in ("controller-manager", "scheduler", "beat", "node"):
        assert "--kubeconfig" in kubeq_argv(SERVICES[name]["command"]), name  # type: ignore[operator]
    for name in ("dns", "cloud-controller-manager"):
        assert SERVICES[name]["environment"]["KUBEQ_KUBECONFIG"].endswith(f"{name}.kubeconfig")
    for path in UNITS:
        text = path.read_text()
        if path.name not in ("kubeq-apiserver.service", "kubeq-flower.service"):
            assert "--kubeconfig" in text or "KUBEQ_KUBECONFIG=" in text, path.name
    assert "--tls-cert-file" in (ROOT / "ops" / "systemd" / "kubeq-apiserver.service").read_text()
