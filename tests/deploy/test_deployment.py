"""The deployment files are valid: compose against its schema and the settings, the Dockerfile as documented."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from monitor.broker.local import free_port
from monitor.ops.readiness import Readiness
from monitor.ops.server import serve_ops
from monitor.settings import MetricsSettings
from monitor.shell.runner import OPTIONAL_STAGES, STAGE_NAMES

REPO = Path(__file__).resolve().parents[2]


def compose() -> dict[str, object]:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def test_compose_file_matches_the_compose_specification() -> None:
    schema_file = resources.files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json")
    schema = json.loads(schema_file.read_text())
    jsonschema.validate(compose(), schema)


def test_compose_runs_the_official_kafka_image_in_kraft_mode_with_a_volume() -> None:
    services = compose()["services"]
    assert isinstance(services, dict)
    kafka = services["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    assert "broker,controller" in kafka["environment"]["KAFKA_PROCESS_ROLES"]
    assert any(v.startswith("kafka-data:") for v in kafka["volumes"])


def test_compose_has_one_service_per_stage_each_naming_a_real_stage() -> None:
    services = compose()["services"]
    assert isinstance(services, dict)
    stages = []
    for name, svc in services.items():
        if name == "kafka":
            continue
        cmd = svc["command"]
        assert cmd[:2] == ["run", "--stage"], name
        stages.append(cmd[2])
        assert svc["environment"]["NEWSMON_KAFKA_BOOTSTRAP"] == "kafka:19092"
    assert sorted(stages) == sorted(STAGE_NAMES + OPTIONAL_STAGES)


def test_dockerfile_installs_from_the_lock_as_a_non_root_user() -> None:
    text = (REPO / "Dockerfile").read_text()
    assert "-r requirements.lock" in text and "USER newsmon" in text
    make = (REPO / "Makefile").read_text()
    assert "-r requirements.lock" in make
    uv_pin = next(ln for ln in text.splitlines() if "uv==" in ln).split("uv==")[1].split('"')[0]
    assert f"UV_VERSION := {uv_pin}" in make


def test_docs_describe_every_topic_and_every_message_field() -> None:
    from monitor.settings import TopicSettings
    from monitor.topics import topic_specs

    doc = (REPO / "docs" / "topics.md").read_text()
    for spec in topic_specs(TopicSettings()):
        assert f"`{spec.name}`" in doc, spec.name
        section = doc.split(f"## `{spec.message.__name__}`", 1)
        assert len(section) == 2, f"no section for {spec.message.__name__}"
        body = section[1].split("\n## ", 1)[0]
        for field in spec.message.model_fields:
            assert f"| `{field}` |" in body, f"{spec.message.__name__}.{field} is not documented"


def dockerfile() -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (KEYWORD, arguments), continuation lines joined, comments dropped."""
    text = (REPO / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    return [(ln.split(None, 1)[0].upper(), ln.split(None, 1)[1] if " " in ln else "") for ln in lines]


def test_dockerfile_builds_on_python_slim_and_runs_newsmon_as_a_non_root_user() -> None:
    steps = dockerfile()
    assert steps[0][0] == "FROM" and steps[0][1].split()[0] == "python:3.11-slim"
    users = [i for i, (kw, _) in enumerate(steps) if kw == "USER"]
    assert users, "the image must not run as root"
    last_user = steps[users[-1]][1]
    assert last_user not in ("root", "0") and not last_user.startswith(("root:", "0:"))
    # Nothing may run as root after the switch, so nothing the service writes at run time is root's.
    assert all(kw != "RUN" for kw, _ in steps[users[-1] :])
    assert json.loads(dict(steps)["ENTRYPOINT"]) == ["newsmon"]


def test_dockerfile_installs_the_lock_and_has_a_model_before_it_starts() -> None:
    runs = " ".join(args for kw, args in dockerfile() if kw == "RUN")
    copies = [args.split() for kw, args in dockerfile() if kw == "COPY"]
    assert "-r requirements.lock" in runs
    assert "newsmon train" in runs or any("models" in c[:-1] for c in copies), "no model in the image"
    # Every file the build copies is in the repository, so `docker compose build` works on a fresh clone.
    for *sources, _target in copies:
        for src in sources:
            if not src.startswith("--"):
                assert (REPO / src).exists(), f"COPY {src}: not in the repository"


def test_compose_kafka_image_matches_the_kafka_version_setting_and_named_volumes_are_declared() -> None:
    from monitor.settings import KafkaSettings

    doc = compose()
    services = doc["services"]
    assert isinstance(services, dict)
    assert services["kafka"]["image"] == f"apache/kafka:{KafkaSettings().version}"
    declared = set(doc.get("volumes") or {})  # type: ignore[call-overload]
    used = {v.split(":", 1)[0] for svc in services.values() for v in svc.get("volumes", []) if isinstance(v, str)}
    named = {v for v in used if not v.startswith((".", "/", "~"))}
    assert named and named <= declared, f"volumes used but not declared: {named - declared}"
    for svc in services.values():
        for v in svc.get("volumes", []):
            source = v.split(":", 1)[0]
            if source.startswith("./"):
                assert (REPO / source).exists(), f"bind mount {source} is not in the repository"


def test_every_compose_stage_is_accepted_by_newsmon_run(tmp_path: Path) -> None:
    from monitor.settings import ConfigError, Settings
    from monitor.shell.runner import build_stages

    services = compose()["services"]
    assert isinstance(services, dict)
    settings = Settings()
    rules = settings.alerts.model_copy(update={"rules_file": REPO / "config" / "rules.yaml"})
    settings = settings.model_copy(update={"alerts": rules})
    for name, svc in services.items():
        if name != "kafka":
            stage = svc["command"][2]
            assert list(build_stages(settings, [], [stage])) == [stage], name
    with pytest.raises(ConfigError, match="unknown stage"):
        build_stages(settings, [], ["ingestion"])
    # The story stage runs by default only when the alert stage reads its output (stories.enabled).
    assert list(build_stages(settings, [], ["stories"])) == ["stories"]
    assert "stories" not in build_stages(settings, [], None)
    on = settings.model_copy(update={"stories": settings.stories.model_copy(update={"enabled": True})})
    assert list(build_stages(on, [], None)) == ["ingest", "classify", "stories", "alert", "deliver"]


def docker_engine() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=30, check=False).returncode == 0


@pytest.mark.slow
def test_docker_image_builds_and_runs_newsmon() -> None:
    # No CI machine has a Docker engine, so unlike ../shared or kcat this skip stays a skip there.
    if not docker_engine():
        pytest.skip("no Docker engine (`docker info` fails); the static checks above still ran")
    tag = "newsmon:test-build"
    build = subprocess.run(["docker", "build", "-t", tag, str(REPO)], capture_output=True, text=True,
                           timeout=1200, check=False)  # fmt: skip
    assert build.returncode == 0, build.stderr[-3000:]
    run = subprocess.run(["docker", "run", "--rm", tag, "--help"], capture_output=True, text=True, timeout=120,
                         check=False)  # fmt: skip
    assert run.returncode == 0 and "newsmon" in run.stdout, run.stderr
    who = subprocess.run(["docker", "run", "--rm", "--entrypoint", "id", tag, "-u"], capture_output=True,
                         text=True, timeout=120, check=False)  # fmt: skip
    assert who.stdout.strip() not in ("", "0"), who


SECRET_NAME = re.compile(r"URL|SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIAL|SASL|API_?KEY|PRIVATE", re.IGNORECASE)


def test_compose_passes_no_secret_through_the_environment() -> None:
    services = compose()["services"]
    assert isinstance(services, dict)
    for name, svc in services.items():
        env = svc.get("environment", {})
        pairs = env.items() if isinstance(env, dict) else (e.partition("=")[::2] for e in env)
        for key, value in pairs:
            assert not SECRET_NAME.search(key), f"{name}: {key} looks like a secret; mount it as a compose secret"
            assert not SECRET_NAME.search(str(value)), f"{name}: {key} takes a secret-looking value {value!r}"


def test_every_secret_file_the_sinks_read_is_a_compose_secret_of_the_delivery_stage() -> None:
    spec = compose()
    defined = spec["secrets"]
    assert isinstance(defined, dict) and isinstance(spec["services"], dict)
    mounted = set(spec["services"]["deliver"]["secrets"])
    rules = yaml.safe_load((REPO / "config" / "rules.yaml").read_text())
    files = [s[k] for s in rules["sinks"].values() for k in ("url_file", "secret_file") if k in s]
    webhooks = [s for s in rules["sinks"].values() if s["type"] != "file"]
    # Every sink that sends somewhere reads its URL from a file, and a webhook its signing secret too.
    assert all("url_file" in s for s in webhooks)
    assert all("secret_file" in s for s in webhooks if s["type"] == "webhook")
    for path in files:
        assert path.startswith("/run/secrets/"), path
        secret = path.removeprefix("/run/secrets/")
        assert secret in mounted, f"{secret} is not mounted into the deliver service"
        assert defined[secret]["file"].startswith("./secrets/"), secret


async def test_every_stage_container_is_healthy_exactly_when_its_readyz_answers_200() -> None:
    """The compose health check of each stage, run as Docker runs it, follows the process's readiness."""
    services = {n: s for n, s in compose()["services"].items() if n != "kafka"}
    checks = {json.dumps(s["healthcheck"]["test"]) for s in services.values()}
    assert len(checks) == 1 and all(s["environment"]["NEWSMON_METRICS_HOST"] == "0.0.0.0" for s in services.values())
    kind, *command = json.loads(checks.pop())
    assert kind == "CMD" and command[0] == "python"
    port = free_port()
    readiness = Readiness()
    check = readiness.require("stage")
    env = {**os.environ, "NEWSMON_METRICS_PORT": str(port)}

    async def healthy() -> bool:
        proc = await asyncio.create_subprocess_exec(sys.executable, *command[1:], env=env,
                                                    stderr=asyncio.subprocess.DEVNULL)  # fmt: skip
        return await asyncio.wait_for(proc.wait(), 60) == 0

    assert not await healthy(), "healthy with nothing listening"
    async with serve_ops(MetricsSettings(port=port), readiness):
        assert not await healthy(), "healthy while not ready"
        check.up()
        assert await healthy()


K8S = REPO / "deploy" / "k8s"


def k8s_docs() -> list[dict[str, Any]]:
    """Every resource the kustomization applies, in its order."""
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    return [d for f in kustomization["resources"] for d in yaml.safe_load_all((K8S / f).read_text()) if d]


def k8s_of(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in k8s_docs() if d["kind"] == kind}


def test_k8s_manifests_are_valid_kubernetes_resources_offline() -> None:
    import kubernetes_validate

    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == sorted(
        p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml"
    )
    version = kubernetes_validate.latest_version()
    for doc in k8s_docs():
        kubernetes_validate.validate(doc, version, strict=True)  # raises on the first error
    # The schemas ship with the package and are really applied: a misspelt field or a wrong type is caught.
    deployment = k8s_of("Deployment")["newsmon-classify"]
    for broken in ({**deployment, "spec": {**deployment["spec"], "replicas": "two"}},
                   {**deployment, "spec": {**deployment["spec"], "replica": 2}}):  # fmt: skip
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(broken, version, strict=True)


def test_k8s_has_a_deployment_and_a_disruption_budget_per_stage_probed_limited_and_scraped() -> None:
    from monitor.settings import MetricsSettings as Metrics

    deployments, budgets = k8s_of("Deployment"), k8s_of("PodDisruptionBudget")
    # The story stage keeps every open story of the window in one process, so it runs alone: one replica, and an
    # update stops the old pod before the new one reads (two members would each cluster half the partitions).
    assert sorted(deployments) == sorted(f"newsmon-{s}" for s in (*STAGE_NAMES, "stories"))
    assert sorted(budgets) == sorted(f"newsmon-{s}" for s in STAGE_NAMES)
    singleton = deployments["newsmon-stories"]["spec"]
    assert singleton["replicas"] == 1 and singleton["strategy"] == {"type": "Recreate"}
    (config,) = k8s_of("ConfigMap").values()
    assert yaml.safe_load(config["data"]["settings.yaml"])["stories"]["enabled"] is True
    for name, d in deployments.items():
        stage = name.removeprefix("newsmon-")
        pod = d["spec"]["template"]
        labels = pod["metadata"]["labels"]
        assert d["spec"]["selector"]["matchLabels"] == labels
        if name in budgets:
            assert labels == budgets[name]["spec"]["selector"]["matchLabels"]
            assert budgets[name]["spec"]["minAvailable"] < d["spec"]["replicas"], f"{name} could never be drained"
        (c,) = pod["spec"]["containers"]
        assert c["args"] == ["--settings", "/etc/newsmon/settings.yaml", "run", "--stage", stage]
        assert c["ports"] == [{"name": "ops", "containerPort": Metrics().port}]
        assert c["livenessProbe"]["httpGet"] == c["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "ops"}
        assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "ops"}
        assert {k: set(v) for k, v in c["resources"].items()} == {"requests": {"cpu", "memory"},
                                                                  "limits": {"cpu", "memory"}}  # fmt: skip
        scrape = pod["metadata"]["annotations"]
        assert scrape == {"prometheus.io/scrape": "true", "prometheus.io/port": str(Metrics().port),
                          "prometheus.io/path": "/metrics"}  # fmt: skip
        assert pod["spec"]["securityContext"]["runAsNonRoot"] is True and "env" not in c


def test_k8s_config_comes_from_the_configmap_and_the_sinks_secrets_from_the_secret(tmp_path: Path) -> None:
    from consumers.alert.rules import parse_rules
    from monitor.ingest.feeds import load_feeds
    from monitor.settings import load_settings

    (config,) = k8s_of("ConfigMap").values()
    data = config["data"]
    assert data["feeds.yaml"] == (REPO / "config" / "feeds.yaml").read_text()
    assert data["rules.yaml"] == (REPO / "config" / "rules.yaml").read_text()
    for name, text in data.items():
        (tmp_path / name).write_text(text)
    settings = load_settings(tmp_path / "settings.yaml")
    assert settings.log.format == "json" and settings.metrics.host == "0.0.0.0" and settings.kafka.bootstrap
    assert {settings.ingest.feeds_file.parent, settings.alerts.rules_file.parent} == {Path("/etc/newsmon")}
    assert load_feeds(tmp_path / "feeds.yaml")
    rules = parse_rules(data["rules.yaml"], tmp_path / "rules.yaml")
    (secret,) = k8s_of("Secret").values()
    for name, d in k8s_of("Deployment").items():
        pod = d["spec"]["template"]["spec"]
        mounts = {m["mountPath"]: m["name"] for m in pod["containers"][0]["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes[mounts["/etc/newsmon"]]["configMap"]["name"] == config["metadata"]["name"]
        if name == "newsmon-deliver":
            assert volumes[mounts["/run/secrets"]]["secret"]["secretName"] == secret["metadata"]["name"]
        else:
            assert "/run/secrets" not in mounts, f"{name} needs no sink secret"
    files = [getattr(s, k) for s in rules.sinks.values() for k in ("url_file", "secret_file") if getattr(s, k, None)]
    assert files and {Path(f).parent for f in files} == {Path("/run/secrets")}
    assert {Path(f).name for f in files} <= set(secret["stringData"])


def test_every_compose_stage_is_restarted_limited_and_scalable() -> None:
    services = {n: s for n, s in compose()["services"].items() if n != "kafka"}  # type: ignore[union-attr]
    for name, svc in services.items():
        assert svc["restart"] in ("unless-stopped", "always", "on-failure"), name
        assert "/readyz" in " ".join(svc["healthcheck"]["test"]), name
        resources = svc["deploy"]["resources"]
        assert set(resources["limits"]) == set(resources["reservations"]) == {"cpus", "memory"}, name
        # `--scale` starts several containers of the service: a fixed name or host port would collide.
        assert "container_name" not in svc and "ports" not in svc, f"{name} cannot be scaled"
        assert svc["stop_grace_period"], name
