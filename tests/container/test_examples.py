"""The docker-compose and Kubernetes examples: they parse, and they fit together.

Images, ports, probe paths, read-only mounts and the daemon's flags are checked against each
other, against the Dockerfile and against the CLI's own parser; every ${env:NAME} the mounted
desired state uses must be supplied (from the env file or the Secret), and no secret value may
be written in the files.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from container_helpers import (
    COMPOSE_ENV_EXAMPLE,
    COMPOSE_FILE,
    EXAMPLES,
    KUBERNETES,
    Instruction,
    compose_volume,
    container,
    env_references,
    kubernetes_object,
    kubernetes_objects,
    load_yaml,
    load_yaml_documents,
    load_yaml_text,
    read_dockerfile,
    walk_strings,
)

import reconciler
from reconciler import errors
from reconciler.cli import build_parser, main
from reconciler.pipeline.planning import check_url, is_loopback_url

SECRET_NAME = re.compile(r"KEY|PASSWORD|SECRET|TOKEN", re.IGNORECASE)
INTERPOLATION = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*(?:[:?\-][^}]*)?\}$")
REFERENCE = re.compile(r"\$\{(env|file):[^}]+\}")
CPA_IMAGE = "eceasy/cli-proxy-api"
RECONCILER_IMAGE = "cpa-reconciler"


def _compose_default(value: str) -> str:
    """``${VAR:-default}`` -> ``default`` (what compose uses when VAR is unset)."""
    match = re.fullmatch(r"\$\{\w+:-([^}]*)\}", value)
    return match.group(1) if match else value


def _option(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


def _listen_port(argv: list[str]) -> tuple[str, int]:
    host, _, port = _option(argv, "--listen").rpartition(":")
    return host, int(port)


def _dockerfile_uid() -> int:
    return int(read_dockerfile().final.last("USER").args.split(":")[0])


def _validate(desired: Path, names: set[str], monkeypatch: pytest.MonkeyPatch) -> int:
    for name in names:
        monkeypatch.setenv(name, f"planted-{name.lower()}")
    return main(["validate", str(desired)])


# ---- docker compose ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = load_yaml(COMPOSE_FILE)
    assert set(data["services"]) == {"cli-proxy-api", "reconciler"}
    return dict(data)


@pytest.fixture(scope="module")
def reconciler_service(compose: dict[str, Any]) -> dict[str, Any]:
    return dict(compose["services"]["reconciler"])


@pytest.fixture(scope="module")
def cpa_service(compose: dict[str, Any]) -> dict[str, Any]:
    return dict(compose["services"]["cli-proxy-api"])


def _compose_mount(service: dict[str, Any], target: str) -> tuple[str, str | None]:
    for volume in service["volumes"]:
        source, mount, mode = compose_volume(volume)
        if mount == target:
            return source, mode
    raise AssertionError(f"nothing mounted at {target}")


def test_compose_images(cpa_service: dict[str, Any], reconciler_service: dict[str, Any]) -> None:
    assert _compose_default(cpa_service["image"]).startswith(f"{CPA_IMAGE}:")
    image = _compose_default(reconciler_service["image"])
    assert image == f"{RECONCILER_IMAGE}:{reconciler.__version__}"
    context = (EXAMPLES / reconciler_service["build"]["context"]).resolve()
    assert (context / "Dockerfile").is_file()


def test_compose_cpa_mounts_match_the_official_image_and_stay_writable(
    cpa_service: dict[str, Any], upstream_file: Callable[[str], Path]
) -> None:
    # CPA's own docker-compose.yml; skipped (naming it) when the shared folder is not here.
    upstream = load_yaml(upstream_file("docker-compose.yml"))["services"]["cli-proxy-api"][
        "volumes"
    ]
    upstream_targets = {compose_volume(v)[1] for v in upstream}
    for target in ("/CLIProxyAPI/config.yaml", "/root/.cli-proxy-api"):
        assert target in upstream_targets
        _source, mode = _compose_mount(cpa_service, target)
        assert mode is None, f"{target} must stay writable: CPA rewrites it"


def test_compose_cpa_first_config_fits_the_mounts(cpa_service: dict[str, Any]) -> None:
    config = load_yaml(EXAMPLES / "docker" / "cpa-config.yaml")
    assert f"127.0.0.1:{config['port']}:{config['port']}" in cpa_service["ports"]
    assert (config["auth-dir"], None) == (
        "/root/.cli-proxy-api",
        _compose_mount(cpa_service, "/root/.cli-proxy-api")[1],
    )
    assert config["remote-management"]["secret-key"] == "", "no secret in a committed file"


def test_compose_desired_state_is_mounted_read_only(reconciler_service: dict[str, Any]) -> None:
    command = reconciler_service["command"]
    desired = Path(command[1])
    source, mode = _compose_mount(reconciler_service, str(desired.parent))
    assert mode == "ro"
    assert (EXAMPLES / source / desired.name).is_file()
    state_source, state_mode = _compose_mount(reconciler_service, _option(command, "--state-dir"))
    assert state_mode is None and state_source in {"reconciler-state"}


def test_compose_daemon_command_and_target(reconciler_service: dict[str, Any]) -> None:
    command = [str(word) for word in reconciler_service["command"]]
    args = build_parser().parse_args(command)
    assert args.command == "daemon"
    assert "--management-key" not in command, "a key in argv shows in the process list"
    host, port = _listen_port(command)
    assert host == "0.0.0.0", "published ports and the health check come from outside"
    assert f"127.0.0.1:{port}:{port}" in reconciler_service["ports"]
    url = reconciler_service["environment"]["CPA_URL"]
    assert urlsplit(url).hostname == "cli-proxy-api"
    check_url(url, allow_insecure_http=args.allow_insecure_http)
    with pytest.raises(errors.UsageError):
        check_url(url, allow_insecure_http=False)  # so the flag is there for a reason


def test_compose_healthchecks(
    cpa_service: dict[str, Any], reconciler_service: dict[str, Any]
) -> None:
    cpa_test = cpa_service["healthcheck"]["test"]
    assert cpa_test[0] == "CMD" and "http://127.0.0.1:8317/healthz" in cpa_test
    _flags, rest = read_dockerfile().final.last("HEALTHCHECK").flags_and_rest()
    image_check = Instruction("CMD", rest.removeprefix("CMD "), 0).exec_form()
    assert reconciler_service["healthcheck"]["test"] == ["CMD", *image_check]
    assert reconciler_service["depends_on"]["cli-proxy-api"]["condition"] == "service_healthy"
    for service in (cpa_service, reconciler_service):
        assert service["restart"] == "unless-stopped"


def test_compose_has_no_literal_secrets(compose: dict[str, Any]) -> None:
    for service in compose["services"].values():
        for name, value in (service.get("environment") or {}).items():
            if SECRET_NAME.search(name):
                assert INTERPOLATION.match(str(value)), f"{name} must come from the env file"
    management = compose["services"]["cli-proxy-api"]["environment"]["MANAGEMENT_PASSWORD"]
    assert management.startswith("${CPA_MANAGEMENT_KEY:?")
    assert compose["services"]["reconciler"]["env_file"] == [".env"]


def _env_example() -> dict[str, str]:
    pairs = {}
    for line in COMPOSE_ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, value = line.partition("=")
            pairs[name.strip()] = value
    return pairs


def test_compose_env_example_names_every_variable_and_holds_no_value(
    reconciler_service: dict[str, Any],
) -> None:
    example = _env_example()
    desired_dir, _mode = _compose_mount(reconciler_service, "/desired")
    desired = (EXAMPLES / desired_dir / "desired-state.yaml").read_text()
    needed = env_references(desired) | {"CPA_MANAGEMENT_KEY"}
    assert needed <= set(example), f"missing in the env example: {needed - set(example)}"
    assert all(value == "" for value in example.values())


def test_compose_desired_state_validates_with_the_env_example(
    reconciler_service: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    desired_dir, _mode = _compose_mount(reconciler_service, "/desired")
    code = _validate(
        EXAMPLES / desired_dir / "desired-state.yaml", set(_env_example()), monkeypatch
    )
    assert code == 0


# ---- kubernetes ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def deployment() -> dict[str, Any]:
    return kubernetes_object("Deployment", "cli-proxy-api")


@pytest.fixture(scope="module")
def sidecar(deployment: dict[str, Any]) -> dict[str, Any]:
    return container(deployment, "reconciler")


@pytest.fixture(scope="module")
def cpa(deployment: dict[str, Any]) -> dict[str, Any]:
    return container(deployment, "cli-proxy-api")


def _pod(deployment: dict[str, Any]) -> dict[str, Any]:
    return dict(deployment["spec"]["template"]["spec"])


def _volume(deployment: dict[str, Any], name: str) -> dict[str, Any]:
    return next(v for v in _pod(deployment)["volumes"] if v["name"] == name)


def _mount(c: dict[str, Any], path: str) -> dict[str, Any]:
    return next(m for m in c["volumeMounts"] if m["mountPath"] == path)


def _port(c: dict[str, Any], name: str) -> int:
    return int(next(p["containerPort"] for p in c["ports"] if p["name"] == name))


def _env(c: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in c.get("env", [])}


def _desired_text() -> tuple[str, str]:
    config_map = kubernetes_object("ConfigMap", "cpa-desired-state")
    ((key, text),) = config_map["data"].items()
    return key, text


def test_kustomization_lists_every_manifest(sidecar: dict[str, Any]) -> None:
    kustomization = load_yaml(KUBERNETES / "kustomization.yaml")
    manifests = {p.name for p in KUBERNETES.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == manifests
    (image,) = kustomization["images"]
    assert image["name"] == sidecar["image"].split(":")[0] == RECONCILER_IMAGE
    for path in manifests:
        assert load_yaml_documents(KUBERNETES / path)


def test_kubernetes_images(deployment: dict[str, Any], cpa: dict[str, Any]) -> None:
    assert cpa["image"].startswith(f"{CPA_IMAGE}:")
    for init in _pod(deployment)["initContainers"]:
        assert init["image"] == cpa["image"], "the CPA image has the shell the init step needs"


def test_sidecar_daemon_flags_and_probes(sidecar: dict[str, Any]) -> None:
    args = [str(a) for a in sidecar["args"]]
    parsed = build_parser().parse_args(args)
    assert parsed.command == "daemon"
    assert "--management-key" not in args
    host, port = _listen_port(args)
    assert host == "0.0.0.0", "the kubelet's probes come from outside the container"
    assert _port(sidecar, "metrics") == port
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        http_get = sidecar[probe]["httpGet"]
        assert http_get["path"] == path
        assert http_get["port"] == "metrics"


def test_sidecar_desired_state_comes_read_only_from_the_config_map(
    deployment: dict[str, Any], sidecar: dict[str, Any]
) -> None:
    desired = Path(sidecar["args"][1])
    mount = _mount(sidecar, str(desired.parent))
    assert mount["readOnly"] is True
    assert "subPath" not in mount, "a subPath mount never sees ConfigMap updates"
    volume = _volume(deployment, mount["name"])
    assert volume["configMap"]["name"] == "cpa-desired-state"
    key, _text = _desired_text()
    assert desired.name == key


def test_sidecar_state_dir_is_writable_by_its_user(
    deployment: dict[str, Any], sidecar: dict[str, Any]
) -> None:
    state_dir = _option(sidecar["args"], "--state-dir")
    mount = _mount(sidecar, state_dir)
    assert not mount.get("readOnly")
    assert "persistentVolumeClaim" in _volume(deployment, mount["name"])
    uid = _dockerfile_uid()
    security = sidecar["securityContext"]
    assert security["runAsNonRoot"] is True and security["runAsUser"] == uid
    assert security["readOnlyRootFilesystem"] is True
    (init,) = _pod(deployment)["initContainers"]
    assert f"chown {uid}:{uid} /data/{mount['subPath']}" in init["command"][-1]


def test_sidecar_gets_every_variable_of_the_desired_state_from_the_secret(
    sidecar: dict[str, Any],
) -> None:
    _key, text = _desired_text()
    env = _env(sidecar)
    needed = env_references(text) | {"CPA_MANAGEMENT_KEY"}
    assert needed <= set(env), f"not in the sidecar's env: {needed - set(env)}"
    for name in needed:
        assert env[name]["valueFrom"]["secretKeyRef"] == {"name": "cpa-keys", "key": name}
    url = env["CPA_URL"]["value"]
    assert is_loopback_url(url), "a sidecar reaches CPA over the pod's loopback"
    check_url(url, allow_insecure_http=False)


def test_kubernetes_desired_state_validates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key, text = _desired_text()
    path = tmp_path / key
    path.write_text(text)
    assert _validate(path, env_references(text), monkeypatch) == 0


def test_cpa_config_lives_on_a_writable_volume(
    deployment: dict[str, Any], cpa: dict[str, Any]
) -> None:
    command = cpa["command"]
    config_path = Path(_option(command, "-config"))
    mount = _mount(cpa, str(config_path.parent))
    assert not mount.get("readOnly"), "CPA rewrites config.yaml and writes a temp file beside it"
    assert "persistentVolumeClaim" in _volume(deployment, mount["name"])
    auth = _mount(cpa, "/root/.cli-proxy-api")
    assert "persistentVolumeClaim" in _volume(deployment, auth["name"])
    (init,) = _pod(deployment)["initContainers"]
    script = init["command"][-1]
    target = f"/data/{mount['subPath']}/{config_path.name}"
    assert f"[ ! -s {target} ]" in script and f"cp /seed/config.yaml {target}" in script


def test_cpa_seed_config_fits_the_container(cpa: dict[str, Any]) -> None:
    seed = kubernetes_object("ConfigMap", "cli-proxy-api-seed-config")
    config = load_yaml_text(seed["data"]["config.yaml"])
    assert config["port"] == _port(cpa, "http")
    assert config["auth-dir"] == _mount(cpa, "/root/.cli-proxy-api")["mountPath"]
    assert config["remote-management"]["secret-key"] == ""


def test_cpa_probes_and_management_password(cpa: dict[str, Any]) -> None:
    for probe in ("livenessProbe", "readinessProbe"):
        assert cpa[probe]["httpGet"] == {"path": "/healthz", "port": "http"}
    ref = _env(cpa)["MANAGEMENT_PASSWORD"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "cpa-keys", "key": "CPA_MANAGEMENT_KEY"}


def test_kubernetes_has_no_literal_secrets(deployment: dict[str, Any]) -> None:
    assert not [o for o in kubernetes_objects() if o["kind"] == "Secret"]
    pod = _pod(deployment)
    for c in pod["containers"] + pod["initContainers"]:
        for name, entry in _env(c).items():
            if SECRET_NAME.search(name):
                assert "value" not in entry and "secretKeyRef" in entry["valueFrom"], name
    _key, text = _desired_text()
    for path, value in walk_strings(load_yaml_text(text)):
        if SECRET_NAME.search(path):
            assert REFERENCE.fullmatch(value), f"{path}: a secret must be an ${{env:}} reference"


def test_metrics_service_is_scraped_and_reaches_the_sidecar(
    deployment: dict[str, Any], sidecar: dict[str, Any]
) -> None:
    service = kubernetes_object("Service", "cpa-reconciler-metrics")
    annotations = service["metadata"]["annotations"]
    (port,) = service["spec"]["ports"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/path"] == "/metrics"
    assert int(annotations["prometheus.io/port"]) == port["port"] == _port(sidecar, "metrics")
    assert port["targetPort"] == "metrics"
    assert service["spec"]["publishNotReadyAddresses"] is True
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()


def test_cpa_service_reaches_cpa(deployment: dict[str, Any], cpa: dict[str, Any]) -> None:
    service = kubernetes_object("Service", "cli-proxy-api")
    (port,) = service["spec"]["ports"]
    assert port["targetPort"] == "http" and port["port"] == _port(cpa, "http")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    claim = _volume(deployment, "data")["persistentVolumeClaim"]["claimName"]
    assert kubernetes_object("PersistentVolumeClaim", claim)


def test_kubernetes_readme_creates_the_secret_the_manifests_use() -> None:
    readme = (KUBERNETES / "README.md").read_text()
    assert "kubectl create secret generic cpa-keys" in readme
    assert "MANAGEMENT_PASSWORD" in readme and "secret-key" in readme
