"""The deployment files are valid: compose against the Compose Specification schema, stages that exist."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path

import jsonschema
import yaml

from monitor.runner import STAGE_NAMES

REPO = Path(__file__).resolve().parents[1]


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
    assert sorted(stages) == sorted(STAGE_NAMES)


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
