"""The deployment files in deploy/ agree with the code they deploy.

Docker cannot run where okrsync is developed and tested, so nothing here builds an
image or starts a container: each file is parsed (YAML, the systemd unit, the
Dockerfile line by line) and checked against what the code says: the listening port
(`ServiceConfig`'s default), the probe paths, the environment variable names the config
models name, and the configs themselves, which must load with `load_config`.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from pydantic import BaseModel

from okrsync.config import Config, ServiceConfig, load_config
from okrsync.registry import REGISTRY

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "kubernetes"

DEFAULT_LISTEN: str = ServiceConfig.model_fields["listen"].default
PORT = int(DEFAULT_LISTEN.rpartition(":")[2])
# On SIGTERM the daemon lets the cycle in flight run this long (the `okrsync run`
# contract); every stop timeout must leave it that, with a margin.
SHUTDOWN_SECONDS = 60
# Not a config key: libpq (psycopg) reads the store's password from it.
STORE_PASSWORD_ENV = "PGPASSWORD"
ROOT_USERS = {"root", "0"}


# --------------------------------------------------------------------------- helpers


def env_references(config: Config) -> dict[str, str]:
    """Every environment variable a config names, by the key that names it."""
    names: dict[str, str | None] = {}
    for source_name, source in config.sources.items():
        for path, variable in source.secrets():
            names[".".join(("sources", source_name, *path))] = variable
    hooks = config.service.webhooks
    for spec in REGISTRY:
        for key, _, _ in spec.webhook_settings:
            if key.endswith("_env"):
                names[f"service.webhooks.{key}"] = getattr(hooks, key)
    return {key: name for key, name in names.items() if name}


def model_default(model: type[BaseModel], path: list[str]) -> object:
    """The default a model gives the key at `path` (below nested models' defaults)."""
    value: object = model.model_fields[path[0]].default
    for part in path[1:]:
        assert isinstance(value, BaseModel), f"{path}: no default model to look into"
        value = getattr(value, part)
    return value


@cache
def documented_env() -> dict[str, str]:
    """The variable names of the documented example config: the models' defaults where
    they have one, and the documented names (JIRA_EMAIL, webhook secrets) where not."""
    loaded = load_config(REPO / "config" / "okrsync.example.yaml", environ={})
    return env_references(loaded.config)


@cache
def pyproject() -> Any:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def load_config_text(text: str, tmp_path: Path) -> Config:
    path = tmp_path / "okrsync.yaml"
    path.write_text(text, encoding="utf-8")
    # An empty environment: a deployment's config must not lean on the test's variables.
    return load_config(path, environ={}).config


@cache
def yaml_documents(path: Path) -> tuple[Any, ...]:
    with path.open(encoding="utf-8") as stream:
        return tuple(doc for doc in yaml.safe_load_all(stream) if doc is not None)


def k8s(name: str) -> Any:
    (document,) = yaml_documents(K8S / name)
    return document


def seconds(value: str | int) -> int:
    """A duration as compose (90s, 1m30s) or systemd (90, 90s, 1min 30s) writes it."""
    if isinstance(value, int) or str(value).isdigit():
        return int(value)
    units = {"h": 3600, "min": 60, "m": 60, "s": 1}
    parts = re.findall(r"(\d+)\s*(min|h|m|s)", str(value))
    assert parts, f"not a duration: {value!r}"
    return sum(int(n) * units[unit] for n, unit in parts)


# --- the Dockerfile


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, instruction: str) -> list[str]:
        return [args for name, args in self.instructions if name == instruction]

    def last(self, instruction: str) -> str:
        found = self.all(instruction)
        assert found, f"stage {self.name or self.image} has no {instruction}"
        return found[-1]

    def env(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for args in self.all("ENV"):
            for word in shlex.split(args):
                key, _, value = word.partition("=")
                values[key] = value
        return values


@cache
def dockerfile_stages() -> tuple[Stage, ...]:
    """The Dockerfile's stages, each a list of (INSTRUCTION, arguments) with continuation
    lines joined and comments dropped."""
    logical: list[str] = []
    pending = ""
    for raw in (DEPLOY / "Dockerfile").read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"

    stages: list[Stage] = []
    for line in logical:
        instruction, _, args = line.partition(" ")
        instruction, args = instruction.upper(), args.strip()
        if instruction == "FROM":
            words = args.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(image=words[0], name=name))
            continue
        if instruction == "ARG" and not stages:
            continue  # global build arguments before the first FROM
        assert stages, f"{instruction} before the first FROM"
        stages[-1].instructions.append((instruction, args))
    return tuple(stages)


def final_stage() -> Stage:
    return dockerfile_stages()[-1]


def image_config_path() -> str:
    return final_stage().env()["OKRSYNC_CONFIG"]


def image_uid() -> str:
    return final_stage().last("USER").split(":")[0]


# --- the systemd unit


@cache
def systemd_unit() -> dict[str, dict[str, list[str]]]:
    """Section -> key -> every value given (systemd keys may repeat and accumulate)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in (DEPLOY / "okrsync.service").read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"a key outside any section: {line!r}"
        assert "=" in line, f"not KEY=VALUE: {line!r}"
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def unit_value(key: str, section: str = "Service") -> str:
    values = systemd_unit()[section].get(key)
    assert values, f"[{section}] has no {key}="
    return values[-1]


# --- the env file example


def env_file_names(path: Path) -> tuple[set[str], set[str]]:
    """Names an env file assigns: (assigned, commented out as `# NAME=value`)."""
    active: set[str] = set()
    commented: set[str] = set()
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if match := re.match(r"^#\s*([A-Za-z_][A-Za-z0-9_]*)=", line):
            commented.add(match[1])
        elif line and not line.startswith("#"):
            name, sep, _ = line.partition("=")
            assert sep and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name), f"bad line {line!r}"
            active.add(name)
    return active, commented


# --------------------------------------------------------------------------- env names


def test_the_documented_variable_names_are_the_models_defaults() -> None:
    # The deploy files are checked against documented_env(); it must itself agree with
    # the models, or an operator following the files would set names nobody reads.
    documented = documented_env()
    defaults: dict[str, object] = {}
    for key in documented:
        section, name, *path = key.split(".")
        spec = REGISTRY.get(name)
        if section == "sources" and spec is not None:
            default = model_default(spec.config, path)
            if default is not None:  # e.g. Jira's email: the example names one, no default
                defaults[key] = default
    # Every registered source's token is documented, under the name its model defaults to.
    assert {key.split(".")[1] for key in defaults} == set(REGISTRY.names())
    assert {key: documented[key] for key in defaults} == defaults


def test_the_secret_holds_exactly_the_variables_the_config_names() -> None:
    secret = k8s("secret.yaml")
    assert secret["kind"] == "Secret"
    assert "data" not in secret, "placeholders belong in stringData (plain text)"
    assert set(secret["stringData"]) == set(documented_env().values()) | {STORE_PASSWORD_ENV}


def test_the_env_file_example_holds_exactly_the_variables_the_config_names() -> None:
    active, commented = env_file_names(DEPLOY / "okrsync.env.example")
    assert active == set(documented_env().values())
    # Only the store's password is optional (SQLite needs none).
    assert commented <= {STORE_PASSWORD_ENV}


# --------------------------------------------------------------------------- configs


def compose_config_text() -> str:
    return (DEPLOY / "okrsync.compose.yaml").read_text(encoding="utf-8")


def configmap_config_text() -> str:
    return str(k8s("configmap.yaml")["data"][PurePosixPath(image_config_path()).name])


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(compose_config_text, id="compose"),
        pytest.param(configmap_config_text, id="configmap"),
    ],
)
def test_a_deployed_config_loads_listens_on_all_interfaces_and_uses_postgresql(
    text: Any, tmp_path: Path
) -> None:
    config = load_config_text(text(), tmp_path)
    # Inside a container or pod, loopback is unreachable from the probes and the Service.
    assert config.service.listen == f"0.0.0.0:{PORT}"
    url = urlsplit(config.store.url)
    assert url.scheme == "postgresql+psycopg"
    assert url.password is None, "the password comes from PGPASSWORD, never the config"
    # The Secret / env file provide exactly these names, so the daemon finds every one.
    assert env_references(config) == documented_env()


# --------------------------------------------------------------------------- Dockerfile


def test_the_dockerfile_builds_a_venv_in_a_builder_and_copies_it() -> None:
    builder, final = dockerfile_stages()
    assert builder.image == final.image == "python:3.11-slim"
    assert builder.name is not None

    venv = re.search(r"python -m venv (\S+)", " ".join(builder.all("RUN")))
    assert venv, "the builder creates no virtualenv"
    installs = [run for run in builder.all("RUN") if "pip install" in run]
    assert any("[postgres]" in run for run in installs), "install the `postgres` extra"
    assert "postgres" in pyproject()["optional-dependencies"]
    assert "--editable" not in " ".join(installs) and " -e " not in " ".join(installs)

    # What the builder copies in exists in the build context (the repository root).
    for copy in builder.all("COPY"):
        *sources, _ = shlex.split(copy)
        for source in sources:
            assert (REPO / source).exists(), f"COPY {source}: not in the repository"

    copies = [shlex.split(copy) for copy in final.all("COPY")]
    assert [f"--from={builder.name}", venv[1], venv[1]] in copies
    assert final.env()["PATH"].startswith(f"{venv[1]}/bin:")


def test_the_build_context_lets_in_exactly_what_the_builder_copies() -> None:
    # An allow-list: secrets (deploy/okrsync.env, deploy/.env), .git and .venv stay out.
    lines = (DEPLOY / "Dockerfile.dockerignore").read_text(encoding="utf-8").splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert patterns[0] == "*"
    allowed = {pattern[1:].rstrip("/") for pattern in patterns if pattern.startswith("!")}
    builder = dockerfile_stages()[0]
    copied = {
        source.rstrip("/") for copy in builder.all("COPY") for source in shlex.split(copy)[:-1]
    }
    assert allowed == copied


def test_the_dockerfile_runs_okrsync_run_as_a_non_root_user() -> None:
    final = final_stage()
    assert image_uid() not in ROOT_USERS and image_uid().isdigit()
    # The user is switched after everything that needs root.
    names = [name for name, _ in final.instructions]
    assert "RUN" not in names[names.index("USER") :]

    assert json.loads(final.last("ENTRYPOINT")) == ["okrsync"]
    assert "okrsync" in pyproject()["scripts"]  # the console script the package installs
    assert json.loads(final.last("CMD")) == ["run"]
    assert final.last("STOPSIGNAL") == "SIGTERM"
    assert final.last("EXPOSE") == str(PORT)
    assert PurePosixPath(image_config_path()).is_absolute()


def test_the_dockerfile_healthcheck_asks_healthz_with_python() -> None:
    healthcheck = final_stage().last("HEALTHCHECK")
    match = re.search(r"\bCMD\s+(\[.*\])\s*$", healthcheck)
    assert match, "HEALTHCHECK CMD in exec form"
    command = json.loads(match[1])
    assert command[0] == "python"  # slim images have no curl or wget
    assert "urllib.request" in command[-1]
    assert f"http://127.0.0.1:{PORT}/healthz" in command[-1]


# --------------------------------------------------------------------------- compose


def compose() -> Any:
    (document,) = yaml_documents(DEPLOY / "compose.yaml")
    return document


def as_mapping(entries: dict[str, str] | list[str] | None) -> dict[str, str]:
    if entries is None:
        return {}
    if isinstance(entries, dict):
        return {key: str(value) for key, value in entries.items()}
    return dict(entry.partition("=")[::2] for entry in entries)


def test_compose_runs_okrsync_after_a_healthy_postgres() -> None:
    services = compose()["services"]
    postgres, okrsync = services["postgres"], services["okrsync"]

    assert postgres["image"] == "postgres:16"
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    volume = next(v for v in postgres["volumes"] if v.endswith(":/var/lib/postgresql/data"))
    assert volume.split(":")[0] in compose()["volumes"]  # a named volume, not the container
    assert "ports" not in postgres, "the database is reachable only on the compose network"

    assert okrsync["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert okrsync["restart"] == "unless-stopped"
    assert seconds(okrsync["stop_grace_period"]) > SHUTDOWN_SECONDS
    assert okrsync["ports"] == [f"127.0.0.1:{PORT}:{PORT}"]

    build = okrsync["build"]
    context = (DEPLOY / build["context"]).resolve()
    assert context == REPO
    assert (context / build["dockerfile"]).resolve() == DEPLOY / "Dockerfile"


def test_compose_mounts_the_config_where_the_image_looks_and_passes_only_known_variables(
    tmp_path: Path,
) -> None:
    services = compose()["services"]
    okrsync, postgres = services["okrsync"], services["postgres"]

    mounts = [volume.split(":") for volume in okrsync["volumes"]]
    assert [source for source, target, *_ in mounts if target == image_config_path()] == [
        "./okrsync.compose.yaml"
    ]
    assert all(mode == ["ro"] for _, target, *mode in mounts if target == image_config_path())

    (env_file,) = okrsync["env_file"]
    assert (DEPLOY / f"{env_file}.example").is_file()  # the file operators copy
    environment = as_mapping(okrsync.get("environment"))
    assert set(environment) <= set(documented_env().values()) | {STORE_PASSWORD_ENV}

    # The store URL names the compose service, its user and its database.
    config = load_config_text(compose_config_text(), tmp_path)
    url = urlsplit(config.store.url)
    pg_env = as_mapping(postgres["environment"])
    assert url.hostname == "postgres"
    assert url.username == pg_env["POSTGRES_USER"]
    assert url.path.lstrip("/") == pg_env["POSTGRES_DB"]
    # ...and both containers get the password from the same compose variable.
    assert environment[STORE_PASSWORD_ENV] == pg_env["POSTGRES_PASSWORD"]


# --------------------------------------------------------------------------- systemd


def test_the_systemd_unit_runs_the_daemon_and_restarts_it_on_failure() -> None:
    assert unit_value("Type") == "simple"
    argv = shlex.split(unit_value("ExecStart"))
    assert PurePosixPath(argv[0]).is_absolute() and PurePosixPath(argv[0]).name == "okrsync"
    assert argv[1:] == ["--config", image_config_path(), "run"]
    assert unit_value("Restart") == "on-failure"
    assert seconds(unit_value("RestartSec")) > 0
    assert unit_value("KillSignal") == "SIGTERM"
    assert seconds(unit_value("TimeoutStopSec")) > SHUTDOWN_SECONDS

    environment_file = PurePosixPath(unit_value("EnvironmentFile").lstrip("-"))
    assert (DEPLOY / f"{environment_file.name}.example").is_file()
    assert unit_value("User") not in ROOT_USERS
    assert unit_value("StateDirectory") == "okrsync"
    assert unit_value("WantedBy", section="Install") == "multi-user.target"


def test_the_systemd_unit_is_hardened() -> None:
    expected = {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes",
        "ProtectKernelLogs": "yes",
        "ProtectControlGroups": "yes",
        "CapabilityBoundingSet": "",  # empty: no capabilities at all
    }
    assert {key: unit_value(key) for key in expected} == expected
    assert set(unit_value("RestrictAddressFamilies").split()) == {"AF_INET", "AF_INET6", "AF_UNIX"}
    assert "@system-service" in systemd_unit()["Service"]["SystemCallFilter"]
    assert re.fullmatch(r"\d+[KMGT]?", unit_value("MemoryMax"))


# --------------------------------------------------------------------------- Kubernetes


@pytest.mark.parametrize("path", sorted(K8S.glob("*.yaml")), ids=lambda path: path.name)
def test_each_kubernetes_manifest_is_one_named_object(path: Path) -> None:
    (document,) = yaml_documents(path)
    assert {"apiVersion", "kind"} <= set(document)
    if document["kind"] != "Kustomization":
        assert document["metadata"]["name"]


def test_kustomization_applies_everything_but_the_example_secret() -> None:
    resources = k8s("kustomization.yaml")["resources"]
    assert all((K8S / resource).is_file() for resource in resources)
    assert "secret.yaml" not in resources  # it would overwrite the real Secret
    assert {p.name for p in K8S.glob("*.yaml")} - set(resources) == {
        "kustomization.yaml",
        "secret.yaml",
    }


def pod_spec() -> Any:
    return k8s("deployment.yaml")["spec"]["template"]["spec"]


def container() -> Any:
    (only,) = pod_spec()["containers"]
    return only


def resolve_port(port: int | str) -> int:
    if isinstance(port, int):
        return port
    (number,) = [p["containerPort"] for p in container()["ports"] if p.get("name") == port]
    return int(number)


def test_the_deployment_runs_two_replicas_with_a_long_enough_grace_period(
    tmp_path: Path,
) -> None:
    deployment = k8s("deployment.yaml")
    assert deployment["spec"]["replicas"] == 2
    # Two replicas rely on jobs leased in a shared database: SQLite files are per pod.
    assert urlsplit(load_config_text(configmap_config_text(), tmp_path).store.url).scheme == (
        "postgresql+psycopg"
    )
    template_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= template_labels.items()
    assert pod_spec()["terminationGracePeriodSeconds"] > SHUTDOWN_SECONDS
    assert container()["args"] == json.loads(final_stage().last("CMD"))


def test_the_deployment_serves_and_probes_the_default_port() -> None:
    (port,) = container()["ports"]
    assert port == {"name": "http", "containerPort": PORT, "protocol": "TCP"}

    probes = {kind: container()[f"{kind}Probe"]["httpGet"] for kind in ("readiness", "liveness")}
    assert probes["readiness"]["path"] == "/readyz"
    # Liveness never asks /readyz: a database outage would restart every replica.
    assert probes["liveness"]["path"] == "/healthz"
    if "startupProbe" in container():
        probes["startup"] = container()["startupProbe"]["httpGet"]
        assert probes["startup"]["path"] == "/healthz"
    assert {resolve_port(probe["port"]) for probe in probes.values()} == {PORT}

    annotations = k8s("deployment.yaml")["spec"]["template"]["metadata"].get("annotations", {})
    if "prometheus.io/port" in annotations:
        assert annotations["prometheus.io/port"] == str(PORT)
        assert annotations["prometheus.io/path"] == "/metrics"


def test_the_deployment_reads_config_and_secrets_where_the_manifests_put_them() -> None:
    env = {item["name"]: item.get("value") for item in container().get("env", [])}
    assert env["OKRSYNC_CONFIG"] == image_config_path()

    (source,) = container()["envFrom"]
    assert source["secretRef"]["name"] == k8s("secret.yaml")["metadata"]["name"]

    config_path = PurePosixPath(env["OKRSYNC_CONFIG"])
    volumes = {volume["name"]: volume for volume in pod_spec()["volumes"]}
    (mount,) = [m for m in container()["volumeMounts"] if m["mountPath"] == str(config_path.parent)]
    assert mount.get("readOnly") is True
    # A whole-directory mount (no subPath): ConfigMap edits reach the running pod.
    assert "subPath" not in mount
    configmap = k8s("configmap.yaml")
    assert volumes[mount["name"]]["configMap"]["name"] == configmap["metadata"]["name"]
    assert config_path.name in configmap["data"]


def test_the_deployment_runs_as_the_images_non_root_user_with_nothing_to_spare() -> None:
    pod, own = pod_spec().get("securityContext", {}), container().get("securityContext", {})
    effective = {**pod, **own}  # the container's settings win over the pod's
    assert effective["runAsNonRoot"] is True
    assert str(effective["runAsUser"]) == image_uid()
    assert own["readOnlyRootFilesystem"] is True
    assert own["allowPrivilegeEscalation"] is False
    assert own["capabilities"]["drop"] == ["ALL"]
    assert "add" not in own["capabilities"]

    resources = container()["resources"]
    assert {"cpu", "memory"} <= set(resources["requests"])
    assert "memory" in resources["limits"]


def test_the_service_exposes_the_http_port_of_the_deployment_pods() -> None:
    service = k8s("service.yaml")
    assert service["spec"]["type"] == "ClusterIP"
    (port,) = service["spec"]["ports"]
    assert port["port"] == PORT
    assert resolve_port(port["targetPort"]) == PORT
    labels = k8s("deployment.yaml")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
